"""Rule brain_scores: all feature sets of one network type (each of its seeds) for one subject."""

from audiobrain.brainscores.pipeline import subject_brain_scores
from audiobrain.io import logging_to

with logging_to(snakemake.log[0]):
    subject_brain_scores(
        snakemake.input.bold,
        snakemake.input.events,
        snakemake.input.mel,
        list(snakemake.input.activations),
        list(snakemake.output.scores),
        threads=snakemake.threads,
        **snakemake.params,
    )
