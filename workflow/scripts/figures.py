"""Rule figures: brain maps, ROI bars and the level profile of one network type."""

from audiobrain.brainscores.pipeline import network_figures
from audiobrain.io import logging_to

with logging_to(snakemake.log[0]):
    network_figures(
        snakemake.input.group,
        snakemake.input.roi_summary,
        snakemake.wildcards.network,
        levels_output=snakemake.output.levels,
        gains_output=snakemake.output.gains,
        bars_output=snakemake.output.bars,
        profile_output=snakemake.output.profile,
    )
