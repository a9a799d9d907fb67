"""Rule learning_curves: training loss and validation error of every network."""

from audiobrain.brainscores.pipeline import learning_curves_figure
from audiobrain.io import logging_to

with logging_to(snakemake.log[0]):
    learning_curves_figure(
        snakemake.input.metrics, snakemake.params.labels, snakemake.output.figure
    )
