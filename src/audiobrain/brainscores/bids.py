"""The raw BIDS folder: which participants have a run of the task, and that listed ones do."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from audiobrain.io import InputError, read_tsv

BOLD_EXTENSIONS = (".nii.gz", ".nii")


def raw_events_path(bids_dir: str | os.PathLike, subject: str, task: str) -> Path:
    return Path(bids_dir) / f"sub-{subject}" / "func" / f"sub-{subject}_task-{task}_events.tsv"


def raw_bold_paths(bids_dir: str | os.PathLike, subject: str, task: str) -> list[Path]:
    """The run's raw BOLD image under either extension BIDS allows."""
    stem = Path(bids_dir) / f"sub-{subject}" / "func" / f"sub-{subject}_task-{task}_bold"
    return [Path(f"{stem}{extension}") for extension in BOLD_EXTENSIONS]


def has_run(bids_dir: str | os.PathLike, subject: str, task: str) -> bool:
    """A run of ``task`` is its events file and its BOLD image."""
    return raw_events_path(bids_dir, subject, task).is_file() and any(
        path.is_file() for path in raw_bold_paths(bids_dir, subject, task)
    )


def participants(bids_dir: str | os.PathLike) -> list[str]:
    """Labels (without ``sub-``) in ``participants.tsv``, in its order."""
    path = Path(bids_dir) / "participants.tsv"
    table = read_tsv(path, required=("participant_id",), dtype={"participant_id": str})
    labels = [str(p) for p in table["participant_id"]]
    malformed = [p for p in labels if not p.startswith("sub-") or not p[4:].isalnum()]
    if malformed:
        raise InputError(f"{path}: participant_id must be sub-<label>, found {malformed[:3]}")
    return [p.removeprefix("sub-") for p in labels]


def dataset_subjects(
    bids_dir: str | os.PathLike,
    task: str,
    listed: Sequence[str] | None,
    exclude: Sequence[str] = (),
) -> list[str]:
    """The subjects a run analyses: ``listed`` (each must have the run), or every participant of
    ``participants.tsv`` that has it; ``exclude`` removed in both cases."""
    if listed is None:
        subjects = [s for s in participants(bids_dir) if has_run(bids_dir, s, task)]
        source = f"{Path(bids_dir) / 'participants.tsv'} (participants with a task-{task} run)"
    else:
        without = [s for s in listed if not has_run(bids_dir, s, task)]
        if without:
            raise InputError(
                f"config dataset.subjects: {len(without)} listed subject(s) have no task-{task} "
                f"run in {bids_dir}, first sub-{without[0]} (expected "
                f"{raw_events_path(bids_dir, without[0], task)} and its _bold.nii[.gz])"
            )
        subjects, source = list(listed), "config dataset.subjects"
    unknown = sorted(set(exclude) - set(subjects))
    if unknown:
        raise InputError(
            f"config dataset.exclude_subjects: {unknown} are not among the subjects of {source}"
        )
    kept = [s for s in subjects if s not in set(exclude)]
    if not kept:
        raise InputError(f"no subjects to analyse: {source} gives none after the exclusions")
    return kept
