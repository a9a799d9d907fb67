"""Rule recon_ldm_vae: the mel VAE of a dataset without a pretrained one (the demo)."""

from pathlib import Path

from audiobrain.io import logging_to
from audiobrain.recon.generation import train_mel_vae

with logging_to(snakemake.log[0]):
    train_mel_vae(
        Path(snakemake.input.table).parent,
        snakemake.input.mels,
        snakemake.output,
        settings=snakemake.params.settings,
        seed=snakemake.params.seed,
        checkpoint=snakemake.params.resume,
        device=snakemake.params.device,
        threads=snakemake.threads,
    )
