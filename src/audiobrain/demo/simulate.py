"""The embedded demo dataset: a small MOUS-like fMRI study with planted ground truth.

:func:`simulate_demo` writes, offline and deterministically from one seed:

* a BIDS folder laid out as MOUS's: Dutch sentences spoken by eSpeak NG and their word lists
  (the same words, scrambled, with silences between them) under MOUS's file names
  (``stimuli/audio_files/EQ_Ramp_Int2_Int1LPF<NNN>.wav``, ``stimuli/stimuli.txt``), a
  ``participants.tsv``, and per subject MOUS's own events file (FieldTrip's conversion of the
  Presentation log: pulses, pictures, sounds; 60 sentences in 12 blocks of 5 alternating with 12
  word-list blocks, Millet & King 2021 section 2.1) and a BOLD sidecar with the slice timing;
* an fMRIPrep derivatives folder with fMRIPrep's names and formats: fsaverage5 surface BOLD
  (one GIfTI per hemisphere, slice-time corrected to the middle of the TR, with fMRIPrep's
  timing sidecar) and the confounds TSV with its JSON sidecar;
* ``truth/``: what was planted where, the per-subject regressors and the vertex loadings, so
  tests can check that an analysis recovers it.

What is planted. A1 vertices follow HRF-convolved low-level acoustics (log-mel energy pooled into
a few frequency bands); TPJ vertices follow the outputs of a fixed, seeded random temporal
convolution network over the log-mel spectrogram (nonlinear, 1.6 s receptive field), standing
in for "deeper" speech features; Belt vertices a mixture of both; every other vertex no stimulus
signal at all. The brain hears the word lists too: they drive the same vertices through the
same features, a response that the analysed (sentence) features do not contain. Every vertex
also carries temporally autocorrelated noise, slow drift (linear and
DCT cosines) and artefacts that are linear mixtures of the motion parameters and the first
aCompCor components written to the confounds file, so cleaning with the 18 regressors of
section 2.2 plus per-block detrending removes them, and skipping it hurts.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from nilearn.glm.first_level import compute_regressor
from scipy.signal import lfilter

import audiobrain
from audiobrain import audio, surface
from audiobrain.demo import demo_design
from audiobrain.demo.sentences import dutch_sentences
from audiobrain.demo.speech import DEFAULT_RATE_WPM, ESPEAK_SAMPLE_RATE_HZ, synthesize
from audiobrain.demo.truth import (
    N_ACOUSTIC_BANDS,
    N_DEEP_FEATURES,
    PLANTED,
    VERTEX_AMPLITUDE_JITTER,
    DemoLayout,
    Planted,
    StimulusFeatures,
    VertexTruth,
    save_loadings,
    stream_rng,
    truth_from_labels,
)
from audiobrain.io import (
    save_arrays,
    save_json,
    sidecar_path,
    write_gifti_timeseries,
    write_tsv,
    write_wav,
)

logger = logging.getLogger(__name__)

# Stimuli (the design itself is audiobrain.demo.demo_design's).
DEMO_VOICE = "nl"
WORD_GAP_S = 0.1  # silence between the words of a word list

# fMRIPrep conventions.
FMRIPREP_HIGH_PASS_S = 128.0  # fMRIPrep's DCT high-pass cutoff (cosine regressors)
N_TISSUE_COMPCOR = 3  # c_comp_cor (CSF), w_comp_cor (WM) and t_comp_cor components written
N_DROPPED_COMPCOR = 5  # components listed in the sidecar as not retained ("dropped_k")
FD_SPIKE_MM = 0.5  # fMRIPrep's defaults for motion_outlier columns
DVARS_SPIKE = 1.5
HEAD_RADIUS_MM = 50.0  # rotations to displacement for framewise displacement (Power et al.)
RMSD_RADIUS_MM = 80.0  # sphere radius of FSL's rmsdiff (Jenkinson 1999)

# Cleaning the pipeline applies (section 2.2): the planted artefacts live in this span.
N_MOTION = 6
N_CLEANED_COMPCOR = 6
N_CLEANED_COSINES = 6
MOTION_COLUMNS = ("trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z")

# Stimulus features (100 Hz frames, as audio.mel_filterbank).
FRAME_PERIOD_S = audio.MEL_HOP_S
N_MELS = 40
DYNAMIC_RANGE_DB = 80.0  # log-mel floor below the loudest bin of the stimulus pool
ENCODER_CHANNELS = (32, 32, 32, 16)  # random temporal conv net: output channels per layer
ENCODER_KERNEL = 5
ENCODER_DILATIONS = (1, 3, 9, 27)  # receptive field 1 + 4 * 40 = 161 frames = 1.61 s

# Signal, artefacts and noise in "units": 1 unit = PERCENT_PER_UNIT % of a vertex's mean BOLD.
PERCENT_PER_UNIT = 0.5
BASELINE_RANGE = (600.0, 1400.0)  # mean BOLD per vertex (scanner units)
NOISE_AR1 = 0.3
COMPCOR_AR1 = 0.9  # physiological noise components are slow
ARTEFACT_UNITS = {"motion": 1.5, "compcor": 1.5, "drift": 2.0}


# --------------------------------------------------------------------------------------------
# Layout


def subject_labels(n_subjects: int) -> list[str]:
    return [f"{index:02d}" for index in range(1, n_subjects + 1)]


# --------------------------------------------------------------------------------------------
# Stimuli and their features


@dataclass(frozen=True)
class StimulusPool:
    """The demo's stimuli: MOUS stimulus number -> audio file, duration (s) and text."""

    files: dict[int, Path]
    durations_s: dict[int, float]
    texts: dict[int, str]

    def stim_id(self, stim: int) -> str:
        return self.files[stim].stem


def write_stimulus_pool(folder: Path, sentences: Sequence[str], seed: int) -> StimulusPool:
    """Each sentence spoken at eSpeak's native rate, and its word list, under MOUS's names.

    Sentence ``i`` (1-based) is ``audio_files/EQ_Ramp_Int2_Int1LPF<iii>.wav``; its word list,
    the same words in a seeded random order spoken one by one with ``WORD_GAP_S`` between them,
    is number ``500 + i``. ``stimuli.txt`` lists every number with its text, as MOUS's does.
    """
    files, durations, texts, words_cache = {}, {}, {}, {}
    rng = np.random.default_rng([seed, 11])
    for item, text in enumerate(sentences, start=1):
        waveform, sr_hz = synthesize(text, voice=DEMO_VOICE, rate_wpm=DEFAULT_RATE_WPM)
        words = [text.split()[k].strip(".,") for k in rng.permutation(len(text.split()))]
        word_list = _spoken_words(words, words_cache)
        for stim, audio_samples, spoken in (
            (item, waveform, text),
            (demo_design.word_list_number(item), word_list, " ".join(words)),
        ):
            files[stim] = folder / demo_design.stimulus_file(stim)
            write_wav(files[stim], audio_samples, sr_hz)
            durations[stim], texts[stim] = audio_samples.size / sr_hz, spoken
    lines = [f"{stim} {texts[stim]}" for stim in sorted(texts)]
    with open(folder / "stimuli.txt", "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    return StimulusPool(files, durations, texts)


def _spoken_words(words: Sequence[str], cache: dict[str, np.ndarray]) -> np.ndarray:
    """The words spoken one at a time, joined by silences (a MOUS word list)."""
    gap = np.zeros(round(WORD_GAP_S * ESPEAK_SAMPLE_RATE_HZ), dtype=np.float32)
    pieces = []
    for word in words:
        if word not in cache:
            cache[word] = synthesize(word, voice=DEMO_VOICE, rate_wpm=DEFAULT_RATE_WPM)[0]
        pieces += [cache[word], gap]
    return np.concatenate(pieces[:-1])


@dataclass(frozen=True)
class ReferenceEncoder:
    """A fixed random temporal convolution network over the log-mel spectrogram.

    Stacked dilated 1-D convolutions with ReLUs make its outputs nonlinear in the spectrogram
    and give them a 1.6 s receptive field, unlike the frame-wise band energies planted in A1.
    It is deliberately not a DeepSpeech2 network, so no analysed network matches it by design.
    """

    weights: tuple[np.ndarray, ...]  # (kernel, in_channels, out_channels) per layer
    biases: tuple[np.ndarray, ...]

    @classmethod
    def from_seed(cls, seed: int, n_inputs: int = N_MELS) -> ReferenceEncoder:
        rng = stream_rng(seed, "encoder")
        weights, biases = [], []
        n_in = n_inputs
        for n_out in ENCODER_CHANNELS:
            scale = math.sqrt(2.0 / (n_in * ENCODER_KERNEL))  # He initialisation
            weights.append(rng.normal(0.0, scale, size=(ENCODER_KERNEL, n_in, n_out)))
            biases.append(rng.normal(0.0, 0.1, size=n_out))
            n_in = n_out
        return cls(tuple(weights), tuple(biases))

    @property
    def receptive_field(self) -> int:
        return 1 + (ENCODER_KERNEL - 1) * sum(ENCODER_DILATIONS)

    def __call__(self, inputs: np.ndarray, pad_value: float) -> np.ndarray:
        """``(n_frames, n_inputs)`` standardised log-mel -> ``(n_frames, ENCODER_CHANNELS[-1])``.

        The input is padded with ``pad_value`` (silence) so every output frame is centred on its
        input frame.
        """
        half = (self.receptive_field - 1) // 2
        hidden = np.pad(inputs, ((half, half), (0, 0)), constant_values=pad_value)
        for weight, bias, dilation in zip(
            self.weights, self.biases, ENCODER_DILATIONS, strict=True
        ):
            span = (ENCODER_KERNEL - 1) * dilation
            windows = np.stack(
                [
                    hidden[k * dilation : hidden.shape[0] - span + k * dilation]
                    for k in range(ENCODER_KERNEL)
                ]
            )
            hidden = np.maximum(np.einsum("ktc,kcd->td", windows, weight) + bias, 0.0)
        return hidden


def stimulus_features(
    wav_paths: Mapping[str, os.PathLike], seed: int, analysed: Sequence[str] | None = None
) -> StimulusFeatures:
    """Acoustic band energies and reference-encoder features of each stimulus.

    The audio goes through the pipeline's own loader (16 kHz) and mel front end, so the planted
    features are those an analysis of the written files would compute. ``analysed`` (default:
    all) are the stimuli the analysis models, the sentences: on them the deep features carry
    nothing that a linear map of the mel explains.
    """
    mel_db = {
        stim_id: 10.0 * np.log10(np.e) * audio.mel_filterbank(audio.load_audio(path), n_mels=N_MELS)
        for stim_id, path in wav_paths.items()
    }
    floor_db = max(float(m.max()) for m in mel_db.values()) - DYNAMIC_RANGE_DB
    floored = {stim_id: np.maximum(m.astype(np.float64), floor_db) for stim_id, m in mel_db.items()}
    acoustic = _scaled_to_unit({s: _pool_bands(m) - floor_db for s, m in floored.items()})
    deep, channels = _reference_encoder_features(floored, floor_db, seed, analysed)
    return StimulusFeatures(acoustic, deep, channels)


def _reference_encoder_features(
    mel_db: Mapping[str, np.ndarray], floor_db: float, seed: int, analysed: Sequence[str] | None
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The ``N_DEEP_FEATURES`` highest-variance encoder outputs, and which channels they are."""
    all_frames = np.concatenate(list(mel_db.values()))
    mean, std = all_frames.mean(), all_frames.std()
    encoder = ReferenceEncoder.from_seed(seed)
    outputs = {
        stim_id: encoder((m - mean) / std, pad_value=(floor_db - mean) / std)
        for stim_id, m in mel_db.items()
    }
    variance = np.concatenate(list(outputs.values())).var(axis=0)
    channels = np.sort(np.argsort(-variance, kind="stable")[:N_DEEP_FEATURES])
    kept = {stim_id: out[:, channels] for stim_id, out in outputs.items()}
    return _beyond_spectrogram(kept, mel_db, analysed or list(kept)), channels


def _beyond_spectrogram(
    deep: Mapping[str, np.ndarray], mel_db: Mapping[str, np.ndarray], fitted_on: Sequence[str]
) -> dict[str, np.ndarray]:
    """The part of each deep feature that no linear map of the same frame's log-mel explains.

    Raw encoder outputs are ~98 % predictable from the mel filterbank once convolved with the HRF
    (measured on the demo), so a planted "deep" region would look like an acoustic one. Removing
    the frame-wise linear mel component (least squares over the stimuli ``fitted_on``, the
    analysed ones) leaves a signal that only nonlinear, temporally integrating features, such as
    a network's deeper layers, can predict. Scaled by the largest magnitude over the pool, so
    values lie in [-1, 1].
    """
    stim_ids = list(deep)

    def design_of(ids):
        return np.concatenate([np.c_[mel_db[s], np.ones(len(mel_db[s]))] for s in ids])

    fit = np.linalg.lstsq(
        design_of(fitted_on), np.concatenate([deep[s] for s in fitted_on]), rcond=None
    )[0]
    residual = np.concatenate([deep[s] for s in stim_ids]) - design_of(stim_ids) @ fit
    residual /= np.where(np.abs(residual).max(axis=0) > 0, np.abs(residual).max(axis=0), 1.0)
    bounds = np.cumsum([0, *(len(deep[s]) for s in stim_ids)])
    return {s: residual[a:b] for s, a, b in zip(stim_ids, bounds[:-1], bounds[1:], strict=True)}


def _pool_bands(mel_db: np.ndarray) -> np.ndarray:
    """Average ``N_MELS`` mel bands into ``N_ACOUSTIC_BANDS`` contiguous frequency bands."""
    groups = np.array_split(np.arange(mel_db.shape[1]), N_ACOUSTIC_BANDS)
    return np.stack([mel_db[:, group].mean(axis=1) for group in groups], axis=1)


def _scaled_to_unit(features: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Divide each column by its maximum over all stimuli (columns are >= 0)."""
    peak = np.concatenate(list(features.values())).max(axis=0)
    return {stim_id: f / np.where(peak > 0, peak, 1.0) for stim_id, f in features.items()}


# --------------------------------------------------------------------------------------------
# Design and haemodynamics


def hrf_regressors(
    events: pd.DataFrame,
    frame_features: Mapping[str, np.ndarray],
    n_scans: int,
    tr_s: float,
    start_time_s: float = 0.0,
) -> np.ndarray:
    """Frame-level features convolved with nilearn's Glover HRF, sampled at the scans' times.

    Every 10 ms feature frame is one event (onset, 10 ms, value) of nilearn's
    ``compute_regressor``; scan ``k`` is sampled at ``start_time_s + k * tr_s``, the time that
    the slice-time corrected BOLD represents.

    Returns
    -------
    ``(n_scans, n_features)`` float64.
    """
    onsets, values = [], []
    for onset, stim_file in zip(events["onset"], events["stim_file"], strict=True):
        features = frame_features[Path(str(stim_file)).stem]
        onsets.append(onset + FRAME_PERIOD_S * np.arange(features.shape[0]))
        values.append(features)
    onsets_s, frame_values = np.concatenate(onsets), np.concatenate(values)
    durations = np.full(onsets_s.shape, FRAME_PERIOD_S)
    frame_times = start_time_s + np.arange(n_scans) * tr_s
    oversampling = max(1, round(tr_s / FRAME_PERIOD_S))
    columns = [
        compute_regressor(
            np.vstack([onsets_s, durations, frame_values[:, k]]),
            "glover",
            frame_times,
            oversampling=oversampling,
        )[0][:, 0]
        for k in range(frame_values.shape[1])
    ]
    return np.stack(columns, axis=1)


# --------------------------------------------------------------------------------------------
# Confounds


def n_fmriprep_cosines(n_scans: int, tr_s: float, cutoff_s: float = FMRIPREP_HIGH_PASS_S) -> int:
    """How many ``cosine`` columns fMRIPrep writes: the DCT order below the cutoff, no constant."""
    return max(int(np.floor(2.0 * n_scans * tr_s / cutoff_s)) - 1, 0)


def cosine_basis(n_scans: int, tr_s: float, cutoff_s: float = FMRIPREP_HIGH_PASS_S) -> np.ndarray:
    """fMRIPrep's (nipype's) DCT high-pass regressors ``cosine00 ..``: ``(n_scans, n_cosines)``."""
    scans = np.arange(n_scans)
    orders = np.arange(1, n_fmriprep_cosines(n_scans, tr_s, cutoff_s) + 1)
    return np.sqrt(2.0 / n_scans) * np.cos(np.pi / n_scans * np.outer(scans + 0.5, orders))


@dataclass(frozen=True)
class ConfoundSources:
    """The time series behind a confounds file (before the BOLD-derived columns are added)."""

    motion: np.ndarray  # (n_scans, 6): trans_x/y/z in mm, rot_x/y/z in rad
    compcor: dict[str, np.ndarray]  # prefix ("a", "c", "w", "t") -> (n_scans, n) unit-norm
    cosines: np.ndarray  # (n_scans, n_cosines)
    tissue: np.ndarray  # (n_scans, 3): csf, white_matter, tcompcor fluctuations (units)


def simulate_confound_sources(
    n_scans: int, tr_s: float, n_compcor: int, rng: np.random.Generator
) -> ConfoundSources:
    """Head motion (slow random walk plus a few sudden shifts) and orthonormal CompCor series."""
    cosines = cosine_basis(n_scans, tr_s)
    compcor = {
        prefix: _orthonormal_series(n_scans, count, cosines, rng)
        for prefix, count in (
            ("a", n_compcor),
            ("c", N_TISSUE_COMPCOR),
            ("w", N_TISSUE_COMPCOR),
            ("t", N_TISSUE_COMPCOR),
        )
    }
    tissue = compcor["a"][:, :3] @ rng.normal(size=(3, 3)) * math.sqrt(n_scans)
    return ConfoundSources(_head_motion(n_scans, rng), compcor, cosines, tissue)


def _head_motion(n_scans: int, rng: np.random.Generator) -> np.ndarray:
    step_sd = np.array([0.02, 0.02, 0.03, 0.0003, 0.0003, 0.0002])  # mm, rad per scan
    steps = rng.normal(size=(n_scans, 6)) * step_sd
    for scan in rng.choice(np.arange(1, n_scans), size=rng.integers(1, 4), replace=False):
        steps[scan] += rng.normal(size=6) * step_sd * 12.0
    motion = np.cumsum(steps, axis=0)
    return motion - np.median(motion, axis=0)


def _orthonormal_series(
    n_scans: int, n_components: int, exclude: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Smooth random unit-norm, mutually orthogonal series, orthogonal to a constant and to
    ``exclude`` (fMRIPrep computes CompCor on high-pass filtered data)."""
    if n_components + exclude.shape[1] + 1 > n_scans:
        raise ValueError(
            f"{n_components} CompCor components do not fit in a run of {n_scans} scans"
        )
    raw = lfilter([1.0], [1.0, -COMPCOR_AR1], rng.normal(size=(n_scans, n_components)), axis=0)
    basis = np.column_stack([np.ones(n_scans), exclude])
    residual = raw - basis @ np.linalg.lstsq(basis, raw, rcond=None)[0]
    q, r = np.linalg.qr(residual)
    return q * np.sign(np.diag(r))


def confounds_table(sources: ConfoundSources, bold: np.ndarray) -> pd.DataFrame:
    """fMRIPrep's ``desc-confounds_timeseries`` table, BOLD-derived columns computed from ``bold``.

    Derivative columns (and DVARS, FD, RMSD) have no value for the first scan (``n/a``).
    """
    n_scans = bold.shape[0]
    global_signal = bold.mean(axis=1)
    csf = 15_000.0 * (1.0 + PERCENT_PER_UNIT / 100.0 * sources.tissue[:, 0])
    white_matter = 13_000.0 * (1.0 + PERCENT_PER_UNIT / 100.0 * sources.tissue[:, 1])
    tcompcor = 11_000.0 * (1.0 + PERCENT_PER_UNIT / 100.0 * sources.tissue[:, 2])
    columns: dict[str, np.ndarray] = {}
    for name, series in (
        ("global_signal", global_signal),
        ("csf", csf),
        ("white_matter", white_matter),
    ):
        columns.update(_expansions(name, series))
    columns["csf_wm"] = (csf + white_matter) / 2.0
    columns["tcompcor"] = tcompcor
    dvars = np.concatenate([[np.nan], np.sqrt(np.mean(np.diff(bold, axis=0) ** 2, axis=1))])
    std_dvars = dvars / np.nanmedian(dvars)
    fd = _framewise_displacement(sources.motion)
    columns.update(
        std_dvars=std_dvars, dvars=dvars, framewise_displacement=fd, rmsd=_rmsd(sources.motion)
    )
    for prefix in ("t", "c", "w", "a"):
        for k in range(sources.compcor[prefix].shape[1]):
            columns[f"{prefix}_comp_cor_{k:02d}"] = sources.compcor[prefix][:, k]
    for k in range(sources.cosines.shape[1]):
        columns[f"cosine{k:02d}"] = sources.cosines[:, k]
    for name, series in zip(MOTION_COLUMNS, sources.motion.T, strict=True):
        columns.update(_expansions(name, series))
    outliers = np.flatnonzero((fd > FD_SPIKE_MM) | (std_dvars > DVARS_SPIKE))
    for k, scan in enumerate(outliers):
        columns[f"motion_outlier{k:02d}"] = (np.arange(n_scans) == scan).astype(np.float64)
    return pd.DataFrame(columns)


def _expansions(name: str, series: np.ndarray) -> dict[str, np.ndarray]:
    """A column with fMRIPrep's temporal derivative and quadratic expansions."""
    derivative = np.concatenate([[np.nan], np.diff(series)])
    return {
        name: series,
        f"{name}_derivative1": derivative,
        f"{name}_derivative1_power2": derivative**2,
        f"{name}_power2": series**2,
    }


def _framewise_displacement(motion: np.ndarray) -> np.ndarray:
    """Power et al. (2012): sum of absolute scan-to-scan shifts, rotations on a 50 mm sphere."""
    delta = np.abs(np.diff(motion, axis=0))
    fd = delta[:, :3].sum(axis=1) + HEAD_RADIUS_MM * delta[:, 3:].sum(axis=1)
    return np.concatenate([[np.nan], fd])


def _rmsd(motion: np.ndarray) -> np.ndarray:
    """Scan-to-scan RMS deviation over an 80 mm sphere (small-angle form of FSL's rmsdiff)."""
    delta = np.diff(motion, axis=0)
    rms = np.sqrt(
        (delta[:, :3] ** 2).sum(axis=1) + RMSD_RADIUS_MM**2 / 5.0 * (delta[:, 3:] ** 2).sum(axis=1)
    )
    return np.concatenate([[np.nan], rms])


def confounds_sidecar(sources: ConfoundSources, rng: np.random.Generator) -> dict:
    """The JSON sidecar fMRIPrep writes beside the confounds: CompCor masks and spectra."""
    n_scans = sources.motion.shape[0]
    sidecar: dict[str, dict] = {name: {"Method": "Mean"} for name in _MEAN_COLUMNS}
    dropped = 0
    for prefix, method, mask in _COMPCOR_FAMILIES:
        n_retained = sources.compcor[prefix].shape[1]
        fractions = _variance_spectrum(n_retained + N_DROPPED_COMPCOR, rng)
        total_ss = n_scans * 1e5
        for k, fraction in enumerate(fractions):
            entry = {
                "Method": method,
                "Retained": k < n_retained,
                "SingularValue": round(float(np.sqrt(fraction * total_ss)), 10),
                "VarianceExplained": round(float(fraction), 10),
                "CumulativeVarianceExplained": round(float(fractions[: k + 1].sum()), 10),
            }
            if mask is not None:
                entry["Mask"] = mask
            if k < n_retained:
                sidecar[f"{prefix}_comp_cor_{k:02d}"] = entry
            else:
                sidecar[f"dropped_{dropped}"] = entry
                dropped += 1
    return sidecar


_MEAN_COLUMNS = ("global_signal", "csf", "white_matter", "csf_wm", "tcompcor")
_COMPCOR_FAMILIES = (
    ("a", "aCompCor", "combined"),
    ("c", "aCompCor", "CSF"),
    ("w", "aCompCor", "WM"),
    ("t", "tCompCor", None),
)


def _variance_spectrum(n_components: int, rng: np.random.Generator) -> np.ndarray:
    """Decreasing explained-variance fractions of the leading components (sum below 1)."""
    decay = np.sort(rng.uniform(0.5, 1.0, n_components))[::-1] / np.arange(1, n_components + 1)
    return decay / decay.sum() * rng.uniform(0.6, 0.8)


# --------------------------------------------------------------------------------------------
# Planted truth and BOLD


def plant_truth(seed: int, planted: Mapping[str, Planted] = PLANTED) -> VertexTruth:
    """Choose which vertices carry which signal, and their feature loadings.

    Vertices take their Desikan-Killiany label from the fsaverage5 annotation that nilearn ships
    (left hemisphere, mirrored onto the right); see :func:`truth_from_labels`.
    """
    n_per_hemi = surface.FSAVERAGE5_VERTICES_PER_HEMI
    labels, names = surface.read_annotation(surface.nilearn_desikan_annotation(), n_per_hemi)
    label_names = np.array(names, dtype=object)[
        np.concatenate([labels, surface.mirrored_labels(labels)])
    ]
    return truth_from_labels(label_names.astype(str), seed, planted)


def planted_signal(
    truth: VertexTruth,
    acoustic: np.ndarray,
    deep: np.ndarray,
    vertices: np.ndarray,
    reference: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """The stimulus-driven part of the BOLD (units) at ``vertices``: ``(n_scans, n_vertices)``.

    ``signal = amplitude * z(sqrt(s) * z(Za @ wa) + sqrt(1 - s) * z(Zd @ wd))``, where ``z``
    z-scores over scans, ``Za``/``Zd`` are the column-z-scored acoustic/deep HRF regressors
    (``hrf_regressors``), ``wa``/``wd`` the vertex's loadings and ``s`` its acoustic share.
    With ``reference`` (the acoustic and deep regressors of the sentences alone) every ``z``
    uses the reference's means and deviations: the signal is then the sentences' signal plus an
    exactly additive response to the rest of the audio (the word lists).
    """
    reference_acoustic, reference_deep = (acoustic, deep) if reference is None else reference
    vertices = np.asarray(vertices)
    share = truth.acoustic_share[vertices]
    mixture = np.zeros((acoustic.shape[0], vertices.size))
    reference_mixture = np.zeros_like(mixture)
    for part, regressors, reference_regressors, weights in (
        (share, acoustic, reference_acoustic, truth.acoustic_weights),
        (1.0 - share, deep, reference_deep, truth.deep_weights),
    ):
        used = part > 0
        if used.any():
            loadings = weights[vertices[used]].T
            drive = _zscore(regressors, reference_regressors) @ loadings
            reference_drive = _zscore(reference_regressors) @ loadings
            mixture[:, used] += np.sqrt(part[used]) * _zscore(drive, reference_drive)
            reference_mixture[:, used] += np.sqrt(part[used]) * _zscore(reference_drive)
    return truth.amplitude[vertices] * _zscore(mixture, reference_mixture)


def _zscore(values: np.ndarray, reference: np.ndarray | None = None) -> np.ndarray:
    """z-scores over rows, with the means and deviations of ``reference`` (default: values)."""
    reference = values if reference is None else reference
    std = reference.std(axis=0)
    return (values - reference.mean(axis=0)) / np.where(std > 0, std, 1.0)


def simulate_bold(
    truth: VertexTruth,
    acoustic: np.ndarray,
    deep: np.ndarray,
    sources: ConfoundSources,
    noise_level: float,
    rng: np.random.Generator,
    reference: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Surface BOLD of one run, ``(n_scans, n_vertices)`` in scanner units.

    ``baseline * (1 + PERCENT_PER_UNIT / 100 * (signal + artefacts + drift + noise))``; the
    signal as :func:`planted_signal` (``reference``: the sentences' regressors).
    """
    n_scans, n_vertices = acoustic.shape[0], truth.amplitude.size
    units = _artefacts(sources, n_vertices, rng)
    signal_vertices = truth.signal_vertices
    units[:, signal_vertices] += planted_signal(truth, acoustic, deep, signal_vertices, reference)
    white = rng.normal(size=(n_scans, n_vertices))
    innovation = math.sqrt(1.0 - NOISE_AR1**2)
    noise = lfilter(
        [innovation], [1.0, -NOISE_AR1], white, axis=0, zi=(1 - innovation) * white[:1]
    )[0]
    units += noise_level * noise
    baseline = rng.uniform(*BASELINE_RANGE, n_vertices)
    return baseline * (1.0 + PERCENT_PER_UNIT / 100.0 * units)


def _artefacts(sources: ConfoundSources, n_vertices: int, rng: np.random.Generator) -> np.ndarray:
    """Vertex-specific mixtures of motion, the first aCompCor components and slow drifts."""
    n_scans = sources.motion.shape[0]
    ramp = np.linspace(-1.0, 1.0, n_scans)[:, None]
    families = {
        "motion": _zscore(sources.motion[:, :N_MOTION]),
        "compcor": _zscore(sources.compcor["a"][:, :N_CLEANED_COMPCOR]),
        "drift": _zscore(np.column_stack([ramp, sources.cosines[:, :N_CLEANED_COSINES]])),
    }
    units = np.zeros((n_scans, n_vertices))
    for family, basis in families.items():
        shared = rng.normal(size=basis.shape[1])  # artefacts are spatially correlated
        loadings = (shared[:, None] + rng.normal(size=(basis.shape[1], n_vertices))) / math.sqrt(
            2.0 * basis.shape[1]
        )
        units += ARTEFACT_UNITS[family] * (basis @ loadings)
    return units


# --------------------------------------------------------------------------------------------
# The whole demo


def simulate_demo(
    root: str | os.PathLike,
    *,
    n_subjects: int = 10,
    pool_size: int = 120,
    n_blocks: int = 12,
    sentences_per_block: int = 5,
    tr_s: float = 2.0,
    noise_level: float = 1.0,
    seed: int = 0,
    task: str = "auditory",
    n_compcor: int = 10,
    volume: bool = False,
    word_list_response: bool = True,
) -> dict:
    """Write the demo's BIDS folder, fMRIPrep derivatives and planted truth under ``root``.

    Every subject hears ``n_blocks * sentences_per_block`` sentences and as many word lists,
    drawn from a pool of ``pool_size`` items (MOUS: 60 of 360 each, section 2.1). Same
    arguments, same bytes.

    ``volume=True`` writes the volumetric variant instead of the surface BOLD: an MNI-space
    ``desc-preproc_bold`` NIfTI per subject with its brain mask, the signal planted in known
    voxels (:mod:`audiobrain.demo.simulate_volume`); everything else is the same.
    ``word_list_response=False`` leaves the word lists out of the BOLD (the sentences' signal,
    noise and artefacts stay the same bytes): the control for the word-list bias.

    Returns
    -------
    A summary: the folders, the subject labels, ``n_scans`` and ``n_cosines`` per subject.
    """
    n_sentences = n_blocks * sentences_per_block
    _check_parameters(n_subjects, pool_size, n_sentences, tr_s, noise_level, n_compcor, task)
    layout = DemoLayout(Path(root), task)
    subjects = subject_labels(n_subjects)
    logger.info("speaking %d Dutch sentences and their word lists with eSpeak NG", pool_size)
    pool = write_stimulus_pool(layout.stimuli, dutch_sentences(pool_size, seed), seed)
    sentences = [pool.stim_id(s) for s in pool.files if s < demo_design.WORD_LIST_OFFSET]
    wavs = {pool.stim_id(s): path for s, path in pool.files.items()}
    features = stimulus_features(wavs, seed, analysed=sentences)
    variant = _volume_variant(seed) if volume else None
    truth = plant_truth(seed) if variant is None else variant.truth
    _write_dataset_descriptions(layout, subjects, seed)
    n_scans, n_cosines = {}, {}
    design = _SubjectDesign(n_sentences, sentences_per_block, pool_size, tr_s, word_list_response)
    for index, subject in enumerate(subjects, start=1):
        logger.info("simulating sub-%s", subject)
        n_scans[subject] = _simulate_subject(
            layout, subject, index, pool, features, truth, design, noise_level, seed,
            n_compcor, variant,
        )  # fmt: skip
        n_cosines[subject] = n_fmriprep_cosines(n_scans[subject], tr_s)
    parameters = dict(
        n_subjects=n_subjects, pool_size=pool_size, n_blocks=n_blocks,
        sentences_per_block=sentences_per_block, tr_s=tr_s, noise_level=noise_level, seed=seed,
        task=task, n_compcor=n_compcor, word_list_response=word_list_response,
        start_time_s=design.start_time_s,
    )  # fmt: skip
    if variant is None:
        _write_truth(layout, truth, features, parameters, n_scans)
    else:
        parameters = {**parameters, "volume": True}
        variant.write_truth(layout, truth_description(variant.truth, features, parameters, n_scans))
    return {
        "root": layout.root,
        "bids": layout.bids,
        "fmriprep": layout.fmriprep,
        "truth": layout.truth,
        "subjects": subjects,
        "n_stimuli": len(pool.files),
        "n_scans": n_scans,
        "n_cosines": n_cosines,
        "start_time_s": design.start_time_s,
    }


@dataclass(frozen=True)
class _SubjectDesign:
    """What every subject's run shares: counts, TR, slice timing, word-list response."""

    n_sentences: int
    per_block: int
    pool_size: int
    tr_s: float
    word_list_response: bool

    @property
    def slice_timing(self) -> list[float]:
        return demo_design.slice_timing(self.tr_s)

    @property
    def start_time_s(self) -> float:
        return demo_design.slice_time_reference(self.slice_timing)


def _volume_variant(seed: int):
    """The volumetric demo (grid, brain mask, voxel truth); that module builds on this one."""
    from audiobrain.demo.simulate_volume import DemoVolume

    return DemoVolume.from_seed(seed)


def _check_parameters(n_subjects, pool_size, n_sentences, tr_s, noise_level, n_compcor, task):
    if n_subjects < 1 or n_subjects > 99:
        raise ValueError(f"n_subjects must be within 1-99 (labels 01..99), got {n_subjects}")
    if n_sentences < 1:
        raise ValueError(f"n_blocks * sentences_per_block must be >= 1, got {n_sentences}")
    if pool_size < n_sentences:
        raise ValueError(
            f"pool_size ({pool_size}) must hold the {n_sentences} sentences each subject hears"
        )
    if tr_s <= 0 or noise_level < 0:
        raise ValueError(f"need tr_s > 0 and noise_level >= 0, got {tr_s} and {noise_level}")
    if n_compcor < N_CLEANED_COMPCOR:
        raise ValueError(
            f"n_compcor must be >= {N_CLEANED_COMPCOR} (the components cleaning removes), "
            f"got {n_compcor}"
        )
    if not task.isalnum():
        raise ValueError(f"task must be a BIDS label (letters and digits), got {task!r}")


def _simulate_subject(
    layout: DemoLayout,
    subject: str,
    index: int,
    pool: StimulusPool,
    features: StimulusFeatures,
    truth: VertexTruth,
    design: _SubjectDesign,
    noise_level: float,
    seed: int,
    n_compcor: int,
    variant=None,
) -> int:
    """Write one subject's events, BOLD, confounds and truth regressors; ``n_scans``.

    The BOLD is surface GIfTI, or the volumetric NIfTI of ``variant`` (a ``DemoVolume``), at
    the times fMRIPrep's slice-timing correction gives it (``design.start_time_s`` into each TR).
    """
    design_rng = stream_rng(seed, "design", index)
    sentences, word_lists = demo_design.subject_items(
        design.pool_size, design.n_sentences, design_rng
    )
    trials, n_scans = demo_design.block_design(
        sentences, [demo_design.word_list_number(i) for i in word_lists], pool.durations_s,
        design.per_block, design.tr_s, design_rng,
    )  # fmt: skip
    table = demo_design.trial_table(trials)
    heard = table.assign(stim_file=[pool.stim_id(t.stim) for t in trials])
    regressors = {
        name: {
            kind: hrf_regressors(
                heard[heard["trial_type"] == "sentence"] if name == "sentences" else heard,
                getattr(features, kind),
                n_scans,
                design.tr_s,
                design.start_time_s,
            )  # fmt: skip
            for kind in ("acoustic", "deep")
        }
        for name in ("sentences", "all")
    }
    planted = regressors["all" if design.word_list_response else "sentences"]
    reference = (regressors["sentences"]["acoustic"], regressors["sentences"]["deep"])
    sources = simulate_confound_sources(
        n_scans, design.tr_s, n_compcor, stream_rng(seed, "confounds", index)
    )
    bold = simulate_bold(
        truth, planted["acoustic"], planted["deep"], sources, noise_level,
        stream_rng(seed, "bold", index), reference,
    )  # fmt: skip

    events = demo_design.presentation_events(trials, n_scans, design.tr_s, design_rng)
    write_tsv(events, layout.events(subject))
    write_tsv(table, layout.trials(subject))
    save_json(
        layout.bold_sidecar(subject),
        {
            "RepetitionTime": design.tr_s,
            "SliceTiming": design.slice_timing,
            "TaskName": layout.task,
        },
    )
    timing = {
        "RepetitionTime": design.tr_s,
        "SliceTimingCorrected": True,
        "StartTime": design.start_time_s,
        "TaskName": layout.task,
    }
    if variant is None:
        n_per_hemi = surface.FSAVERAGE5_VERTICES_PER_HEMI
        for offset, hemi in zip((0, n_per_hemi), surface.HEMISPHERES, strict=True):
            path = layout.surface_bold(subject, hemi)
            write_gifti_timeseries(path, bold[:, offset : offset + n_per_hemi], design.tr_s)
            save_json(sidecar_path(path), timing)
    else:
        save_json(sidecar_path(variant.write_bold(layout, subject, bold, design.tr_s)), timing)
    write_tsv(confounds_table(sources, bold), layout.confounds(subject, "tsv"))
    save_json(
        layout.confounds(subject, "json"),
        confounds_sidecar(sources, stream_rng(seed, "confounds", index, 1)),
    )
    save_arrays(
        layout.regressors(subject),
        {
            "acoustic": planted["acoustic"],
            "deep": planted["deep"],
            "acoustic_sentences": regressors["sentences"]["acoustic"],
            "deep_sentences": regressors["sentences"]["deep"],
        },
        {
            "description": "HRF-convolved planted features at each scan (nilearn glover, "
            "frame-level events, sampled at start_time_s + k tr_s): acoustic/deep of all the "
            "audio the BOLD responds to, *_sentences of the sentences alone; inputs of "
            "simulate.planted_signal (reference: the *_sentences)",
            "tr_s": design.tr_s,
            "start_time_s": design.start_time_s,
            "n_scans": n_scans,
        },
    )
    return n_scans


def _write_dataset_descriptions(layout: DemoLayout, subjects: Sequence[str], seed: int) -> None:
    generated_by = {
        "Name": "audiobrain.simulate",
        "Version": audiobrain.__version__,
        "Description": "synthetic MOUS-like study with planted ground truth (see truth/)",
    }
    save_json(
        layout.bids / "dataset_description.json",
        {
            "Name": "audiobrain embedded demo: Dutch sentences (eSpeak NG), synthetic BOLD",
            "BIDSVersion": "1.9.0",
            "DatasetType": "raw",
            "GeneratedBy": [generated_by],
        },
    )
    rng = np.random.default_rng([seed, 12])
    write_tsv(
        pd.DataFrame(
            {
                "participant_id": [f"sub-{s}" for s in subjects],
                "age": rng.integers(18, 34, len(subjects)),
                "sex": rng.choice(["F", "M"], len(subjects)),
            }
        ),
        layout.bids / "participants.tsv",
    )
    save_json(
        layout.fmriprep / "dataset_description.json",
        {
            "Name": "fMRIPrep outputs of the audiobrain demo (simulated, fMRIPrep naming)",
            "BIDSVersion": "1.9.0",
            "DatasetType": "derivative",
            "GeneratedBy": [generated_by],
            "SourceDatasets": [{"URL": "../../bids"}],
        },
    )


def _write_truth(
    layout: DemoLayout,
    truth: VertexTruth,
    features: StimulusFeatures,
    parameters: Mapping,
    n_scans: Mapping[str, int],
) -> None:
    n_per_hemi = surface.FSAVERAGE5_VERTICES_PER_HEMI
    vertices = np.arange(truth.amplitude.size)
    table = pd.DataFrame(
        {
            "vertex": vertices,
            "hemi": np.where(vertices < n_per_hemi, "L", "R"),
            "roi": truth.roi,
            "label": truth.label,
            "signal": truth.kind,
            "amplitude": truth.amplitude,
        }
    )
    write_tsv(table, layout.truth / "vertex_truth.tsv")
    save_loadings(
        layout, truth, "per-vertex inputs of simulate.planted_signal (vertex index: rows)"
    )
    save_json(layout.truth / "truth.json", truth_description(truth, features, parameters, n_scans))


def truth_description(truth, features, parameters, n_scans) -> dict:
    rois = {}
    for name, spec in PLANTED.items():
        where = truth.roi == name
        rois[name] = {
            "desikan_labels": surface.DEFAULT_ROIS[name],
            "signal": spec.kind,
            "amplitude_units": spec.amplitude,
            "vertex_amplitude_range": list(VERTEX_AMPLITUDE_JITTER),
            "acoustic_share": spec.acoustic_share,
            "n_vertices": int(where.sum()),
        }
    return {
        "seed": parameters["seed"],
        "parameters": dict(parameters),
        "n_scans": dict(n_scans),
        "rois": rois,
        "units": f"1 unit = {PERCENT_PER_UNIT} % of a vertex's mean BOLD; noise sd = noise_level",
        "features": {
            "acoustic": (
                f"log-mel ({N_MELS} bands, audio.mel_filterbank on the 16 kHz audio) in dB, "
                f"floored {DYNAMIC_RANGE_DB:g} dB below the pool maximum, averaged into "
                f"{N_ACOUSTIC_BANDS} contiguous bands, scaled to [0, 1] over the pool"
            ),
            "deep": (
                "random dilated temporal conv net over standardised log-mel "
                f"(channels {list(ENCODER_CHANNELS)}, kernel {ENCODER_KERNEL}, dilations "
                f"{list(ENCODER_DILATIONS)}, ReLU after each layer, receptive field 1.61 s), "
                f"the {N_DEEP_FEATURES} highest-variance outputs "
                f"{features.deep_channels.tolist()}, minus their frame-wise least-squares fit "
                "from the log-mel bands (so the mel baseline cannot explain them), scaled to "
                "[-1, 1] over the pool"
            ),
            "hrf": "nilearn compute_regressor, glover, every 10 ms frame an event",
        },
        "artefacts_units": dict(ARTEFACT_UNITS),
        "noise": f"AR(1) with coefficient {NOISE_AR1}, spatially independent, sd noise_level",
        "planted": (
            "A1 (transversetemporal) vertices follow HRF-convolved acoustic band energies; TPJ "
            "(supramarginal, bankssts) vertices follow HRF-convolved outputs of a random "
            "temporal convolution network (nonlinear in the spectrogram); Belt "
            "(superiortemporal) vertices an equal-variance mixture of both; all other vertices "
            "carry no stimulus signal. The word lists drive the same vertices through the same "
            "features (unless word_list_response is false), scaled by the sentences' "
            "statistics, so the BOLD is the sentences' signal plus an additive word-list "
            "response that no sentence feature explains. The BOLD represents the times "
            "start_time_s + k tr_s (fMRIPrep's slice-timing reference, StartTime in the "
            "derivatives' sidecars). Every vertex also has AR(1) noise, a linear trend, DCT "
            "drifts (cosine00-05), and artefacts mixing the 6 motion parameters and "
            "a_comp_cor_00-05 with vertex-specific loadings: cleaning with those 18 regressors "
            "plus per-block detrending removes all but the signal and the noise. "
            "signal = amplitude * z(sqrt(s) z(Za wa) + sqrt(1-s) z(Zd wd)), see "
            "simulate.planted_signal; regressors in truth/sub-*/, loadings in loadings.npz."
        ),
    }
