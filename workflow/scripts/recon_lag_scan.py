"""Rule recon_lag_scan: Brain2Music's D_sem test PCC per hemodynamic lag, one subject."""

from audiobrain.io import logging_to
from audiobrain.recon.preflight import brain2music_lag_scan

with logging_to(snakemake.log[0]):
    brain2music_lag_scan(
        snakemake.input.clap,
        snakemake.output[0],
        settings=snakemake.params.settings,
        semantic=snakemake.params.semantic,
        subject=snakemake.params.subject,
        where=snakemake.params.where,
    )
