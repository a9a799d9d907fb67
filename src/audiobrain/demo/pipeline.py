"""One function per demo rule: the brain-score study's demo BOLD and training corpora, and the
reconstruction study's demo clips, fMRI and pretrained-model stand-ins.

Only the demo rules' scripts call these; the study pipelines
(:mod:`audiobrain.brainscores.pipeline`, :mod:`audiobrain.recon.pipeline`) never import
:mod:`audiobrain.demo`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from audiobrain.io import InputError
from audiobrain.recon import datasets

log = logging.getLogger("audiobrain")
PathLike = str | os.PathLike

# --- brain scores: the MOUS-like demo and the training corpora ---------------------------------


def generate_demo(root: PathLike, *, subjects: Sequence[str], **settings) -> None:
    """The embedded demo under ``root``; subjects must be labelled as the simulator labels them."""
    from audiobrain.demo import simulate

    expected = simulate.subject_labels(len(subjects))
    if list(subjects) != expected:
        raise InputError(
            f"config dataset.subjects: the demo labels its {len(subjects)} subjects {expected}, "
            f"found {list(subjects)}"
        )
    summary = simulate.simulate_demo(root, n_subjects=len(subjects), **settings)
    log.info("demo written under %s: %s scans per subject", root, summary["n_scans"])


def make_demo_corpus(folder: PathLike, *, task: str, n_clips: int, seed: int, max_words: int):
    """A small corpus for ``task`` synthesised offline (see :mod:`audiobrain.demo.corpora`)."""
    from audiobrain.demo import corpora

    corpora.generate_demo_corpus(task, folder, n_clips=n_clips, seed=seed, max_words=max_words)


# --- reconstruction: clips, fMRI and models -------------------------------------------------


def demo_stimuli(output_dir: PathLike, *, settings: Mapping) -> None:
    """The demo's clips in the common format (``recon.sources.<demo>``)."""
    from audiobrain.demo.recon_dataset import generate_demo_stimuli

    generate_demo_stimuli(
        output_dir,
        n_train_stimuli=settings["n_train_stimuli"],
        n_test_stimuli=settings["n_test_stimuli"],
        n_prompt=settings["n_prompt"],
        seed=settings["seed"],
    )


def demo_fmri(
    stimuli_dir: PathLike, output: PathLike, *, subject: str, settings: Mapping, where: str
) -> None:
    """One demo subject's fMRI (and planted truth beside it), from properties of the stimuli
    (category and within-category acoustic detail, :func:`audiobrain.demo.recon_dataset
    .stimulus_properties`); every subject's job simulates all subjects, which costs little and
    keeps each subject the same whichever jobs run."""
    from audiobrain.demo.recon_dataset import (
        simulate_demo_fmri,
        stimulus_properties,
        write_demo_fmri,
    )

    stimuli = datasets.read_stimuli(stimuli_dir)
    table = stimuli.table
    properties = stimulus_properties(
        stimuli.waveforms, table["label"].to_numpy(str), (table["split"] == "train").to_numpy()
    )
    features = {
        split: {
            name: values[(table["split"] == split).to_numpy()]
            for name, values in properties.items()
        }
        for split in ("train", "test")
    }
    subjects, truth = simulate_demo_fmri(
        features["train"],
        features["test"],
        table,
        n_subjects=len(settings["subjects"]),
        n_voxels=settings["n_voxels"],
        n_repetitions=settings["n_repetitions"],
        noise=settings["noise"],
        seed=settings["seed"],
    )
    simulated = [fmri.subject for fmri in subjects]
    if list(settings["subjects"]) != simulated:
        raise InputError(f"config {where}.subjects: the demo's subjects are {simulated}")
    written = write_demo_fmri(Path(output).parent, [subjects[simulated.index(subject)]], truth)
    if Path(written[0]) != Path(output):
        raise InputError(f"demo fMRI: wrote {written[0]}, expected {output}")


def make_demo_models(
    stimuli_dir: PathLike,
    outputs: Mapping[str, PathLike],
    *,
    audiomae: Mapping,
    settings: Mapping,
    captions: Mapping[str, str],
    threads: int = 1,
) -> None:
    """The demo's CLAP, AudioMAE, PANNs and VGGish weight files, trained on its training clips
    (:mod:`audiobrain.demo.demo_training`) and written in the real checkpoints' layouts."""
    import torch

    from audiobrain.demo import demo_models
    from audiobrain.recon.audiomae import audiomae_config

    torch.set_num_threads(threads)
    stimuli = datasets.read_stimuli(stimuli_dir)
    train = (stimuli.table["split"] == "train").to_numpy()
    clips, labels = stimuli.waveforms[train], stimuli.table.loc[train, "label"].astype(str)
    demo_models.write_trained_models(
        outputs, clips, datasets.SAMPLE_RATE_HZ, list(labels), captions,
        audiomae=audiomae_config(audiomae), settings=settings,
    )  # fmt: skip
