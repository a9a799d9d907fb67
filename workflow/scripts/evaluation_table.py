"""Rule evaluation_table: every trained network's test metrics in one table."""

from audiobrain.brainscores.pipeline import evaluation_table
from audiobrain.io import logging_to

with logging_to(snakemake.log[0]):
    evaluation_table(snakemake.input.evaluations, snakemake.output.table)
