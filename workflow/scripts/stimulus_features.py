"""Rule stimulus_features: spectrograms and mel filterbanks of the stimulus pool."""

from audiobrain.brainscores.pipeline import compute_stimulus_features
from audiobrain.io import logging_to

with logging_to(snakemake.log[0]):
    compute_stimulus_features(
        snakemake.input.events,
        snakemake.input.stimuli,
        snakemake.output.spectrogram,
        snakemake.output.mel,
        **snakemake.params,
    )
