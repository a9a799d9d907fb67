"""Rule recon_subject_metrics: PCC, PSNR, FD, FAD, KL and CLAP score of one subject's part."""

from pathlib import Path

from audiobrain.io import logging_to
from audiobrain.recon.pipeline import subject_metrics

with logging_to(snakemake.log[0]):
    subject_metrics(
        Path(snakemake.input.table).parent,
        snakemake.input.audio,
        snakemake.output[0],
        subject=snakemake.wildcards.subject,
        part=snakemake.wildcards.part,
        models=snakemake.params.models,
        reference_audio=snakemake.input.reference_audio,
        threads=snakemake.threads,
    )
