"""Rule recon_feature_decoding: PCC of decoded with true CLAP and AudioMAE features (Fig 8)."""

from audiobrain.io import logging_to
from audiobrain.recon.pipeline import feature_decoding

subjects = {
    subject: {
        key: snakemake.input[f"{subject}_{key}"] for key in ("semantic", "lir", "fine", "c2f")
    }
    for subject in snakemake.params.subjects
}
with logging_to(snakemake.log[0]):
    feature_decoding(subjects, snakemake.input.clap, snakemake.input.audiomae, snakemake.output)
