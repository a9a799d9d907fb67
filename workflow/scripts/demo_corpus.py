"""Rule demo_corpus: one task's small training corpus, synthesised offline."""

from audiobrain.pipeline import logging_to, make_demo_corpus

with logging_to(snakemake.log[0]):
    make_demo_corpus(snakemake.output.corpus, task=snakemake.wildcards.task, **snakemake.params)
