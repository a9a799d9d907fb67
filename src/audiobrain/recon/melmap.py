"""The C2F-Decoder's mel mapping (appendix A.4): AudioMAE-decoder mels -> vocoder mels.

The AudioMAE decoder outputs 128 Kaldi mel bands at 100 frames/s; the vocoder wants its own mel
(e.g. 64 bands, hop 160 at 16 kHz for AudioLDM2's HiFi-GAN). The paper assumes the two are
linearly related and fits "an L2-regularized linear regression model trained on m^A and m^V of
the stimulus audio in the training set", reporting the test PCC (0.938 on Brain2Sound, 0.967 on
Brain2Music and Brain2Speech).

Frame alignment (the paper does not say): frames are matched by time, not by index. Each
vocoder frame is given the AudioMAE mel linearly interpolated at the vocoder frame's centre
(Kaldi ``snip_edges`` frames are centred 12.5 ms after their start; a centred STFT's frame j at
``j * hop / sr``; HiFi-GAN's padded frames half a hop later), clamped to the first / last
AudioMAE frame. Aligning by time rather than stretching one frame count onto the other keeps
AudioMAE's padding to 1024 frames (10.24 s) out of the map. Then one ridge, shared by all frames,
maps the 128 bands of a frame to the vocoder's bands (an unpenalised intercept, scikit-learn's
``Ridge`` criterion), fitted from sufficient statistics accumulated clip by clip.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from audiobrain.io import InputError
from audiobrain.recon.audiomae import FRAME_LENGTH_MS, FRAME_SHIFT_MS, N_MELS
from audiobrain.recon.metrics import mel_pcc

#: AudioMAE frame rate (section 2.1: a 10 ms shift) and the centre of its first frame (25 ms
#: Kaldi window, ``snip_edges``).
AUDIOMAE_FRAME_RATE_HZ = 1000.0 / FRAME_SHIFT_MS
AUDIOMAE_FIRST_FRAME_S = FRAME_LENGTH_MS / 2000.0


@dataclass(frozen=True)
class FrameTiming:
    """Frame ``j`` of a spectrogram is centred at ``first_frame_s + j / frame_rate_hz`` seconds."""

    frame_rate_hz: float
    first_frame_s: float = 0.0

    def times(self, n_frames: int) -> np.ndarray:
        return self.first_frame_s + np.arange(n_frames) / self.frame_rate_hz


AUDIOMAE_TIMING = FrameTiming(AUDIOMAE_FRAME_RATE_HZ, AUDIOMAE_FIRST_FRAME_S)


def vocoder_timing(mel_config: Any) -> FrameTiming:
    """Frame timing of a :class:`~audiobrain.recon.vocoder.VocoderMel` front end.

    Centred frames (reflect padding by ``n_fft / 2``) are centred at ``j * hop``; HiFi-GAN's
    (padding ``(n_fft - hop) / 2``, uncentred) at ``j * hop + hop / 2`` samples.
    """
    rate = mel_config.sr_hz / mel_config.hop_length
    first = 0.5 / rate if mel_config.hifigan_padding else 0.0
    return FrameTiming(rate, first)


@dataclass(frozen=True)
class MelMapping:
    """A fitted mel mapping: ``m^V[:, t] = coef.T @ aligned_m^A[:, t] + intercept``.

    Attributes
    ----------
    coef : (128, n_mels_v); intercept : (n_mels_v,); alpha : the L2 penalty.
    vocoder : frame timing of the vocoder mels it was fitted on.
    """

    coef: np.ndarray
    intercept: np.ndarray
    alpha: float
    vocoder: FrameTiming


def align_audiomae_mel(
    audiomae_mel: Any,
    n_frames: int,
    vocoder: FrameTiming,
    audiomae: FrameTiming = AUDIOMAE_TIMING,
) -> np.ndarray:
    """The AudioMAE mel (128, T_a) interpolated at the centres of ``n_frames`` vocoder frames.

    Returns
    -------
    (128, n_frames) float64.
    """
    mel = _mel("audiomae_mel", audiomae_mel, N_MELS)
    position = (vocoder.times(n_frames) - audiomae.first_frame_s) * audiomae.frame_rate_hz
    position = np.clip(position, 0.0, mel.shape[1] - 1)
    low = np.floor(position).astype(int)
    high = np.minimum(low + 1, mel.shape[1] - 1)
    weight = position - low
    return mel[:, low] * (1.0 - weight) + mel[:, high] * weight


def fit_mel_mapping(
    audiomae_mels: Sequence[Any],
    vocoder_mels: Sequence[Any],
    alpha: float,
    vocoder: FrameTiming,
    audiomae: FrameTiming = AUDIOMAE_TIMING,
) -> MelMapping:
    """Fit the ridge from aligned AudioMAE frames to vocoder frames of the training stimuli.

    Parameters
    ----------
    audiomae_mels : per clip, (128, T_a) AudioMAE-decoder mel-spectrograms.
    vocoder_mels : per clip, (n_mels_v, T_v) vocoder mel-spectrograms of the same stimuli.
    alpha : non-negative L2 penalty on the weights (the intercept is not penalised).
    vocoder, audiomae : frame timings (:func:`vocoder_timing`, :data:`AUDIOMAE_TIMING`).
    """
    pairs = _aligned_pairs(audiomae_mels, vocoder_mels, vocoder, audiomae)
    if not np.isfinite(alpha) or alpha < 0:
        raise InputError(f"alpha: expected a finite non-negative penalty, got {alpha!r}")
    n_frames = sum(target.shape[1] for _, target in pairs)
    x_mean = sum(source.sum(1) for source, _ in pairs) / n_frames
    y_mean = sum(target.sum(1) for _, target in pairs) / n_frames
    gram = np.zeros((len(x_mean), len(x_mean)))
    cross = np.zeros((len(x_mean), len(y_mean)))
    for source, target in pairs:  # two passes: centred products, no cancellation
        source_c, target_c = source - x_mean[:, None], target - y_mean[:, None]
        gram += source_c @ source_c.T
        cross += source_c @ target_c.T
    gram[np.diag_indices_from(gram)] += alpha
    coef = np.linalg.solve(gram, cross)
    return MelMapping(coef, y_mean - x_mean @ coef, float(alpha), vocoder)


def apply_mel_mapping(
    mapping: MelMapping,
    audiomae_mel: Any,
    n_frames: int,
    audiomae: FrameTiming = AUDIOMAE_TIMING,
) -> np.ndarray:
    """One clip's vocoder mel (n_mels_v, n_frames) from its AudioMAE-decoder mel (128, T_a)."""
    if int(n_frames) < 1:
        raise InputError(f"n_frames: expected a positive number of vocoder frames, got {n_frames}")
    aligned = align_audiomae_mel(audiomae_mel, int(n_frames), mapping.vocoder, audiomae)
    return mapping.coef.T @ aligned + mapping.intercept[:, None]


def mel_mapping_pcc(
    mapping: MelMapping,
    audiomae_mels: Sequence[Any],
    vocoder_mels: Sequence[Any],
    audiomae: FrameTiming = AUDIOMAE_TIMING,
) -> float:
    """The paper's check (appendix A.4): PCC between mapped and true vocoder mels of test clips.

    Pearson's r over all time-frequency bins of each clip (the PCC of section 3.1,
    :func:`audiobrain.recon.metrics.mel_pcc`), averaged over clips.
    """
    if len(audiomae_mels) != len(vocoder_mels) or not audiomae_mels:
        raise InputError(
            f"mel mapping: expected the same non-zero number of AudioMAE and vocoder mels, got "
            f"{len(audiomae_mels)} and {len(vocoder_mels)}"
        )
    scores = []
    for index, (source, target) in enumerate(zip(audiomae_mels, vocoder_mels, strict=True)):
        target = _mel(f"vocoder_mels[{index}]", target, mapping.coef.shape[1])
        mapped = apply_mel_mapping(mapping, source, target.shape[1], audiomae)
        scores.append(mel_pcc(mapped.T, target.T))
    return float(np.mean(scores))


def _mel(name: str, values: Any, n_mels: int | None) -> np.ndarray:
    mel = np.asarray(values, dtype=np.float64)
    if mel.ndim != 2 or mel.shape[1] == 0 or (n_mels is not None and mel.shape[0] != n_mels):
        bands = "n_mels" if n_mels is None else n_mels
        raise InputError(f"{name}: expected a ({bands}, n_frames) mel-spectrogram, got {mel.shape}")
    if not np.isfinite(mel).all():
        raise InputError(f"{name}: expected finite values, found NaN/inf")
    return mel


def _aligned_pairs(audiomae_mels, vocoder_mels, vocoder, audiomae):
    if len(audiomae_mels) != len(vocoder_mels) or not audiomae_mels:
        raise InputError(
            f"mel mapping: expected one vocoder mel per AudioMAE mel (and at least one clip), "
            f"got {len(audiomae_mels)} AudioMAE and {len(vocoder_mels)} vocoder mels"
        )
    pairs = []
    n_mels_v = None
    for index, (source, target) in enumerate(zip(audiomae_mels, vocoder_mels, strict=True)):
        target = _mel(f"vocoder_mels[{index}]", target, n_mels_v)
        n_mels_v = target.shape[0]
        pairs.append((align_audiomae_mel(source, target.shape[1], vocoder, audiomae), target))
    return pairs
