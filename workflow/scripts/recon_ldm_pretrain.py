"""Rule recon_ldm_pretrain: G on the stimuli's c_gt, where no pretrained T-UNet is given."""

from pathlib import Path

from audiobrain.io import logging_to
from audiobrain.recon.generation import pretrain_latent_diffusion

inputs = dict(snakemake.input)
inputs["stimuli"] = Path(snakemake.input.table).parent
with logging_to(snakemake.log[0]):
    pretrain_latent_diffusion(
        inputs,
        snakemake.output,
        settings=snakemake.params.settings,
        seed=snakemake.params.seed,
        checkpoint=snakemake.params.resume,
        device=snakemake.params.device,
        threads=snakemake.threads,
    )
