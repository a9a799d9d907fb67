"""Rule recon_ldm_conditioning: G's samples from c_gt against shuffled c_gt and the mean mel."""

from pathlib import Path

from audiobrain.io import logging_to
from audiobrain.recon.generation import conditioning_check

samples = {key: snakemake.input[key] for key in snakemake.params.samples}
with logging_to(snakemake.log[0]):
    conditioning_check(
        samples, snakemake.input.mels, Path(snakemake.input.table).parent, snakemake.output[0]
    )
