"""Rule recon_vae_check: the pretrained VAE's round-trip mel PCC on training clips (pre-flight)."""

from pathlib import Path

from audiobrain.io import logging_to
from audiobrain.recon.preflight import vae_check

with logging_to(snakemake.log[0]):
    vae_check(
        Path(snakemake.input.table).parent,
        snakemake.input.mels,
        snakemake.input.vae,
        snakemake.output[0],
        settings=snakemake.params.settings,
        vae_key=snakemake.params.vae_key,
        device=snakemake.params.device,
        threads=snakemake.threads,
    )
