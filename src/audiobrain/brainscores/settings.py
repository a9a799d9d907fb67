"""What the brain-score rules hand to the library, from the validated config (the schema holds
every default; these only map keys onto the library's arguments), and the config checks that
JSON Schema cannot state because they compare one key's value with another's.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np

from audiobrain.io import InputError

# Keys of networks.training that size the job rather than the training.
TRAINING_JOB_KEYS = ("threads", "device", "mem_mb", "runtime_min", "resubmissions")


def check_demo_folders(config: Mapping) -> None:
    """The demo writes its folders under demo.root: the dataset must point there."""
    root = config["demo"]["root"]
    expected = {"bids_dir": f"{root}/bids", "fmriprep_dir": f"{root}/derivatives/fmriprep"}
    for key, path in expected.items():
        if os.path.normpath(config["dataset"][key]) != os.path.normpath(path):
            raise InputError(
                f"config dataset.{key}: dataset.source is 'demo', whose data the workflow "
                f"writes to {path}, but dataset.{key} is {config['dataset'][key]!r}. For your "
                f"own data set dataset.source: bids"
            )


def ridge_alphas(ridge: Mapping) -> list[float]:
    """The log-spaced penalties of the ridge (section 2.5: 20 from 10 to 1e8)."""
    return np.logspace(
        np.log10(ridge["alpha_min"]), np.log10(ridge["alpha_max"]), ridge["n_alphas"]
    ).tolist()


def corpus_settings(corpora: Mapping, task: str) -> dict:
    """Everything :func:`audiobrain.brainscores.corpora.prepare_corpus` needs besides the root."""
    corpus = corpora[task]
    return {
        "source": corpus["source"],
        "max_duration_s": corpora["max_duration_s"],
        "total_duration_h": corpus["total_duration_h"],
        "split_fractions": corpora["split_fractions"],
        "seed": corpora["seed"],
        "unknown": corpus["unknown_characters"],
        "mapping": corpus["character_map"],
        "multilabel": corpus["multilabel"],
    }


def training_settings(training: Mapping) -> dict:
    """The fields of :class:`audiobrain.brainscores.training.TrainingSettings` (and the clip-length
    limit) in ``networks.training``."""
    return {key: value for key, value in training.items() if key not in TRAINING_JOB_KEYS}


def roi_settings(rois: Mapping, surface: Mapping) -> dict:
    """The ROI definitions and atlases, and how volumetric atlases are sampled onto the surface."""
    return {
        "annotation": rois["annotation"],
        "rois": rois["definitions"],
        "atlases": rois["atlases"],
        "line_mm": surface["line_mm"],
        "n_samples": surface["n_samples"],
    }


def atlas_files(rois: Mapping) -> list[str]:
    """Every atlas file the ROI definitions read: rule inputs, so a missing one stops the DAG."""
    files = [rois["annotation"]] if rois["annotation"] else []
    for atlas in rois["atlases"].values():
        files += [atlas[key] for key in ("left", "right", "image", "labels") if key in atlas]
    return files
