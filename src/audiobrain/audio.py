"""Audio loading and the two acoustic front ends of Millet & King (2021), section 2.3 and 2.6."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

import librosa
import numpy as np
import soundfile as sf

from audiobrain.io import InputError, require_finite

SAMPLE_RATE_HZ = 16_000  # section 2.1: recordings downsampled to 16 kHz mono
SPECTROGRAM_WINDOW_S = 0.020  # section 2.3: 20 ms window
SPECTROGRAM_HOP_S = 0.010  # section 2.3: 10 ms stride
SPECTROGRAM_N_FFT = 320  # section 2.3: n_fft = 320
SPECTROGRAM_BINS = 160  # section 2.3: d_u = 160 (n_fft // 2 + 1 = 161; the Nyquist bin is dropped)
MEL_WINDOW_S = 0.025  # section 2.6: mel baseline with 25 ms windows
MEL_HOP_S = 0.010  # section 2.6: strides of 10 ms


# libsndfile reads a WAV cut short without complaint (the samples present, the header's length
# noted in its info text): what its header declares against what the file holds.
_DECLARED_DATA = re.compile(r"^data\s*:\s*(\d+) \(should be (\d+)\)", re.MULTILINE)
_UNKNOWN_SIZES = {0, 0xFFFFFFFF, 0x7FFFFFFF}  # streamed WAVs: length not written in the header


def audio_info(path: str | os.PathLike) -> sf._SoundFileInfo:
    """The header of an audio file, or an error naming it if it is unreadable or truncated."""
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, OSError, RuntimeError) as error:
        raise InputError(f"{path}: cannot read audio ({error})") from error
    declared = _DECLARED_DATA.search(info.extra_info)
    if declared and int(declared[1]) not in _UNKNOWN_SIZES:
        expected, found = int(declared[1]), int(declared[2])
        if found < expected:
            raise InputError(
                f"{path}: truncated audio: its header declares {expected} bytes of samples, "
                f"the file holds {found} ({found / expected:.0%}, {info.duration:.3f} s); a "
                "download cut short?"
            )
    return info


def load_audio(path: str | os.PathLike, sr_hz: int = SAMPLE_RATE_HZ) -> np.ndarray:
    """Mono float32 waveform resampled to ``sr_hz`` (whatever rate and channels the file has)."""
    native_sr_hz = audio_info(path).samplerate
    try:
        waveform, _ = sf.read(path, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, OSError, RuntimeError) as error:
        raise InputError(f"{path}: cannot read audio ({error})") from error
    return _mono_resampled(path, waveform, native_sr_hz, sr_hz, "audio samples")


def durations_s(folder: str | os.PathLike, names: Iterable[str]) -> dict[str, float]:
    """Length in seconds of each audio file ``folder/name`` that exists (from its header)."""
    paths = {name: Path(folder) / name for name in names}
    return {name: audio_info(path).duration for name, path in paths.items() if path.is_file()}


def load_segment(
    path: str | os.PathLike, start_s: float, duration_s: float, sr_hz: int = SAMPLE_RATE_HZ
) -> np.ndarray:
    """Mono float32 samples of ``[start_s, start_s + duration_s)`` of a file, at ``sr_hz``.

    Only the segment is read, so sentence segments of hour-long recordings load quickly.
    """
    native_sr_hz = audio_info(path).samplerate
    try:
        waveform, _ = sf.read(
            path,
            start=round(start_s * native_sr_hz),
            frames=round(duration_s * native_sr_hz),
            dtype="float32",
            always_2d=True,
        )
    except (sf.LibsndfileError, OSError, RuntimeError) as error:
        raise InputError(f"{path}: cannot read audio ({error})") from error
    what = f"audio samples of the segment at {start_s} s"
    return _mono_resampled(path, waveform, native_sr_hz, sr_hz, what)


def _mono_resampled(path, waveform: np.ndarray, native_sr_hz: int, sr_hz: int, what: str):
    if waveform.size == 0:
        raise InputError(f"{path}: no {what}")
    require_finite(waveform, path, f"{what} (frames x channels)")
    mono = librosa.to_mono(waveform.T)
    resampled = librosa.resample(mono, orig_sr=native_sr_hz, target_sr=sr_hz, res_type="soxr_hq")
    return resampled.astype(np.float32)


def power_spectrogram(waveform: np.ndarray, sr_hz: int = SAMPLE_RATE_HZ) -> np.ndarray:
    """Squared-magnitude STFT, ``(n_frames, 160)`` at 100 Hz: the networks' input U."""
    win_length = round(SPECTROGRAM_WINDOW_S * sr_hz)
    hop_length = round(SPECTROGRAM_HOP_S * sr_hz)
    stft = librosa.stft(
        waveform,
        n_fft=SPECTROGRAM_N_FFT,
        hop_length=hop_length,
        win_length=win_length,
        window="hann",
        center=True,
    )
    return (np.abs(stft[:SPECTROGRAM_BINS]) ** 2).T.astype(np.float32)


def log_spectrogram(waveform: np.ndarray, sr_hz: int = SAMPLE_RATE_HZ) -> np.ndarray:
    """Log power spectrogram standardised per utterance: the DeepSpeech2 front end's input."""
    log_power = np.log(power_spectrogram(waveform, sr_hz) + 1e-10)
    return ((log_power - log_power.mean()) / (log_power.std() + 1e-8)).astype(np.float32)


def mel_filterbank(
    waveform: np.ndarray, sr_hz: int = SAMPLE_RATE_HZ, n_mels: int = 40
) -> np.ndarray:
    """Log mel filterbank energies, ``(n_frames, n_mels)`` at 100 Hz: the L0 baseline."""
    n_fft = round(MEL_WINDOW_S * sr_hz)
    mel = librosa.feature.melspectrogram(
        y=waveform,
        sr=sr_hz,
        n_fft=n_fft,
        hop_length=round(MEL_HOP_S * sr_hz),
        win_length=n_fft,
        window="hann",
        n_mels=n_mels,
        power=2.0,
    )
    return np.log(mel + 1e-10).T.astype(np.float32)


def fit_length(waveform: np.ndarray, n_samples: int) -> np.ndarray:
    """Cut or zero-pad to exactly ``n_samples`` (audio files end a few samples early or late)."""
    out = np.zeros(n_samples, dtype=np.float32)
    out[: min(n_samples, waveform.size)] = waveform[:n_samples]
    return out
