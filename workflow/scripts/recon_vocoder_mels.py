"""Rule recon_vocoder_mels: the vocoder's log-mel of every stimulus (direct baselines' target)."""

from audiobrain.io import logging_to
from audiobrain.recon.pipeline import vocoder_mels

with logging_to(snakemake.log[0]):
    vocoder_mels(snakemake.input.audio, snakemake.output[0], vocoder_path=snakemake.params.vocoder)
