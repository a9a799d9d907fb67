"""Rule prepare_corpus: one task's manifest (segments, targets, leak-free splits)."""

from audiobrain.pipeline import logging_to, prepare_training_corpus

with logging_to(snakemake.log[0]):
    prepare_training_corpus(
        snakemake.params.root,
        snakemake.output.manifest,
        task=snakemake.wildcards.task,
        **snakemake.params.settings,
    )
