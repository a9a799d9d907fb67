# What both studies' rules share: wildcard patterns, the SLURM site, sidecar paths and the
# targets of `rule all`. Each study's paths and input functions are in rules/common_<study>.smk.
from pathlib import Path

from audiobrain.cluster import check_runtime_fits, read_site
from audiobrain.io import InputError, paths_inside

# The SLURM site block (profiles/slurm/site.yaml, audiobrain.cluster): the GPU type every GPU job
# asks for, and the limits that a job's runtime must fit.
SLURM_SITE = read_site(Path(workflow.basedir) / "profiles" / "slurm" / "site.yaml")


wildcard_constraints:
    subject="[A-Za-z0-9]+",
    network="|".join(["untrained", "scenes", "dutch", "english", "bengali"]),
    seed=r"\d+",
    hemi="L|R",
    dataset="[A-Za-z0-9]+",


def sidecars(paths):
    """The JSON sidecars that audiobrain.io.save_arrays writes beside array files: declared
    outputs too, so that a failed job leaves none of them behind."""
    from audiobrain.io import sidecar_path

    return [str(sidecar_path(path)) for path in paths]


def final_outputs():
    return brainscore_outputs() + network_outputs() + recon_outputs()
