# Config-derived constants, path functions and input functions shared by every rule.
# Every output path is built here, from BIDS entities, so names never drift between rules.
from pathlib import Path

import numpy as np

from audiobrain.fmriprep import fmriprep_command, fmriprep_outputs

DATASET = config["dataset"]
SUBJECTS = DATASET["subjects"]
TASK = DATASET["task"]
BIDS_DIR = DATASET["bids_dir"]
FMRIPREP_DIR = DATASET["fmriprep_dir"]
NETWORK_TYPES = config["networks"]["types"]
SEEDS = config["networks"]["seeds"]
HEMIS = ["L", "R"]
RIDGE_ALPHAS = np.logspace(
    np.log10(config["ridge"]["alpha_min"]),
    np.log10(config["ridge"]["alpha_max"]),
    config["ridge"]["n_alphas"],
).tolist()


wildcard_constraints:
    subject="[A-Za-z0-9]+",
    network="|".join(["untrained", "scenes", "dutch", "english", "bengali"]),
    seed=r"\d+",
    hemi="L|R",


def events_path(subject):
    return f"{BIDS_DIR}/sub-{subject}/func/sub-{subject}_task-{TASK}_events.tsv"


def fmriprep_files(subject):
    """fMRIPrep's own naming for a subject's run (shared with audiobrain.fmriprep)."""
    return fmriprep_outputs(FMRIPREP_DIR, subject, TASK, [config["surface"]["space"]])


def surface_bold_path(subject, hemi):
    left, right = fmriprep_files(subject).surface_bold[config["surface"]["space"]]
    return str(left if hemi == "L" else right)


def confounds_path(subject, extension="tsv"):
    files = fmriprep_files(subject)
    return str(files.confounds_tsv if extension == "tsv" else files.confounds_json)


def stimuli_dir():
    return f"{BIDS_DIR}/stimuli"


def clean_bold_path(subject):
    return (
        f"results/bold/sub-{subject}/"
        f"sub-{subject}_task-{TASK}_space-{config['surface']['space']}_desc-clean_bold.npz"
    )


def activations_path(network, seed):
    return f"results/activations/net-{network}_seed-{seed}_activations.npz"


def brainscore_path(subject, network, seed):
    return (
        f"results/brainscores/sub-{subject}/"
        f"sub-{subject}_net-{network}_seed-{seed}_brainscore.npz"
    )


def group_stats_path(network):
    return f"results/stats/net-{network}_group.npz"


def checkpoint_path(network, seed):
    return config["networks"]["checkpoint_pattern"].format(network=network, seed=seed)


def activation_inputs(wildcards):
    """Trained networks need their weights; untrained ones are built from the seed alone."""
    inputs = {"spectrograms": "results/features/stimuli_spectrogram.npz"}
    if wildcards.network != "untrained":
        inputs["checkpoint"] = checkpoint_path(wildcards.network, wildcards.seed)
    return inputs


def figure_paths(network):
    return [
        f"results/figures/net-{network}_{name}.png"
        for name in ("map-levels", "map-gains", "roi-bars", "level-profile")
    ]


def final_outputs():
    outputs = ["results/stats/roi_summary.tsv"]
    for network in NETWORK_TYPES:
        outputs += [
            group_stats_path(network),
            f"results/stats/net-{network}_voxels.tsv",
        ]
        outputs += figure_paths(network)
    return outputs


def fmriprep_shell_command(subject, threads, mem_mb):
    """The container command line for one participant (see audiobrain.fmriprep)."""
    import shlex

    settings = config["fmriprep"]
    return shlex.join(
        fmriprep_command(
            runner=settings["runner"],
            bids_dir=BIDS_DIR,
            output_dir=FMRIPREP_DIR,
            participant_label=subject,
            fs_license=settings["fs_license"],
            work_dir=settings["work_dir"],
            output_spaces=settings["output_spaces"],
            nthreads=threads,
            mem_mb=mem_mb,
            image=settings["image"],
        )
    )


def fmriprep_image_input():
    """An apptainer image is a local file the job needs; a docker image is pulled by name."""
    settings = config["fmriprep"]
    return [settings["image"]] if settings["runner"] == "apptainer" else []
