"""Rule recon_text_prompts: CLAP text embeddings of a dataset's text prompts."""

from audiobrain.io import logging_to
from audiobrain.recon.generation import text_prompt_embeddings

with logging_to(snakemake.log[0]):
    text_prompt_embeddings(
        snakemake.output[0],
        text_prompts=snakemake.params.text_prompts,
        clap_path=snakemake.params.clap,
    )
