# The brain-score study's config-derived constants, paths and input functions: every output path
# is built here, from BIDS entities, so names never drift between rules. What the rules pass to
# the library comes from audiobrain.brainscores.settings.
from audiobrain.brainscores import settings
from audiobrain.brainscores.bids import (
    dataset_subjects,
    raw_bold_paths,
    raw_events_path,
)
from audiobrain.brainscores.fmriprep import fmriprep_command, fmriprep_outputs
from audiobrain.brainscores.settings import check_demo_folders, ridge_alphas

DATASET = config["dataset"]
TASK = DATASET["task"]
BIDS_DIR = DATASET["bids_dir"]
FMRIPREP_DIR = DATASET["fmriprep_dir"]
# The demo generates its own BIDS and fMRIPrep folders; any other dataset is a lab's data, read
# only (dataset.source says which, so that no config merge can turn a real run into a demo one).
DEMO = DATASET["source"] == "demo"
if DEMO:
    check_demo_folders(config)
SUBJECTS = (
    DATASET["subjects"]
    if DEMO
    else dataset_subjects(
        BIDS_DIR, TASK, DATASET["subjects"], DATASET["exclude_subjects"]
    )
)
NETWORK_TYPES = config["networks"]["types"]
SEEDS = config["networks"]["seeds"]
HEMIS = ["L", "R"]
RIDGE_ALPHAS = ridge_alphas(config["ridge"])


def raw_events(subject):
    """The run's events file in the raw BIDS folder (read, never written, by the workflow)."""
    return str(raw_events_path(BIDS_DIR, subject, TASK))


def events_path(subject):
    """The run's stimulus table derived from its raw events (audiobrain.brainscores.events)."""
    return (
        f"results/events/sub-{subject}/sub-{subject}_task-{TASK}_desc-trials_events.tsv"
    )


def raw_bold(subject):
    """The run's raw BOLD image (fMRIPrep's input): the one of the two extensions present."""
    paths = raw_bold_paths(BIDS_DIR, subject, TASK)
    return str(next((path for path in paths if path.is_file()), paths[0]))


def check_raw_folders_untouched(workflow_rules):
    """No rule may write into the raw BIDS folder, nor into fMRIPrep's except the fmriprep rule
    (the demo's own generator aside): Snakemake deletes a job's outputs before it runs it.
    """
    allowed = {"fmriprep": [FMRIPREP_DIR], "simulate_demo": [BIDS_DIR, FMRIPREP_DIR]}
    for step in workflow_rules:
        outputs = [str(path) for path in step.output]
        for folder in (BIDS_DIR, FMRIPREP_DIR):
            inside = paths_inside(outputs, folder)
            if inside and folder not in allowed.get(step.name, []):
                raise InputError(
                    f"{step.name} would write {inside[0]} inside {folder} (config dataset); "
                    "the workflow never writes into the raw data"
                )


def fmriprep_files(subject):
    """fMRIPrep's own naming for a subject's run (shared with audiobrain.brainscores.fmriprep)."""
    return fmriprep_outputs(FMRIPREP_DIR, subject, TASK, [config["surface"]["space"]])


def surface_bold_path(subject, hemi):
    left, right = fmriprep_files(subject).surface_bold[config["surface"]["space"]]
    return str(left if hemi == "L" else right)


# Where the fsaverage5 BOLD comes from (section 2.2): fMRIPrep's surface GIfTI, or its volumetric
# BOLD cleaned and projected onto the surface (audiobrain.brainscores.projection).
SURFACE = config["surface"]
SURFACE_SOURCE = SURFACE["source"]
VOLUME_SPACE = SURFACE["volume_space"]
FREESURFER_DIR = SURFACE["freesurfer_dir"]


def volume_bold_path(subject):
    """fMRIPrep's volumetric desc-preproc_bold of a subject's run in surface.volume_space."""
    files = fmriprep_outputs(FMRIPREP_DIR, subject, TASK, [VOLUME_SPACE])
    return str(files.volume_bold[VOLUME_SPACE])


def brain_mask_path(subject):
    """fMRIPrep's brain mask beside the volumetric BOLD (same space entities)."""
    from audiobrain.brainscores.projection import brain_mask_path as mask_beside

    return str(mask_beside(volume_bold_path(subject)))


def freesurfer_subject_dir(subject):
    """The subject's FreeSurfer folder (None: project with the fsaverage5 template meshes)."""
    return None if FREESURFER_DIR is None else f"{FREESURFER_DIR}/sub-{subject}"


def freesurfer_surface_files(subject):
    folder = freesurfer_subject_dir(subject)
    return [
        f"{folder}/surf/{hemi}.{kind}"
        for hemi in ("lh", "rh")
        for kind in ("white", "pial", "sphere.reg")
    ]


def bold_files(subject):
    """The BOLD files clean_bold reads: two hemisphere GIfTI, or the volume and its mask."""
    if SURFACE_SOURCE == "volume":
        return [volume_bold_path(subject), brain_mask_path(subject)]
    return [surface_bold_path(subject, hemi) for hemi in HEMIS]


def bold_sidecars(subject):
    """fMRIPrep's JSON sidecars of the BOLD files, which hold its slice-timing reference."""
    from audiobrain.io import sidecar_path

    images = (
        bold_files(subject)[:1] if SURFACE_SOURCE == "volume" else bold_files(subject)
    )
    return [str(sidecar_path(path)) for path in images]


def clean_bold_inputs(wildcards):
    """Inputs of clean_bold for either surface source (named for the script)."""
    subject = wildcards.subject
    inputs = {
        "confounds": confounds_path(subject, "tsv"),
        "confounds_json": confounds_path(subject, "json"),
        "events": events_path(subject),
    }
    if DATASET["start_time_s"] is None:
        inputs["timing"] = bold_sidecars(subject)
    if SURFACE_SOURCE == "volume":
        inputs |= {"bold": volume_bold_path(subject), "mask": brain_mask_path(subject)}
        if FREESURFER_DIR is not None:
            inputs["surfaces"] = freesurfer_surface_files(subject)
    else:
        inputs["bold"] = [surface_bold_path(subject, hemi) for hemi in HEMIS]
    return inputs


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


def interactive_map_inputs(wildcards):
    inputs = {"groups": [group_stats_path(network) for network in NETWORK_TYPES]}
    if TRAINED_TYPES and "untrained" in NETWORK_TYPES:
        inputs["comparisons"] = "results/stats/network_comparisons_maps.npz"
    return inputs


def brainscore_outputs():
    """Group statistics, voxel tables and figures of every network type, and the ROI summary."""
    outputs = ["results/stats/roi_summary.tsv", "results/figures/brain_maps.html"]
    for network in NETWORK_TYPES:
        outputs += [
            group_stats_path(network),
            f"results/stats/net-{network}_voxels.tsv",
        ]
        outputs += figure_paths(network)
    return outputs


def fmriprep_shell_command(subject, threads, mem_mb):
    """The container command line for one participant (see audiobrain.brainscores.fmriprep)."""
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
            task=TASK,
            bids_filter_file=settings["bids_filter_file"],
        )
    )


def fmriprep_image_input():
    """An apptainer image is a local file the job needs; a docker image is pulled by name."""
    settings = config["fmriprep"]
    return [settings["image"]] if settings["runner"] == "apptainer" else []


def fmriprep_filter_input():
    """The BIDS filter file fMRIPrep selects its inputs with (none: all of a subject's)."""
    path = config["fmriprep"]["bids_filter_file"]
    return [path] if path else []


# --- networks (section 2.4): corpora, training, comparisons --------------------------------------
TRAINED_TYPES = [network for network in NETWORK_TYPES if network != "untrained"]
TRAINING = config["networks"]["training"]
check_runtime_fits(SLURM_SITE, TRAINING["runtime_min"], "networks.training.runtime_min")
CORPORA = config["corpora"]


def corpus_config(task):
    return CORPORA[task]


def demo_corpus_dir(task):
    return f"{config['demo']['root']}/corpora/{task}"


def corpus_manifest_path(task):
    return f"results/corpora/{task}/manifest.tsv"


def corpus_inputs(wildcards):
    """The corpus folder: generated by a rule (demo) or a local copy, which must exist before
    any job runs."""
    return [corpus_config(wildcards.task)["root"]]


def corpus_settings(wildcards):
    return settings.corpus_settings(CORPORA, wildcards.task)


def corpus_sidecar_path(task):
    return f"{corpus_manifest_path(task)}.json"


def network_dir(network, seed):
    return str(Path(checkpoint_path(network, seed)).parent)


def training_metrics_path(network, seed):
    return f"{network_dir(network, seed)}/metrics.tsv"


def evaluation_path(network, seed):
    return f"{network_dir(network, seed)}/evaluation.tsv"


def resume_checkpoint_path(network, seed):
    """Not a rule output, so Snakemake keeps it when a killed training job is retried."""
    return f"{network_dir(network, seed)}/resume/checkpoint.pt"


def training_settings():
    return settings.training_settings(TRAINING)


def comparison_score_inputs(wildcards):
    return {
        f"scores_{network}": expand(
            brainscore_path("{subject}", network, "{seed}"),
            subject=SUBJECTS,
            seed=SEEDS,
        )
        for network in NETWORK_TYPES
    }


def roi_settings():
    return settings.roi_settings(config["rois"], SURFACE)


def atlas_files():
    return settings.atlas_files(config["rois"])


def network_outputs():
    """Training, evaluation and the Figure 3 comparisons, when trained types are configured."""
    if not TRAINED_TYPES:
        return []
    outputs = [
        "results/networks/evaluation.tsv",
        "results/figures/networks_learning-curves.png",
    ]
    if "untrained" in NETWORK_TYPES:
        outputs += [
            "results/stats/network_comparisons.tsv",
            "results/figures/networks_map-trained-vs-untrained.png",
        ]
    return outputs
