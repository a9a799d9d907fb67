"""Rule clean_bold: confound cleaning, per-block detrending and decimation of one subject."""

from audiobrain.pipeline import clean_subject_bold, logging_to

with logging_to(snakemake.log[0]):
    clean_subject_bold(
        snakemake.input.bold,
        snakemake.input.events,
        snakemake.output.bold,
        **snakemake.params,
    )
