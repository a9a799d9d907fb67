"""Rule group_stats: seed averaging, Wilcoxon across subjects and FDR across vertices."""

from audiobrain.brainscores.pipeline import group_statistics
from audiobrain.io import logging_to

with logging_to(snakemake.log[0]):
    group_statistics(
        snakemake.input.scores,
        snakemake.input.bold,
        snakemake.output.group,
        snakemake.output.voxels,
        n_subjects=len(snakemake.params.subjects),
        n_seeds=len(snakemake.params.seeds),
        q=snakemake.params.q,
        alternative=snakemake.params.alternative,
    )
