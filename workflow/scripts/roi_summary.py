"""Rule roi_summary: the ROI table of every network type (atlases from config `rois`)."""

from audiobrain.pipeline import logging_to, roi_summary_table

with logging_to(snakemake.log[0]):
    roi_summary_table(
        snakemake.input.groups,
        snakemake.output.table,
        networks_=snakemake.params.networks,
        q=snakemake.params.q,
        alternative=snakemake.params.alternative,
        **snakemake.params.roi_settings,
    )
