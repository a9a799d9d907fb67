"""Rule demo_corpus: one task's small training corpus, synthesised offline."""

from audiobrain.demo.pipeline import make_demo_corpus
from audiobrain.io import logging_to

with logging_to(snakemake.log[0]):
    make_demo_corpus(snakemake.output.corpus, task=snakemake.wildcards.task, **snakemake.params)
