# The reconstruction study's config-derived constants, paths and input functions (c2f-ldm paper):
# datasets, features, decoders, metrics. Which models, clips and prediction files it runs comes
# from audiobrain.recon.plan.
from types import SimpleNamespace

from audiobrain.recon import plan

RECON = config["recon"]
plan.check_datasets(RECON)
RECON_DATASETS = RECON["datasets"]
RECON_MODELS = RECON["models"]
NO_MATCH = "(?!x)x"  # a wildcard pattern no name matches
RECON_DEMO_DATASETS = [
    d for d in RECON_DATASETS if RECON["sources"][d]["source"] == "demo"
]
RECON_REAL_DATASETS = [d for d in RECON_DATASETS if d not in RECON_DEMO_DATASETS]
RECON_DEMO_PATTERN = "|".join(RECON_DEMO_DATASETS) or NO_MATCH
RECON_REAL_PATTERN = "|".join(RECON_REAL_DATASETS) or NO_MATCH
RECON_DEMO_MODELS = RECON["demo_models"]["root"]


# P_gt of D_aco and of Tables 1-2; Table 3 repeats C2F-LDM for each of the study's P_gt values.
RECON_P_GT = RECON["acoustic"]["p_gt"]
RECON_STUDY = RECON["study"]
RECON_PARTS = list(plan.PARTS)  # Tables 1-2; Table 3


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


def recon_study_subjects(dataset):
    return plan.study_subjects(recon_dataset(dataset)["subjects"], RECON_STUDY)


def recon_ldm_models(dataset, subject):
    in_study = subject in recon_study_subjects(dataset)
    return plan.ldm_models(RECON_P_GT, RECON_STUDY["p_gt"], in_study)


def recon_acoustic_variant(model):
    return plan.acoustic_variant(model, RECON_P_GT)


def recon_ldm_p_gt(model):
    return plan.model_p_gt(model, RECON_P_GT)


def recon_vocode_entries(part):
    return plan.vocode_entries(part, RECON_P_GT, RECON_STUDY)


def recon_n_clips(part):
    return plan.n_clips(part, RECON)


def recon_prediction_path(wildcards, key):
    """A subject's test predictions for an entry's input key (method or ldm-<model>)."""
    return recon_subject_path(
        wildcards.dataset, wildcards.subject, "predictions", plan.prediction_file(key)
    )


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
    return plan.ldm_settings(RECON, recon_dataset(wildcards.dataset))


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
    if settings["pretrain_epochs"] > 0:
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
    if recon_dataset(wildcards.dataset)["text_prompts"]:
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
    return input.vocoder[0] if input.get("vocoder") else RECON_MODELS["vocoder"]


def recon_acoustic_settings(wildcards):
    return plan.acoustic_settings(
        RECON, recon_dataset(wildcards.dataset), wildcards.variant
    )


def recon_mem_mb(paper_mb):
    """A job's memory: what the paper's datasets need, or 4 GB on a demo dataset, so that the demo
    fits a laptop and a small test cluster."""
    return lambda wildcards: (
        4000 if wildcards.dataset in RECON_DEMO_DATASETS else paper_mb
    )


RECON_DEVICE = RECON["device"]
# CPU threads beside the GPU of each GPU job of the reconstruction study (data loading, vocoding,
# metrics on the CPU).
RECON_THREADS = RECON["threads"]


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
RECON_CLIP_PATTERN = "|".join(RECON_CLIP_DATASETS) or NO_MATCH
RECON_LAG_SCAN_DATASETS = [
    d for d in RECON_REAL_DATASETS if recon_dataset(d)["source"] == "brain2music"
]
RECON_LAG_SCAN_PATTERN = "|".join(RECON_LAG_SCAN_DATASETS) or NO_MATCH


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
    if "pretrained_vae" in recon_dataset(wildcards.dataset)["ldm"]:
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
