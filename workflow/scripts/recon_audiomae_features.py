"""Rule recon_audiomae_features: c_gt, the AudioMAE input mel and m_upp of every stimulus."""

from audiobrain.io import logging_to
from audiobrain.recon.pipeline import audiomae_features

with logging_to(snakemake.log[0]):
    audiomae_features(
        snakemake.input.audio,
        snakemake.output[0],
        settings=snakemake.params.settings,
        n_patch=snakemake.params.n_patch,
    )
