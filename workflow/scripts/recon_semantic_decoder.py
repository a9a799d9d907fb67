"""Rule recon_semantic_decoder: D_sem of one subject (ridge with voxel selection)."""

from audiobrain.io import logging_to
from audiobrain.recon.pipeline import semantic_decoder

with logging_to(snakemake.log[0]):
    semantic_decoder(
        snakemake.input.fmri,
        snakemake.input.clap,
        snakemake.output[0],
        settings=snakemake.params.settings,
        d_model=snakemake.params.d_model,
    )
