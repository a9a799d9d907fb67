"""Rule recon_semantic_analysis: label decoding from decoded features, t-tests, t-SNE (3.3)."""

from pathlib import Path

from audiobrain.io import logging_to
from audiobrain.recon.pipeline import semantic_analyses

subjects = {
    subject: {key: snakemake.input[f"{subject}_{key}"] for key in ("semantic", "fine", "c2f")}
    for subject in snakemake.params.subjects
}
with logging_to(snakemake.log[0]):
    semantic_analyses(
        Path(snakemake.input.table).parent,
        subjects,
        snakemake.input.clap,
        snakemake.input.audiomae,
        snakemake.output,
        seed=snakemake.params.seed,
    )
