"""The three fMRI-audio datasets of C2F-LDM (appendix A.1) in one common format.

Every dataset, real or the demo (:mod:`audiobrain.demo.recon_dataset`), is written to one folder as

``stimuli.tsv``           one row per audio segment a sample is paired with: ``stimulus_id``,
                          ``split`` (``train``/``test``/``prompt``), ``source`` (the file it was
                          cut from), ``start_s``, ``duration_s``, ``label`` (genre, speaker gender,
                          sound category or ``n/a``) and ``kind`` (``speech``/``music``/``sound``).
``stimuli.npz``           ``stimulus_id`` (n,) and ``waveform`` float32 (n, n_samples), 16 kHz
                          mono, every row the dataset's clip length (:data:`CLIP_S`); sidecar
                          ``stimuli.json``.
``sub-<label>_fmri.npz``  ``train_voxels`` float32 (n_train, V) with ``train_stimulus`` (one row
                          per presentation: repetitions are separate samples) and ``test_voxels``
                          float32 (n_test, V) with ``test_stimulus`` (repetitions averaged, as the
                          paper does); sidecar with counts, voxels, dataset and subject.

:func:`check_sample_counts` compares a copy with Table 4 and warns, rather than fails, on a
mismatch: a lab's download may differ (footnote 4: YouTube clips vanish). Two mismatches are
errors, each with a config key to relax it: Brain2Sound samples without audio beyond 5 % of Table
4's (:func:`check_missing_audio`) and Brain2Speech voxel sets of other sizes than Table 4's
(:func:`check_voxel_sets`).

Layouts read (root folders are config keys, named in every error)
-----------------------------------------------------------------
Brain2Sound (Park et al., 2023; github.com/KamitaniLab/SoundReconstruction, ``data/README.md``,
``data/files.json``, ``feature_decoding/config/*.yaml``):
  ``<root>/fmri_data/S{1-5}_VGGishish{Train,Test}_volume_native.h5`` in bdpy's BData HDF5 layout
  (bdpy ``bdata.py``): ``dataset`` (n_samples, n_columns), ``metadata/key`` (n_keys,),
  ``metadata/value`` (n_keys, n_columns; 1 marks the columns a key selects), ``vmap/<key>/<value>``
  (label strings). Samples are labelled by ``sample_name``; the auditory cortex is the union of the
  HCP-MMP ROI keys of the release's ``AC`` selection (:data:`BRAIN2SOUND_AC_ROIS`). Test
  repetitions are averaged per sample name, as the release's ``featdec_fastl2lir_predict.py`` does.
  Labels (VGGSound classes) come from ``<root>/SoundReconstruction_stimulus.csv`` when present.
  *Assumptions*: the release ships no audio; the 8 s VGGSound clips are expected in
  ``<root>/stimuli/<clip>.wav`` (or ``audio_dir``; rule ``recon_stimulus_clips`` cuts them from
  downloaded audio as ``<YouTube ID>_<start_ms>.wav``, :mod:`audiobrain.recon.stimulus_clips`)
  and sample names read ``<clip>_slide<k>`` (k = 0, 1, 2), the naming of the release's per-window
  feature files (e.g. ``-0pJqpNjft4_test_slide0``), with ``<clip>`` = ``<YouTube ID>_<train|test>``
  or the unique clip name; window k is ``[2k, 2k + 4)`` s of the clip (4 s windows, 2 s stride).
  Samples whose clip is missing are dropped and counted (footnote 4); more than 5 % of a
  subject's Table 4 samples without audio is an error (:func:`check_missing_audio`).
Brain2Music (Nakai et al., 2022; OpenNeuro ds003720, its ``README``):
  ``<root>/sub-00N/func/sub-00N_task-{Training,Test}_run-NN_events.tsv`` (``onset``, ``genre``
  quoted as ``'jazz'``, ``track``, ``start``, ``end``) and the release's preprocessed responses
  ``<root>/derivative/preprocessed_data/sub-00N/sub-00N_Resp_{Training,Test}.npy`` (or without the
  subject folder), float32 (n_TRs, n_voxels): 4,800 x 60,784 for sub-001, matching Table 4 (file
  sizes in the dataset's annex). The first event of every run repeats a clip heard elsewhere in
  the same or the previous run (README) and is not in the preprocessed responses, so 40 pieces per
  run x 10 TRs of 1.5 s give 12 x 400 = 4,800 training and 6 x 400 = 2,400 test rows (each test
  piece four times, averaged here to 600). Audio: GTZAN (``<gtzan_root>/**/<genre>.000NN.wav`` or
  ``.au``), excerpt ``[start, start + 15)`` s with 2 s fades as the README describes.
  *Assumptions*: row r of a response file is TR r of the runs in run order with the repeated first
  clip removed, i.e. clip r % 10 of the r // 10-th remaining event, as the row counts imply; the
  pairing has no hemodynamic lag unless ``lag_trs`` gives one (:data:`BRAIN2MUSIC_LAG_TRS`,
  :func:`brain2music_pairs`); the fades are linear; the README's RMS normalisation is not
  applied.
Brain2Speech (LeBel et al., 2023; OpenNeuro ds003020; github.com/HuthLab/deep-fMRI-dataset):
  ``<root>/derivative/preprocessed_data/UTS0N/<story>.hf5`` (HDF5, responses under ``data`` or, in
  the first release, ``resp``; the test story ``wheretheressmoke`` also holds
  ``individual_repeats`` (n_repeats, n_TRs, n_voxels), averaged here) and story audio
  ``<root>/stimuli/<story>.wav``. The paper's 25 training stories are the first five sessions'
  (``sess_to_story.json``) minus the test stories "Hang time" (``hangtime``, male) and "Where
  there's Smoke" (``wheretheressmoke``, female). Response row j is the volume acquired at
  ``10 + 2j`` s of the story audio: the release code simulates TRs from 10 s before the sound and
  trims rows ``[10:-5]`` (``stimulus_utils.load_simulated_trfiles``, ``apply_zscore_and_hrf``). It
  is paired with the 2 s clip that starts 4 s earlier (A.1); the last 10 clips of each test story
  become audio prompts (split ``prompt``) and their volumes are left out of the test set.
  *Assumptions*: that timing; the voxel selection of Table 4 comes from the release's pycortex
  ROIs, exported once per subject (:mod:`audiobrain.recon.pycortex_rois`), and is passed in
  (``voxel_masks``); its counts must match Table 4 (:func:`check_voxel_sets`); training stories'
  speaker genders are unknown to the release and are ``n/a`` unless given.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from audiobrain.audio import SAMPLE_RATE_HZ, fit_length, load_audio, load_segment
from audiobrain.io import (
    InputError,
    load_npy,
    load_npz,
    reading,
    require_finite,
    save_arrays,
    write_tsv,
)
from audiobrain.recon import stimulus_clips

log = logging.getLogger(__name__)

STIMULUS_COLUMNS = ("stimulus_id", "split", "source", "start_s", "duration_s", "label", "kind")
SPLITS = ("train", "test", "prompt")
KINDS = ("speech", "music", "sound")
NO_LABEL = "n/a"
STIMULI_TABLE = "stimuli.tsv"
STIMULI_AUDIO = "stimuli.npz"
SAMPLE_COUNTS = "sample_counts.tsv"
DATASETS = ("brain2sound", "brain2music", "brain2speech", "demo")
CLIP_S = {"brain2sound": 4.0, "brain2music": 1.5, "brain2speech": 2.0, "demo": 1.5}  # A.1
CONFIG_KEYS = {
    "brain2sound": "recon.datasets.brain2sound.root",
    "brain2music": "recon.datasets.brain2music.root",
    "gtzan": "recon.datasets.brain2music.gtzan_root",
    "brain2speech": "recon.datasets.brain2speech.root",
}

# Table 4: subject -> (training samples, test samples, voxels).
EXPECTED_COUNTS = {
    "brain2sound": {
        "S1": (13_872, 150, 6_662),
        "S2": (13_944, 150, 6_624),
        "S3": (13_944, 150, 6_713),
        "S4": (13_944, 150, 6_157),
        "S5": (13_944, 150, 7_143),
    },
    "brain2music": {
        "001": (4_800, 600, 60_784),
        "002": (4_800, 600, 53_927),
        "003": (4_800, 600, 64_700),
        "004": (4_800, 600, 61_899),
        "005": (4_800, 600, 53_421),
    },
    "brain2speech": {
        "UTS01": (9_137, 595, 836),
        "UTS02": (9_137, 595, 2_093),
        "UTS03": (9_137, 595, 1_303),
        "UTS05": (9_137, 595, 920),
        "UTS06": (9_137, 595, 980),
        "UTS07": (9_137, 595, 1_584),
        "UTS08": (9_137, 595, 1_109),
    },
}

# Brain2Sound: the release's "AC" ROI (feature_decoding/config/vggsound_fmriprep_*.yaml).
BRAIN2SOUND_WINDOW_STRIDE_S = 2.0  # A.1: 4 s windows with a 2 s stride, three per 8 s clip
BRAIN2SOUND_AC_ROIS = tuple(
    f"hcp180_r_{hemi}.{side}_{area}_ROI"
    for hemi, side in (("lh", "L"), ("rh", "R"))
    for area in ("A1", "MBelt", "PBelt", "LBelt", "RI", "A4", "A5")
)
BRAIN2SOUND_LABEL_KEY = "sample_name"
# Footnote 4: clips vanished from YouTube, so Table 4 has slightly fewer than 14,400 training
# samples; a copy more than this fraction short of Table 4 (per subject and split) is an error.
BRAIN2SOUND_MAX_MISSING_AUDIO = 0.05
_BDPY_CHUNK_ROWS = 256  # rows of a bdpy dataset read at once (whole-brain rows are wide)

# Brain2Music: ds003720 README and A.1.
BRAIN2MUSIC_TR_S = 1.5
BRAIN2MUSIC_PIECE_S = 15.0
BRAIN2MUSIC_CLIPS_PER_PIECE = 10
BRAIN2MUSIC_FADE_S = 2.0
BRAIN2MUSIC_TASKS = {"train": "Training", "test": "Test"}
# Hemodynamic lag of the Brain2Music pairing in TRs of 1.5 s. Neither ds003720's README nor the
# paper (A.1: "segmented into 10 clips of 1.5 seconds each to match the TR", fMRI "preprocessed
# by Denk et al.") states a shift, unlike Brain2Speech's 4 s, so row r stays with the clip played
# during it; recon.sources.<dataset>.lag_trs sets another, and rule recon_lag_scan logs D_sem's
# test PCC over lags 0-4 to check it.
BRAIN2MUSIC_LAG_TRS = 0

# Brain2Speech: A.1 and the release code (module docstring).
BRAIN2SPEECH_TR_S = 2.0
BRAIN2SPEECH_FIRST_VOLUME_S = 10.0  # story time of preprocessed response row 0
BRAIN2SPEECH_LAG_S = 4.0  # A.1: each TR is paired with the clip from 4 s before
BRAIN2SPEECH_N_PROMPT = 10  # section 3.4: the last 10 clips of each test story are audio prompts
BRAIN2SPEECH_TEST_STORIES = {"hangtime": "male", "wheretheressmoke": "female"}  # A.1
BRAIN2SPEECH_SUBJECTS = ("UTS01", "UTS02", "UTS03", "UTS05", "UTS06", "UTS07", "UTS08")  # no UTS04
BRAIN2SPEECH_TRAIN_STORIES = (  # sessions 1-5 of sess_to_story.json, less "hangtime"
    "alternateithicatom", "souls", "avatar", "legacy", "odetostepfather",
    "undertheinfluence", "howtodraw", "myfirstdaywiththeyankees", "naked", "life",
    "stagefright", "tildeath", "fromboyhoodtofatherhood", "sloth", "exorcism",
    "haveyoumethimyet", "adollshouse", "inamoment", "theclosetthatateeverything",
    "adventuresinsayingyes", "buck", "swimmingwithastronauts", "thatthingonmyarm", "eyespy",
    "itsabox",
)  # fmt: skip
AUDIO_END_TOLERANCE_S = 0.1  # a clip may run this far past the end of its file (padded)


@dataclass
class StimulusSet:
    """A stimulus table and its audio, rows aligned."""

    table: pd.DataFrame  # STIMULUS_COLUMNS
    waveforms: np.ndarray  # (n_stimuli, n_samples) float32, 16 kHz


@dataclass
class SubjectFMRI:
    """One subject's samples in the common format (see module docstring)."""

    subject: str
    train_voxels: np.ndarray  # (n_train, n_voxels) float32
    train_stimulus: np.ndarray  # (n_train,) str
    test_voxels: np.ndarray  # (n_test, n_voxels) float32
    test_stimulus: np.ndarray  # (n_test,) str
    source: str = ""  # where it was read from, for messages
    notes: dict = field(default_factory=dict)  # extra sidecar entries (e.g. dropped samples)


# --------------------------------------------------------------------------------------------
# The common format


def subject_fmri_path(folder: str | os.PathLike, subject: str) -> Path:
    return Path(folder) / f"sub-{subject}_fmri.npz"


def write_stimuli(
    folder: str | os.PathLike, stimuli: StimulusSet, dataset: str, meta: Mapping | None = None
) -> None:
    """``stimuli.tsv`` and ``stimuli.npz`` (+ ``stimuli.json``), after checking the format."""
    folder = Path(folder)
    table = check_stimulus_table(stimuli.table, where=str(folder / STIMULI_TABLE))
    waveforms = np.asarray(stimuli.waveforms)
    if waveforms.dtype != np.float32 or waveforms.ndim != 2 or len(waveforms) != len(table):
        raise ValueError(
            f"waveforms must be float32 (n_stimuli={len(table)}, n_samples), got "
            f"{waveforms.dtype} {waveforms.shape}"
        )
    counts = table["split"].value_counts()
    info = {
        "dataset": dataset,
        "sr_hz": SAMPLE_RATE_HZ,
        "clip_s": waveforms.shape[1] / SAMPLE_RATE_HZ,
        "counts": {split: int(counts.get(split, 0)) for split in SPLITS},
        **(meta or {}),
    }
    ids = table["stimulus_id"].to_numpy(dtype=str)
    save_arrays(folder / STIMULI_AUDIO, {"stimulus_id": ids, "waveform": waveforms}, info)
    write_tsv(table, folder / STIMULI_TABLE)


def read_stimuli(folder: str | os.PathLike) -> StimulusSet:
    """The stimulus table and audio of a dataset folder, checked to agree row by row."""
    folder = Path(folder)
    path = folder / STIMULI_TABLE
    if not path.is_file():
        raise InputError(f"{path}: stimulus table not found")
    with reading(path, "the prepared stimulus table (TSV)"):
        table = pd.read_csv(
            path,
            sep="\t",
            keep_default_na=False,
            dtype={c: str for c in ("stimulus_id", "split", "source", "label", "kind")},
        )
    table = check_stimulus_table(table, where=str(path))
    audio = folder / STIMULI_AUDIO
    if not audio.is_file():
        raise InputError(f"{audio}: stimulus audio not found")
    arrays = load_npz(audio)
    if list(arrays.get("stimulus_id", [])) != list(table["stimulus_id"]):
        raise InputError(f"{audio}: stimulus_id does not match the rows of {path}")
    return StimulusSet(table, arrays["waveform"])


def check_stimulus_table(table: pd.DataFrame, where: str = "stimulus table") -> pd.DataFrame:
    """The table with columns in contract order; raises InputError naming what is wrong."""
    missing = [column for column in STIMULUS_COLUMNS if column not in table.columns]
    if missing:
        raise InputError(f"{where}: missing column(s) {missing}; found {list(table.columns)}")
    for column, allowed in (("split", SPLITS), ("kind", KINDS)):
        bad = sorted(set(table[column]) - set(allowed))
        if bad:
            raise InputError(f"{where}: column {column!r} has {bad}; expected {list(allowed)}")
    duplicated = table["stimulus_id"][table["stimulus_id"].duplicated()].unique()
    if len(duplicated):
        raise InputError(f"{where}: duplicate stimulus_id {list(duplicated[:5])}")
    return table.loc[:, list(STIMULUS_COLUMNS)].reset_index(drop=True)


def write_subject_fmri(folder: str | os.PathLike, fmri: SubjectFMRI, dataset: str) -> Path:
    """``sub-<label>_fmri.npz`` and its sidecar (counts, voxels, dataset, subject, notes)."""
    path = subject_fmri_path(folder, fmri.subject)
    _check_fmri(fmri, str(path))
    arrays = {
        "train_voxels": np.asarray(fmri.train_voxels, dtype=np.float32),
        "train_stimulus": np.asarray(fmri.train_stimulus, dtype=str),
        "test_voxels": np.asarray(fmri.test_voxels, dtype=np.float32),
        "test_stimulus": np.asarray(fmri.test_stimulus, dtype=str),
    }
    meta = {
        "dataset": dataset,
        "subject": fmri.subject,
        "n_train": len(arrays["train_stimulus"]),
        "n_test": len(arrays["test_stimulus"]),
        "n_voxels": int(arrays["train_voxels"].shape[1]),
        "n_train_stimuli": len(np.unique(arrays["train_stimulus"])),
        "test_repetitions_averaged": True,
        **fmri.notes,
    }
    save_arrays(path, arrays, meta)
    return path


def read_subject_fmri(path: str | os.PathLike) -> SubjectFMRI:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: subject fMRI file not found")
    arrays = load_npz(path)
    missing = [
        key
        for key in ("train_voxels", "train_stimulus", "test_voxels", "test_stimulus")
        if key not in arrays
    ]
    if missing:
        raise InputError(f"{path}: missing array(s) {missing}; found {sorted(arrays)}")
    match = re.fullmatch(r"sub-(.+)_fmri\.npz", path.name)
    fmri = SubjectFMRI(
        subject=match.group(1) if match else path.stem,
        train_voxels=arrays["train_voxels"],
        train_stimulus=arrays["train_stimulus"],
        test_voxels=arrays["test_voxels"],
        test_stimulus=arrays["test_stimulus"],
        source=str(path),
    )
    _check_fmri(fmri, str(path))
    return fmri


def _check_fmri(fmri: SubjectFMRI, where: str) -> None:
    """Raise InputError for data that cannot be right (not for counts that differ from Table 4)."""
    for part in ("train", "test"):
        voxels = np.asarray(getattr(fmri, f"{part}_voxels"))
        stimulus = np.asarray(getattr(fmri, f"{part}_stimulus"))
        if voxels.ndim != 2:
            raise InputError(
                f"{where}: {part}_voxels must be 2-D (samples, voxels), got {voxels.shape}"
            )
        require_finite(voxels, where, f"{part}_voxels (samples x voxels)")
        if stimulus.shape != (len(voxels),):
            raise InputError(
                f"{where}: {part}_stimulus has shape {stimulus.shape}; expected ({len(voxels)},), "
                f"one stimulus id per row of {part}_voxels"
            )
    n_train, n_test = np.shape(fmri.train_voxels)[1], np.shape(fmri.test_voxels)[1]
    if n_train != n_test:
        raise InputError(
            f"{where}: train_voxels has {n_train} voxels but test_voxels has {n_test}; the same "
            "voxels must be selected in both"
        )


def check_sample_counts(dataset: str, subjects: Iterable[SubjectFMRI]) -> pd.DataFrame:
    """Samples and voxels per subject against Table 4: a table for the report, warnings on mismatch.

    Returns
    -------
    table : columns ``subject``, ``quantity`` (``train``, ``test``, ``voxels``), ``expected``
        (Table 4; missing for subjects or datasets it does not list), ``found``, ``matches``.

    Raises
    ------
    InputError : data that are inconsistent, e.g. train and test voxel counts differ (naming the
        file), or a stimulus id per sample is missing.
    """
    expected_by_subject = EXPECTED_COUNTS.get(dataset, {})
    rows = []
    for fmri in subjects:
        _check_fmri(fmri, fmri.source or f"sub-{fmri.subject}")
        found = (len(fmri.train_voxels), len(fmri.test_voxels), np.shape(fmri.train_voxels)[1])
        expected = expected_by_subject.get(fmri.subject, (None, None, None))
        for quantity, want, got in zip(("train", "test", "voxels"), expected, found, strict=True):
            matches = want is None or want == got
            rows.append((fmri.subject, quantity, want, int(got), matches))
            if not matches:
                log.warning(
                    "%s sub-%s: %d %s %s, Table 4 lists %d (%s)",
                    dataset, fmri.subject, got, quantity,
                    "voxels" if quantity == "voxels" else "samples", want,
                    fmri.source or "in memory",
                )  # fmt: skip
    table = pd.DataFrame(rows, columns=["subject", "quantity", "expected", "found", "matches"])
    table["expected"] = table["expected"].astype("Int64")
    return table


def _finish(
    out_dir: Path, dataset: str, stimuli: StimulusSet, loaders: Iterable, meta: Mapping
) -> pd.DataFrame:
    """Write the stimuli, then each subject as it is loaded (one in memory at a time)."""
    write_stimuli(out_dir, stimuli, dataset, meta)
    known = set(stimuli.table["stimulus_id"])
    tables = []
    for fmri in loaders:
        unknown = sorted((set(fmri.train_stimulus) | set(fmri.test_stimulus)) - known)
        if unknown:
            raise InputError(f"{fmri.source}: samples of stimuli not in the table: {unknown[:5]}")
        fmri.source = str(write_subject_fmri(out_dir, fmri, dataset))
        tables.append(check_sample_counts(dataset, [fmri]))
    counts = pd.concat(tables, ignore_index=True)
    write_tsv(counts, out_dir / SAMPLE_COUNTS)
    return counts


def _need_dir(path: Path, config_key: str, what: str) -> Path:
    if not path.is_dir():
        raise InputError(f"{path}: folder not found; set {config_key} to the folder holding {what}")
    return path


def _need_file(path: Path, config_key: str, what: str) -> Path:
    if not path.is_file():
        raise InputError(f"{path}: file not found ({what}; check {config_key})")
    return path


def _average_by(voxels: np.ndarray, labels: np.ndarray, order: Sequence[str]) -> np.ndarray:
    """Mean of the rows of each label, in ``order``: the paper averages test repetitions."""
    rows: dict[str, list[int]] = {}
    for index, label in enumerate(np.asarray(labels)):
        rows.setdefault(str(label), []).append(index)
    out = np.empty((len(order), voxels.shape[1]), dtype=np.float32)
    for position, label in enumerate(order):
        out[position] = voxels[rows[label]].mean(axis=0, dtype=np.float64)
    return out


# --------------------------------------------------------------------------------------------
# Brain2Sound (KamitaniLab SoundReconstruction)

_SLIDE = re.compile(r"^(?P<clip>.+)_slide(?P<k>\d+)$")


def prepare_brain2sound(
    root: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    subjects: Sequence[str] = tuple(EXPECTED_COUNTS["brain2sound"]),
    rois: Sequence[str] = BRAIN2SOUND_AC_ROIS,
    audio_dir: str | os.PathLike | None = None,
    config_key: str = CONFIG_KEYS["brain2sound"],
    max_missing_audio: float = BRAIN2SOUND_MAX_MISSING_AUDIO,
    missing_key: str = "recon.sources.brain2sound.max_missing_audio",
) -> pd.DataFrame:
    """Brain2Sound in the common format (layout and assumptions in the module docstring).

    Parameters
    ----------
    root : the SoundReconstruction ``data`` folder (``fmri_data/`` inside).
    out_dir : where the common format is written.
    subjects : ``S1``-``S5`` by default.
    rois : bdpy metadata keys whose voxels are kept (union); the release's ``AC`` by default.
    audio_dir : folder of the 8 s clips (default ``<root>/stimuli``): ``<clip>.wav`` or, named
        by :mod:`audiobrain.recon.stimulus_clips`, ``<YouTube ID>_<start_ms>.wav``.
    max_missing_audio : more than this fraction of a subject's Table 4 samples (per split)
        without audio is an InputError naming ``missing_key`` (footnote 4 lost a few percent).

    Returns
    -------
    The sample-count table of :func:`check_sample_counts` (also written to ``sample_counts.tsv``).
    """
    root = _need_dir(Path(root), config_key, "the SoundReconstruction data (fmri_data/)")
    audio_dir = _need_dir(
        Path(audio_dir) if audio_dir is not None else root / "stimuli",
        config_key,
        "the 8 s VGGSound stimulus clips (<clip>.wav)",
    )
    files = {
        (subject, split): _need_file(
            root / "fmri_data" / f"{subject}_VGGishish{split.title()}_volume_native.h5",
            config_key,
            f"Brain2Sound {split} fMRI of {subject}",
        )
        for subject in subjects
        for split in ("train", "test")
    }
    names = {key: _bdpy_labels(path, BRAIN2SOUND_LABEL_KEY) for key, path in files.items()}
    aliases, labels = _release_clips(root / stimulus_clips.RELEASE_TABLE)
    rows, waveforms, missing = [], [], set()
    for split in ("train", "test"):
        wanted = sorted({name for (_, s), found in names.items() if s == split for name in found})
        rows_split, audio_split, missing_split = _brain2sound_windows(
            wanted, split, audio_dir, aliases, labels
        )
        rows += rows_split
        waveforms += audio_split
        missing |= missing_split
    if missing:
        log.warning(
            "Brain2Sound: %d clip(s) have no audio in %s and their samples are dropped "
            "(e.g. %s)", len(missing), audio_dir, sorted(missing)[:3],
        )  # fmt: skip
    if not rows:
        raise InputError(f"{audio_dir}: none of the Brain2Sound clips has audio here")
    table = pd.DataFrame(rows, columns=list(STIMULUS_COLUMNS))
    stimuli = StimulusSet(table, np.stack(waveforms))
    kept = set(table["stimulus_id"])
    coverage = {}  # (subject, split) -> (samples with audio, samples); test repetitions averaged
    for (subject, split), found in names.items():
        found = np.unique(found) if split == "test" else found
        coverage[subject, split] = (int(np.isin(found, list(kept)).sum()), len(found))
    check_missing_audio(
        "brain2sound",
        coverage,
        max_fraction=max_missing_audio,
        missing_key=missing_key,
        audio_dir=audio_dir,
    )

    def subject_data():
        for subject in subjects:
            parts = {}
            for split in ("train", "test"):
                voxels, sample = _bdpy_voxels(files[subject, split], rois, config_key)
                keep = np.isin(sample, list(kept))
                parts[split] = (voxels[keep], sample[keep], int((~keep).sum()))
            if parts["train"][0].shape[1] != parts["test"][0].shape[1]:
                raise InputError(
                    f"{files[subject, 'test']}: {parts['test'][0].shape[1]} voxels in the ROIs, "
                    f"but {parts['train'][0].shape[1]} in {files[subject, 'train']}"
                )
            test_order = sorted(set(parts["test"][1]))
            yield SubjectFMRI(
                subject=subject,
                train_voxels=parts["train"][0],
                train_stimulus=parts["train"][1],
                test_voxels=_average_by(parts["test"][0], parts["test"][1], test_order),
                test_stimulus=np.asarray(test_order, dtype=str),
                source=str(files[subject, "train"]),
                notes={
                    "dropped_train_samples_without_audio": parts["train"][2],
                    "dropped_test_samples_without_audio": parts["test"][2],
                    "rois": list(rois),
                },
            )

    meta = {"root": str(root), "missing_clips": sorted(missing)}
    return _finish(Path(out_dir), "brain2sound", stimuli, subject_data(), meta)


def _brain2sound_windows(
    names, split, audio_dir: Path, aliases: Mapping[str, str | None], labels: Mapping[str, str]
):
    """Stimulus rows and 4 s windows for sample names ``<clip>_slide<k>`` of one split.

    ``<clip>`` is read from ``<audio_dir>/<clip>.wav`` or, through the release table's
    ``aliases``, from the unique clip name's file (:mod:`audiobrain.recon.stimulus_clips`).
    """
    rows, waveforms, missing = [], [], set()
    clip_n = round(CLIP_S["brain2sound"] * SAMPLE_RATE_HZ)
    cache: dict[Path, np.ndarray] = {}
    for name in names:
        match = _SLIDE.match(name)
        if match is None:
            raise InputError(
                f"Brain2Sound sample name {name!r} is not '<clip>_slide<k>' (module docstring)"
            )
        clip, k = match.group("clip"), int(match.group("k"))
        unique = aliases.get(clip)
        path = audio_dir / f"{clip}.wav"
        if not path.is_file() and unique is not None:
            path = audio_dir / f"{unique}.wav"
        if not path.is_file():
            if clip in aliases and unique is None:
                log.warning("Brain2Sound: %r names a YouTube ID with two windows", clip)
            missing.add(clip)
            continue
        if path not in cache:
            cache = {path: load_audio(path)}  # windows of one clip are consecutive in `names`
        start_s = k * BRAIN2SOUND_WINDOW_STRIDE_S
        start = round(start_s * SAMPLE_RATE_HZ)
        waveforms.append(fit_length(cache[path][start : start + clip_n], clip_n))
        label = labels.get(unique or clip, NO_LABEL)
        rows.append((name, split, str(path), start_s, CLIP_S["brain2sound"], label, "sound"))
    return rows, waveforms, missing


def _release_clips(path: Path) -> tuple[dict[str, str | None], dict[str, str]]:
    """Clip aliases and clip -> VGGSound class from the release's stimulus table, if there."""
    if not path.is_file():
        log.warning("%s not found: Brain2Sound labels will be %r", path, NO_LABEL)
        return {}, {}
    release = stimulus_clips.read_release_table(path)
    labels = dict(zip(release["clip"], release["label"], strict=True))
    return stimulus_clips.clip_aliases(release), labels


def check_missing_audio(
    dataset: str,
    coverage: Mapping[tuple[str, str], tuple[int, int]],
    *,
    max_fraction: float,
    missing_key: str,
    audio_dir: Path,
) -> None:
    """InputError when a subject's samples with audio fall short of Table 4 by more than
    ``max_fraction`` of its count (per split; subjects Table 4 lacks: of the file's samples).

    ``coverage``: (subject, split) -> (samples with audio, samples in the fMRI file).
    """
    expected = EXPECTED_COUNTS.get(dataset, {})
    short = []
    for (subject, split), (with_audio, total) in coverage.items():
        want = expected[subject][("train", "test").index(split)] if subject in expected else total
        if want - with_audio > max_fraction * want:
            short.append(f"{subject} {split}: {with_audio} of {want}")
    if short:
        raise InputError(
            f"{audio_dir}: too few {dataset} samples have audio ({'; '.join(short)} Table 4 "
            f"samples; at most {max_fraction:.0%} may be missing, config {missing_key})"
        )


def _h5py():
    try:
        import h5py
    except ImportError as error:  # pragma: no cover - h5py is a dependency
        raise ImportError("reading Brain2Sound and Brain2Speech needs h5py") from error
    return h5py


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _bdpy_metadata(handle, path: Path) -> tuple[list[str], object]:
    try:
        keys = [_text(key) for key in handle["metadata/key"][:]]
        return keys, handle["metadata/value"]
    except KeyError as error:
        raise InputError(
            f"{path}: not a bdpy BData file (no metadata/key, metadata/value)"
        ) from error


def _bdpy_columns(handle, path: Path, keys: Sequence[str]) -> np.ndarray:
    """Columns that any of ``keys`` selects (metadata value 1), as bdpy's ``select`` does."""
    all_keys, values = _bdpy_metadata(handle, path)
    absent = [key for key in keys if key not in all_keys]
    if len(absent) == len(keys):
        raise InputError(f"{path}: none of the metadata keys {list(keys)[:4]}... is in the file")
    selected = np.zeros(values.shape[1], dtype=bool)
    for key in keys:
        if key in all_keys:
            selected |= np.asarray(values[all_keys.index(key)]) == 1
    return np.flatnonzero(selected)


def _bdpy_labels(path: Path, key: str) -> np.ndarray:
    """The string label of every sample (vmap of ``key``)."""
    with _h5py().File(path, "r") as handle:
        columns = _bdpy_columns(handle, path, [key])
        if columns.size != 1:
            raise InputError(f"{path}: metadata {key!r} selects {columns.size} columns, not 1")
        codes = np.asarray(handle["dataset"][:, int(columns[0])], dtype=float)
        if f"vmap/{key}" not in handle:
            raise InputError(f"{path}: no vmap/{key} (the labels of {key!r})")
        vmap = {float(name): _text(item[()]) for name, item in handle[f"vmap/{key}"].items()}
    unknown = sorted(set(codes[np.isfinite(codes)]) - set(vmap))
    if unknown or not np.isfinite(codes).all():
        raise InputError(f"{path}: {key} values without a label in vmap/{key}: {unknown[:5]}")
    return np.asarray([vmap[code] for code in codes], dtype=str)


def _bdpy_voxels(path: Path, rois: Sequence[str], config_key: str) -> tuple[np.ndarray, np.ndarray]:
    """``(voxels (n_samples, n_roi_voxels) float32, sample names (n_samples,))``."""
    labels = _bdpy_labels(path, BRAIN2SOUND_LABEL_KEY)
    with _h5py().File(path, "r") as handle:
        columns = _bdpy_columns(handle, path, rois)
        dataset = handle["dataset"]
        out = np.empty((dataset.shape[0], columns.size), dtype=np.float32)
        for start in range(0, dataset.shape[0], _BDPY_CHUNK_ROWS):
            stop = min(start + _BDPY_CHUNK_ROWS, dataset.shape[0])
            out[start:stop] = dataset[start:stop][:, columns]
    if columns.size == 0:
        raise InputError(f"{path}: no voxels in the ROIs {list(rois)} (check {config_key})")
    return out, labels


# --------------------------------------------------------------------------------------------
# Brain2Music (OpenNeuro ds003720 + GTZAN)


def prepare_brain2music(
    root: str | os.PathLike,
    gtzan_root: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    subjects: Sequence[str] = tuple(EXPECTED_COUNTS["brain2music"]),
    lag_trs: int = BRAIN2MUSIC_LAG_TRS,
    config_key: str = CONFIG_KEYS["brain2music"],
    gtzan_config_key: str = CONFIG_KEYS["gtzan"],
    lag_config_key: str = "recon.sources.brain2music.lag_trs",
) -> pd.DataFrame:
    """Brain2Music in the common format (layout and assumptions in the module docstring).

    Parameters
    ----------
    root : the ds003720 BIDS folder (``sub-00N/func/*_events.tsv``, ``derivative/``).
    gtzan_root : the GTZAN genre collection (``<genre>.000NN.wav`` files anywhere below).
    out_dir : where the common format is written.
    subjects : BIDS labels, ``001``-``005`` by default.
    lag_trs : hemodynamic lag of the pairing in TRs (:func:`brain2music_pairs`).
    """
    root = _need_dir(Path(root), config_key, "OpenNeuro ds003720")
    gtzan_root = _need_dir(Path(gtzan_root), gtzan_config_key, "the GTZAN genre collection")
    pairs = {
        subject: brain2music_pairs(root, subject, lag_trs, config_key, lag_config_key)
        for subject in subjects
    }
    paired = {
        split: {clip for found in pairs.values() for clip in found[split][1]}
        for split in BRAIN2MUSIC_TASKS
    }
    pieces = {
        split: sorted({piece for found in pairs.values() for piece in found[split][2]})
        for split in BRAIN2MUSIC_TASKS
    }
    stimuli = _brain2music_stimuli(pieces, gtzan_root, gtzan_config_key, paired)

    def subject_data():
        for subject in subjects:
            parts = {}
            for split in BRAIN2MUSIC_TASKS:
                path, ids, _ = pairs[subject][split]
                responses = np.asarray(
                    load_npy(path, "Brain2Music's response matrix (.npy)"), dtype=np.float32
                )
                parts[split] = (responses, ids, path)
            heard = set(parts["test"][1])
            test_order = [i for i in stimuli.table["stimulus_id"] if i in heard]
            yield SubjectFMRI(
                subject=subject,
                train_voxels=parts["train"][0],
                train_stimulus=parts["train"][1],
                test_voxels=_average_by(parts["test"][0], parts["test"][1], test_order),
                test_stimulus=np.asarray(test_order, dtype=str),
                source=str(parts["train"][2]),
                notes={"lag_trs": lag_trs, "lag_s": lag_trs * BRAIN2MUSIC_TR_S},
            )

    meta = {"root": str(root), "gtzan_root": str(gtzan_root), "lag_trs": lag_trs}
    return _finish(Path(out_dir), "brain2music", stimuli, subject_data(), meta)


def brain2music_pairs(
    root: str | os.PathLike,
    subject: str,
    lag_trs: int = BRAIN2MUSIC_LAG_TRS,
    config_key: str = CONFIG_KEYS["brain2music"],
    lag_config_key: str = "recon.sources.brain2music.lag_trs",
) -> dict[str, tuple[Path, np.ndarray, set]]:
    """The clip each response row of a subject is paired with, for a lag of ``lag_trs`` TRs.

    A run plays its events back to back, ten 1.5 s clips per 15 s piece, one per volume; the
    response files hold every volume after the first piece's ten (module docstring). Row ``r``
    of a run is the volume acquired during clip ``10 + r`` of the run's clip sequence and, with a
    lag of ``L`` TRs, is paired with clip ``10 + r - L``: for ``L > 0`` the first rows go to the
    last clips of the repeated first piece, whose audio is the same clip heard elsewhere.

    Returns
    -------
    split -> (response file, clip id per row ``(n_rows,)``, the pieces paired).
    """
    if not 0 <= int(lag_trs) <= BRAIN2MUSIC_CLIPS_PER_PIECE:
        raise InputError(
            f"config {lag_config_key}: expected 0..{BRAIN2MUSIC_CLIPS_PER_PIECE} TRs (the first "
            f"piece of a run holds that many clips before the responses start), got {lag_trs}"
        )
    root = Path(root)
    out = {}
    n = BRAIN2MUSIC_CLIPS_PER_PIECE
    for split, task in BRAIN2MUSIC_TASKS.items():
        runs = _brain2music_runs(root, subject, task, config_key)
        path = _brain2music_responses(root, subject, task, config_key)
        shape = load_npy(path, "Brain2Music's response matrix (.npy)").shape
        n_clips = sum(len(run) - 1 for run in runs)
        if len(shape) != 2 or shape[0] != n_clips * n:
            raise InputError(
                f"{path}: expected {n_clips * n} rows (TRs) = {n_clips} clips in the {task} "
                f"events x {n}, found shape {shape}"
            )
        ids, pieces = [], set()
        for run in runs:
            sequence = [(piece, k) for piece in run for k in range(n)]
            for row in range((len(run) - 1) * n):
                piece, k = sequence[n + row - int(lag_trs)]
                ids.append(_clip_id(piece, k))
                pieces.add(piece)
        out[split] = (path, np.asarray(ids, dtype=str), pieces)
    return out


def _brain2music_runs(root: Path, subject: str, task: str, config_key: str) -> list[list[tuple]]:
    """``(genre, track, start_s)`` of every event of each run, runs and events in order."""
    func = root / f"sub-{subject}" / "func"
    files = sorted(
        func.glob(f"sub-{subject}_task-{task}_run-*_events.tsv"),
        key=lambda p: int(re.search(r"_run-(\d+)_", p.name).group(1)),
    )
    if not files:
        raise InputError(
            f"{func}: no sub-{subject}_task-{task}_run-*_events.tsv (check {config_key})"
        )
    runs = []
    for path in files:
        with reading(path, "a Brain2Music events table (TSV)"):
            table = pd.read_csv(path, sep="\t", dtype={"genre": str})
        missing = {"onset", "genre", "track", "start"} - set(table.columns)
        if missing:
            raise InputError(f"{path}: missing column(s) {sorted(missing)}")
        table = table.sort_values("onset", kind="stable")
        events = zip(table["genre"], table["track"], table["start"], strict=True)
        runs.append([
            (genre.strip().strip("'\"").strip(), int(track), round(float(start), 2))
            for genre, track, start in events
        ])  # fmt: skip
        if len(runs[-1]) < 2:
            raise InputError(f"{path}: a run needs its repeated first event and at least one more")
    return runs


def _brain2music_responses(root: Path, subject: str, task: str, config_key: str) -> Path:
    base = root / "derivative" / "preprocessed_data"
    name = f"sub-{subject}_Resp_{task}.npy"
    for path in (base / f"sub-{subject}" / name, base / name):
        if path.is_file():
            return path
    raise InputError(f"{base / f'sub-{subject}' / name}: file not found (check {config_key})")


def _clip_id(piece: tuple, k: int) -> str:
    genre, track, start_s = piece
    return f"{genre}.{track:05d}_{round(start_s * 1000):06d}ms_clip{k:02d}"


def _brain2music_stimuli(
    pieces: Mapping[str, list], gtzan_root: Path, config_key: str, paired: Mapping[str, set]
):
    """The clips of ``pieces`` that some response row is paired with (``paired`` ids by split)."""
    files = {path.stem: path for ext in ("wav", "au") for path in gtzan_root.rglob(f"*.{ext}")}
    clip_n = round(BRAIN2MUSIC_TR_S * SAMPLE_RATE_HZ)
    piece_n = clip_n * BRAIN2MUSIC_CLIPS_PER_PIECE
    fade = np.minimum(1.0, np.minimum(np.arange(piece_n), np.arange(piece_n)[::-1]) / (
        BRAIN2MUSIC_FADE_S * SAMPLE_RATE_HZ
    )).astype(np.float32)  # fmt: skip
    rows, waveforms = [], []
    for split, found in pieces.items():
        for piece in found:
            genre, track, start_s = piece
            path = files.get(f"{genre}.{track:05d}")
            if path is None:
                raise InputError(
                    f"{gtzan_root}: no {genre}.{track:05d}.wav (or .au) below this folder "
                    f"(check {config_key})"
                )
            audio = fit_length(load_segment(path, start_s, BRAIN2MUSIC_PIECE_S), piece_n) * fade
            for k in range(BRAIN2MUSIC_CLIPS_PER_PIECE):
                if _clip_id(piece, k) not in paired[split]:
                    continue
                waveforms.append(audio[k * clip_n : (k + 1) * clip_n])
                clip_start = round(start_s + k * BRAIN2MUSIC_TR_S, 3)
                rows.append(
                    (
                        _clip_id(piece, k),
                        split,
                        str(path),
                        clip_start,
                        BRAIN2MUSIC_TR_S,
                        genre,
                        "music",
                    )
                )
    return StimulusSet(pd.DataFrame(rows, columns=list(STIMULUS_COLUMNS)), np.stack(waveforms))


# --------------------------------------------------------------------------------------------
# Brain2Speech (OpenNeuro ds003020)


def prepare_brain2speech(
    root: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    subjects: Sequence[str] = BRAIN2SPEECH_SUBJECTS,
    train_stories: Sequence[str] = BRAIN2SPEECH_TRAIN_STORIES,
    test_stories: Mapping[str, str] = BRAIN2SPEECH_TEST_STORIES,
    n_prompt: int = BRAIN2SPEECH_N_PROMPT,
    lag_s: float = BRAIN2SPEECH_LAG_S,
    voxel_masks: Mapping[str, np.ndarray] | None = None,
    story_genders: Mapping[str, str] | None = None,
    config_key: str = CONFIG_KEYS["brain2speech"],
    allow_voxel_count_mismatch: bool = False,
    mismatch_key: str = "recon.sources.brain2speech.allow_voxel_count_mismatch",
) -> pd.DataFrame:
    """Brain2Speech in the common format (layout and assumptions in the module docstring).

    Parameters
    ----------
    root : the ds003020 folder (``derivative/preprocessed_data/``, ``stimuli/``).
    out_dir : where the common format is written.
    subjects : UTS01-UTS08 without UTS04 (it lacks a story; A.1 footnote 7).
    train_stories, test_stories : story names; test stories map to the speaker's gender.
    n_prompt : the last clips of each test story that become audio prompts.
    lag_s : the clip paired with a volume starts this long before the volume.
    voxel_masks : per subject, a boolean mask or indices of the voxels to keep (all if absent),
        e.g. Table 4's ROIs (:func:`audiobrain.recon.pycortex_rois.roi_voxel_masks`); a count
        that differs from Table 4's is an InputError unless ``allow_voxel_count_mismatch``
        (``mismatch_key``), then a warning.
    story_genders : speaker gender of training stories, for their labels (``n/a`` if absent).
    """
    root = _need_dir(Path(root), config_key, "OpenNeuro ds003020")
    genders = {**(story_genders or {}), **test_stories}
    stories = {**{story: "train" for story in train_stories}, **dict.fromkeys(test_stories, "test")}
    files = {
        (subject, story): _need_file(
            root / "derivative" / "preprocessed_data" / subject / f"{story}.hf5",
            config_key,
            f"{subject}'s responses to {story!r}",
        )
        for subject in subjects
        for story in stories
    }
    selections = None
    if voxel_masks is not None:
        absent = [subject for subject in subjects if subject not in voxel_masks]
        if absent:
            raise InputError(f"Brain2Speech voxel sets: no mask for subject(s) {absent}")
        first = next(iter(stories))
        selections = {s: _speech_voxel_set(voxel_masks[s], files[s, first]) for s in subjects}
        check_voxel_sets(
            "brain2speech",
            selections,
            allow_mismatch=allow_voxel_count_mismatch,
            mismatch_key=mismatch_key,
        )
    n_rows = {key: _speech_n_rows(path) for key, path in files.items()}
    pairs = {key: _speech_pairs(n, lag_s) for key, n in n_rows.items()}  # row -> clip index
    rows, waveforms, valid = [], [], {}
    for story, split in stories.items():
        audio_path = _need_file(root / "stimuli" / f"{story}.wav", config_key, "story audio")
        audio = load_audio(audio_path)
        duration_s = audio.size / SAMPLE_RATE_HZ
        clips = sorted(
            {clip for (_, s), found in pairs.items() if s == story for clip in found.values()}
        )
        usable = [
            c for c in clips if (c + 1) * BRAIN2SPEECH_TR_S <= duration_s + AUDIO_END_TOLERANCE_S
        ]
        prompts = set(usable[-n_prompt:]) if split == "test" and n_prompt > 0 else set()
        valid[story] = (set(usable), prompts)
        clip_n = round(BRAIN2SPEECH_TR_S * SAMPLE_RATE_HZ)
        for clip in usable:
            start_s = clip * BRAIN2SPEECH_TR_S
            part = audio[clip * clip_n : (clip + 1) * clip_n]
            waveforms.append(fit_length(part, clip_n))
            rows.append((
                _speech_id(story, clip), "prompt" if clip in prompts else split, str(audio_path),
                start_s, BRAIN2SPEECH_TR_S, genders.get(story, NO_LABEL), "speech",
            ))  # fmt: skip
    stimuli = StimulusSet(pd.DataFrame(rows, columns=list(STIMULUS_COLUMNS)), np.stack(waveforms))

    def subject_data():
        for subject in subjects:
            parts = {"train": ([], []), "test": ([], [])}
            dropped = 0
            for story, split in stories.items():
                path = files[subject, story]
                responses = _speech_responses(path)
                if selections is not None:
                    if responses.shape[1] != selections[subject].size:
                        raise InputError(
                            f"{path}: {responses.shape[1]} voxels, but {subject}'s voxel mask "
                            f"covers {selections[subject].size}"
                        )
                    responses = responses[:, selections[subject]]
                usable, prompts = valid[story]
                for row, clip in pairs[subject, story].items():
                    if clip not in usable:
                        dropped += 1
                    elif clip not in prompts:
                        parts[split][0].append(responses[row])
                        parts[split][1].append(_speech_id(story, clip))
            n_voxels = responses.shape[1]
            voxels = {
                split: np.asarray(part[0], dtype=np.float32).reshape(-1, n_voxels)
                for split, part in parts.items()
            }
            if not len(voxels["test"]):
                log.warning("Brain2Speech %s: no test samples left after the prompts", subject)
            yield SubjectFMRI(
                subject=subject,
                train_voxels=voxels["train"],
                train_stimulus=np.asarray(parts["train"][1], dtype=str),
                test_voxels=voxels["test"],
                test_stimulus=np.asarray(parts["test"][1], dtype=str),
                source=str(files[subject, next(iter(stories))].parent),
                notes={"dropped_volumes_past_audio_end": dropped, "lag_s": lag_s},
            )

    meta = {"root": str(root), "lag_s": lag_s, "n_prompt": n_prompt}
    return _finish(Path(out_dir), "brain2speech", stimuli, subject_data(), meta)


def _speech_id(story: str, clip: int) -> str:
    return f"{story}_clip{clip:04d}"


def _speech_pairs(n_rows: int, lag_s: float) -> dict[int, int]:
    """Response row -> index of the 2 s clip (``[2i, 2i + 2)`` s of the story) it is paired with."""
    pairs = {}
    for row in range(n_rows):
        start_s = BRAIN2SPEECH_FIRST_VOLUME_S + row * BRAIN2SPEECH_TR_S - lag_s
        clip = round(start_s / BRAIN2SPEECH_TR_S)
        if start_s >= 0 and np.isclose(clip * BRAIN2SPEECH_TR_S, start_s):
            pairs[row] = clip
    if not pairs and n_rows:
        raise ValueError(f"lag_s={lag_s} pairs no volume with a clip on the 2 s grid")
    return pairs


def _speech_dataset(handle, path: Path):
    for key in ("individual_repeats", "data", "resp"):
        if key in handle:
            return key, handle[key]
    raise InputError(
        f"{path}: no 'data', 'resp' or 'individual_repeats' array; found {list(handle)}"
    )


def _speech_voxel_set(mask: np.ndarray, path: Path) -> np.ndarray:
    """A subject's voxel selection as a boolean mask over the columns of its response file."""
    with _h5py().File(path, "r") as handle:
        n_voxels = int(_speech_dataset(handle, path)[1].shape[-1])
    mask = np.asarray(mask)
    if mask.dtype != bool:
        selected = np.zeros(n_voxels, dtype=bool)
        if mask.size and (mask.min() < 0 or mask.max() >= n_voxels):
            raise InputError(f"voxel indices {mask.min()}..{mask.max()} do not fit {path}")
        selected[mask.astype(int)] = True
        mask = selected
    if mask.shape != (n_voxels,):
        raise InputError(
            f"{path}: {n_voxels} voxels per TR, but the subject's voxel mask has shape "
            f"{mask.shape} (it must cover the response columns, mask_thick's voxels)"
        )
    return mask


def check_voxel_sets(
    dataset: str,
    masks: Mapping[str, np.ndarray],
    *,
    allow_mismatch: bool,
    mismatch_key: str,
) -> None:
    """Voxels selected per subject against Table 4: an InputError on a mismatch, naming the
    subjects and ``mismatch_key``; a warning instead when ``allow_mismatch``."""
    expected = EXPECTED_COUNTS.get(dataset, {})
    wrong = {
        subject: (int(np.count_nonzero(mask)), expected[subject][2])
        for subject, mask in masks.items()
        if subject in expected and int(np.count_nonzero(mask)) != expected[subject][2]
    }
    if not wrong:
        return
    listed = ", ".join(f"{s}: {found} (Table 4: {want})" for s, (found, want) in wrong.items())
    message = f"{dataset}: the voxel sets select {listed} voxels"
    if not allow_mismatch:
        raise InputError(
            f"{message}; check the ROIs and their masks, or set {mismatch_key}: true to go on"
        )
    log.warning("%s (%s is true)", message, mismatch_key)


def _speech_n_rows(path: Path) -> int:
    with _h5py().File(path, "r") as handle:
        key, data = _speech_dataset(handle, path)
        return int(data.shape[1] if key == "individual_repeats" else data.shape[0])


def _speech_responses(path: Path) -> np.ndarray:
    """(n_TRs, n_voxels) float32, repeats averaged, non-finite values (outside the brain) -> 0."""
    with _h5py().File(path, "r") as handle:
        key, data = _speech_dataset(handle, path)
        responses = np.asarray(data[()], dtype=np.float32)
    if key == "individual_repeats":
        responses = np.nanmean(responses, axis=0)
    if responses.ndim != 2:
        raise InputError(f"{path}: {key} has shape {responses.shape}; expected (TRs, voxels)")
    bad = ~np.isfinite(responses)
    if bad.any():
        log.info("%s: %d non-finite values set to 0", path, int(bad.sum()))
        responses[bad] = 0.0
    return responses
