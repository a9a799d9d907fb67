"""Rule simulate_demo: the embedded demo dataset (surface or volumetric) with its planted truth."""

from audiobrain.pipeline import generate_demo, logging_to

with logging_to(snakemake.log[0]):
    generate_demo(**snakemake.params)
