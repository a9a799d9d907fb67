# audiobrain: brain scores of speech networks (Millet & King 2021) and coarse-to-fine audio
# reconstruction from fMRI (C2F-LDM), on the embedded demos or the papers' data.
# `snakemake --cores 2` runs the demos in config.yaml; `--configfile configs/mous.yaml` or
# `--configfile config.yaml configs/c2f-ldm.yaml` the papers.
import os
import sys

from snakemake.utils import min_version, validate

min_version("9.0")

# The library lives in src/: make it importable here and in every job's Python (conda envs too).
AUDIOBRAIN_SRC = os.path.join(workflow.basedir, "src")
sys.path.insert(0, AUDIOBRAIN_SRC)
os.environ.update(
    PYTHONPATH=os.pathsep.join(
        filter(None, [AUDIOBRAIN_SRC, os.environ.get("PYTHONPATH")])
    )
)


configfile: "config.yaml"


validate(config, "schemas/config.schema.yaml")


include: "rules/common.smk"
include: "rules/common_brainscores.smk"
include: "rules/common_recon.smk"
include: "rules/demo.smk"
include: "rules/fmriprep.smk"
include: "rules/preprocess.smk"
include: "rules/features.smk"
include: "rules/brainscores.smk"
include: "rules/networks.smk"
include: "rules/stats.smk"
include: "rules/recon.smk"
include: "rules/ldm.smk"


check_raw_folders_untouched(workflow.rules)


report: "report/workflow.rst"


rule all:
    default_target: True
    input:
        final_outputs(),
