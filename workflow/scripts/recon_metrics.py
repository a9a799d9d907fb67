"""Rule recon_metrics: metrics.tsv across subjects and the Table 1/2-shaped summary."""

from audiobrain.pipeline import logging_to
from audiobrain.recon.pipeline import metrics_tables

with logging_to(snakemake.log[0]):
    metrics_tables(snakemake.input, snakemake.output)
