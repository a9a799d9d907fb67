"""Rule recon_ldm_sample: G's mels for one subject's evaluation clips, every condition."""

from pathlib import Path

from audiobrain.io import logging_to
from audiobrain.recon.generation import latent_diffusion_samples

inputs = dict(snakemake.input)
inputs["stimuli"] = Path(snakemake.input.table).parent
with logging_to(snakemake.log[0]):
    latent_diffusion_samples(
        inputs,
        snakemake.output[0],
        audiomae_settings=snakemake.params.audiomae,
        n_clips=snakemake.params.n_clips,
        prompt_clips=snakemake.params.prompt_clips,
        seed=snakemake.params.seed,
        device=snakemake.params.device,
        threads=snakemake.threads,
    )
