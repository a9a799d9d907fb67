"""Rule train_network: one network type and seed trained with CTC (resumes a killed run)."""

from audiobrain.brainscores.pipeline import train_network
from audiobrain.io import logging_to

with logging_to(snakemake.log[0]):
    train_network(
        snakemake.input.manifest,
        snakemake.output.model,
        snakemake.output.metrics,
        network=snakemake.wildcards.network,
        seed=int(snakemake.wildcards.seed),
        checkpoint=snakemake.params.resume,
        conv_channels=snakemake.params.conv_channels,
        gru_hidden=snakemake.params.gru_hidden,
        training_settings=snakemake.params.training,
        threads=snakemake.threads,
        device=snakemake.params.device,
    )
