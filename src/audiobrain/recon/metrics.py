"""The reconstruction metrics of section 3.1: PCC, PSNR, FD, KL, FAD and CLAP score.

The paper names the metrics and their models but not every setting; where it is silent we follow
AudioLDM's evaluation toolbox (``audioldm_eval``, the toolbox of the AudioLDM2 code base the paper
builds on), at 16 kHz, the rate every dataset is resampled to (appendix A.1):

- **PCC, PSNR** between the mel-spectrograms of reconstruction and stimulus
  (:func:`evaluation_mel`): each waveform has its mean removed and is resampled to 16 kHz and
  clipped to [-1, 1]; STFT with a 512-sample Hann window, hop 160 (10 ms), centred frames with
  reflect padding; 64 Slaney mel bands from 50 Hz to 8 kHz on the magnitude; decibels
  ``20 log10(max(mel, 1e-5))`` mapped to [0, 1] by ``(dB - 20 + 100) / 100`` and clipped
  (``audioldm_eval``'s ``TacotronSTFT`` and normalisation). The two mels of a pair are aligned at
  their first frame and cut to the shorter one. PCC is Pearson's r over all time-frequency bins of
  a pair; PSNR is ``10 log10(1 / MSE)`` (data range 1, as skimage infers for [0, 1] images); both
  are averaged over the pairs (a pair with an infinite PSNR, an exact copy, is left out of the
  PSNR mean, as in ``audioldm_eval``).
- **FD**: Frechet distance between Gaussians fitted to the PANNs CNN14 (Kong et al., 2020b)
  2048-d embeddings of the reconstructions and of the stimuli (one embedding per clip; the 16 kHz
  CNN14, ``Cnn14_16k_mAP=0.438.pth``; clips shorter than 2 s zero-padded to 2 s, mean removed).
- **KL**: per pair, ``KL(p_stimulus || p_reconstruction)`` with ``p = softmax(CNN14 logits)``
  over the 527 AudioSet classes (``audioldm_eval``'s "KL", the AudioGen formulation; ``1e-6``
  added to the reconstruction's probabilities before the log), averaged over pairs.
  ``kind="sigmoid"`` gives its "KL_Sigmoid" variant (same sum with sigmoid outputs).
- **FAD**: Frechet distance between VGGish (Kilgour et al., 2018) embeddings of all 0.96 s frames
  of all reconstructions and of all stimuli (no PCA, no final ReLU, as ``audioldm_eval``).
- **CLAP score**: mean cosine similarity between the CLAP embedding of each reconstruction and
  that of its stimulus (the paper defines no caption for these datasets; a text embedding can be
  passed as the reference instead).

Each subject is scored on its own test set; :func:`average_across_subjects` then averages the
per-subject rows, as the paper does. The models load from local weight files named in config;
a missing file or a file of the wrong shape is an :class:`~audiobrain.io.InputError` naming the
config key.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import pickle
import sys
import types
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import librosa
import numpy as np
import pandas as pd
import torch
from scipy.special import expit, softmax, xlogy

from audiobrain.io import InputError, load_torch
from audiobrain.recon.clap import clap_audio_embeddings
from audiobrain.recon.vocoder import load_checked_state_dict
from audiobrain.ridge import pearson_r

log = logging.getLogger(__name__)

METRIC_COLUMNS = ("pcc", "psnr", "fd", "fad", "kl", "clap")  # Tables 1-3 of the paper
EVAL_SR_HZ = 16_000  # appendix A.1: all stimuli resampled to 16 kHz; audioldm_eval at 16 kHz

# Mel of PCC/PSNR: audioldm_eval's TacotronSTFT(512, 160, 512, 64, 16000, 50, 8000) at 16 kHz.
EVAL_MEL_N_FFT = 512
EVAL_MEL_HOP = 160
EVAL_MEL_N_MELS = 64
EVAL_MEL_FMIN_HZ = 50.0
EVAL_MEL_FMAX_HZ = 8000.0
EVAL_MEL_FLOOR = 1e-5  # magnitude floor before log10
EVAL_MEL_REF_DB = 20.0  # dB offset of audioldm_eval's normalisation: (20 log10 m - 20 + 100) / 100
EVAL_MEL_MIN_DB = -100.0
EVAL_MEL_DATA_RANGE = 1.0  # mels normalised to [0, 1]

# PANNs CNN14 at 16 kHz (Kong et al., 2020b; audioldm_eval's 16 kHz evaluation model).
PANNS_16K = {
    "sample_rate": 16_000,
    "window_size": 512,
    "hop_size": 160,
    "mel_bins": 64,
    "fmin": 50,
    "fmax": 8000,
    "classes_num": 527,
}
PANNS_MIN_SAMPLES = 32_000  # audioldm_eval pads clips shorter than 2 s at 16 kHz
KL_EPS = 1e-6  # audioldm_eval: added to the predicted probabilities before the log

VGGISH_SR_HZ = 16_000  # VGGish input rate (vggish_params.SAMPLE_RATE)
VGGISH_MIN_S = 0.98  # one 0.96 s example needs 96 frames of 25 ms / 10 ms: 0.975 s of audio

_PANNS_PACKAGE = "_audiobrain_panns_inference"


# ---------------------------------------------------------------------------------------------
# PCC and PSNR on mel-spectrograms


def evaluation_mel(waveform: np.ndarray, sr_hz: int) -> np.ndarray:
    """The mel-spectrogram PCC and PSNR compare: ``(n_frames, 64)`` in [0, 1] at 100 frames/s."""
    waveform = _mono(waveform, "evaluation_mel")
    waveform = waveform - waveform.mean()
    waveform = np.clip(_resampled(waveform, sr_hz, EVAL_SR_HZ), -1.0, 1.0)
    spectrum = librosa.stft(
        waveform,
        n_fft=EVAL_MEL_N_FFT,
        hop_length=EVAL_MEL_HOP,
        win_length=EVAL_MEL_N_FFT,
        window="hann",
        center=True,
        pad_mode="reflect",
    )
    filters = librosa.filters.mel(
        sr=EVAL_SR_HZ,
        n_fft=EVAL_MEL_N_FFT,
        n_mels=EVAL_MEL_N_MELS,
        fmin=EVAL_MEL_FMIN_HZ,
        fmax=EVAL_MEL_FMAX_HZ,
    )
    decibels = 20.0 * np.log10(np.maximum(filters @ np.abs(spectrum), EVAL_MEL_FLOOR))
    scaled = (decibels - EVAL_MEL_REF_DB - EVAL_MEL_MIN_DB) / -EVAL_MEL_MIN_DB
    return np.clip(scaled, 0.0, 1.0).T.astype(np.float32)


def aligned_pair(mel_a: np.ndarray, mel_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two ``(n_frames, n_mels)`` mels cut to the shorter one (aligned at the first frame)."""
    mel_a, mel_b = np.asarray(mel_a, dtype=np.float64), np.asarray(mel_b, dtype=np.float64)
    if mel_a.ndim != 2 or mel_b.ndim != 2 or mel_a.shape[1] != mel_b.shape[1]:
        raise InputError(
            f"mel pair: expected two (n_frames, n_mels) arrays with the same n_mels, got "
            f"{mel_a.shape} and {mel_b.shape}"
        )
    n_frames = min(len(mel_a), len(mel_b))
    if n_frames == 0:
        raise InputError("mel pair: one of the mel-spectrograms has no frames")
    return mel_a[:n_frames], mel_b[:n_frames]


def mel_pcc(mel_recon: np.ndarray, mel_ref: np.ndarray) -> float:
    """Pearson's r over all time-frequency bins of one aligned pair (0 when one is constant)."""
    a, b = aligned_pair(mel_recon, mel_ref)
    return float(pearson_r(a.ravel(), b.ravel()))


def mel_psnr(
    mel_recon: np.ndarray, mel_ref: np.ndarray, data_range: float = EVAL_MEL_DATA_RANGE
) -> float:
    """Peak signal-to-noise ratio in dB of one aligned pair: ``10 log10(range^2 / MSE)``."""
    a, b = aligned_pair(mel_recon, mel_ref)
    mse = float(np.mean((a - b) ** 2))
    return float("inf") if mse == 0 else float(10.0 * np.log10(data_range**2 / mse))


# ---------------------------------------------------------------------------------------------
# Frechet distance, KL divergence, CLAP score


def gaussian_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``(d,)`` and unbiased covariance ``(d, d)`` of ``(n_samples, d)`` features."""
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or len(features) < 2:
        raise InputError(
            f"Frechet distance: expected (n_samples >= 2, n_features) embeddings, got "
            f"{features.shape}"
        )
    return features.mean(axis=0), np.cov(features, rowvar=False)


def frechet_distance_from_stats(
    mu_a: np.ndarray, sigma_a: np.ndarray, mu_b: np.ndarray, sigma_b: np.ndarray
) -> float:
    """``||mu_a - mu_b||^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2))`` of two Gaussians.

    ``tr (S_a S_b)^(1/2)`` is the sum of the square roots of the eigenvalues of
    ``S_a^(1/2) S_b S_a^(1/2)`` (similar to ``S_a S_b``, and symmetric positive semi-definite), so
    two symmetric eigen-decompositions replace the general matrix square root: stable when the
    covariances are singular (fewer clips than embedding dimensions) and fast at d = 2048.
    """
    mu_a, mu_b = np.atleast_1d(mu_a), np.atleast_1d(mu_b)
    sigma_a, sigma_b = np.atleast_2d(sigma_a), np.atleast_2d(sigma_b)
    if mu_a.shape != mu_b.shape or sigma_a.shape != sigma_b.shape:
        raise InputError(
            f"Frechet distance: feature dimensions differ ({mu_a.shape} vs {mu_b.shape})"
        )
    values, vectors = np.linalg.eigh(sigma_a)
    root_a = (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T
    product = root_a @ sigma_b @ root_a
    eigenvalues = np.linalg.eigvalsh((product + product.T) / 2.0)
    trace_root = np.sqrt(np.clip(eigenvalues, 0.0, None)).sum()
    diff = mu_a - mu_b
    distance = diff @ diff + np.trace(sigma_a) + np.trace(sigma_b) - 2.0 * trace_root
    return float(max(distance, 0.0))


def frechet_distance(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to two ``(n_samples, d)`` embedding sets.

    With fewer samples than dimensions (150-600 test clips against CNN14's 2048), the covariances
    ``X_a' X_a / (n_a - 1)`` are low-rank and the work moves to sample space:
    ``tr (S_a S_b)^(1/2)`` is the sum of the singular values of ``X_a X_b'`` (centred features)
    over ``sqrt((n_a - 1)(n_b - 1))``, because ``S_a S_b`` and ``X_a X_b' X_b X_a'`` share their
    non-zero eigenvalues. Otherwise :func:`frechet_distance_from_stats` is used; both give the
    same number.
    """
    mu_a, sigma_a = gaussian_stats(features_a)
    if max(len(features_a), len(features_b)) >= mu_a.size:
        return frechet_distance_from_stats(mu_a, sigma_a, *gaussian_stats(features_b))
    a = np.asarray(features_a, dtype=np.float64)
    b = np.asarray(features_b, dtype=np.float64)
    if b.ndim != 2 or len(b) < 2 or b.shape[1] != a.shape[1]:
        raise InputError(
            f"Frechet distance: expected (n_samples >= 2, {a.shape[1]}) embeddings, got {b.shape}"
        )
    centred_a, centred_b = a - a.mean(axis=0), b - b.mean(axis=0)
    scale_a, scale_b = len(a) - 1.0, len(b) - 1.0
    cross = np.linalg.svd(centred_a @ centred_b.T, compute_uv=False).sum()
    trace_root = cross / np.sqrt(scale_a * scale_b)
    diff = a.mean(axis=0) - b.mean(axis=0)
    distance = (
        diff @ diff
        + np.sum(centred_a**2) / scale_a
        + np.sum(centred_b**2) / scale_b
        - 2.0 * trace_root
    )
    return float(max(distance, 0.0))


def kl_divergence(logits_recon: np.ndarray, logits_ref: np.ndarray, kind: str = "softmax") -> float:
    """Mean over pairs of ``KL(p_ref || p_recon)`` from classifier logits ``(n_pairs, n_classes)``.

    ``kind="softmax"``: class distributions by softmax (``audioldm_eval``'s "KL");
    ``kind="sigmoid"``: the same sum over per-class sigmoid outputs ("KL_Sigmoid").
    """
    logits_recon = np.asarray(logits_recon, dtype=np.float64)
    logits_ref = np.asarray(logits_ref, dtype=np.float64)
    if logits_recon.shape != logits_ref.shape or logits_recon.ndim != 2:
        raise InputError(
            f"KL: expected paired logits of one shape (n_pairs, n_classes), got "
            f"{logits_recon.shape} and {logits_ref.shape}"
        )
    if kind == "softmax":
        p_recon, p_ref = softmax(logits_recon, axis=1), softmax(logits_ref, axis=1)
    elif kind == "sigmoid":
        p_recon, p_ref = expit(logits_recon), expit(logits_ref)
    else:
        raise InputError(f"KL: kind must be 'softmax' or 'sigmoid', got {kind!r}")
    pointwise = xlogy(p_ref, p_ref) - p_ref * np.log(p_recon + KL_EPS)
    return float(pointwise.sum() / len(p_ref))


def clap_score(embeddings_recon: np.ndarray, embeddings_ref: np.ndarray) -> float:
    """Mean cosine similarity of paired CLAP embeddings ``(n, d)`` (or one ``(d,)`` reference)."""
    recon = np.atleast_2d(np.asarray(embeddings_recon, dtype=np.float64))
    ref = np.asarray(embeddings_ref, dtype=np.float64)
    ref = np.broadcast_to(ref, recon.shape) if ref.ndim == 1 else ref
    if ref.shape != recon.shape:
        raise InputError(
            f"CLAP score: expected paired embeddings of one shape, got {recon.shape} and "
            f"{ref.shape}"
        )
    norms = np.linalg.norm(recon, axis=1) * np.linalg.norm(ref, axis=1)
    if np.any(norms == 0):
        raise InputError("CLAP score: an embedding has zero norm")
    return float(np.mean(np.sum(recon * ref, axis=1) / norms))


# ---------------------------------------------------------------------------------------------
# PANNs CNN14


def panns_models_module() -> types.ModuleType:
    """``panns_inference.models`` imported without running the package's ``__init__``.

    ``import panns_inference`` runs its ``config.py``, which shells out to ``wget`` to fetch the
    AudioSet label list into ``~/panns_data`` and fails offline. The model definitions need none of
    that, so ``models.py`` (and its sibling ``pytorch_utils.py``) are loaded under a private
    package name that points at the installed folder.
    """
    name = f"{_PANNS_PACKAGE}.models"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec("panns_inference")
    if spec is None or not spec.submodule_search_locations:
        raise InputError("PANNs CNN14 needs the panns-inference package (pip install it)")
    root = Path(next(iter(spec.submodule_search_locations)))
    package = types.ModuleType(_PANNS_PACKAGE)
    package.__path__ = [str(root)]
    sys.modules[_PANNS_PACKAGE] = package
    module_spec = importlib.util.spec_from_file_location(name, root / "models.py")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    try:
        module_spec.loader.exec_module(module)
    except Exception:
        del sys.modules[name]
        raise
    return module


def panns_cnn14(**front_end) -> torch.nn.Module:
    """A randomly initialised ``panns_inference.models.Cnn14`` (default: the 16 kHz model)."""
    settings = {**PANNS_16K, **front_end}
    return panns_models_module().Cnn14(**settings)


def load_panns_cnn14(
    checkpoint: str | os.PathLike | None,
    *,
    config_key: str = "recon.models.panns",
    **front_end,
) -> torch.nn.Module:
    """PANNs CNN14 (eval mode) with weights from a local checkpoint (``{"model": state_dict}``).

    ``front_end`` overrides :data:`PANNS_16K` (e.g. the 32 kHz ``Cnn14_mAP=0.431.pth`` needs
    ``sample_rate=32000, window_size=1024, hop_size=320, fmax=14000``).
    """
    state = _read_state_dict(checkpoint, config_key, nested_key="model")
    model = panns_cnn14(**front_end)
    load_checked_state_dict(model, state, f"{config_key} ({checkpoint})")
    return model.eval()


def panns_outputs(
    model: torch.nn.Module,
    waveforms: Sequence[np.ndarray],
    sr_hz: int,
    model_sr_hz: int = PANNS_16K["sample_rate"],
    batch_size: int = 8,
) -> tuple[np.ndarray, np.ndarray]:
    """CNN14 clip embeddings ``(n, 2048)`` and class logits ``(n, 527)``, one row per clip.

    Each clip has its mean removed, is resampled to the model's rate and zero-padded to 2 s when
    shorter (``audioldm_eval``); ``model_sr_hz`` is the rate the model was built for. The
    embedding is CNN14's ``relu(fc1(.))`` output and the logits are ``fc_audioset`` of it (the
    pre-sigmoid class scores).
    """
    min_samples = round(PANNS_MIN_SAMPLES * model_sr_hz / EVAL_SR_HZ)
    clips = []
    for index, waveform in enumerate(waveforms):
        waveform = _mono(waveform, f"panns_outputs: clip {index}")
        waveform = _resampled(waveform - waveform.mean(), sr_hz, model_sr_hz)
        clips.append(np.pad(waveform, (0, max(0, min_samples - waveform.size))))
    embeddings, logits = _batched_by_length(clips, batch_size, lambda x: _cnn14_forward(model, x))
    return embeddings, logits


def _cnn14_forward(model: torch.nn.Module, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    parameter = next(model.parameters())
    with torch.inference_mode():
        output = model(torch.from_numpy(batch).to(parameter.device, parameter.dtype))
        embedding = output["embedding"]
        logits = model.fc_audioset(embedding)
    return embedding.float().cpu().numpy(), logits.float().cpu().numpy()


# ---------------------------------------------------------------------------------------------
# VGGish


def vggish_model() -> torch.nn.Module:
    """A randomly initialised VGGish (``torchvggish``'s ``VGG``, no PCA post-processing)."""
    from torchvggish.torchvggish import VGG, make_layers

    return VGG(make_layers(), postprocess=False)


def load_vggish(
    checkpoint: str | os.PathLike | None, *, config_key: str = "recon.models.vggish"
) -> torch.nn.Module:
    """VGGish (eval mode) from the official PyTorch port's state dict (``vggish-10086976.pth``).

    The port's names are ``features.{0,3,6,8,11,13}.{weight,bias}`` (convolutions) and
    ``embeddings.{0,2,4}.{weight,bias}`` (fully connected), the names of ``torchvggish``'s ``VGG``.
    """
    state = _read_state_dict(checkpoint, config_key, nested_key=None)
    model = vggish_model()
    load_checked_state_dict(model, state, f"{config_key} ({checkpoint})")
    return model.eval()


def vggish_embeddings(
    model: torch.nn.Module, waveforms: Sequence[np.ndarray], sr_hz: int
) -> np.ndarray:
    """VGGish embeddings ``(n_frames_total, 128)`` of every 0.96 s frame of every clip.

    Clips are resampled to 16 kHz (soxr) and zero-padded to one frame when shorter; the log-mel
    examples come from ``torchvggish.vggish_input``; the embedding is taken before the final ReLU
    and without PCA (``audioldm_eval``'s FAD settings).
    """
    from torchvggish.vggish_input import waveform_to_examples

    min_samples = int(np.ceil(VGGISH_MIN_S * VGGISH_SR_HZ))
    parameter = next(model.parameters())
    rows = []
    for index, waveform in enumerate(waveforms):
        waveform = _resampled(
            _mono(waveform, f"vggish_embeddings: clip {index}"), sr_hz, VGGISH_SR_HZ
        )
        waveform = np.pad(waveform, (0, max(0, min_samples - waveform.size)))
        examples = waveform_to_examples(waveform, VGGISH_SR_HZ, return_tensor=False)
        batch = torch.from_numpy(np.asarray(examples, dtype=np.float32))[:, None]
        with torch.inference_mode():
            features = model.features(batch.to(parameter.device, parameter.dtype))
            # The port's layout: (n, channels, time, freq) -> (n, time, freq, channels), flattened.
            flat = features.permute(0, 2, 3, 1).reshape(len(batch), -1)
            embedding = model.embeddings[:-1](flat)
        rows.append(embedding.float().cpu().numpy())
    if not rows:
        raise InputError("vggish_embeddings: no waveforms given")
    return np.concatenate(rows, axis=0)


# ---------------------------------------------------------------------------------------------
# Everything together


@dataclass
class EvaluationModels:
    """The three evaluation networks (CLAP optional: without it the CLAP score is NaN)."""

    panns: torch.nn.Module
    vggish: torch.nn.Module
    clap_model: object | None = None
    clap_processor: object | None = None


@dataclass
class AudioFeatures:
    """Everything the metrics need from one set of clips (computed once, reused per comparison).

    Attributes
    ----------
    mels : per clip ``(n_frames, 64)`` evaluation mel (:func:`evaluation_mel`).
    panns_embeddings : ``(n_clips, 2048)``; panns_logits : ``(n_clips, 527)``.
    vggish : ``(n_frames_total, 128)`` VGGish frame embeddings.
    clap : ``(n_clips, d)`` unit-norm CLAP audio embeddings, or None.
    """

    mels: list[np.ndarray]
    panns_embeddings: np.ndarray
    panns_logits: np.ndarray
    vggish: np.ndarray
    clap: np.ndarray | None


def audio_features(
    waveforms: Sequence[np.ndarray], sr_hz: int, models: EvaluationModels
) -> AudioFeatures:
    """Compute :class:`AudioFeatures` of clips at ``sr_hz`` with the evaluation models."""
    waveforms = list(waveforms)
    if not waveforms:
        raise InputError("audio_features: no waveforms given")
    embeddings, logits = panns_outputs(models.panns, waveforms, sr_hz)
    clap = None
    if models.clap_model is not None:
        clap = clap_audio_embeddings(models.clap_model, models.clap_processor, waveforms, sr_hz)
    return AudioFeatures(
        mels=[evaluation_mel(w, sr_hz) for w in waveforms],
        panns_embeddings=embeddings,
        panns_logits=logits,
        vggish=vggish_embeddings(models.vggish, waveforms, sr_hz),
        clap=clap,
    )


def reconstruction_metrics(
    recon: AudioFeatures,
    stimulus: AudioFeatures,
    clap_reference: np.ndarray | None = None,
    kl_kind: str = "softmax",
) -> dict[str, float]:
    """The six metrics of one subject's test set: reconstructions vs their stimuli (paired).

    ``clap_reference`` replaces the stimuli's CLAP audio embeddings as the CLAP-score reference
    (e.g. text embeddings of the clips' prompts), ``(n_clips, d)`` or ``(d,)``.
    """
    if len(recon.mels) != len(stimulus.mels):
        raise InputError(
            f"metrics: {len(recon.mels)} reconstructions but {len(stimulus.mels)} stimuli; "
            "they are compared pair by pair"
        )
    pcc = [mel_pcc(a, b) for a, b in zip(recon.mels, stimulus.mels, strict=True)]
    psnr = np.array([mel_psnr(a, b) for a, b in zip(recon.mels, stimulus.mels, strict=True)])
    finite = np.isfinite(psnr)
    if not finite.all():
        log.warning("PSNR: %d identical pair(s) left out of the mean", int((~finite).sum()))
    reference = stimulus.clap if clap_reference is None else clap_reference
    clap = (
        clap_score(recon.clap, reference)
        if recon.clap is not None and reference is not None
        else float("nan")
    )
    return {
        "pcc": float(np.mean(pcc)),
        "psnr": float(psnr[finite].mean()) if finite.any() else float("inf"),
        "fd": frechet_distance(recon.panns_embeddings, stimulus.panns_embeddings),
        "fad": frechet_distance(recon.vggish, stimulus.vggish),
        "kl": kl_divergence(recon.panns_logits, stimulus.panns_logits, kind=kl_kind),
        "clap": clap,
    }


def average_across_subjects(
    table: pd.DataFrame,
    group_by: Sequence[str] = ("method", "prompt", "p_gt"),
    metrics: Sequence[str] = METRIC_COLUMNS,
) -> pd.DataFrame:
    """Per-subject metric rows averaged across subjects (section 3.1), one row per group.

    ``table`` has a ``subject`` column, the ``group_by`` columns and the metric columns; the result
    has the ``group_by`` columns, the mean of each metric, and ``n_subjects``.
    """
    needed = ["subject", *group_by, *metrics]
    missing = [column for column in needed if column not in table.columns]
    if missing:
        raise InputError(f"metrics table: missing columns {missing} (has {list(table.columns)})")
    duplicated = table.duplicated(subset=["subject", *group_by])
    if duplicated.any():
        first = table.loc[duplicated, ["subject", *group_by]].iloc[0].to_dict()
        raise InputError(f"metrics table: more than one row for {first}")
    grouped = table.groupby(list(group_by), sort=False, dropna=False)
    summary = grouped[list(metrics)].mean()
    summary["n_subjects"] = grouped["subject"].nunique()
    return summary.reset_index()


# ---------------------------------------------------------------------------------------------
# helpers


def _mono(waveform: np.ndarray, what: str) -> np.ndarray:
    waveform = np.asarray(waveform, dtype=np.float64)
    if waveform.ndim != 1 or waveform.size == 0:
        raise InputError(
            f"{what}: expected a non-empty mono waveform (n_samples,), got {waveform.shape}"
        )
    return waveform


def _resampled(waveform: np.ndarray, sr_hz: int, target_hz: int) -> np.ndarray:
    if sr_hz == target_hz:
        return waveform
    return librosa.resample(waveform, orig_sr=sr_hz, target_sr=target_hz, res_type="soxr_hq")


def _batched_by_length(clips: list[np.ndarray], batch_size: int, forward):
    """Run ``forward`` on batches of equal-length clips; rows come back in the clips' order."""
    order = sorted(range(len(clips)), key=lambda i: (clips[i].size, i))
    outputs: dict[int, tuple[np.ndarray, ...]] = {}
    start = 0
    while start < len(order):
        size = clips[order[start]].size
        stop = start
        while stop < len(order) and stop - start < batch_size and clips[order[stop]].size == size:
            stop += 1
        indices = order[start:stop]
        results = forward(np.stack([clips[i] for i in indices]).astype(np.float32))
        for row, index in enumerate(indices):
            outputs[index] = tuple(result[row] for result in results)
        start = stop
    return tuple(np.stack([outputs[i][k] for i in range(len(clips))]) for k in range(2))


def _read_state_dict(
    checkpoint: str | os.PathLike | None, config_key: str, nested_key: str | None
) -> dict[str, torch.Tensor]:
    if checkpoint is None or str(checkpoint) == "":
        raise InputError(f"{config_key}: no weight file given")
    path = Path(checkpoint)
    if not path.is_file():
        raise InputError(f"{config_key}: weight file {path} does not exist")
    expected = f"a torch checkpoint ({config_key})"
    try:
        payload = load_torch(path, expected)
    except InputError as error:
        if not isinstance(error.__cause__, pickle.UnpicklingError):
            raise
        # Released training checkpoints may pickle more than tensors (iteration counters, numpy
        # scalars); the file is a local one the user named, so the full unpickler is acceptable.
        payload = load_torch(path, expected, trusted=True)
    if nested_key is not None and isinstance(payload, dict) and nested_key in payload:
        payload = payload[nested_key]
    if not isinstance(payload, dict) or not all(
        isinstance(v, torch.Tensor) for v in payload.values()
    ):
        where = f" under the key {nested_key!r}" if nested_key else ""
        raise InputError(f"{config_key}: {path} holds no state dict{where}")
    return dict(payload)
