"""Rule recon_demo_stimuli: the demo's clips in the common format."""

from pathlib import Path

from audiobrain.pipeline import logging_to
from audiobrain.recon.pipeline import demo_stimuli

with logging_to(snakemake.log[0]):
    demo_stimuli(Path(snakemake.output.table).parent, settings=snakemake.params.settings)
