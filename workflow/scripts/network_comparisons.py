"""Rule network_comparisons: Figure 3's statistics between network types."""

from audiobrain.brainscores.pipeline import network_comparisons
from audiobrain.io import logging_to

with logging_to(snakemake.log[0]):
    network_comparisons(
        {network: snakemake.input[f"scores_{network}"] for network in snakemake.params.networks},
        snakemake.input.bold,
        snakemake.output.table,
        snakemake.output.maps,
        n_subjects=snakemake.params.n_subjects,
        n_seeds=snakemake.params.n_seeds,
        q=snakemake.params.q,
        alternative=snakemake.params.alternative,
        roi_settings=snakemake.params.roi_settings,
    )
