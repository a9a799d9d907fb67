"""Rule recon_demo_models: CLAP, AudioMAE, PANNs and VGGish trained on the demo's own clips."""

from pathlib import Path

from audiobrain.demo.pipeline import make_demo_models
from audiobrain.io import logging_to

with logging_to(snakemake.log[0]):
    make_demo_models(
        Path(snakemake.input.table).parent,
        dict(snakemake.output.items()),
        audiomae=snakemake.params.audiomae,
        settings=snakemake.params.settings,
        captions=snakemake.params.captions,
        threads=snakemake.threads,
    )
