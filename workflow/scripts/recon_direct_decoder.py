"""Rule recon_direct_decoder: one direct baseline fMRI -> vocoder mel (resumes a killed run)."""

from audiobrain.io import logging_to
from audiobrain.recon.pipeline import direct_decoder

with logging_to(snakemake.log[0]):
    direct_decoder(
        snakemake.input.fmri,
        snakemake.input.mels,
        snakemake.output[0],
        kind=snakemake.wildcards.kind,
        settings=snakemake.params.settings,
        seed=snakemake.params.seed,
        checkpoint=snakemake.params.resume,
        device=snakemake.params.device,
        threads=snakemake.threads,
    )
