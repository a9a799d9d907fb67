"""Rule network_comparison_figures: Figure 3 analogues (maps and bars)."""

from audiobrain.pipeline import logging_to, network_comparison_figures

with logging_to(snakemake.log[0]):
    network_comparison_figures(
        snakemake.input.table,
        snakemake.input.maps,
        maps_output=snakemake.output.maps,
        layers_output=snakemake.output.layers,
        types_output=snakemake.output.types,
        rois_output=snakemake.output.rois,
    )
