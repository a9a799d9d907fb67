"""Rule brain_scores: all feature sets of one network type (each of its seeds) for one subject."""

from audiobrain.pipeline import logging_to, subject_brain_scores

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
