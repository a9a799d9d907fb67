"""AudioMAE acoustic features and mel reconstructions (C2F-LDM, sections 2.1 and A.2).

The paper turns a 16 kHz stimulus into 128 Kaldi-compatible log-mel bands (25 ms Hann window,
10 ms shift), tiles the waveform to the 10 s AudioMAE was pretrained on, cuts the
``128 x 1024`` spectrogram into ``16 x 16`` patches, encodes all 512 patches without masking with
the frozen ViT-B encoder and keeps the first ``N_patch`` tokens as ``c_gt``; the AudioMAE decoder
(16 Swin-style blocks with shifted local attention) turns tokens back into patches, and its
reconstruction of ``c_gt`` is the upper bound ``m_upp``.

Everything follows the official implementation (facebookresearch/AudioMAE: ``dataset.py`` for the
features, ``models_mae.py`` and its patched timm ``swin_transformer.py`` for the model, the
pretraining defaults of ``main_pretrain.py``), written here in plain torch: timm would pull
torchvision, and torchaudio is not a dependency, so the Kaldi filterbank is implemented below.

Layouts: a spectrogram is ``(batch, 1, n_mels, n_frames)`` (mel bands first, like a vocoder mel);
internally AudioMAE works on ``(batch, 1, n_frames, n_mels)``, so patch ``k`` covers time column
``k // 8`` and mel row ``k % 8``: the first ``8 * n`` tokens are the first ``n`` columns, i.e. the
first ``n * 160`` ms of audio.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from audiobrain.io import InputError, load_torch

# --- Features (AudioMAE dataset.py; paper section 2.1) -------------------------------------------
SAMPLE_RATE_HZ = 16_000  # section A.1: all clips resampled to 16 kHz
FRAME_LENGTH_MS = 25.0  # section 2.1: 25 ms Hanning window
FRAME_SHIFT_MS = 10.0  # section 2.1: shifts every 10 ms
N_MELS = 128  # section 2.1: 128 Kaldi-compatible mel bands
KALDI_LOW_FREQ_HZ = 20.0  # Kaldi's default lowest mel edge (torchaudio's fbank default)
KALDI_PREEMPHASIS = 0.97  # Kaldi's default pre-emphasis coefficient
CLIP_S = 10.0  # section A.2: waveforms duplicated to 10 s
TARGET_FRAMES = 1024  # section A.2: 128 x 1024 mel-spectrograms (AudioSet target_length)
# AudioSet log-mel mean and standard deviation of the official repository (norm_stats['audioset']
# in main_pretrain.py); dataset.py normalises with (fbank - mean) / (2 * std).
AUDIOSET_MEAN = -4.2677393
AUDIOSET_STD = 4.5689974
# Section A.2 keeps N_patch = 208 / 80 / 112 tokens for 4 s / 1.5 s / 2 s clips. A time column of
# 8 patches covers 16 frames (160 ms); the clips need 25 / 10 / 13 columns (200 / 80 / 104
# patches), and the published numbers are those rounded up to whole pairs of columns (multiples
# of 16 patches). See n_patch_for_duration.
PATCH_COLUMN_MULTIPLE = 2

# --- Model (models_mae.mae_vit_base_patch16 with the pretraining defaults; section A.2) ---------
LAYER_NORM_EPS = 1e-6  # partial(nn.LayerNorm, eps=1e-6) in models_mae.py
SWIN_MASK_VALUE = -100.0  # additive attention mask between shifted regions (timm Swin)
TAU_MIN = 0.01  # lower clamp of the cosine-attention temperature (timm Swin V2 CR)
META_MLP_DROPOUT = 0.1  # dropout of the relative-position MLP (timm Swin V2 CR)
NORM_PIX_EPS = 1e-6  # norm_pix_loss: (patch - mean) / sqrt(var + 1e-6)
CHECKPOINT_CONFIG_KEY = "recon.models.audiomae.checkpoint"
MODEL_CONFIG_KEY = "recon.models.audiomae"


@dataclass(frozen=True)
class AudioMAEConfig:
    """Sizes of the AudioMAE encoder and decoder; the defaults are the paper's (section A.2).

    ``window`` and ``shift`` are the decoder's local-attention window and the cyclic shift of
    every odd block, in patches (time, mel). ``encoder_output`` picks what ``encode`` returns:
    ``"last"`` is the final block after the encoder norm (what the MAE decoder was trained on);
    ``"contextual"`` averages the normed outputs of blocks past ``contextual_depth``
    (``forward_encoder_no_mask`` of the official code, which AudioLDM2 conditions on).
    """

    embed_dim: int = 768  # ViT-B
    depth: int = 12
    num_heads: int = 12
    decoder_embed_dim: int = 512
    decoder_depth: int = 16
    decoder_num_heads: int = 16
    mlp_ratio: float = 4.0
    meta_hidden_dim: int = 384  # hidden units of the relative-position MLP
    window: tuple[int, int] = (4, 4)
    shift: tuple[int, int] = (2, 0)
    patch_size: int = 16
    n_mels: int = N_MELS
    n_frames: int = TARGET_FRAMES
    encoder_output: str = "last"
    contextual_depth: int = 8

    def __post_init__(self) -> None:
        object.__setattr__(self, "window", tuple(int(v) for v in self.window))
        object.__setattr__(self, "shift", tuple(int(v) for v in self.shift))
        for heads_key, dim_key in (
            ("num_heads", "embed_dim"),
            ("decoder_num_heads", "decoder_embed_dim"),
        ):
            if getattr(self, dim_key) % getattr(self, heads_key):
                raise InputError(
                    f"{MODEL_CONFIG_KEY}.{dim_key}: {getattr(self, dim_key)} is not divisible by "
                    f"{MODEL_CONFIG_KEY}.{heads_key} = {getattr(self, heads_key)}"
                )
        if self.embed_dim % 4 or self.decoder_embed_dim % 4:
            raise InputError(
                f"{MODEL_CONFIG_KEY}: the 2-D sine-cosine position embedding needs embedding "
                f"sizes divisible by 4; got {self.embed_dim} and {self.decoder_embed_dim}"
            )
        for key in ("n_mels", "n_frames"):
            if getattr(self, key) % self.patch_size:
                raise InputError(
                    f"{MODEL_CONFIG_KEY}.{key}: {getattr(self, key)} is not a multiple of "
                    f"patch_size {self.patch_size}"
                )
        if self.encoder_output not in ("last", "contextual"):
            raise InputError(
                f"{MODEL_CONFIG_KEY}.encoder_output: expected 'last' or 'contextual', "
                f"got {self.encoder_output!r}"
            )
        if self.encoder_output == "contextual" and not 0 <= self.contextual_depth < self.depth - 1:
            raise InputError(
                f"{MODEL_CONFIG_KEY}.contextual_depth: expected 0..{self.depth - 2} for "
                f"{self.depth} encoder blocks, got {self.contextual_depth}"
            )
        window, shift = _window_and_shift(self.grid, self.window, self.shift)
        if any(g % w for g, w in zip(self.grid, window, strict=True)):
            raise InputError(
                f"{MODEL_CONFIG_KEY}.window: {self.window} does not tile the patch grid "
                f"{self.grid} (time x mel)"
            )
        if any(s >= w for s, w in zip(shift, window, strict=True)):
            raise InputError(
                f"{MODEL_CONFIG_KEY}.shift: {self.shift} must be smaller than the window {window}"
            )

    @property
    def grid(self) -> tuple[int, int]:
        """Patch grid (time columns, mel rows): (64, 8) for 1024 frames x 128 bands."""
        return self.n_frames // self.patch_size, self.n_mels // self.patch_size

    @property
    def num_patches(self) -> int:
        return self.grid[0] * self.grid[1]

    @classmethod
    def from_mapping(cls, values: Mapping | None) -> AudioMAEConfig:
        """Build from the ``recon.models.audiomae`` config section; unknown keys are an error.

        Keys that do not describe the model (``checkpoint``) are ignored.
        """
        values = dict(values or {})
        values.pop("checkpoint", None)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise InputError(
                f"{MODEL_CONFIG_KEY}: unknown keys {unknown}; expected some of {sorted(known)}"
            )
        return cls(**values)


# ------------------------------------------------------------------------------------------------
# Kaldi filterbank and the AudioMAE input
# ------------------------------------------------------------------------------------------------


def mel_scale(freq_hz: np.ndarray | float) -> np.ndarray:
    """Kaldi's (HTK's) mel scale, ``1127 ln(1 + f / 700)``."""
    return 1127.0 * np.log1p(np.asarray(freq_hz, dtype=np.float64) / 700.0)


def kaldi_mel_banks(
    n_mels: int,
    n_fft: int,
    sr_hz: float,
    low_freq_hz: float = KALDI_LOW_FREQ_HZ,
    high_freq_hz: float = 0.0,
) -> np.ndarray:
    """Kaldi's triangular mel filters, ``(n_mels, n_fft // 2 + 1)``, no normalisation.

    Triangles are equally spaced and linear on the mel scale between ``low_freq_hz`` and
    ``high_freq_hz`` (``<= 0`` counts down from Nyquist); the Nyquist bin gets no weight. Unlike
    Kaldi itself, empty filters (128 bands on a 512-point FFT leaves a few low ones without an FFT
    bin) are allowed, as in torchaudio, and give ``log(eps)`` after the log.
    """
    nyquist = 0.5 * sr_hz
    high = high_freq_hz if high_freq_hz > 0 else nyquist + high_freq_hz
    if not 0 <= low_freq_hz < high <= nyquist:
        raise InputError(
            f"mel filterbank: need 0 <= low ({low_freq_hz} Hz) < high ({high} Hz) <= Nyquist "
            f"({nyquist} Hz)"
        )
    mel_low, mel_high = mel_scale(low_freq_hz), mel_scale(high)
    delta = (mel_high - mel_low) / (n_mels + 1)
    left = mel_low + delta * np.arange(n_mels)[:, None]
    center, right = left + delta, left + 2 * delta
    bin_mel = mel_scale(np.arange(n_fft // 2) * sr_hz / n_fft)[None, :]
    up = (bin_mel - left) / (center - left)
    down = (right - bin_mel) / (right - center)
    weights = np.maximum(0.0, np.minimum(up, down))
    return np.pad(weights, ((0, 0), (0, 1)))  # no weight on the Nyquist bin


def _as_tensor(waveform: np.ndarray | torch.Tensor) -> torch.Tensor:
    if isinstance(waveform, torch.Tensor):
        return waveform.detach().to(torch.float64)
    return torch.from_numpy(np.asarray(waveform, dtype=np.float64))


def kaldi_fbank(
    waveform: np.ndarray | torch.Tensor,
    sr_hz: float = SAMPLE_RATE_HZ,
    n_mels: int = N_MELS,
    frame_length_ms: float = FRAME_LENGTH_MS,
    frame_shift_ms: float = FRAME_SHIFT_MS,
    low_freq_hz: float = KALDI_LOW_FREQ_HZ,
    high_freq_hz: float = 0.0,
    preemphasis: float = KALDI_PREEMPHASIS,
) -> torch.Tensor:
    """Kaldi log-mel filterbank as AudioMAE computes it with torchaudio.

    Equals ``torchaudio.compliance.kaldi.fbank(waveform, htk_compat=True, use_energy=False,
    window_type='hanning', dither=0.0, ...)``: ``snip_edges`` framing, per-frame DC removal,
    pre-emphasis, a symmetric Hann window, zero padding to the next power of two, power spectrum,
    Kaldi mel filters, ``log(max(energy, float32 eps))``. Computed in float64.

    Parameters
    ----------
    waveform : (..., n_samples)
        Samples at ``sr_hz`` on the scale AudioMAE used (``torchaudio.load``'s floats in [-1, 1]).

    Returns
    -------
    torch.Tensor, float32, (..., n_frames, n_mels)
        ``n_frames = 1 + (n_samples - window) // shift`` (0 when shorter than one window).
    """
    x = _as_tensor(waveform)
    window = int(round(sr_hz * frame_length_ms / 1000.0))
    shift = int(round(sr_hz * frame_shift_ms / 1000.0))
    n_fft = 1 << (window - 1).bit_length()
    if x.shape[-1] < window:
        return torch.zeros(*x.shape[:-1], 0, n_mels, dtype=torch.float32)
    frames = x.unfold(-1, window, shift)  # (..., n_frames, window)
    frames = frames - frames.mean(dim=-1, keepdim=True)
    previous = torch.cat([frames[..., :1], frames[..., :-1]], dim=-1)
    frames = frames - preemphasis * previous
    frames = frames * torch.hann_window(
        window, periodic=False, dtype=torch.float64, device=frames.device
    )
    power = torch.fft.rfft(frames, n=n_fft).abs().square()
    banks = kaldi_mel_banks(n_mels, n_fft, sr_hz, low_freq_hz, high_freq_hz)
    banks = torch.from_numpy(banks).to(frames.device)
    energies = power @ banks.T
    floor = torch.finfo(torch.float32).eps
    return energies.clamp_min(floor).log().to(torch.float32)


def normalise_fbank(fbank: torch.Tensor) -> torch.Tensor:
    """AudioMAE's input scaling: ``(fbank - mean) / (2 std)`` with the AudioSet statistics."""
    return (fbank - AUDIOSET_MEAN) / (2.0 * AUDIOSET_STD)


def denormalise_fbank(mel: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`normalise_fbank`: back to natural-log mel energies."""
    return mel * (2.0 * AUDIOSET_STD) + AUDIOSET_MEAN


def min_clip_samples(patch_size: int = 16, sr_hz: float = SAMPLE_RATE_HZ) -> int:
    """Shortest clip whose own frames fill one patch column (16 frames: 2,800 samples at 16 kHz)."""
    window = int(round(sr_hz * FRAME_LENGTH_MS / 1000.0))
    shift = int(round(sr_hz * FRAME_SHIFT_MS / 1000.0))
    return window + (patch_size - 1) * shift


def _check_clips(
    waveform: np.ndarray | torch.Tensor, sr_hz: float, patch_size: int
) -> torch.Tensor:
    if sr_hz != SAMPLE_RATE_HZ:
        raise InputError(
            f"AudioMAE features: expected audio at {SAMPLE_RATE_HZ} Hz, got {sr_hz} Hz; "
            "resample the clips first"
        )
    x = _as_tensor(waveform)
    if x.ndim == 1:
        x = x[None]
    if x.ndim != 2:
        raise InputError(
            f"AudioMAE features: expected a waveform (n_samples,) or (batch, n_samples), got shape "
            f"{tuple(x.shape)}"
        )
    shortest = min_clip_samples(patch_size, sr_hz)
    if x.shape[-1] < shortest:
        raise InputError(
            f"AudioMAE features: clips of {x.shape[-1]} samples ({x.shape[-1] / sr_hz:.3f} s) are "
            f"shorter than one patch column ({shortest} samples = {patch_size} frames)"
        )
    if not torch.isfinite(x).all():
        raise InputError("AudioMAE features: the waveform contains NaN or infinite samples")
    return x


def tile_to_length(waveform: torch.Tensor, n_samples: int) -> torch.Tensor:
    """Repeat each clip end to end and cut at ``n_samples`` (section A.2: duplicated to 10 s)."""
    repeats = math.ceil(n_samples / waveform.shape[-1])
    return waveform.repeat(*([1] * (waveform.ndim - 1)), repeats)[..., :n_samples]


def pad_or_cut_frames(fbank: torch.Tensor, n_frames: int) -> torch.Tensor:
    """Zero-pad or cut ``(..., frames, mels)`` to ``n_frames``.

    Padding is in log-mel, before normalisation, as in the official ``dataset.py``.
    """
    missing = n_frames - fbank.shape[-2]
    if missing > 0:
        return F.pad(fbank, (0, 0, 0, missing))
    return fbank[..., :n_frames, :]


def audiomae_input(
    waveform: np.ndarray | torch.Tensor,
    sr_hz: float = SAMPLE_RATE_HZ,
    n_mels: int = N_MELS,
    n_frames: int = TARGET_FRAMES,
    clip_s: float = CLIP_S,
    patch_size: int = 16,
) -> torch.Tensor:
    """The normalised spectrogram AudioMAE encodes, ``(batch, 1, n_mels, n_frames)`` float32.

    Each clip is tiled to ``clip_s`` seconds, its mean removed (``dataset.py`` demeans every
    waveform), turned into a Kaldi fbank (998 frames for 10 s), zero-padded to ``n_frames``
    (1024) and normalised with the AudioSet statistics.

    Parameters
    ----------
    waveform : (n_samples,) or (batch, n_samples)
        Clips at 16 kHz, floats in [-1, 1]. Clips shorter than one patch column are an error.
    """
    x = _check_clips(waveform, sr_hz, patch_size)
    x = tile_to_length(x, int(round(clip_s * sr_hz)))
    x = x - x.mean(dim=-1, keepdim=True)
    fbank = pad_or_cut_frames(kaldi_fbank(x, sr_hz, n_mels), n_frames)
    return normalise_fbank(fbank).transpose(-1, -2).unsqueeze(1).contiguous()


def patchify(mel: torch.Tensor, patch_size: int = 16) -> torch.Tensor:
    """``(batch, 1, n_mels, n_frames)`` -> ``(batch, n_patches, patch_size**2)`` in AudioMAE order.

    Patches run time column by time column (``n_mels / p`` patches per column); inside a patch the
    values run frame by frame, mel bins fastest (``models_mae.patchify`` on the time x mel image).
    """
    batch, _, n_mels, n_frames = mel.shape
    rows, cols = n_mels // patch_size, n_frames // patch_size
    image = mel[:, 0].transpose(1, 2)  # (batch, frames, mels)
    x = image.reshape(batch, cols, patch_size, rows, patch_size).permute(0, 1, 3, 2, 4)
    return x.reshape(batch, cols * rows, patch_size * patch_size)


def unpatchify(
    patches: torch.Tensor, n_mels: int = N_MELS, n_frames: int = TARGET_FRAMES, patch_size: int = 16
) -> torch.Tensor:
    """Inverse of :func:`patchify`: ``(batch, n_patches, p*p)`` -> ``(batch, 1, mels, frames)``."""
    batch = patches.shape[0]
    rows, cols = n_mels // patch_size, n_frames // patch_size
    x = patches.reshape(batch, cols, rows, patch_size, patch_size).permute(0, 1, 3, 2, 4)
    return x.reshape(batch, n_frames, n_mels).transpose(1, 2).unsqueeze(1)


def n_patch_for_duration(
    duration_s: float,
    sr_hz: float = SAMPLE_RATE_HZ,
    config: AudioMAEConfig | None = None,
    column_multiple: int = PATCH_COLUMN_MULTIPLE,
) -> int:
    """Tokens kept for a clip of ``duration_s`` seconds (section A.2's ``N_patch``).

    A time column of patches covers ``patch_size`` = 16 frames (160 ms) and holds
    ``n_mels / patch_size`` = 8 patches. The clip's own Kaldi frames need
    ``ceil(frames / 16)`` columns; rounding that up to a multiple of ``column_multiple`` (2) columns
    gives the paper's values: 4 s -> 398 frames -> 25 -> 26 columns -> 208; 1.5 s -> 148 -> 10 ->
    10 -> 80; 2 s -> 198 -> 13 -> 14 -> 112 (a plain ceiling gives 200 / 80 / 104, which misses two
    of the three). Capped at the 512 patches of a 10 s input.
    """
    config = config or AudioMAEConfig()
    n_samples = int(round(duration_s * sr_hz))
    if n_samples < min_clip_samples(config.patch_size, sr_hz):
        raise InputError(
            f"N_patch: a {duration_s} s clip is shorter than one patch column "
            f"({min_clip_samples(config.patch_size, sr_hz) / sr_hz:.3f} s)"
        )
    window = int(round(sr_hz * FRAME_LENGTH_MS / 1000.0))
    shift = int(round(sr_hz * FRAME_SHIFT_MS / 1000.0))
    n_frames = 1 + (n_samples - window) // shift
    columns = math.ceil(n_frames / config.patch_size)
    columns = column_multiple * math.ceil(columns / column_multiple)
    return min(columns * config.grid[1], config.num_patches)


# ------------------------------------------------------------------------------------------------
# Model
# ------------------------------------------------------------------------------------------------


def sincos_pos_embed(embed_dim: int, grid: tuple[int, int]) -> torch.Tensor:
    """AudioMAE's fixed 2-D sine-cosine position embedding, ``(1, 1 + n_patches, embed_dim)``.

    Reproduces ``get_2d_sincos_pos_embed_flexible`` with ``PatchEmbed_org.patch_hw``, which is
    (mel rows, time columns) = (8, 64) while the tokens run time-major over (64, 8): the table is
    laid out as if the grid were 8 x 64. Checkpoints store the table, so this only matters for
    models built from scratch; the first row (class token) is zero.
    """
    rows, cols = grid[1], grid[0]  # patch_hw of the official code
    coord_w, coord_h = np.meshgrid(np.arange(cols, dtype=np.float64), np.arange(rows))
    quarter = embed_dim // 4
    omega = 1.0 / 10000 ** (np.arange(quarter, dtype=np.float64) / quarter)

    def one_axis(positions: np.ndarray) -> np.ndarray:
        angles = positions.reshape(-1)[:, None] * omega[None, :]
        return np.concatenate([np.sin(angles), np.cos(angles)], axis=1)

    table = np.concatenate([one_axis(coord_w), one_axis(coord_h)], axis=1)
    table = np.concatenate([np.zeros((1, embed_dim)), table], axis=0)
    return torch.from_numpy(table).float().unsqueeze(0)


class Mlp(nn.Module):
    """Two linear layers (``fc1``, ``fc2``) with an activation between them, as timm's ``Mlp``."""

    def __init__(
        self,
        dim: int,
        hidden: int,
        out: int,
        activation: type[nn.Module] = nn.GELU,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = activation()
        self.drop1 = nn.Dropout(dropout)
        self.fc2 = nn.Linear(hidden, out)
        self.drop2 = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop2(self.fc2(self.drop1(self.act(self.fc1(x)))))


class Attention(nn.Module):
    """Global multi-head self-attention with a fused ``qkv`` projection (timm ViT)."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, dim = x.shape
        qkv = self.qkv(x).reshape(batch, length, 3, self.num_heads, dim // self.num_heads)
        query, key, value = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        out = F.scaled_dot_product_attention(query, key, value)
        return self.proj(out.transpose(1, 2).reshape(batch, length, dim))


class ViTBlock(nn.Module):
    """Pre-norm transformer block of the encoder: ``x + attn(norm1(x))``, ``x + mlp(norm2(x))``."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)
        self.attn = Attention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


def _window_and_shift(
    grid: tuple[int, int], window: tuple[int, int], shift: tuple[int, int]
) -> tuple[tuple[int, int], tuple[int, int]]:
    """timm's rule: a window never exceeds the grid; an axis the window covers is not shifted."""
    window = tuple(min(g, w) for g, w in zip(grid, window, strict=True))
    shift = tuple(0 if g <= w else s for g, w, s in zip(grid, window, shift, strict=True))
    return window, shift


def _partition(x: torch.Tensor, window: tuple[int, int]) -> torch.Tensor:
    """``(batch, H, W, C)`` -> ``(batch * n_windows, wh * ww, C)``, windows in row-major order."""
    batch, height, width, dim = x.shape
    x = x.reshape(batch, height // window[0], window[0], width // window[1], window[1], dim)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, window[0] * window[1], dim)


def _merge(windows: torch.Tensor, window: tuple[int, int], grid: tuple[int, int]) -> torch.Tensor:
    """Inverse of :func:`_partition`: back to ``(batch, H, W, C)``."""
    height, width = grid
    dim = windows.shape[-1]
    x = windows.reshape(-1, height // window[0], width // window[1], window[0], window[1], dim)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, height, width, dim)


def _region_labels(size: int, window: int, shift: int) -> torch.Tensor:
    """Regions that a cyclic shift brings together along one axis (one region when unshifted)."""
    labels = torch.zeros(size)
    if shift:
        labels[size - window :] = 1
        labels[size - shift :] = 2
    return labels


class WindowAttention(nn.Module):
    """Scaled cosine attention in local windows with a log-spaced continuous position bias.

    The Swin V2 (timm ``swin_transformer_v2_cr``) attention of the AudioMAE decoder: cosine
    similarity of queries and keys divided by a learned per-head temperature ``tau``, plus a bias
    that a small MLP (``meta_mlp``) computes from the log-scaled relative offsets inside a window.
    """

    def __init__(self, dim: int, num_heads: int, window: tuple[int, int], meta_hidden: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.window = window
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.meta_mlp = Mlp(2, meta_hidden, num_heads, nn.ReLU, META_MLP_DROPOUT)
        self.tau = nn.Parameter(torch.ones(num_heads))
        coords = torch.stack(
            torch.meshgrid(torch.arange(window[0]), torch.arange(window[1]), indexing="ij")
        ).flatten(1)
        offsets = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0).reshape(-1, 2).float()
        self.register_buffer(
            "relative_coordinates_log",
            torch.sign(offsets) * torch.log1p(offsets.abs()),
            persistent=False,
        )

    def position_bias(self) -> torch.Tensor:
        area = self.window[0] * self.window[1]
        bias = self.meta_mlp(self.relative_coordinates_log)  # (area * area, heads)
        return bias.transpose(0, 1).reshape(1, self.num_heads, area, area)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        n_windows_total, length, dim = x.shape
        qkv = self.qkv(x).reshape(n_windows_total, length, 3, self.num_heads, -1)
        query, key, value = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        norms = query.norm(dim=-1, keepdim=True) @ key.norm(dim=-1, keepdim=True).transpose(-2, -1)
        scores = query @ key.transpose(-2, -1) / norms.clamp(min=1e-6)
        scores = scores / self.tau.clamp(min=TAU_MIN).reshape(1, -1, 1, 1)
        scores = scores + self.position_bias()
        if mask is not None:
            n_windows = mask.shape[0]
            scores = scores.reshape(-1, n_windows, self.num_heads, length, length)
            scores = (scores + mask[None, :, None]).reshape(-1, self.num_heads, length, length)
        out = scores.softmax(dim=-1) @ value
        return self.proj(out.transpose(1, 2).reshape(n_windows_total, length, dim))


class SwinBlock(nn.Module):
    """Post-norm block of the decoder: ``x + norm1(window_attn(x))``, ``x + norm2(mlp(x))``.

    Tokens are laid out on the (time, mel) patch grid; with a shift, the grid is rolled back by
    ``shift`` before the windows are cut and the attention mask keeps tokens that the roll brought
    together from attending to each other.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        grid: tuple[int, int],
        window: tuple[int, int],
        shift: tuple[int, int],
        mlp_ratio: float,
        meta_hidden: int,
    ) -> None:
        super().__init__()
        self.grid = grid
        self.window, self.shift = _window_and_shift(grid, window, shift)
        self.attn = WindowAttention(dim, num_heads, self.window, meta_hidden)
        self.norm1 = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), dim)
        self.norm2 = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)
        self.register_buffer("attn_mask", self._attention_mask(), persistent=False)

    def _attention_mask(self) -> torch.Tensor | None:
        if not any(self.shift):
            return None
        rows = _region_labels(self.grid[0], self.window[0], self.shift[0])
        cols = _region_labels(self.grid[1], self.window[1], self.shift[1])
        labels = (3 * rows[:, None] + cols[None, :])[None, :, :, None]
        labels = _partition(labels, self.window)[..., 0]  # (n_windows, area)
        different = labels[:, None, :] != labels[:, :, None]
        return torch.zeros(different.shape).masked_fill(different, SWIN_MASK_VALUE)

    def _window_attention(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, dim = x.shape
        x = x.reshape(batch, *self.grid, dim)
        if any(self.shift):
            x = torch.roll(x, shifts=(-self.shift[0], -self.shift[1]), dims=(1, 2))
        windows = self.attn(_partition(x, self.window), self.attn_mask)
        x = _merge(windows, self.window, self.grid)
        if any(self.shift):
            x = torch.roll(x, shifts=self.shift, dims=(1, 2))
        return x.reshape(batch, length, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.norm1(self._window_attention(x))
        return x + self.norm2(self.mlp(x))


class AudioMAEEncoder(nn.Module):
    """ViT encoder over all patches (no masking): patch embedding, position, class token, blocks."""

    def __init__(self, config: AudioMAEConfig) -> None:
        super().__init__()
        self.config = config
        p = config.patch_size
        self.patch_embed = nn.Conv2d(1, config.embed_dim, kernel_size=p, stride=p)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, config.embed_dim))
        self.register_buffer("pos_embed", sincos_pos_embed(config.embed_dim, config.grid))
        self.blocks = nn.ModuleList(
            ViTBlock(config.embed_dim, config.num_heads, config.mlp_ratio)
            for _ in range(config.depth)
        )
        self.norm = nn.LayerNorm(config.embed_dim, eps=LAYER_NORM_EPS)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """``(batch, 1, n_mels, n_frames)`` -> ``(batch, n_patches, embed_dim)``, no class token."""
        x = self.patch_embed(mel.transpose(-1, -2)).flatten(2).transpose(1, 2)
        x = x + self.pos_embed[:, 1:]
        cls = (self.cls_token + self.pos_embed[:, :1]).expand(x.shape[0], -1, -1)
        x = torch.cat([cls, x], dim=1)
        contextual = []
        for index, block in enumerate(self.blocks):
            x = block(x)
            if self.config.encoder_output == "contextual" and index > self.config.contextual_depth:
                contextual.append(self.norm(x))
        if self.config.encoder_output == "contextual":
            x = torch.stack(contextual).mean(dim=0)
        else:
            x = self.norm(x)
        return x[:, 1:]


class AudioMAEDecoder(nn.Module):
    """Swin decoder: tokens -> ``decoder_embed_dim``, position, local-attention blocks, patches."""

    def __init__(self, config: AudioMAEConfig) -> None:
        super().__init__()
        self.config = config
        dim = config.decoder_embed_dim
        self.embed = nn.Linear(config.embed_dim, dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.register_buffer("pos_embed", sincos_pos_embed(dim, config.grid))
        self.blocks = nn.ModuleList(
            SwinBlock(
                dim,
                config.decoder_num_heads,
                config.grid,
                config.window,
                config.shift if index % 2 else (0, 0),
                config.mlp_ratio,
                config.meta_hidden_dim,
            )
            for index in range(config.decoder_depth)
        )
        self.norm = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)
        self.pred = nn.Linear(dim, config.patch_size**2)

    def forward(self, tokens: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Tokens ``(batch, n, embed_dim)``, ``n <= n_patches`` -> patches and each block's output.

        Patches past ``n`` are unseen: they get the mask token, as the MAE decoder treats masked
        patches. Returns ``(batch, n_patches, patch_size**2)`` and a list of
        ``(batch, n_patches, decoder_embed_dim)``, one per block (for the perceptual loss).
        """
        x = self.embed(tokens)
        missing = self.config.num_patches - x.shape[1]
        if missing:
            x = torch.cat([x, self.mask_token.expand(x.shape[0], missing, -1)], dim=1)
        x = x + self.pos_embed[:, 1:]
        hidden = []
        for block in self.blocks:
            x = block(x)
            hidden.append(x)
        return self.pred(self.norm(x)), hidden


class AudioMAE(nn.Module):
    """AudioMAE with a frozen encoder and a trainable decoder (paper section 2.1).

    Build it with :func:`load_audiomae` for the pretrained weights, or directly (``seed``) for a
    randomly initialised model with the official initialisation (Xavier-uniform linear layers and
    patch embedding, N(0, 0.02) class and mask tokens, fixed sine-cosine positions).
    """

    def __init__(self, config: AudioMAEConfig | None = None, seed: int = 0) -> None:
        super().__init__()
        self.config = config or AudioMAEConfig()
        self.encoder = AudioMAEEncoder(self.config)
        self.decoder = AudioMAEDecoder(self.config)
        self._initialise(torch.Generator().manual_seed(seed))
        self.encoder.requires_grad_(False)

    def _initialise(self, generator: torch.Generator) -> None:
        weight = self.encoder.patch_embed.weight
        nn.init.xavier_uniform_(weight.data.view(weight.shape[0], -1), generator=generator)
        nn.init.zeros_(self.encoder.patch_embed.bias)
        nn.init.normal_(self.encoder.cls_token, std=0.02, generator=generator)
        nn.init.normal_(self.decoder.mask_token, std=0.02, generator=generator)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight, generator=generator)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def train(self, mode: bool = True) -> AudioMAE:
        """Train the decoder only; the frozen encoder stays in evaluation mode."""
        super().train(mode)
        self.encoder.eval()
        return self

    def encode(self, mel: torch.Tensor) -> torch.Tensor:
        """Normalised spectrograms ``(batch, 1, 128, 1024)`` -> tokens ``(batch, 512, 768)``."""
        expected = (1, self.config.n_mels, self.config.n_frames)
        if mel.ndim != 4 or tuple(mel.shape[1:]) != expected:
            raise InputError(
                f"AudioMAE.encode: expected spectrograms (batch, {', '.join(map(str, expected))}), "
                f"got {tuple(mel.shape)}"
            )
        return self.encoder(mel)

    def decode_with_hidden(self, tokens: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Like :meth:`decode`, also returning every decoder block's output (perceptual loss)."""
        if (
            tokens.ndim != 3
            or tokens.shape[-1] != self.config.embed_dim
            or not (1 <= tokens.shape[1] <= self.config.num_patches)
        ):
            raise InputError(
                f"AudioMAE.decode: expected tokens (batch, 1..{self.config.num_patches}, "
                f"{self.config.embed_dim}), got {tuple(tokens.shape)}"
            )
        patches, hidden = self.decoder(tokens)
        mel = unpatchify(patches, self.config.n_mels, self.config.n_frames, self.config.patch_size)
        return mel, hidden

    def decode(self, tokens: torch.Tensor) -> torch.Tensor:
        """Tokens ``(batch, n, 768)`` -> the decoder's spectrogram ``(batch, 1, 128, 1024)``.

        With the pretrained (``norm_pix_loss``) decoder each patch comes out standardised; see
        :func:`m_upp` for restoring the scale. After the paper's fine-tuning with ``L_mel`` the
        output is the normalised spectrogram itself.
        """
        return self.decode_with_hidden(tokens)[0]

    @torch.no_grad()
    def features(
        self,
        waveform: np.ndarray | torch.Tensor,
        n_patch: int,
        sr_hz: float = SAMPLE_RATE_HZ,
        batch_size: int = 8,
    ) -> torch.Tensor:
        """``c_gt``: the first ``n_patch`` tokens of each 16 kHz clip, ``(batch, n_patch, 768)``.

        ``n_patch`` counts whole time columns (a multiple of ``n_mels / patch_size``); use
        :func:`n_patch_for_duration` to derive it from the clip length.
        """
        rows = self.config.grid[1]
        if not 1 <= n_patch <= self.config.num_patches or n_patch % rows:
            raise InputError(
                f"AudioMAE features: n_patch must be a multiple of {rows} (whole time columns) "
                f"between {rows} and {self.config.num_patches}, got {n_patch}"
            )
        clips = _check_clips(waveform, sr_hz, self.config.patch_size)
        device = self.encoder.norm.weight.device
        out = []
        for start in range(0, clips.shape[0], batch_size):
            mel = audiomae_input(
                clips[start : start + batch_size],
                sr_hz,
                self.config.n_mels,
                self.config.n_frames,
                patch_size=self.config.patch_size,
            )
            out.append(self.encode(mel.to(device))[:, :n_patch].cpu())
        return torch.cat(out)


def m_upp(model: AudioMAE, mel: torch.Tensor, restore_patch_scale: bool = False) -> torch.Tensor:
    """The decoder's reconstruction of the ground truth, ``D^A(E^A(m))`` (section 2.1's ``m_upp``).

    Parameters
    ----------
    mel : (batch, 1, n_mels, n_frames)
        Normalised AudioMAE input spectrograms (:func:`audiomae_input`).
    restore_patch_scale : bool
        The official checkpoint was pretrained with ``norm_pix_loss``, so its decoder predicts each
        16 x 16 patch standardised by its own mean and (unbiased) variance. With True, every
        predicted patch is rescaled with the statistics of the true patch, the way such
        predictions are shown; leave False for a decoder fine-tuned on the spectrogram itself.

    Returns
    -------
    (batch, 1, n_mels, n_frames), in the normalised input scale.
    """
    mel_hat = model.decode(model.encode(mel))
    if not restore_patch_scale:
        return mel_hat
    size = model.config.patch_size
    target = patchify(mel, size)
    mean = target.mean(dim=-1, keepdim=True)
    std = (target.var(dim=-1, keepdim=True) + NORM_PIX_EPS).sqrt()
    patches = patchify(mel_hat, size) * std + mean
    return unpatchify(patches, model.config.n_mels, model.config.n_frames, size)


# ------------------------------------------------------------------------------------------------
# Official checkpoint
# ------------------------------------------------------------------------------------------------

# Official (models_mae.MaskedAutoencoderViT) names -> this module's names. Whole names first,
# then prefixes; names inside the blocks (norm1, attn.qkv, attn.proj, attn.meta_mlp.fc1, attn.tau,
# mlp.fc1, ...) are the same on both sides.
_OFFICIAL_NAMES = {
    "cls_token": "encoder.cls_token",
    "pos_embed": "encoder.pos_embed",
    "mask_token": "decoder.mask_token",
    "decoder_pos_embed": "decoder.pos_embed",
}
_OFFICIAL_PREFIXES = (
    ("patch_embed.proj.", "encoder.patch_embed."),
    ("blocks.", "encoder.blocks."),
    ("norm.", "encoder.norm."),
    ("decoder_embed.", "decoder.embed."),
    ("decoder_blocks.", "decoder.blocks."),
    ("decoder_norm.", "decoder.norm."),
    ("decoder_pred.", "decoder.pred."),
)


def module_key(official_key: str) -> str | None:
    """This module's state-dict name for an official AudioMAE name (None if it has none)."""
    if official_key in _OFFICIAL_NAMES:
        return _OFFICIAL_NAMES[official_key]
    for official, ours in _OFFICIAL_PREFIXES:
        if official_key.startswith(official):
            return ours + official_key[len(official) :]
    return None


def official_key(key: str) -> str:
    """Inverse of :func:`module_key`."""
    for official, ours in _OFFICIAL_NAMES.items():
        if key == ours:
            return official
    for official, ours in _OFFICIAL_PREFIXES:
        if key.startswith(ours):
            return official + key[len(ours) :]
    raise KeyError(key)


def to_official_state_dict(model: AudioMAE) -> dict[str, torch.Tensor]:
    """The model's weights under the official names (e.g. to hand a fine-tuned decoder back)."""
    return {official_key(k): v.detach().clone() for k, v in model.state_dict().items()}


def convert_official_state_dict(
    official: Mapping[str, torch.Tensor],
    model: AudioMAE,
    source: str = "state dict",
) -> dict[str, torch.Tensor]:
    """Rename an official state dict to ``model``'s names and check every key and shape.

    Raises
    ------
    InputError
        Unknown or missing keys (listed), or a tensor whose shape differs from what ``config``
        builds (naming the key and both shapes).
    """
    config = model.config
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    converted, unknown = {}, []
    for key, value in official.items():
        ours = module_key(key)
        if ours is None or ours not in expected:
            unknown.append(key)
            continue
        if tuple(value.shape) != expected[ours]:
            raise InputError(
                f"{source}: {key} has shape {tuple(value.shape)} but {MODEL_CONFIG_KEY} "
                f"(embed_dim={config.embed_dim}, depth={config.depth}, "
                f"decoder_embed_dim={config.decoder_embed_dim}, ...) expects {expected[ours]}"
            )
        converted[ours] = torch.as_tensor(value).detach().float()
    missing = sorted(official_key(k) for k in set(expected) - set(converted))
    if unknown or missing:
        raise InputError(
            f"{source}: not an AudioMAE pretraining checkpoint matching {MODEL_CONFIG_KEY}: "
            f"unexpected keys {sorted(unknown)[:8]}{' ...' if len(unknown) > 8 else ''}, "
            f"missing keys {missing[:8]}{' ...' if len(missing) > 8 else ''} (the fine-tuned "
            "classifier checkpoint has no decoder; the pretrained one, decoder_mode=1, is needed)"
        )
    return converted


def read_checkpoint(path: str | os.PathLike, config_key: str = CHECKPOINT_CONFIG_KEY) -> dict:
    """The state dict of an official ``.pth`` (its ``"model"`` entry, or the file itself)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(
            f"{config_key}: the AudioMAE checkpoint {path} does not exist; download the official "
            "pretrained weights (facebookresearch/AudioMAE) and set this key to the file"
        )
    # Official checkpoints also pickle the argparse options; allow that class only.
    expected = f"a torch checkpoint ({config_key})"
    payload = load_torch(path, expected, safe_globals=(argparse.Namespace,))
    if isinstance(payload, Mapping) and isinstance(payload.get("model"), Mapping):
        payload = payload["model"]
    if not isinstance(payload, Mapping) or not all(
        isinstance(v, torch.Tensor) for v in payload.values()
    ):
        raise InputError(
            f"{config_key}: {path} holds neither a state dict nor a dict with a 'model' state dict"
        )
    return dict(payload)


def load_audiomae(
    path: str | os.PathLike,
    config: AudioMAEConfig | Mapping | None = None,
    config_key: str = CHECKPOINT_CONFIG_KEY,
) -> AudioMAE:
    """The official pretrained AudioMAE from a local ``.pth``, encoder frozen, in eval mode.

    Parameters
    ----------
    path : the checkpoint (``{"model": state_dict, ...}`` as ``main_pretrain.py`` saves it).
    config : AudioMAEConfig or the ``recon.models.audiomae`` config mapping (default: the paper's
        sizes).
    config_key : the config key that named ``path``, quoted in errors.
    """
    if not isinstance(config, AudioMAEConfig):
        config = AudioMAEConfig.from_mapping(config)
    official = read_checkpoint(path, config_key)
    model = AudioMAE(config)
    model.load_state_dict(convert_official_state_dict(official, model, str(path)), strict=True)
    return model.eval()


def audiomae_config(settings: Mapping) -> AudioMAEConfig:
    """The sizes of the ``recon.models.audiomae`` section."""
    return AudioMAEConfig.from_mapping(settings)


def load_audiomae_from(settings: Mapping) -> AudioMAE:
    """The AudioMAE named by the ``recon.models.audiomae`` section (checkpoint + sizes)."""
    return load_audiomae(
        settings.get("checkpoint"),
        settings,
        config_key="recon.models.audiomae.checkpoint",
    )
