"""Rule recon_audio_page: players of every subject's reconstructions and Table 3 samples."""

from pathlib import Path

from audiobrain.io import logging_to
from audiobrain.recon.pipeline import audio_page

with logging_to(snakemake.log[0]):
    audio_page(
        Path(snakemake.input.table).parent,
        dict(zip(snakemake.params.subjects, snakemake.input.reconstructions, strict=True)),
        dict(zip(snakemake.params.study_subjects, snakemake.input.conditional, strict=True)),
        snakemake.output[0],
        dataset=snakemake.wildcards.dataset,
        n_clips=snakemake.params.n_clips,
    )
