"""Rule recon_mel_panels: stimulus and reconstructed mel-spectrograms (Figure 4 analogue)."""

from pathlib import Path

from audiobrain.io import logging_to
from audiobrain.recon.pipeline import mel_panels

with logging_to(snakemake.log[0]):
    mel_panels(
        Path(snakemake.input.table).parent,
        snakemake.input.audio,
        snakemake.params.vocoder,
        snakemake.output[0],
        subject=snakemake.wildcards.subject,
    )
