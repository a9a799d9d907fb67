"""The acoustic front ends of section 2.3 (spectrogram) and 2.6 (mel baseline)."""

from __future__ import annotations

import struct

import numpy as np
import pytest
import soundfile as sf

from audiobrain import audio
from audiobrain.io import InputError


def tone(freq_hz, sr_hz, seconds=1.0):
    t = np.arange(int(sr_hz * seconds)) / sr_hz
    return (0.5 * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)


def test_stereo_44k_file_is_resampled_to_16k_mono(tmp_path):
    left = tone(440, 44_100)
    sf.write(tmp_path / "s.wav", np.stack([left, left], axis=1), 44_100)
    waveform = audio.load_audio(tmp_path / "s.wav")
    assert waveform.ndim == 1
    assert waveform.shape[0] == pytest.approx(16_000, abs=2)
    spectrum = np.abs(np.fft.rfft(waveform))
    assert np.argmax(spectrum) * 16_000 / waveform.size == pytest.approx(440, abs=2)


def test_spectrogram_has_160_bins_at_100_hz_and_peaks_at_the_tone():
    spec = audio.power_spectrogram(tone(1000, 16_000))
    assert spec.shape == (101, 160)
    bin_hz = 16_000 / audio.SPECTROGRAM_N_FFT
    assert np.argmax(spec[50]) * bin_hz == pytest.approx(1000, abs=bin_hz)


def test_spectrogram_equals_squared_librosa_stft_magnitude():
    import librosa

    waveform = tone(300, 16_000)
    stft = librosa.stft(waveform, n_fft=320, hop_length=160, win_length=320)
    np.testing.assert_allclose(
        audio.power_spectrogram(waveform), (np.abs(stft[:160]) ** 2).T, rtol=1e-5
    )


def test_mel_baseline_uses_25ms_windows_and_10ms_hops():
    mel = audio.mel_filterbank(tone(500, 16_000, seconds=2.0), n_mels=40)
    assert mel.shape == (201, 40)
    assert np.all(np.isfinite(mel))


def test_unreadable_audio_names_the_file(tmp_path):
    (tmp_path / "broken.wav").write_bytes(b"not audio")
    with pytest.raises(InputError, match="broken.wav"):
        audio.load_audio(tmp_path / "broken.wav")


def _pcm_wav(path, seconds: float = 1.0):
    samples = np.random.default_rng(0).standard_normal(round(16_000 * seconds)) * 0.1
    sf.write(path, samples.astype(np.float32), 16_000, subtype="PCM_16")
    return bytearray(path.read_bytes())


def test_a_wav_cut_short_is_an_error_but_a_streamed_one_without_length_is_read(tmp_path):
    whole = _pcm_wav(tmp_path / "whole.wav")
    cut = tmp_path / "cut.wav"
    cut.write_bytes(whole[: len(whole) // 2])  # libsndfile alone reads the half silently
    with pytest.raises(InputError, match=r"cut\.wav: truncated audio: .* declares 32000 bytes"):
        audio.load_audio(cut)
    # A writer that streams leaves the header's lengths at 0xFFFFFFFF: nothing is missing.
    streamed = tmp_path / "streamed.wav"
    data = whole.find(b"data")
    whole[4:8] = whole[data + 4 : data + 8] = struct.pack("<I", 0xFFFFFFFF)
    streamed.write_bytes(whole)
    assert audio.audio_info(streamed).duration == 1.0
    assert audio.load_audio(streamed).shape == (16_000,)
