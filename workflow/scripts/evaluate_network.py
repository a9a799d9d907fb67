"""Rule evaluate_network: test-split WER/CER or class error of one trained network."""

from audiobrain.brainscores.pipeline import evaluate_network
from audiobrain.io import logging_to

with logging_to(snakemake.log[0]):
    evaluate_network(
        snakemake.input.model,
        snakemake.input.manifest,
        snakemake.output.evaluation,
        network=snakemake.wildcards.network,
        seed=int(snakemake.wildcards.seed),
        threads=snakemake.threads,
        **snakemake.params,
    )
