"""Reconstruction metrics (section 3.1): reference computations, the model loaders, the pipeline."""

from __future__ import annotations

import dataclasses

import librosa
import numpy as np
import pandas as pd
import pytest
import torch
from scipy.linalg import sqrtm
from test_clap import tiny_clap

from audiobrain.demo.speech import synthesize
from audiobrain.io import InputError
from audiobrain.recon.metrics import (
    METRIC_COLUMNS,
    EvaluationModels,
    audio_features,
    average_across_subjects,
    clap_score,
    evaluation_mel,
    frechet_distance,
    frechet_distance_from_stats,
    gaussian_stats,
    kl_divergence,
    load_panns_cnn14,
    load_vggish,
    mel_pcc,
    mel_psnr,
    panns_cnn14,
    panns_outputs,
    reconstruction_metrics,
    vggish_embeddings,
    vggish_model,
)

# The official PyTorch VGGish port's state dict (vggish-10086976.pth): names and shapes.
OFFICIAL_VGGISH_KEYS = {
    "features.0.weight": (64, 1, 3, 3),
    "features.0.bias": (64,),
    "features.3.weight": (128, 64, 3, 3),
    "features.3.bias": (128,),
    "features.6.weight": (256, 128, 3, 3),
    "features.6.bias": (256,),
    "features.8.weight": (256, 256, 3, 3),
    "features.8.bias": (256,),
    "features.11.weight": (512, 256, 3, 3),
    "features.11.bias": (512,),
    "features.13.weight": (512, 512, 3, 3),
    "features.13.bias": (512,),
    "embeddings.0.weight": (4096, 12288),
    "embeddings.0.bias": (4096,),
    "embeddings.2.weight": (4096, 4096),
    "embeddings.2.bias": (4096,),
    "embeddings.4.weight": (128, 4096),
    "embeddings.4.bias": (128,),
}


def scipy_frechet(a: np.ndarray, b: np.ndarray) -> float:
    """The textbook formula with scipy.linalg.sqrtm (pytorch-fid / audioldm_eval)."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    sigma_a, sigma_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = sqrtm(sigma_a @ sigma_b).real
    diff = mu_a - mu_b
    return float(diff @ diff + np.trace(sigma_a) + np.trace(sigma_b) - 2 * np.trace(root))


@pytest.mark.parametrize("n_samples, n_features", [(200, 6), (40, 16), (12, 30)])
def test_frechet_distance_equals_a_direct_scipy_sqrtm_computation(n_samples, n_features):
    rng = np.random.default_rng(n_features)
    mixing = rng.normal(size=(n_features, n_features))
    a = rng.normal(size=(n_samples, n_features)) @ mixing
    b = 0.7 * rng.normal(size=(n_samples + 5, n_features)) @ mixing + 0.5
    expected = scipy_frechet(a, b)
    assert expected > 1.0
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-6)
    # Fewer samples than dimensions goes through sample space: same number as the covariances'.
    from_stats = frechet_distance_from_stats(*gaussian_stats(a), *gaussian_stats(b))
    assert from_stats == pytest.approx(expected, rel=1e-6)
    # Same spread, shifted mean: the distance is the squared shift.
    shift = rng.normal(size=n_features)
    assert frechet_distance(a, a + shift) == pytest.approx(shift @ shift, rel=1e-6, abs=1e-6)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(InputError, match="n_samples >= 2"):
        frechet_distance(a[:1], b)


def test_kl_divergence_is_audioldm_evals_formula():
    rng = np.random.default_rng(0)
    recon, ref = rng.normal(size=(5, 527)) * 3, rng.normal(size=(5, 527)) * 3
    r, t = torch.from_numpy(recon), torch.from_numpy(ref)
    softmax = torch.nn.functional.kl_div(
        (r.softmax(dim=1) + 1e-6).log(), t.softmax(dim=1), reduction="sum"
    ) / len(r)
    sigmoid = torch.nn.functional.kl_div(
        (r.sigmoid() + 1e-6).log(), t.sigmoid(), reduction="sum"
    ) / len(r)
    assert kl_divergence(recon, ref) == pytest.approx(float(softmax), rel=1e-9)
    assert kl_divergence(recon, ref, kind="sigmoid") == pytest.approx(float(sigmoid), rel=1e-9)
    # KL(stimulus || reconstruction): not symmetric, and zero for a perfect reconstruction.
    assert kl_divergence(ref, recon) != pytest.approx(kl_divergence(recon, ref), rel=1e-3)
    # Zero for a perfect reconstruction, up to the 1e-6 audioldm_eval adds over 527 classes.
    assert kl_divergence(ref, ref) == pytest.approx(0.0, abs=1e-3)
    with pytest.raises(InputError, match="paired logits"):
        kl_divergence(recon, ref[:4])


def test_clap_score_is_the_mean_cosine_of_pairs_or_against_one_text():
    recon = np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 3.0]])
    ref = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    assert clap_score(recon, ref) == pytest.approx((1.0 + 0.0 + np.sqrt(0.5)) / 3)
    assert clap_score(recon, np.array([0.0, 5.0])) == pytest.approx((0.0 + 1.0 + np.sqrt(0.5)) / 3)
    with pytest.raises(InputError, match="paired embeddings"):
        clap_score(recon, ref[:2])


def _audioldm_eval_mel(waveform_16k: np.ndarray) -> np.ndarray:
    """audioldm_eval's TacotronSTFT(512, 160, 512, 64, 16000, 50, 8000) and [0, 1] scaling."""
    y = torch.from_numpy((waveform_16k - waveform_16k.mean()).astype(np.float32))[None]
    spec = torch.stft(
        y,
        512,
        hop_length=160,
        win_length=512,
        window=torch.hann_window(512),
        center=True,
        pad_mode="reflect",
        return_complex=True,
    )
    basis = torch.from_numpy(
        librosa.filters.mel(sr=16_000, n_fft=512, n_mels=64, fmin=50, fmax=8000)
    )
    mel = torch.log10(torch.clamp(basis @ spec.abs(), min=1e-5)) * 20 - 20
    return torch.clip((mel + 100) / 100, 0, 1)[0].T.numpy()


@pytest.fixture(scope="module")
def speech():
    waveform, sr_hz = synthesize("Good morning, the fish is fresh.", voice="en")
    return librosa.resample(waveform, orig_sr=sr_hz, target_sr=16_000, res_type="soxr_hq")


def test_evaluation_mel_equals_audioldm_evals_and_pcc_psnr_are_the_textbook_formulas(speech):
    mel = evaluation_mel(speech, 16_000)
    expected = _audioldm_eval_mel(speech)
    assert mel.shape == expected.shape == (1 + speech.size // 160, 64)
    np.testing.assert_allclose(mel, expected, atol=1e-4)
    assert mel.min() >= 0.0 and mel.max() <= 1.0 and mel.std() > 0.05

    rng = np.random.default_rng(0)
    noisy = np.clip(mel + rng.normal(0, 0.1, mel.shape), 0, 1)
    assert mel_pcc(noisy, mel) == pytest.approx(np.corrcoef(noisy.ravel(), mel.ravel())[0, 1])
    mse = np.mean((noisy - mel) ** 2)
    assert mel_psnr(noisy, mel) == pytest.approx(10 * np.log10(1 / mse))
    assert mel_psnr(np.clip(mel + 0.1, 0, 1), mel) > mel_psnr(noisy, mel) - 5
    # A longer reconstruction is compared on the stimulus' frames (aligned at the start).
    longer = np.concatenate([noisy, np.ones((7, 64))])
    assert mel_pcc(longer, mel) == pytest.approx(mel_pcc(noisy, mel))
    assert mel_psnr(longer, mel) == pytest.approx(mel_psnr(noisy, mel))
    assert mel_pcc(mel, mel) == pytest.approx(1.0) and mel_psnr(mel, mel) == np.inf
    assert mel_pcc(np.zeros_like(mel), mel) == 0.0  # a silent reconstruction: no correlation
    with pytest.raises(InputError, match="same n_mels"):
        mel_pcc(mel[:, :32], mel)


@pytest.fixture(scope="module")
def panns(tmp_path_factory):
    torch.manual_seed(0)
    model = panns_cnn14().eval()
    checkpoint = tmp_path_factory.mktemp("panns") / "Cnn14_16k_mAP=0.438.pth"
    torch.save({"model": model.state_dict(), "iteration": 0}, checkpoint)
    yield model, checkpoint
    checkpoint.unlink()  # 324 MB


@pytest.fixture(scope="module")
def vggish(tmp_path_factory):
    torch.manual_seed(0)
    model = vggish_model().eval()
    checkpoint = tmp_path_factory.mktemp("vggish") / "vggish-10086976.pth"
    torch.save(model.state_dict(), checkpoint)
    yield model, checkpoint
    checkpoint.unlink()  # 289 MB


def test_panns_cnn14_loads_from_a_local_checkpoint_and_gives_embeddings_and_logits(panns, speech):
    model, checkpoint = panns
    loaded = load_panns_cnn14(checkpoint)
    assert not loaded.training
    clips = [speech, speech[:8000], 0.5 * speech[::-1].copy()]  # 0.5 s: padded to 2 s
    embeddings, logits = panns_outputs(loaded, clips, 16_000)
    assert embeddings.shape == (3, 2048) and logits.shape == (3, 527)
    with torch.no_grad():
        padded = np.pad(clips[1] - clips[1].mean(), (0, 32_000 - 8000)).astype(np.float32)
        direct = model(torch.from_numpy(padded)[None])
    np.testing.assert_allclose(embeddings[1], direct["embedding"][0].numpy(), atol=1e-5)
    np.testing.assert_allclose(
        1 / (1 + np.exp(-logits[1])), direct["clipwise_output"][0].numpy(), atol=1e-5
    )
    # Equal-length clips are batched; the rows do not depend on it.
    single, _ = panns_outputs(loaded, clips[:1], 16_000)
    np.testing.assert_allclose(embeddings[0], single[0], atol=1e-4)
    pair, _ = panns_outputs(loaded, [clips[0], clips[2]], 16_000, batch_size=2)
    np.testing.assert_allclose(pair, embeddings[[0, 2]], atol=1e-4)


def test_missing_or_misshapen_panns_weights_are_errors_naming_the_config_key(tmp_path):
    with pytest.raises(InputError, match=r"recon\.models\.panns: weight file .* not"):
        load_panns_cnn14(tmp_path / "Cnn14.pth")
    with pytest.raises(InputError, match=r"recon\.models\.panns: no weight file"):
        load_panns_cnn14(None)
    wrong = tmp_path / "wrong.pth"
    # A training checkpoint pickles more than tensors (here a numpy array): still readable.
    payload = {"model": {"fc_audioset.weight": torch.zeros(10, 2048)}, "sampler": np.arange(3)}
    torch.save(payload, wrong)
    with pytest.raises(
        InputError,
        match=r"metrics\.panns \(.*wrong\.pth\): .*"
        r"fc_audioset\.weight: expected \(527, 2048\), found \(10, 2048\)",
    ):
        load_panns_cnn14(wrong, config_key="metrics.panns")


def test_vggish_loads_the_official_port_names_and_embeds_each_096_s_frame(vggish, speech):
    model, checkpoint = vggish
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == OFFICIAL_VGGISH_KEYS
    loaded = load_vggish(checkpoint)
    frames = vggish_embeddings(loaded, [speech[:32_000], speech[:4000]], 16_000)
    assert frames.shape == (2 + 1, 128)  # 2 s -> two frames; 0.25 s padded to one frame
    # Before the final ReLU: torchvggish's own forward (with the ReLU) agrees after one.
    from torchvggish.vggish_input import waveform_to_examples

    examples = waveform_to_examples(speech[:32_000], 16_000, return_tensor=False)
    with torch.no_grad():
        own = model(torch.from_numpy(examples.astype(np.float32))[:, None]).numpy()
    np.testing.assert_allclose(np.maximum(frames[:2], 0), own, atol=1e-5)
    assert (frames < 0).any()  # the pre-activation embedding, as audioldm_eval's FAD uses
    wrong = checkpoint.parent / "wrong.pth"
    torch.save({**model.state_dict(), "embeddings.4.weight": torch.zeros(64, 4096)}, wrong)
    with pytest.raises(
        InputError,
        match=r"fad_key \(.*wrong\.pth\): .*embeddings\.4\.weight: expected \(128, 4096\)",
    ):
        load_vggish(wrong, config_key="fad_key")
    wrong.unlink()
    with pytest.raises(InputError, match=r"recon\.models\.vggish: weight file"):
        load_vggish(checkpoint.parent / "missing.pth")


def test_all_six_metrics_rank_a_faithful_reconstruction_above_a_degraded_one(panns, vggish, speech):
    clap_model, clap_processor = tiny_clap()
    models = EvaluationModels(
        panns=panns[0], vggish=vggish[0], clap_model=clap_model, clap_processor=clap_processor
    )
    t = np.arange(32_000) / 16_000
    stimuli = [speech, 0.3 * np.sin(2 * np.pi * 330 * t), 0.3 * np.sin(2 * np.pi * 660 * t) * t]
    rng = np.random.default_rng(0)
    degraded = [s + 0.05 * rng.standard_normal(s.size) for s in stimuli]
    reference = audio_features(stimuli, 16_000, models)
    perfect = reconstruction_metrics(reference, reference)
    noisy = reconstruction_metrics(audio_features(degraded, 16_000, models), reference)
    assert set(perfect) == set(METRIC_COLUMNS)
    assert perfect["pcc"] == pytest.approx(1.0) and perfect["psnr"] == np.inf
    assert perfect["fd"] == pytest.approx(0.0, abs=1e-3)
    assert perfect["fad"] == pytest.approx(0.0, abs=1e-3)
    assert perfect["kl"] == pytest.approx(0.0, abs=1e-3)
    assert perfect["clap"] == pytest.approx(1.0, abs=1e-6)
    assert noisy["pcc"] < 0.95 and 0 < noisy["psnr"] < 40
    assert noisy["fd"] > perfect["fd"] and noisy["fad"] > perfect["fad"]
    assert noisy["clap"] < perfect["clap"]
    with pytest.raises(InputError, match="3 reconstructions but 2 stimuli"):
        reconstruction_metrics(reference, dataclasses.replace(reference, mels=reference.mels[:2]))


def test_metrics_are_averaged_across_subjects_per_method_prompt_and_pgt():
    rows = []
    for subject, offset in [("S1", 0.0), ("S2", 0.2)]:
        for method, base in [("LiR", 0.3), ("C2F-Decoder", 0.4)]:
            values = dict.fromkeys(METRIC_COLUMNS, base + offset)
            rows.append(
                {"subject": subject, "method": method, "prompt": "none", "p_gt": 0.25, **values}
            )
    table = pd.DataFrame(rows)
    summary = average_across_subjects(table)
    assert list(summary["method"]) == ["LiR", "C2F-Decoder"]
    np.testing.assert_allclose(summary["pcc"], [0.4, 0.5])
    np.testing.assert_allclose(summary["clap"], [0.4, 0.5])
    assert list(summary["n_subjects"]) == [2, 2]
    with pytest.raises(InputError, match="more than one row"):
        average_across_subjects(pd.concat([table, table.iloc[:1]]))
    with pytest.raises(InputError, match=r"missing columns \['fad'\]"):
        average_across_subjects(table.drop(columns="fad"))
