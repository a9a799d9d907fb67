"""Rule recon_demo_stimuli: the demo's clips in the common format."""

from pathlib import Path

from audiobrain.demo.pipeline import demo_stimuli
from audiobrain.io import logging_to

with logging_to(snakemake.log[0]):
    demo_stimuli(Path(snakemake.output.table).parent, settings=snakemake.params.settings)
