"""Rule prepare_corpus: one task's manifest (segments, targets, leak-free splits)."""

from audiobrain.brainscores.pipeline import prepare_training_corpus
from audiobrain.io import logging_to

with logging_to(snakemake.log[0]):
    prepare_training_corpus(
        snakemake.params.root,
        snakemake.output.manifest,
        task=snakemake.wildcards.task,
        **snakemake.params.settings,
    )
