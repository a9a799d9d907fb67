"""Rule recon_metrics: metrics.tsv across subjects, Tables 1-3 with their reference rows and the
coarse-to-fine claims (TSV, Markdown and HTML)."""

from audiobrain.io import logging_to
from audiobrain.recon.pipeline import metrics_tables

with logging_to(snakemake.log[0]):
    metrics_tables(
        snakemake.input.metrics,
        snakemake.input.conditioning,
        snakemake.output,
        p_gt=snakemake.params.p_gt,
        study_p_gts=snakemake.params.study_p_gts,
        study_prompts=snakemake.params.study_prompts,
        source=snakemake.params.source,
        dataset=snakemake.wildcards.dataset,
    )
