"""CLAP (Wu et al., 2023) audio and text embeddings: the semantic space of section 2.1.1.

The model is transformers' ``ClapModel`` with its ``ClapProcessor`` (e.g. the
``laion/clap-htsat-unfused`` checkpoint, 512-d joint embedding), loaded from a local folder or the
local Hugging Face cache with ``local_files_only=True``: nothing is downloaded.

Audio is resampled to the feature extractor's rate (48 kHz for CLAP). Clips longer than the
extractor's window (10 s) are cut to their first 10 s here, because the extractor would otherwise
pick a random crop from numpy's global generator; clips shorter than the window are repeated and
padded by the extractor as in CLAP's training ("repeatpad"). Embeddings are the projected,
L2-normalised features (unit norm), so a dot product is a cosine similarity.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import librosa
import numpy as np
import torch
from transformers import ClapModel, ClapProcessor

from audiobrain.io import InputError, is_local_path

CLAP_SAMPLE_RATE_HZ = 48_000  # CLAP's audio encoder input rate (issue 4; Wu et al., 2023)
DEFAULT_BATCH_SIZE = 8


def load_clap(
    path: str | os.PathLike,
    *,
    cache_dir: str | os.PathLike | None = None,
    config_key: str = "recon.clap.path",
) -> tuple[ClapModel, ClapProcessor]:
    """A ``ClapModel`` (eval mode) and its ``ClapProcessor`` from a folder or the local HF cache.

    Parameters
    ----------
    path : a folder written by ``save_pretrained`` (model and processor), or a repository id such
        as ``laion/clap-htsat-unfused`` already in the local Hugging Face cache.
    cache_dir : the Hugging Face cache to look in (default: the user's cache).
    config_key : the config key ``path`` came from, named in errors.
    """
    if path is None or str(path) == "":
        raise InputError(f"{config_key}: no CLAP model given (a folder or a cached model id)")
    location = Path(path)
    if not location.exists() and is_local_path(path):
        raise InputError(f"{config_key}: CLAP model folder {location} does not exist")
    if location.is_dir() and not (location / "config.json").is_file():
        raise InputError(
            f"{config_key}: {location} has no config.json; expected a folder written by "
            "ClapModel.save_pretrained and ClapProcessor.save_pretrained"
        )
    options = {"local_files_only": True, "cache_dir": None if cache_dir is None else str(cache_dir)}
    try:
        model = ClapModel.from_pretrained(str(path), **options)
        processor = ClapProcessor.from_pretrained(str(path), **options)
    except (OSError, ValueError, TypeError) as error:
        raise InputError(
            f"{config_key}: cannot load a CLAP model and processor from {path} (a folder or a "
            f"model in the local Hugging Face cache) ({error})"
        ) from error
    model.eval()
    return model, processor


def clap_audio_embeddings(
    model: ClapModel,
    processor: ClapProcessor,
    waveforms: Sequence[np.ndarray],
    sr_hz: int,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> np.ndarray:
    """CLAP audio embeddings, one per clip.

    Parameters
    ----------
    waveforms : mono clips ``(n_samples,)`` (lengths may differ), values in [-1, 1].
    sr_hz : their sample rate; resampled to the extractor's rate (48 kHz) with soxr.
    batch_size : clips per forward pass; the result does not depend on it.

    Returns
    -------
    ``(n_clips, projection_dim)`` float32, unit L2 norm per row (512-d for the real model).
    """
    extractor = processor.feature_extractor
    target_hz = int(extractor.sampling_rate)
    clips = [
        _prepared_clip(w, sr_hz, target_hz, extractor.nb_max_samples, i)
        for i, w in enumerate(waveforms)
    ]
    if not clips:
        raise InputError("clap_audio_embeddings: no waveforms given")
    parameter = next(model.parameters())
    rows = []
    for start in range(0, len(clips), batch_size):
        batch = clips[start : start + batch_size]
        inputs = extractor(batch, sampling_rate=target_hz, return_tensors="pt")
        # The real flag (no clip is longer than the window after the cut above): the extractor
        # marks a random clip "longer" for fusion models, from numpy's global generator.
        is_longer = torch.zeros((len(batch), 1), dtype=torch.bool)
        with torch.inference_mode():
            output = model.get_audio_features(
                input_features=inputs["input_features"].to(parameter.device, parameter.dtype),
                is_longer=is_longer.to(parameter.device),
            )
        rows.append(_unit_rows(output))
    return np.concatenate(rows, axis=0)


def clap_text_embeddings(
    model: ClapModel,
    processor: ClapProcessor,
    texts: Sequence[str],
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> np.ndarray:
    """CLAP text embeddings of prompts such as ``"rock music"`` or ``"woman speaking"``.

    Returns
    -------
    ``(n_texts, projection_dim)`` float32, unit L2 norm per row.
    """
    texts = [str(text) for text in texts]
    if not texts or any(not text.strip() for text in texts):
        raise InputError(f"clap_text_embeddings: expected non-empty prompts, got {texts!r}")
    parameter = next(model.parameters())
    rows = []
    for start in range(0, len(texts), batch_size):
        tokens = processor.tokenizer(
            texts[start : start + batch_size], padding=True, return_tensors="pt"
        )
        with torch.inference_mode():
            output = model.get_text_features(
                input_ids=tokens["input_ids"].to(parameter.device),
                attention_mask=tokens["attention_mask"].to(parameter.device),
            )
        rows.append(_unit_rows(output))
    return np.concatenate(rows, axis=0)


def _prepared_clip(
    waveform: np.ndarray, sr_hz: int, target_hz: int, max_samples: int, index: int
) -> np.ndarray:
    waveform = np.asarray(waveform, dtype=np.float64)
    if waveform.ndim != 1 or waveform.size == 0:
        raise InputError(
            f"clap_audio_embeddings: clip {index} must be a non-empty mono waveform "
            f"(n_samples,), got shape {waveform.shape}"
        )
    if sr_hz != target_hz:
        waveform = librosa.resample(
            waveform, orig_sr=sr_hz, target_sr=target_hz, res_type="soxr_hq"
        )
    return waveform[:max_samples]


def _unit_rows(output) -> np.ndarray:
    # transformers >= 5 returns a model output whose pooler_output holds the projected features;
    # 4.x returned the tensor itself. Normalising again is harmless (already unit norm).
    features = output if isinstance(output, torch.Tensor) else output.pooler_output
    features = torch.nn.functional.normalize(features.float(), dim=-1)
    return features.cpu().numpy().astype(np.float32)
