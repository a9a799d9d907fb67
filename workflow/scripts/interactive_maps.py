"""Rule interactive_maps: nilearn view_surf pages of every significant contrast, in one file."""

from audiobrain.brainscores.pipeline import interactive_brain_maps
from audiobrain.io import logging_to

with logging_to(snakemake.log[0]):
    interactive_brain_maps(
        dict(zip(snakemake.params.networks, snakemake.input.groups, strict=True)),
        snakemake.input.get("comparisons"),
        snakemake.output[0],
    )
