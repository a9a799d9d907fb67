"""The C2F-Decoder mel mapping (C2F-LDM appendix A.4): AudioMAE mels -> vocoder mels."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import Ridge

from audiobrain.io import InputError
from audiobrain.recon.melmap import (
    AUDIOMAE_TIMING,
    FrameTiming,
    align_audiomae_mel,
    apply_mel_mapping,
    fit_mel_mapping,
    mel_mapping_pcc,
    vocoder_timing,
)
from audiobrain.recon.vocoder import AUDIOLDM2_MEL, UNIVERSAL_HIFIGAN_MEL

VOCODER = FrameTiming(frame_rate_hz=100.0, first_frame_s=0.0)


def _clips(n_clips, rng, truth, n_mels_v=16, noise=0.0):
    """Random AudioMAE mels; vocoder mels from a planted linear map of their time-aligned frames."""
    coef, intercept = truth
    audiomae, vocoder = [], []
    for _ in range(n_clips):
        n_frames = int(rng.integers(150, 250))
        mel = rng.standard_normal((128, n_frames + 20)) + rng.standard_normal((128, 1))
        aligned = align_audiomae_mel(mel, n_frames, VOCODER)
        target = coef.T @ aligned + intercept[:, None]
        audiomae.append(mel)
        vocoder.append(target + noise * rng.standard_normal(target.shape))
    return audiomae, vocoder


def test_recovers_planted_map_and_pcc_near_one():
    rng = np.random.default_rng(0)
    truth = (rng.standard_normal((128, 16)) * 0.2, rng.standard_normal(16))
    train = _clips(12, rng, truth)
    mapping = fit_mel_mapping(*train, alpha=1e-6, vocoder=VOCODER)
    np.testing.assert_allclose(mapping.coef, truth[0], atol=1e-5)
    np.testing.assert_allclose(mapping.intercept, truth[1], atol=1e-5)
    test = _clips(4, rng, truth)
    assert mel_mapping_pcc(mapping, *test) > 0.9999
    mapped = apply_mel_mapping(mapping, test[0][0], test[1][0].shape[1])
    assert mapped.shape == test[1][0].shape
    noisy = _clips(4, rng, truth, noise=3.0)
    assert 0.3 < mel_mapping_pcc(mapping, *noisy) < 0.99


def test_equals_sklearn_ridge_on_stacked_frames():
    rng = np.random.default_rng(1)
    truth = (rng.standard_normal((128, 8)), rng.standard_normal(8))
    audiomae, vocoder = _clips(5, rng, truth, noise=1.0)
    mapping = fit_mel_mapping(audiomae, vocoder, alpha=10.0, vocoder=VOCODER)
    sources = [
        align_audiomae_mel(m, v.shape[1], VOCODER) for m, v in zip(audiomae, vocoder, strict=True)
    ]
    reference = Ridge(alpha=10.0).fit(np.hstack(sources).T, np.hstack(vocoder).T)
    np.testing.assert_allclose(mapping.coef, reference.coef_.T, atol=1e-8)
    np.testing.assert_allclose(mapping.intercept, reference.intercept_, atol=1e-8)


def test_alignment_is_by_time():
    mel = np.tile(AUDIOMAE_TIMING.times(1024), (128, 1))  # each frame holds its centre time
    aligned = align_audiomae_mel(mel, 1000, VOCODER)
    expected = np.clip(VOCODER.times(1000), AUDIOMAE_TIMING.first_frame_s, None)
    np.testing.assert_allclose(aligned[0], expected, atol=1e-12)
    hifigan = vocoder_timing(UNIVERSAL_HIFIGAN_MEL)
    assert hifigan.frame_rate_hz == pytest.approx(22050 / 256)
    assert hifigan.first_frame_s == pytest.approx(128 / 22050)
    assert vocoder_timing(AUDIOLDM2_MEL) == FrameTiming(100.0, 0.0)


def test_shape_errors():
    rng = np.random.default_rng(2)
    mel_a, mel_v = rng.standard_normal((128, 50)), rng.standard_normal((16, 50))
    with pytest.raises(InputError, match=r"audiomae_mel: expected a \(128, n_frames\)"):
        fit_mel_mapping([mel_a[:64]], [mel_v], alpha=1.0, vocoder=VOCODER)
    with pytest.raises(InputError, match=r"vocoder_mels\[1\]"):
        fit_mel_mapping([mel_a, mel_a], [mel_v, mel_v[:8]], alpha=1.0, vocoder=VOCODER)
    with pytest.raises(InputError, match="one vocoder mel per AudioMAE mel"):
        fit_mel_mapping([mel_a, mel_a], [mel_v], alpha=1.0, vocoder=VOCODER)
    mapping = fit_mel_mapping([mel_a], [mel_v], alpha=1.0, vocoder=VOCODER)
    with pytest.raises(InputError, match=r"vocoder_mels\[0\]"):
        mel_mapping_pcc(mapping, [mel_a], [mel_v[:8]])
