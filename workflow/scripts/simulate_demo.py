"""Rule simulate_demo: the embedded demo dataset with its planted truth."""

from audiobrain.pipeline import logging_to
from audiobrain.simulate import simulate_demo

with logging_to(snakemake.log[0]):
    params = dict(snakemake.params)
    simulate_demo(params.pop("root"), **params)
