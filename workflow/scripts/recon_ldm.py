"""Rule recon_ldm: G and D_aco of one subject fine-tuned with equation 4 (resumes a killed run)."""

from audiobrain.io import logging_to
from audiobrain.recon.generation import latent_diffusion

with logging_to(snakemake.log[0]):
    latent_diffusion(
        snakemake.input,
        snakemake.output,
        settings=snakemake.params.settings,
        p_gt=snakemake.params.p_gt,
        audiomae_settings=snakemake.params.audiomae,
        seed=snakemake.params.seed,
        checkpoint=snakemake.params.resume,
        device=snakemake.params.device,
        threads=snakemake.threads,
    )
