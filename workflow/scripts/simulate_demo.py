"""Rule simulate_demo: the embedded demo dataset (surface or volumetric) with its planted truth."""

from audiobrain.demo.pipeline import generate_demo
from audiobrain.io import logging_to

with logging_to(snakemake.log[0]):
    generate_demo(**snakemake.params)
