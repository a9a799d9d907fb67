"""Rule recon_vocode: one part's reconstructions of a subject's evaluation clips, vocoded."""

from pathlib import Path

import torch

from audiobrain.io import logging_to
from audiobrain.recon.pipeline import vocode_reconstructions

torch.set_num_threads(snakemake.threads)
inputs = {entry["input"]: snakemake.input[entry["input"]] for entry in snakemake.params.entries}
inputs.update(
    stimuli=Path(snakemake.input.table).parent,
    fmri=snakemake.input.fmri,
    melmap=snakemake.input.melmap,
    vocoder_mels=snakemake.input.mels,
)
with logging_to(snakemake.log[0]):
    vocode_reconstructions(
        inputs,
        snakemake.output,
        entries=snakemake.params.entries,
        vocoder_path=snakemake.params.vocoder,
        n_clips=snakemake.params.n_clips,
    )
