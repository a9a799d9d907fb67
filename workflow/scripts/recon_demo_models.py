"""Rule recon_demo_models: seeded random CLAP, AudioMAE, PANNs and VGGish weight files."""

from audiobrain.pipeline import logging_to
from audiobrain.recon.pipeline import make_demo_models

with logging_to(snakemake.log[0]):
    make_demo_models(
        dict(snakemake.output.items()),
        audiomae=snakemake.params.audiomae,
        clap_projection_dim=snakemake.params.clap_projection_dim,
        seed=snakemake.params.seed,
    )
