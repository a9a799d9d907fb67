"""Rule recon_demo_sample_counts: samples and voxels per subject."""

from audiobrain.io import logging_to
from audiobrain.recon.pipeline import sample_counts

with logging_to(snakemake.log[0]):
    sample_counts(snakemake.input.fmri, snakemake.output[0], source="demo")
