"""Rule recon_mel_mapping: AudioMAE mel -> vocoder mel ridge and its test PCC (appendix A.4)."""

from pathlib import Path

from audiobrain.io import logging_to
from audiobrain.recon.pipeline import mel_mapping

with logging_to(snakemake.log[0]):
    mel_mapping(
        Path(snakemake.input.table).parent,
        snakemake.input.audiomae,
        snakemake.input.mels,
        snakemake.output,
        alpha=snakemake.params.alpha,
        vocoder_path=snakemake.params.vocoder,
        dataset=snakemake.wildcards.dataset,
    )
