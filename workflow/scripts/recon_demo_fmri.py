"""Rule recon_demo_fmri: one demo subject's fMRI, planted from the stimuli's properties."""

from pathlib import Path

from audiobrain.demo.pipeline import demo_fmri
from audiobrain.io import logging_to

with logging_to(snakemake.log[0]):
    demo_fmri(
        Path(snakemake.input.table).parent,
        snakemake.output.fmri,
        subject=snakemake.wildcards.subject,
        settings=snakemake.params.settings,
        where=snakemake.params.where,
    )
