"""Rule roi_summary: the ROI table of every network type (atlases from config `rois`)."""

from audiobrain.brainscores.pipeline import roi_summary_table
from audiobrain.io import logging_to

with logging_to(snakemake.log[0]):
    roi_summary_table(
        snakemake.input.groups,
        snakemake.output.table,
        networks_=snakemake.params.networks,
        q=snakemake.params.q,
        alternative=snakemake.params.alternative,
        **snakemake.params.roi_settings,
    )
