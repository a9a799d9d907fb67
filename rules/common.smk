# Config-derived constants, path functions and input functions shared by every rule.
# Every output path is built here, from BIDS entities, so names never drift between rules.
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from audiobrain.bids import dataset_subjects, raw_bold_paths, raw_events_path
from audiobrain.cluster import check_runtime_fits, read_site
from audiobrain.fmriprep import fmriprep_command, fmriprep_outputs
from audiobrain.io import InputError, paths_inside


def check_demo_folders(config):
    """The demo writes its folders under demo.root: the dataset must point there."""
    root = config["demo"]["root"]
    expected = {
        "bids_dir": f"{root}/bids",
        "fmriprep_dir": f"{root}/derivatives/fmriprep",
    }
    for key, path in expected.items():
        if os.path.normpath(config["dataset"][key]) != os.path.normpath(path):
            raise InputError(
                f"config dataset.{key}: dataset.source is 'demo', whose data the workflow "
                f"writes to {path}, but dataset.{key} is {config['dataset'][key]!r}. For your "
                f"own data set dataset.source: bids"
            )


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
    dataset="[A-Za-z0-9]+",


def raw_events(subject):
    """The run's events file in the raw BIDS folder (read, never written, by the workflow)."""
    return str(raw_events_path(BIDS_DIR, subject, TASK))


def events_path(subject):
    """The run's stimulus table derived from its raw events (audiobrain.events)."""
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
    """fMRIPrep's own naming for a subject's run (shared with audiobrain.fmriprep)."""
    return fmriprep_outputs(FMRIPREP_DIR, subject, TASK, [config["surface"]["space"]])


def surface_bold_path(subject, hemi):
    left, right = fmriprep_files(subject).surface_bold[config["surface"]["space"]]
    return str(left if hemi == "L" else right)


# Where the fsaverage5 BOLD comes from (section 2.2): fMRIPrep's surface GIfTI, or its volumetric
# BOLD cleaned and projected onto the surface (audiobrain.projection).
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
    from audiobrain.projection import brain_mask_path as mask_beside

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


def sidecars(paths):
    """The JSON sidecars that audiobrain.io.save_arrays writes beside array files: declared
    outputs too, so that a failed job leaves none of them behind."""
    from audiobrain.io import sidecar_path

    return [str(sidecar_path(path)) for path in paths]


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


def final_outputs():
    outputs = ["results/stats/roi_summary.tsv", "results/figures/brain_maps.html"]
    for network in NETWORK_TYPES:
        outputs += [
            group_stats_path(network),
            f"results/stats/net-{network}_voxels.tsv",
        ]
        outputs += figure_paths(network)
    return outputs + network_outputs() + recon_outputs()


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
# The SLURM site block (profiles/slurm/site.yaml, audiobrain.cluster): the GPU type every GPU job
# asks for, and the limits that a job's runtime must fit.
SLURM_SITE = read_site(Path(workflow.basedir) / "profiles" / "slurm" / "site.yaml")
check_runtime_fits(SLURM_SITE, TRAINING["runtime_min"], "networks.training.runtime_min")
CORPORA = config.get("corpora", {})
_missing_corpora = [network for network in TRAINED_TYPES if network not in CORPORA]
if _missing_corpora:
    raise ValueError(
        f"config corpora: networks.types trains {_missing_corpora}, but corpora has no entry "
        f"for them (each needs source and root; see configs/mous.yaml)"
    )
_demo_corpora = [t for t in TRAINED_TYPES if CORPORA[t]["source"] == "demo"]
if _demo_corpora and not DEMO:
    raise InputError(
        f"config corpora.{_demo_corpora[0]}.source: 'demo' corpora belong to the demo dataset, "
        f"and dataset.source is {DATASET['source']!r}; name the real corpus (see "
        "configs/mous.yaml)"
    )


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
    """Everything prepare_corpus needs besides the root (audiobrain.corpora.prepare_corpus)."""
    settings = corpus_config(wildcards.task)
    return {
        "source": settings["source"],
        "max_duration_s": CORPORA["max_duration_s"],
        "total_duration_h": settings["total_duration_h"],
        "split_fractions": CORPORA["split_fractions"],
        "seed": CORPORA["seed"],
        "unknown": settings["unknown_characters"],
        "mapping": settings["character_map"],
        "multilabel": settings["multilabel"],
    }


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
    """audiobrain.training.TrainingSettings fields (and the clip-length limit) from config."""
    job_keys = ("threads", "device", "mem_mb", "runtime_min", "resubmissions")
    return {key: value for key, value in TRAINING.items() if key not in job_keys}


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
    """The ROI definitions and atlases (config rois) and how volumetric atlases are sampled."""
    rois = config["rois"]
    settings = {
        "annotation": rois["annotation"],
        "rois": rois["definitions"],
        "atlases": rois.get("atlases", {}),
    }
    for key in ("line_mm", "n_samples"):
        if key in config["surface"]:
            settings[key] = config["surface"][key]
    return settings


def atlas_files():
    """Every atlas file the ROI definitions read, as inputs: a missing one stops the DAG."""
    rois = config["rois"]
    files = [rois["annotation"]] if rois["annotation"] else []
    for atlas in rois.get("atlases", {}).values():
        files += [
            atlas[key] for key in ("left", "right", "image", "labels") if key in atlas
        ]
    return files


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


# --- reconstruction (c2f-ldm paper): datasets, features, decoders, metrics ---------------------
RECON = config.get("recon", {"datasets": []})
RECON_DATASETS = RECON["datasets"]
RECON_MODELS = RECON.get("models", {})
_unknown_recon = [
    name for name in RECON_DATASETS if name not in RECON.get("sources", {})
]
if _unknown_recon:
    raise ValueError(
        f"config recon.datasets: {_unknown_recon} have no entry under recon.sources "
        "(each needs source and subjects; see configs/c2f-ldm.yaml)"
    )
RECON_DEMO_DATASETS = [
    d for d in RECON_DATASETS if RECON["sources"][d]["source"] == "demo"
]
RECON_REAL_DATASETS = [d for d in RECON_DATASETS if d not in RECON_DEMO_DATASETS]
_NO_MATCH = "(?!x)x"
RECON_DEMO_PATTERN = "|".join(RECON_DEMO_DATASETS) or _NO_MATCH
RECON_REAL_PATTERN = "|".join(RECON_REAL_DATASETS) or _NO_MATCH
RECON_DEMO_MODELS = RECON.get("demo_models", {}).get("root", "data/recon_demo/models")


RECON_METHODS = ["lir", "mlp", "bilstm", "transformer", "fine", "c2f"]
RECON_LDM = RECON.get("ldm", {})
RECON_STUDY = RECON.get("study", {})
# P_gt of D_aco and of Tables 1-2; Table 3 repeats C2F-LDM for each of the study's P_gt values.
RECON_P_GT = RECON.get("acoustic", {}).get("p_gt", 0.25)
RECON_STUDY_P_GTS = RECON_STUDY.get("p_gt", [0.0, 0.25, 0.5])
RECON_STUDY_PROMPTS = RECON_STUDY.get("prompts", ["none", "text", "audio"])
RECON_PARTS = ["reconstructions", "conditional"]  # Tables 1-2; Table 3


def recon_dataset(dataset):
    return RECON["sources"][dataset]


def recon_path(dataset, *parts):
    return os.path.join("results", "recon", dataset, *parts)


def recon_fmri_path(dataset, subject):
    return recon_path(dataset, f"sub-{subject}_fmri.npz")


def recon_fmri_paths(dataset):
    return [recon_fmri_path(dataset, s) for s in recon_dataset(dataset)["subjects"]]


def recon_subject_path(dataset, subject, kind, name):
    return recon_path(dataset, kind, f"sub-{subject}", name)


def recon_subject_paths(dataset, kind, name):
    subjects = recon_dataset(dataset)["subjects"]
    return [recon_subject_path(dataset, subject, kind, name) for subject in subjects]


def recon_subject_figures(dataset):
    return [
        recon_path(dataset, f"figures/mel_panels_sub-{subject}.png")
        for subject in recon_dataset(dataset)["subjects"]
    ]


def recon_resume_path(wildcards, name):
    """Not a rule output, so Snakemake keeps it when a killed training job is retried."""
    return recon_path(
        wildcards.dataset, "resume", f"sub-{wildcards.subject}", f"{name}.pt"
    )


def recon_dataset_inputs(dataset):
    """The local copy of a real dataset: its root (and GTZAN's for Brain2Music), which must exist."""
    settings = recon_dataset(dataset)
    keys = [
        key
        for key in ("root", "gtzan_root", "audio_dir", "voxel_masks")
        if key in settings
    ]
    return [settings[key] for key in keys]


def recon_c2f_ldm(p_gt):
    """Name of the C2F-LDM trained with this P_gt (its D_aco trained with it too)."""
    return f"c2f-pgt{float(p_gt):g}"


def recon_study_subjects(dataset):
    """The subjects of Table 3's study: the first recon.study.n_subjects (null: all)."""
    subjects = recon_dataset(dataset)["subjects"]
    n_subjects = RECON_STUDY.get("n_subjects")
    return subjects if n_subjects is None else subjects[:n_subjects]


def recon_ldm_models(dataset, subject):
    """Fine-LDM and C2F-LDM for Tables 1-2, and for a study subject C2F-LDM per P_gt."""
    p_gts = {float(RECON_P_GT)}
    if subject in recon_study_subjects(dataset):
        p_gts.update(float(p) for p in RECON_STUDY_P_GTS)
    return ["fine"] + [recon_c2f_ldm(p) for p in sorted(p_gts)]


def recon_ldm_p_gt(model):
    return float(model.split("pgt")[1]) if "pgt" in model else RECON_P_GT


def recon_acoustic_variant(model):
    """The D_aco an LDM starts from: Fine, or C2F trained with the LDM's P_gt."""
    if model == "fine":
        return "fine"
    p_gt = recon_ldm_p_gt(model)
    return "c2f" if abs(p_gt - RECON_P_GT) < 1e-9 else recon_c2f_ldm(p_gt)


def recon_vocode_entries(part):
    """What recon_vocode vocodes: Tables 1-2's methods, or Table 3's C2F-LDM cells."""
    if part == "reconstructions":
        methods = [*RECON_METHODS, "fine_ldm", "c2f_ldm"]
        inputs = {"fine_ldm": "ldm-fine", "c2f_ldm": f"ldm-{recon_c2f_ldm(RECON_P_GT)}"}
        return [
            {
                "method": method,
                "prompt": "none",
                "p_gt": RECON_P_GT if method.startswith("c2f") else None,
                "input": inputs.get(method, method),
            }
            for method in methods
        ]
    return [
        {
            "method": "c2f_ldm",
            "prompt": prompt,
            "p_gt": float(p_gt),
            "input": f"ldm-{recon_c2f_ldm(p_gt)}",
            "prefix": "" if prompt == "none" else f"{prompt}_",
        }
        for p_gt in RECON_STUDY_P_GTS
        for prompt in RECON_STUDY_PROMPTS
    ]


def recon_n_clips(part):
    """Test clips per subject a part scores: recon.evaluation.n_clips, or for Table 3 the
    study's own n_clips where set (null: all)."""
    n_clips = RECON.get("evaluation", {}).get("n_clips")
    if part == "conditional" and "n_clips" in RECON_STUDY:
        return RECON_STUDY["n_clips"]
    return n_clips


def recon_prediction_path(wildcards, key):
    """A subject's test predictions for an entry's input key (method or ldm-<model>)."""
    if key.startswith("ldm-"):
        name = f"{key}.npz"
    elif key in ("c2f", "fine"):
        name = f"acoustic-{key}.npz"
    else:
        name = f"direct-{key}.npz"
    return recon_subject_path(wildcards.dataset, wildcards.subject, "predictions", name)


def recon_reconstruction_inputs(wildcards):
    keys = {entry["input"] for entry in recon_vocode_entries(wildcards.part)}
    return {
        **{key: recon_prediction_path(wildcards, key) for key in sorted(keys)},
        "table": recon_path(wildcards.dataset, "stimuli.tsv"),
        "fmri": recon_fmri_path(wildcards.dataset, wildcards.subject),
        "melmap": recon_path(wildcards.dataset, "melmap.npz"),
        "mels": recon_path(wildcards.dataset, "features/vocoder_mel.npz"),
    }


def recon_ldm_settings(wildcards):
    """recon.ldm with the dataset's own overrides (epochs, pretrained checkpoints)."""
    return {**RECON_LDM, **recon_dataset(wildcards.dataset).get("ldm", {})}


def recon_vae_input(wildcards):
    """The dataset's pretrained VAE folder, or the VAE the workflow trains (the demo)."""
    pretrained = recon_ldm_settings(wildcards).get("pretrained_vae")
    return pretrained or recon_path(wildcards.dataset, "ldm", "vae.pt")


def recon_unet_input(wildcards):
    """The T-UNet each subject's G starts from: the dataset's pretrained folder, the G that
    recon_ldm_pretrain trains (no pretrained one, pretrain_epochs > 0), or none (random).
    """
    settings = recon_ldm_settings(wildcards)
    if settings.get("pretrained_unet"):
        return {"unet": settings["pretrained_unet"]}
    if settings.get("pretrain_epochs", 0) > 0:
        return {"unet": recon_path(wildcards.dataset, "ldm", "pretrained.pt")}
    return {}


def recon_training_metrics(dataset):
    """(panel, subject, metrics file) of every training of a dataset, for its learning curves."""
    wildcards = SimpleNamespace(dataset=dataset)
    trainings = []
    if not recon_ldm_settings(wildcards).get("pretrained_vae"):
        trainings.append(("VAE", "", recon_path(dataset, "ldm", "vae_metrics.tsv")))
    if recon_unet_input(wildcards).get("unet", "").endswith("pretrained.pt"):
        pretrain = recon_path(dataset, "ldm", "pretrained_metrics.tsv")
        trainings.append(("T-UNet pretraining", "", pretrain))
    for subject in recon_dataset(dataset)["subjects"]:
        for model in recon_ldm_models(dataset, subject):
            variant = recon_acoustic_variant(model)
            for panel, name in (
                (f"D_aco {variant}", f"acoustic-{variant}"),
                (f"G {model}", f"ldm-{model}"),
            ):
                path = recon_subject_path(
                    dataset, subject, "decoders", f"{name}_metrics.tsv"
                )
                if (panel, subject, path) not in trainings:
                    trainings.append((panel, subject, path))
    return trainings


def recon_text_input(wildcards):
    """CLAP text prompts of the dataset, where its config gives any."""
    if recon_dataset(wildcards.dataset).get("text_prompts"):
        return {"text": recon_path(wildcards.dataset, "features/clap_text.npz")}
    return {}


def recon_metrics_inputs(wildcards):
    """Every subject's Tables 1-2 metrics, and the study subjects' Table 3 ones."""
    subjects = {
        "reconstructions": recon_dataset(wildcards.dataset)["subjects"],
        "conditional": recon_study_subjects(wildcards.dataset),
    }
    return [
        recon_subject_path(wildcards.dataset, subject, "metrics", f"{part}.tsv")
        for part in RECON_PARTS
        for subject in subjects[part]
    ]


def recon_conditioning_inputs(wildcards):
    return {
        f"{subject}/{model}": recon_subject_path(
            wildcards.dataset, subject, "predictions", f"ldm-{model}.npz"
        )
        for subject in recon_dataset(wildcards.dataset)["subjects"]
        for model in recon_ldm_models(wildcards.dataset, subject)
    }


def recon_feature_inputs(wildcards):
    """Every subject's decoded features: D_sem's CLAP, and LiR, Fine and C2F AudioMAE tokens."""
    inputs = {}
    for subject in recon_dataset(wildcards.dataset)["subjects"]:
        files = {
            "semantic": recon_subject_path(
                wildcards.dataset, subject, "decoders", "semantic.npz"
            ),
            **{
                method: recon_subject_path(
                    wildcards.dataset, subject, "predictions", f"acoustic-{method}.npz"
                )
                for method in ("lir", "fine", "c2f")
            },
        }
        inputs.update({f"{subject}_{key}": path for key, path in files.items()})
    return inputs


def recon_model_files(*keys):
    """The models named in recon.models that are local files or folders, as rule inputs; a
    Hugging Face id (read from the local cache) is not a file Snakemake can track."""
    from audiobrain.io import is_local_path

    paths = []
    for key in keys:
        path = RECON_MODELS.get(key)
        path = path.get("checkpoint") if isinstance(path, dict) else path
        if path and (is_local_path(path) or os.path.exists(path)):
            paths.append(path)
    return paths


def recon_vocoder(wildcards, input):
    """The vocoder a job loads: its input when a local folder (the path the job's file system
    has), else the configured Hugging Face id, or None for the built-in HiFi-GAN."""
    return input.vocoder[0] if input.get("vocoder") else RECON_MODELS.get("vocoder")


def recon_acoustic_settings(wildcards):
    """recon.acoustic, with the dataset's own number of epochs where it sets one, and the P_gt
    a study variant (c2f-pgt<P>) names."""
    epochs = recon_dataset(wildcards.dataset).get("acoustic_epochs")
    settings = dict(RECON.get("acoustic", {}))
    if epochs is not None:
        settings["epochs"] = epochs
    if "pgt" in wildcards.variant:
        settings["p_gt"] = recon_ldm_p_gt(wildcards.variant)
    return settings


def recon_mem_mb(paper_mb):
    """A job's memory: what the paper's datasets need, or 4 GB on a demo dataset, so that the demo
    fits a laptop and a small test cluster."""
    return lambda wildcards: (
        4000 if wildcards.dataset in RECON_DEMO_DATASETS else paper_mb
    )


RECON_DEVICE = RECON.get("device", "auto")
# CPU threads beside the GPU of each GPU job of the reconstruction study (data loading, vocoding,
# metrics on the CPU).
RECON_THREADS = RECON.get("threads", 1)


def recon_outputs():
    outputs = []
    for dataset in RECON_DATASETS:
        names = [
            "sample_counts.tsv",
            "metrics.tsv",
            "table_reconstruction.tsv",
            "table_conditional.tsv",
            "ldm_conditioning.tsv",
            "melmap_pcc.tsv",
            "feature_pcc.tsv",
            "semantic_summary.tsv",
            "audio.html",
            "table_reconstruction.html",
            "table_conditional.html",
            "figures/learning_curves.png",
        ]
        outputs += [recon_path(dataset, name) for name in names]
        outputs += recon_subject_figures(dataset)
    return outputs


# --- real-data inputs of the reconstruction study: stimulus clips, voxel sets, pre-flight checks
RECON_CLIP_DATASETS = [
    d
    for d in RECON_REAL_DATASETS
    if recon_dataset(d)["source"] == "brain2sound"
    and recon_dataset(d).get("source_audio")
]
RECON_CLIP_PATTERN = "|".join(RECON_CLIP_DATASETS) or _NO_MATCH
RECON_LAG_SCAN_DATASETS = [
    d for d in RECON_REAL_DATASETS if recon_dataset(d)["source"] == "brain2music"
]
RECON_LAG_SCAN_PATTERN = "|".join(RECON_LAG_SCAN_DATASETS) or _NO_MATCH


def recon_prepare_extra_inputs(dataset):
    """More inputs of a real dataset's conversion: Brain2Sound's cut clips, Brain2Speech's ROI
    masks (the schema requires Brain2Speech's voxel sets, Table 4)."""
    settings = recon_dataset(dataset)
    if dataset in RECON_CLIP_DATASETS:
        # the clips that rule recon_stimulus_clips cuts
        return {"stimulus_clips": recon_path(dataset, "stimulus_clips")}
    if settings.get("roi_masks"):
        return {"roi_masks": settings["roi_masks"]}
    return {}


def recon_release_stimulus_table(wildcards):
    """Brain2Sound's stimulus table as the release ships it (data/ of SoundReconstruction)."""
    root = recon_dataset(wildcards.dataset)["root"]
    return os.path.join(root, "SoundReconstruction_stimulus.csv")


def recon_vae_key(wildcards):
    """The config key of the VAE folder a dataset's G uses (its own override or recon.ldm's)."""
    if "pretrained_vae" in recon_dataset(wildcards.dataset).get("ldm", {}):
        return f"recon.sources.{wildcards.dataset}.ldm.pretrained_vae"
    return "recon.ldm.pretrained_vae"


def recon_vae_check_input(wildcards):
    """The pre-flight check of a pretrained VAE, which every fine-tuning job waits for."""
    if recon_ldm_settings(wildcards).get("pretrained_vae"):
        return {"vae_check": recon_path(wildcards.dataset, "ldm", "vae_check.tsv")}
    return {}


def recon_lag_scan_input(wildcards):
    """Brain2Music's pre-flight lag scan, which its semantic decoders wait for."""
    if wildcards.dataset in RECON_LAG_SCAN_DATASETS:
        return {"lag_scan": recon_path(wildcards.dataset, "lag_scan.tsv")}
    return {}
