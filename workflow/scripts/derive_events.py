"""Rule derive_events: a run's raw events (MOUS's format or a sentence table) -> stimulus table."""

from audiobrain.brainscores.pipeline import derive_events
from audiobrain.io import logging_to

with logging_to(snakemake.log[0]):
    derive_events(
        snakemake.input.events, snakemake.input.stimuli, snakemake.output.events, **snakemake.params
    )
