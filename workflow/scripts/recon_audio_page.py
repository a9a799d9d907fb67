"""Rule recon_audio_page: an HTML page of audio players, stimulus beside each reconstruction."""

from pathlib import Path

from audiobrain.pipeline import logging_to
from audiobrain.recon.pipeline import audio_page

with logging_to(snakemake.log[0]):
    audio_page(
        Path(snakemake.input.table).parent,
        {snakemake.params.subject: snakemake.input.audio},
        snakemake.output[0],
        dataset=snakemake.wildcards.dataset,
        n_clips=snakemake.params.n_clips,
    )
