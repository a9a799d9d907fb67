"""Rule recon_references: the tables' reference rows (stimulus, class-mean, mean-mel, shuffled)."""

from pathlib import Path

import torch

from audiobrain.io import logging_to
from audiobrain.recon.pipeline import reference_reconstructions

torch.set_num_threads(snakemake.threads)
with logging_to(snakemake.log[0]):
    reference_reconstructions(
        Path(snakemake.input.table).parent,
        snakemake.input.mels,
        snakemake.output,
        vocoder_path=snakemake.params.vocoder,
        seed=snakemake.params.seed,
    )
