"""Rule recon_learning_curves: every training's loss per step, one panel per training."""

from audiobrain.io import logging_to
from audiobrain.recon.pipeline import training_curves_figure

with logging_to(snakemake.log[0]):
    training_curves_figure(
        snakemake.input.metrics,
        snakemake.params.panels,
        snakemake.params.subjects,
        snakemake.output[0],
    )
