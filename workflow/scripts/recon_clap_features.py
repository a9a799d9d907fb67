"""Rule recon_clap_features: s_gt, the CLAP audio embedding of every stimulus."""

from audiobrain.io import logging_to
from audiobrain.recon.pipeline import clap_features

with logging_to(snakemake.log[0]):
    clap_features(snakemake.input.audio, snakemake.output[0], clap_path=snakemake.params.clap)
