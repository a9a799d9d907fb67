"""CLAP embeddings through transformers' ClapModel/ClapProcessor, on a tiny random model."""

from __future__ import annotations

import shutil

import librosa
import numpy as np
import pytest
import torch

from audiobrain.demo.demo_models import small_clap
from audiobrain.io import InputError
from audiobrain.recon.clap import (
    CLAP_SAMPLE_RATE_HZ,
    clap_audio_embeddings,
    clap_text_embeddings,
    load_clap,
)

PROJECTION_DIM = 8


def tiny_clap():
    """A randomly initialised ClapModel of the real classes (the demo's, smaller)."""
    return small_clap(PROJECTION_DIM, seed=0)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    model, processor = tiny_clap()
    folder = tmp_path_factory.mktemp("clap") / "clap-htsat-tiny"
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder, model, processor


@pytest.fixture(scope="module")
def loaded(saved):
    return load_clap(saved[0])


@pytest.fixture(scope="module")
def clips():
    rng = np.random.default_rng(0)
    t = np.arange(int(1.5 * 16_000)) / 16_000
    tone = 0.3 * np.sin(2 * np.pi * 440 * t)
    chirp = 0.3 * np.sin(2 * np.pi * (200 + 400 * t) * t)
    noise = 0.1 * rng.standard_normal(int(2.0 * 16_000))
    return [tone, chirp, noise]  # lengths differ, as reconstructions and stimuli may


def _direct_audio_embedding(model, processor, waveform_48k):
    inputs = processor.feature_extractor(
        waveform_48k, sampling_rate=CLAP_SAMPLE_RATE_HZ, return_tensors="pt"
    )
    with torch.no_grad():
        features = model.get_audio_features(**inputs).pooler_output
    return torch.nn.functional.normalize(features, dim=-1)[0].numpy()


def test_audio_embeddings_are_unit_norm_and_equal_the_saved_models_own(saved, loaded, clips):
    _, model, processor = saved
    embeddings = clap_audio_embeddings(*loaded, clips, 16_000)
    assert embeddings.shape == (3, PROJECTION_DIM) and embeddings.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-6)
    at_48k = librosa.resample(clips[1], orig_sr=16_000, target_sr=48_000, res_type="soxr_hq")
    np.testing.assert_allclose(
        embeddings[1], _direct_audio_embedding(model, processor, at_48k), atol=1e-5
    )
    assert not np.allclose(embeddings[0], embeddings[2], atol=1e-3)  # different sounds differ


def test_audio_embeddings_are_deterministic_and_batch_independent(loaded, clips):
    together = clap_audio_embeddings(*loaded, clips, 16_000, batch_size=3)
    again = clap_audio_embeddings(*loaded, clips, 16_000, batch_size=3)
    one_by_one = np.concatenate([clap_audio_embeddings(*loaded, [c], 16_000) for c in clips])
    np.testing.assert_array_equal(together, again)
    np.testing.assert_allclose(together, one_by_one, atol=1e-5)
    # Already at 48 kHz: no resampling, same embedding as resampling inside.
    at_48k = librosa.resample(clips[0], orig_sr=16_000, target_sr=48_000, res_type="soxr_hq")
    np.testing.assert_allclose(
        clap_audio_embeddings(*loaded, [at_48k], 48_000)[0], together[0], atol=1e-6
    )


def test_clips_longer_than_the_window_use_their_first_ten_seconds(loaded):
    rng = np.random.default_rng(1)
    long_clip = 0.1 * rng.standard_normal(12 * 16_000)
    first_ten = long_clip[: 10 * 16_000]
    twice = [clap_audio_embeddings(*loaded, [long_clip], 16_000)[0] for _ in range(2)]
    np.testing.assert_array_equal(twice[0], twice[1])
    reference = clap_audio_embeddings(*loaded, [first_ten], 16_000)[0]
    # Resampling the whole clip or its first 10 s differs only near the cut.
    assert float(twice[0] @ reference) > 0.999


def test_text_embeddings_match_the_model_and_do_not_depend_on_batching(saved, loaded):
    _, model, processor = saved
    prompts = ["rock music", "man speaking", "woman speaking"]
    embeddings = clap_text_embeddings(*loaded, prompts, batch_size=2)
    assert embeddings.shape == (3, PROJECTION_DIM)
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-6)
    one_by_one = np.concatenate([clap_text_embeddings(*loaded, [p]) for p in prompts])
    np.testing.assert_allclose(embeddings, one_by_one, atol=1e-5)
    tokens = processor.tokenizer([prompts[1]], return_tensors="pt")
    with torch.no_grad():
        direct = model.get_text_features(**tokens).pooler_output[0].numpy()
    np.testing.assert_allclose(embeddings[1], direct / np.linalg.norm(direct), atol=1e-5)
    assert not np.allclose(embeddings[1], embeddings[2], atol=1e-3)


def test_a_model_in_the_local_hugging_face_cache_loads_by_its_id(saved, clips, tmp_path):
    commit = "fedcba9876543210fedcba9876543210fedcba98"
    entry = tmp_path / "hub" / "models--laion--clap-htsat-unfused"
    (entry / "refs").mkdir(parents=True)
    (entry / "refs" / "main").write_text(commit)
    shutil.copytree(saved[0], entry / "snapshots" / commit)
    cached = load_clap("laion/clap-htsat-unfused", cache_dir=tmp_path / "hub")
    np.testing.assert_array_equal(
        clap_audio_embeddings(*cached, clips[:1], 16_000),
        clap_audio_embeddings(*load_clap(saved[0]), clips[:1], 16_000),
    )


def test_missing_models_and_bad_inputs_are_clear_errors(loaded, tmp_path):
    with pytest.raises(InputError, match=r"recon\.clap\.path: .*nowhere does not exist"):
        load_clap(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"features\.clap: .*empty has no config\.json"):
        load_clap(tmp_path / "empty", config_key="features.clap")
    with pytest.raises(InputError, match=r"cannot load a CLAP model .*laion/not-cached"):
        load_clap("laion/not-cached", cache_dir=tmp_path / "hub")
    with pytest.raises(InputError, match="clip 1 must be a non-empty mono waveform"):
        clap_audio_embeddings(*loaded, [np.zeros(100), np.zeros((2, 100))], 16_000)
    with pytest.raises(InputError, match="non-empty prompts"):
        clap_text_embeddings(*loaded, ["rock music", "  "])
