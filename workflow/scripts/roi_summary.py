"""Rule roi_summary: the ROI table of every network type (atlases from config `rois`)."""

from audiobrain.pipeline import logging_to, roi_summary_table

surface = snakemake.config["surface"]
with logging_to(snakemake.log[0]):
    roi_summary_table(
        snakemake.input.groups,
        snakemake.output.table,
        networks_=snakemake.params.networks,
        annotation=snakemake.params.annotation,
        rois=snakemake.params.rois,
        q=snakemake.params.q,
        alternative=snakemake.params.alternative,
        atlases=snakemake.config["rois"].get("atlases", {}),
        line_mm=surface.get("line_mm", 3.0),
        n_samples=surface.get("n_samples", 10),
    )
