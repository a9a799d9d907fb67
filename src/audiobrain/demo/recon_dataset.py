"""The reconstruction demo: generated 1.5 s clips and fMRI with planted truth, offline, on a laptop.

Stimuli mix the three kinds of the paper's datasets so that every analysis has something to find:

- speech: short English phrases spoken by eSpeak NG with male-like (``en+m*``, low pitch) or
  female-like (``en+f*``, high pitch) voices; label = gender (the Brain2Speech label, section 3.3);
- music: procedurally composed bars in four genres that differ in rhythm, timbre and tonality
  (:data:`DEMO_GENRES`); label = genre (the Brain2Music label);
- sounds: procedural scenes of :func:`audiobrain.demo.corpora.synthesize_scene`; label = category.

Labels are balanced within each split; prompts (split ``prompt``) are speech, like Brain2Speech's
audio prompts. The fMRI (:func:`simulate_demo_fmri`) is planted from properties of the stimuli
themselves (:func:`stimulus_properties`), not from the features the decoders are scored in: a
semantic voxel follows the clip's category, an acoustic voxel its fine acoustic detail within the
category (loudness envelope, spectral shape, their course over the clip), a mixed voxel both, a
noise voxel neither. So category is in the semantic voxels and not in the acoustic ones, and
detail in the acoustic voxels and not in any semantic embedding: the situation the paper's
coarse-to-fine argument starts from.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import librosa
import numpy as np
import pandas as pd
from scipy import signal

from audiobrain.audio import SAMPLE_RATE_HZ
from audiobrain.io import InputError, save_arrays, write_wav
from audiobrain.recon.datasets import (
    CLIP_S,
    STIMULUS_COLUMNS,
    StimulusSet,
    SubjectFMRI,
    write_stimuli,
    write_subject_fmri,
)

log = logging.getLogger(__name__)

CLIP_SAMPLES = round(CLIP_S["demo"] * SAMPLE_RATE_HZ)  # 1.5 s, Brain2Music's clip length
DEMO_GENRES = ("classical", "disco", "jazz", "metal")
DEMO_SOUND_CATEGORIES = (
    "beeps",
    "engine",
    "rain",
    "siren",
)  # audiobrain.brainscores.corpora scene classes
DEMO_GENDERS = ("female", "male")
DEMO_CLASSES = (
    *(("speech", gender) for gender in DEMO_GENDERS),
    *(("music", genre) for genre in DEMO_GENRES),
    *(("sound", category) for category in DEMO_SOUND_CATEGORIES),
)
# eSpeak NG voice variants and pitch ranges (0-100) that sound male- or female-like.
DEMO_VOICES = {
    "male": (("en+m1", "en+m3", "en+m7"), (20, 40)),
    "female": (("en+f1", "en+f2", "en+f3", "en+f4"), (65, 85)),
}
DEMO_RATE_WPM = (170, 200)
PEAK_RANGE = (0.5, 0.9)  # each clip is peak-normalised to a random level in this range
_SPLIT_STREAMS = {"train": 0, "test": 1, "prompt": 2}
ROLES = ("semantic", "acoustic", "mixed", "noise")
ROLE_FRACTIONS = (0.25, 0.25, 0.2, 0.3)
# Stimulus properties behind the planted fMRI: log loudness in ENVELOPE_BINS steps of the clip,
# log-mel energy in SPECTRAL_BANDS bands (the clip's spectral shape) and in TIME_BINS x
# SPECTRAL_BANDS cells (its course), from N_PROPERTY_MELS mel bands.
ENVELOPE_BINS = 10
SPECTRAL_BANDS = 8
TIME_BINS = 4
N_PROPERTY_MELS = 40


# --------------------------------------------------------------------------------------------
# Stimuli


def generate_demo_stimuli(
    out_dir: str | os.PathLike | None = None,
    *,
    n_train_stimuli: int = 120,
    n_test_stimuli: int = 30,
    n_prompt: int = 4,
    seed: int = 0,
    write_wavs: bool = False,
) -> StimulusSet:
    """The demo's clips and stimulus table; written to ``out_dir`` in the common format if given.

    Parameters
    ----------
    out_dir : folder for ``stimuli.tsv``/``stimuli.npz`` (and ``wav/<stimulus_id>.wav`` with
        ``write_wavs``); nothing is written when None.
    n_train_stimuli, n_test_stimuli : clips per split, labels cycled over :data:`DEMO_CLASSES`
        and shuffled, so each label's count differs by at most one within a split.
    n_prompt : speech clips for audio prompts, genders alternating.
    seed : the same seed gives the same bytes.

    Returns
    -------
    StimulusSet with ``waveforms`` float32 (n, 24,000) at 16 kHz.
    """
    if min(n_train_stimuli, n_test_stimuli) < 1 or n_prompt < 0:
        raise ValueError("need at least one train and one test stimulus and n_prompt >= 0")
    plan = []  # (split, index, kind, label)
    for split, n in (("train", n_train_stimuli), ("test", n_test_stimuli), ("prompt", n_prompt)):
        classes = DEMO_CLASSES[: len(DEMO_GENDERS)] if split == "prompt" else DEMO_CLASSES
        cycled = [classes[index % len(classes)] for index in range(n)]
        order = np.random.default_rng([seed, _SPLIT_STREAMS[split]]).permutation(n)
        plan += [(split, index, *cycled[position]) for index, position in enumerate(order)]
    phrases = iter(_english_phrases(sum(kind == "speech" for _, _, kind, _ in plan), seed))
    rows, waveforms = [], []
    for split, index, kind, label in plan:
        rng = np.random.default_rng([seed, 10 + _SPLIT_STREAMS[split], index])
        if kind == "speech":
            waveform, source = _speech_clip(next(phrases), label, rng)
        elif kind == "music":
            waveform, source = _GENRE_MAKERS[label](rng), f"procedural music: {label}"
        else:
            waveform, source = _sound_clip(label, rng), f"procedural scene: {label}"
        waveform = _normalised(waveform, rng)
        rows.append((f"demo_{split}_{index:04d}", split, source, 0.0, CLIP_S["demo"], label, kind))
        waveforms.append(waveform)
    stimuli = StimulusSet(pd.DataFrame(rows, columns=list(STIMULUS_COLUMNS)), np.stack(waveforms))
    if out_dir is not None:
        meta = {"seed": seed, "classes": [list(c) for c in DEMO_CLASSES]}
        write_stimuli(out_dir, stimuli, "demo", meta)
        if write_wavs:
            for stimulus_id, waveform in zip(stimuli.table["stimulus_id"], waveforms, strict=True):
                write_wav(Path(out_dir) / "wav" / f"{stimulus_id}.wav", waveform, SAMPLE_RATE_HZ)
    return stimuli


def _english_phrases(n: int, seed: int) -> list[str]:
    from audiobrain.demo.demo_sentences import english_phrases

    return english_phrases(n, seed) if n else []


def _normalised(waveform: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Exactly 1.5 s, peak at a random level, 10 ms ramps so cut edges do not click."""
    out = np.zeros(CLIP_SAMPLES)
    out[: min(CLIP_SAMPLES, waveform.size)] = waveform[:CLIP_SAMPLES]
    ramp = round(0.01 * SAMPLE_RATE_HZ)
    out[:ramp] *= np.linspace(0, 1, ramp)
    out[-ramp:] *= np.linspace(1, 0, ramp)
    peak = np.max(np.abs(out))
    return (out * rng.uniform(*PEAK_RANGE) / peak if peak > 0 else out).astype(np.float32)


def _speech_clip(phrase: str, gender: str, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    from audiobrain.demo.speech import synthesize

    variants, (low, high) = DEMO_VOICES[gender]
    voice = variants[int(rng.integers(len(variants)))]
    pitch = int(rng.integers(low, high + 1))
    rate = int(rng.integers(DEMO_RATE_WPM[0], DEMO_RATE_WPM[1] + 1))
    waveform, sr_hz = synthesize(phrase, voice=voice, rate_wpm=rate, pitch=pitch)
    waveform = librosa.resample(
        waveform, orig_sr=sr_hz, target_sr=SAMPLE_RATE_HZ, res_type="soxr_hq"
    )
    return waveform, f"espeak-ng {voice} pitch {pitch} rate {rate}: {phrase}"


def _sound_clip(category: str, rng: np.random.Generator) -> np.ndarray:
    from audiobrain.demo.corpora import synthesize_scene

    scene = synthesize_scene(category, rng, sr_hz=SAMPLE_RATE_HZ)[:CLIP_SAMPLES]
    out = np.zeros(CLIP_SAMPLES)
    start = int(rng.integers(0, CLIP_SAMPLES - scene.size + 1))
    out[start : start + scene.size] = scene
    return out


# ---- procedural music: each genre has its own tempo, rhythm, timbre and harmony


def _hz(midi: float) -> float:
    return 440.0 * 2 ** ((midi - 69) / 12)


def _note(midi: float, length_s: float, harmonics: np.ndarray, attack_s=0.01, decay_s=None):
    """An additive tone with amplitudes ``harmonics`` (k = 1, 2, ...), attack and decay."""
    t = np.arange(round(length_s * SAMPLE_RATE_HZ)) / SAMPLE_RATE_HZ
    k = np.arange(1, len(harmonics) + 1)[:, None]
    tone = (harmonics[:, None] * np.sin(2 * np.pi * _hz(midi) * k * t)).sum(axis=0)
    envelope = np.minimum(t / attack_s, 1.0)
    if decay_s is not None:
        envelope *= np.exp(-t / decay_s)
    return tone * envelope


def _add(buffer: np.ndarray, event: np.ndarray, time_s: float) -> None:
    start = round(time_s * SAMPLE_RATE_HZ)
    if start < buffer.size:
        end = min(buffer.size, start + event.size)
        buffer[start:end] += event[: end - start]


def _noise_hit(rng, length_s, band_hz, decay_s):
    n = round(length_s * SAMPLE_RATE_HZ)
    b, a = signal.butter(
        2, band_hz, btype="band" if np.ndim(band_hz) else "high", fs=SAMPLE_RATE_HZ
    )
    return signal.lfilter(b, a, rng.standard_normal(n)) * np.exp(
        -np.arange(n) / SAMPLE_RATE_HZ / decay_s
    )


def _kick(length_s=0.15):
    t = np.arange(round(length_s * SAMPLE_RATE_HZ)) / SAMPLE_RATE_HZ
    frequency = 50 + 90 * np.exp(-t / 0.03)
    return np.sin(2 * np.pi * np.cumsum(frequency) / SAMPLE_RATE_HZ) * np.exp(-t / 0.06)


def _classical(rng):
    """Slow legato string-like melody over a soft major triad: no percussion, vibrato."""
    out = np.zeros(CLIP_SAMPLES)
    beat = 60 / rng.uniform(60, 80)
    root = int(rng.integers(55, 63))
    strings = 1 / np.arange(1, 9) ** 2
    for interval in (0, 4, 7):
        _add(out, 0.25 * _note(root - 12 + interval, CLIP_S["demo"], strings, attack_s=0.3), 0)
    major = (0, 2, 4, 5, 7, 9, 11, 12)
    time_s = 0.0
    while time_s < CLIP_S["demo"]:
        note = _note(root + major[int(rng.integers(len(major)))], beat * 1.1, strings, 0.08)
        _add(
            out, note * (1 + 0.05 * np.sin(2 * np.pi * 5.5 * np.arange(note.size) / 16000)), time_s
        )
        time_s += beat
    return out


def _disco(rng):
    """Four-on-the-floor kick, off-beat hi-hats, octave-jumping square bass, bright stabs."""
    out = np.zeros(CLIP_SAMPLES)
    beat = 60 / rng.uniform(115, 128)
    root = int(rng.integers(36, 43))
    square = np.where(np.arange(1, 16) % 2 == 1, 1 / np.arange(1, 16), 0.0)
    for step in range(int(CLIP_S["demo"] / (beat / 2)) + 1):
        time_s = step * beat / 2
        if step % 2 == 0:
            _add(out, _kick(), time_s)
        else:
            _add(out, 0.3 * _noise_hit(rng, 0.06, 7000, 0.02), time_s)
        _add(out, 0.4 * _note(root + 12 * (step % 2), beat / 2.2, square, decay_s=0.1), time_s)
        if step % 4 == 3:
            for interval in (12, 16, 19):
                _add(out, 0.12 * _note(root + 12 + interval, 0.1, square), time_s)
    return out


def _jazz(rng):
    """Swung ride cymbal, walking bass, off-beat seventh-chord comping."""
    out = np.zeros(CLIP_SAMPLES)
    beat = 60 / rng.uniform(110, 150)
    root = int(rng.integers(36, 44))
    bass = np.array([1.0, 0.5, 0.2])
    piano = 1 / np.arange(1, 10, 2) ** 2.5
    walk = np.cumsum(rng.choice([-2, -1, 1, 2, 3], size=16))
    for step in range(int(CLIP_S["demo"] / beat) + 1):
        time_s = step * beat
        _add(out, 0.7 * _note(root + walk[step], beat, bass, decay_s=0.4), time_s)
        _add(out, 0.15 * _noise_hit(rng, 0.4, [5000, 7900], 0.25), time_s)
        if step % 2 == 1:
            _add(out, 0.12 * _noise_hit(rng, 0.2, [5000, 7900], 0.12), time_s + beat * 2 / 3)
            for interval in (0, 4, 7, 10):
                _add(out, 0.1 * _note(root + 24 + interval, beat / 2, piano, decay_s=0.2),
                     time_s + beat * 2 / 3)  # fmt: skip
    return out


def _metal(rng):
    """Fast, distorted low power chords in eighths, kick on beats, snare on two and four."""
    out = np.zeros(CLIP_SAMPLES)
    beat = 60 / rng.uniform(150, 180)
    root = int(rng.integers(28, 35))
    saw = 1 / np.arange(1, 21)
    riff = rng.choice([0, 0, 0, 3, 5, 7], size=16)
    for step in range(int(CLIP_S["demo"] / (beat / 2)) + 1):
        time_s = step * beat / 2
        chord = sum(_note(root + riff[step] + i, beat / 2, saw, decay_s=0.2) for i in (0, 7, 12))
        _add(out, 0.5 * np.tanh(6 * chord), time_s)
        if step % 2 == 0:
            _add(out, _kick(), time_s)
        if step % 4 == 2:
            _add(out, 0.6 * _noise_hit(rng, 0.12, [1000, 5000], 0.05), time_s)
    return out


_GENRE_MAKERS = {"classical": _classical, "disco": _disco, "jazz": _jazz, "metal": _metal}


# --------------------------------------------------------------------------------------------
# fMRI with planted truth


def stimulus_properties(
    waveforms: np.ndarray, labels: Sequence[str], train: np.ndarray
) -> dict[str, np.ndarray]:
    """What the demo's voxels respond to, per clip: ``category`` and within-category ``detail``.

    ``category`` is the one-hot label. ``detail`` is the clip's log loudness envelope, log-mel
    spectral shape and its course (:data:`ENVELOPE_BINS`, :data:`SPECTRAL_BANDS`,
    :data:`TIME_BINS`), standardised on the training clips (``train``: boolean rows) and with
    the mean of the clip's category (over the training clips) removed, so that it tells clips of
    one category apart and carries no category information itself.
    """
    labels = np.asarray(labels, dtype=str)
    classes = np.unique(labels[train])
    category = (labels[:, None] == classes[None, :]).astype(np.float64)
    mel = librosa.feature.melspectrogram(
        y=np.asarray(waveforms, dtype=np.float64), sr=SAMPLE_RATE_HZ, n_mels=N_PROPERTY_MELS
    )
    log_mel = np.log(mel + 1e-8)  # (n, mels, frames)
    bands = np.stack([b.mean(axis=1) for b in np.array_split(log_mel, SPECTRAL_BANDS, 1)], 1)
    envelope = np.stack(
        [
            np.log(np.mean(w**2) + 1e-8)
            for clip in waveforms
            for w in np.array_split(clip, ENVELOPE_BINS)
        ]
    ).reshape(len(waveforms), ENVELOPE_BINS)
    course = np.stack([b.mean(axis=2) for b in np.array_split(bands, TIME_BINS, 2)], 2)
    detail = np.concatenate([envelope, bands.mean(axis=2), course.reshape(len(waveforms), -1)], 1)
    detail = (detail - detail[train].mean(0)) / np.where(
        detail[train].std(0) > 0, detail[train].std(0), 1.0
    )
    for column, _ in enumerate(classes):
        members = category[:, column] == 1
        detail[members] -= detail[members & train].mean(axis=0)
    return {"category": category, "detail": detail}


def simulate_demo_fmri(
    features_train: Mapping[str, np.ndarray],
    features_test: Mapping[str, np.ndarray],
    stimuli: pd.DataFrame,
    *,
    n_subjects: int = 3,
    n_voxels: int = 200,
    n_repetitions: int = 2,
    noise: float = 1.0,
    seed: int = 0,
    semantic_key: str = "category",
    acoustic_key: str = "detail",
    role_fractions: Sequence[float] = ROLE_FRACTIONS,
    n_components: int = 8,
) -> tuple[list[SubjectFMRI], dict]:
    """Voxel responses that are fixed functions of the clips' properties plus noise.

    Each property family (``semantic_key``: the category, ``acoustic_key``: the detail; any
    trailing shape, flattened per stimulus) is standardised and projected on its first
    principal axes (training stimuli; all of the category's, ``n_components`` of the detail's),
    scaled to unit variance. A semantic voxel is a random combination of the category
    components, an acoustic voxel of the detail components, a mixed voxel an equal-variance sum
    of both, each scaled to unit signal variance over the training stimuli; noise voxels carry
    no signal. Every sample adds a voxel baseline and Gaussian noise of standard deviation
    ``noise``.

    Parameters
    ----------
    features_train, features_test : family -> array ``(n_train or n_test, ...)``, rows in the
        order of the table's ``train`` / ``test`` rows (:func:`stimulus_properties`).
    stimuli : the stimulus table (``split``, ``stimulus_id``); prompts are not presented.
    n_subjects, n_voxels : subjects ``01``, ``02``, ... with ``n_voxels`` each.
    n_repetitions : presentations of every stimulus: training presentations are separate
        samples, test presentations are averaged (noise sd ``noise / sqrt(n_repetitions)``).
    noise : single-trial noise standard deviation (signal sd is 1).
    role_fractions : shares of :data:`ROLES` (semantic, acoustic, mixed, noise).

    Returns
    -------
    subjects : one :class:`SubjectFMRI` per subject in the common format.
    truth : ``roles``, ``noise_sd``, ``n_repetitions``, ``transform`` (per family: ``mean``,
        ``scale``, ``projection``) and per subject ``role`` (V,), ``baseline`` (V,),
        ``signal_train`` (n_train_stimuli, V), ``signal_test`` (n_test_stimuli, V).
    """
    ids = {split: stimuli.loc[stimuli["split"] == split, "stimulus_id"].to_numpy(str)
           for split in ("train", "test")}  # fmt: skip
    if not len(ids["train"]) or not len(ids["test"]):
        raise InputError("stimulus table: need train and test stimuli to simulate fMRI")
    keys = {"semantic": semantic_key, "acoustic": acoustic_key}
    latents, transform = {}, {}
    for role, key in keys.items():
        arrays = {}
        for split, features in (("train", features_train), ("test", features_test)):
            if key not in features:
                raise InputError(f"{split} features: no {key!r} family; found {sorted(features)}")
            array = np.asarray(features[key], dtype=np.float64)
            if len(array) != len(ids[split]):
                raise InputError(
                    f"{split} features {key!r}: {len(array)} rows for {len(ids[split])} "
                    f"{split} stimuli in the table"
                )
            arrays[split] = array.reshape(len(array), -1)
        components = arrays["train"].shape[1] if role == "semantic" else n_components
        transform[role] = _component_map(arrays["train"], components)
        latents[role] = {split: _project(x, transform[role]) for split, x in arrays.items()}
    fractions = np.asarray(role_fractions, dtype=float)
    if (
        fractions.shape != (len(ROLES),)
        or fractions.min() < 0
        or not np.isclose(fractions.sum(), 1)
    ):
        raise ValueError(
            f"role_fractions must be {len(ROLES)} shares summing to 1 ({ROLES}), got "
            f"{role_fractions}"
        )
    counts = np.floor(fractions * n_voxels).astype(int)
    counts[-1] = n_voxels - counts[:-1].sum()
    truth = {
        "roles": ROLES,
        "feature_keys": keys,
        "noise_sd": float(noise),
        "n_repetitions": int(n_repetitions),
        "transform": transform,
        "subjects": {},
    }
    subjects = []
    for number in range(n_subjects):
        subject = f"{number + 1:02d}"
        rng = np.random.default_rng([seed, number])
        role = np.repeat(np.asarray(ROLES), counts)[rng.permutation(n_voxels)]
        signal_ = {split: np.zeros((len(ids[split]), n_voxels)) for split in ids}
        for name in ("semantic", "acoustic", "mixed"):
            columns = np.flatnonzero(role == name)
            sources = ("semantic", "acoustic") if name == "mixed" else (name,)
            for source in sources:
                weights = rng.standard_normal((latents[source]["train"].shape[1], columns.size))
                weights /= (latents[source]["train"] @ weights).std(axis=0) * np.sqrt(len(sources))
                for split in ids:
                    signal_[split][:, columns] += latents[source][split] @ weights
        baseline = rng.normal(0.0, 1.0, n_voxels)
        train_rows, train_ids = [], []
        for _ in range(n_repetitions):
            order = rng.permutation(len(ids["train"]))
            noisy = signal_["train"][order] + noise * rng.standard_normal((order.size, n_voxels))
            train_rows.append(baseline + noisy)
            train_ids.append(ids["train"][order])
        test_trials = signal_["test"] + noise * rng.standard_normal(
            (n_repetitions, len(ids["test"]), n_voxels)
        )
        subjects.append(
            SubjectFMRI(
                subject=subject,
                train_voxels=np.concatenate(train_rows).astype(np.float32),
                train_stimulus=np.concatenate(train_ids),
                test_voxels=(baseline + test_trials.mean(axis=0)).astype(np.float32),
                test_stimulus=ids["test"],
                source=f"simulated demo subject {subject}",
                notes={"noise_sd": float(noise), "n_repetitions": int(n_repetitions)},
            )
        )
        truth["subjects"][subject] = {
            "role": role,
            "baseline": baseline,
            "signal_train": signal_["train"],
            "signal_test": signal_["test"],
        }
    return subjects, truth


def _component_map(x_train: np.ndarray, n_components: int) -> dict[str, np.ndarray]:
    """Standardisation and unit-variance principal-axis projection fitted on training rows."""
    mean = x_train.mean(axis=0)
    scale = x_train.std(axis=0)
    scale[scale < 1e-12] = 1.0
    z = (x_train - mean) / scale
    _, singular, axes = np.linalg.svd(z, full_matrices=False)
    rank = int((singular > 1e-8 * max(singular[0], 1e-300)).sum())
    if rank == 0:
        raise InputError("features: every feature is constant over the training stimuli")
    k = min(n_components, rank)
    projection = axes[:k].T / (singular[:k] / np.sqrt(len(z)))
    return {"mean": mean, "scale": scale, "projection": projection}


def _project(x: np.ndarray, transform: Mapping[str, np.ndarray]) -> np.ndarray:
    return (x - transform["mean"]) / transform["scale"] @ transform["projection"]


def write_demo_fmri(
    out_dir: str | os.PathLike, subjects: list[SubjectFMRI], truth: Mapping
) -> list[Path]:
    """Each subject's ``sub-XX_fmri.npz`` and planted truth ``sub-XX_truth.npz`` (+ sidecars)."""
    paths = []
    for fmri in subjects:
        paths.append(write_subject_fmri(out_dir, fmri, "demo"))
        planted = truth["subjects"][fmri.subject]
        save_arrays(
            Path(out_dir) / f"sub-{fmri.subject}_truth.npz",
            {
                "role": np.asarray(planted["role"], dtype=str),
                "baseline": planted["baseline"].astype(np.float32),
                "signal_train": planted["signal_train"].astype(np.float32),
                "signal_test": planted["signal_test"].astype(np.float32),
            },
            {
                "subject": fmri.subject,
                "roles": list(truth["roles"]),
                "feature_keys": truth["feature_keys"],
                "noise_sd": truth["noise_sd"],
                "n_repetitions": truth["n_repetitions"],
            },
        )
    return paths
