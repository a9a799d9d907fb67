"""Rules recon_prepare_<dataset>: a real dataset's local copy into the common format."""

from pathlib import Path

from audiobrain.io import logging_to
from audiobrain.recon.pipeline import prepare_dataset

with logging_to(snakemake.log[0]):
    prepare_dataset(
        Path(snakemake.output.table).parent,
        settings=snakemake.params.settings,
        where=snakemake.params.where,
        audio_dir=snakemake.params.audio_dir,
    )
