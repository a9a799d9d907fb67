"""Rule recon_acoustic_decoder: D_aco of one subject, C2F or Fine (resumes a killed run)."""

from audiobrain.io import logging_to
from audiobrain.recon.pipeline import acoustic_decoder

with logging_to(snakemake.log[0]):
    acoustic_decoder(
        snakemake.input,
        snakemake.output,
        variant=snakemake.params.variant,
        settings=snakemake.params.settings,
        audiomae_settings=snakemake.params.audiomae,
        seed=snakemake.params.seed,
        checkpoint=snakemake.params.resume,
        device=snakemake.params.device,
        threads=snakemake.threads,
    )
