"""Rule activations: one network's layer activations on the stimulus pool."""

from audiobrain.brainscores.pipeline import compute_activations
from audiobrain.io import logging_to

with logging_to(snakemake.log[0]):
    compute_activations(
        snakemake.input.spectrograms,
        snakemake.output.activations,
        network=snakemake.wildcards.network,
        seed=int(snakemake.wildcards.seed),
        checkpoint=snakemake.input.get("checkpoint"),
        threads=snakemake.threads,
        **snakemake.params,
    )
