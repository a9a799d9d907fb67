"""Rule recon_linear_acoustic_decoder: ridge from voxels to AudioMAE tokens (Figure 8's LiR)."""

from audiobrain.io import logging_to
from audiobrain.recon.pipeline import linear_acoustic_decoder

with logging_to(snakemake.log[0]):
    linear_acoustic_decoder(
        snakemake.input.fmri,
        snakemake.input.audiomae,
        snakemake.output[0],
        alpha=snakemake.params.alpha,
    )
