"""Rule recon_vocode: every method's reconstructions of one subject's evaluation clips."""

from pathlib import Path

import torch

from audiobrain.pipeline import logging_to
from audiobrain.recon.pipeline import vocode_reconstructions

torch.set_num_threads(snakemake.threads)
inputs = {method: snakemake.input[method] for method in snakemake.params.methods}
inputs.update(
    stimuli=Path(snakemake.input.table).parent,
    melmap=snakemake.input.melmap,
    vocoder_mels=snakemake.input.mels,
)
with logging_to(snakemake.log[0]):
    vocode_reconstructions(
        inputs,
        snakemake.output[0],
        methods=snakemake.params.methods,
        vocoder_path=snakemake.params.vocoder,
        n_clips=snakemake.params.n_clips,
    )
