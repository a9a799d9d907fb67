"""Rule recon_stimulus_clips: Brain2Sound's 8 s clips cut from the downloaded source audio."""

from audiobrain.io import logging_to
from audiobrain.recon.stimulus_clips import cut_stimulus_clips

with logging_to(snakemake.log[0]):
    cut_stimulus_clips(
        snakemake.input.table,
        snakemake.input.audio,
        snakemake.output.clips,
        snakemake.output.table,
        config_key=snakemake.params.where,
    )
