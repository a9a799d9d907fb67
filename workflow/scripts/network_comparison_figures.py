"""Rule network_comparison_figures: Figure 3 analogues (maps and bars)."""

from audiobrain.brainscores.pipeline import network_comparison_figures
from audiobrain.io import logging_to

with logging_to(snakemake.log[0]):
    network_comparison_figures(
        snakemake.input.table,
        snakemake.input.maps,
        maps_output=snakemake.output.maps,
        layers_output=snakemake.output.layers,
        types_output=snakemake.output.types,
        rois_output=snakemake.output.rois,
    )
