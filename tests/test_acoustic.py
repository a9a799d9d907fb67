"""The acoustic decoder D_aco (C2F-LDM 2.1.2, eq. 1): shapes, losses, P_gt, Fine variant, exact
resume and determinism, bad input. Tiny AudioMAE and decoder; CPU; seconds."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from audiobrain.checkpoints import batch_indices
from audiobrain.io import InputError
from audiobrain.recon.acoustic import (
    AcousticDecoder,
    AcousticSettings,
    acoustic_losses,
    fmri_token,
    load_acoustic,
    predict_acoustic,
    reconstruct_mel,
    save_acoustic,
    train_acoustic,
)
from audiobrain.recon.audiomae import AudioMAE, AudioMAEConfig

pytestmark = pytest.mark.usefixtures("one_torch_thread")

D_SEM = 6
N_PATCH = 8  # 4 time columns of 2 mel rows: the clip covers 64 of the 128 frames
CONFIG = AudioMAEConfig(
    embed_dim=16,
    depth=1,
    num_heads=2,
    decoder_embed_dim=16,
    decoder_depth=2,
    decoder_num_heads=2,
    meta_hidden_dim=8,
    n_mels=32,
    n_frames=128,
)
FAST = {
    "n_layers": 2,
    "n_heads": 2,
    "mlp_ratio": 2.0,
    "batch_size": 4,
    "epochs": 2,
    "checkpoint_interval": 2,
    "learning_rate": 1e-3,
    "audiomae_learning_rate": 1e-3,
}


def settings(**overrides) -> AcousticSettings:
    return AcousticSettings(**{**FAST, **overrides})


@pytest.fixture(scope="module")
def audiomae() -> AudioMAE:
    return AudioMAE(CONFIG, seed=1).eval()


@pytest.fixture(scope="module")
def data(audiomae) -> dict[str, np.ndarray]:
    """Ten samples whose tokens are those of their own mels; s and s_gt far apart."""
    rng = np.random.default_rng(0)
    n = 10
    mel = rng.standard_normal((n, 1, CONFIG.n_mels, CONFIG.n_frames)).astype(np.float32)
    with torch.no_grad():
        c_gt = audiomae.encode(torch.from_numpy(mel))[:, :N_PATCH].numpy()
    return {
        "s_train": (100.0 + rng.standard_normal((n, D_SEM))).astype(np.float32),
        "s_gt_train": (-100.0 + rng.standard_normal((n, D_SEM))).astype(np.float32),
        "voxels_train": rng.standard_normal((n, CONFIG.embed_dim)).astype(np.float32),
        "c_gt_train": c_gt,
        "mel_train": mel,
    }


def train(data, audiomae, checkpoint=None, seed=0, fine=False, **overrides):
    arrays = dict(data)
    if fine:
        arrays.update(s_train=None, s_gt_train=None)
    return train_acoustic(
        **arrays,
        audiomae=audiomae,
        settings=settings(**overrides),
        seed=seed,
        checkpoint=checkpoint,
        progress=False,
    )


def test_shapes_of_c_and_of_the_reconstructed_mel(data, audiomae):
    decoder = AcousticDecoder(CONFIG.embed_dim, N_PATCH, D_SEM, settings())
    c = decoder(torch.zeros(3, CONFIG.embed_dim), torch.zeros(3, D_SEM))
    assert c.shape == (3, N_PATCH, CONFIG.embed_dim)
    model, metrics = train(data, audiomae, epochs=1)
    assert list(metrics.columns) == [
        "step",
        "epoch",
        "loss",
        "cond",
        "perceptual",
        "mel",
        "learning_rate_acoustic",
        "learning_rate_audiomae",
    ]
    assert metrics["step"].tolist() == [1, 2, 3]  # ceil(10 / 4) batches for one epoch
    c = predict_acoustic(model, data["voxels_train"][:5], data["s_train"][:5])
    assert c.shape == (5, N_PATCH, CONFIG.embed_dim) and c.dtype == np.float32
    mel = reconstruct_mel(model, c)
    assert mel.shape == (5, 1, CONFIG.n_mels, CONFIG.n_frames)


def test_the_fmri_token_is_d_model_selected_voxels():
    bold = np.arange(60.0).reshape(3, 20)
    chosen = np.arange(16)[::-1] + 2
    np.testing.assert_array_equal(fmri_token(bold, chosen, 16), bold[:, chosen])
    with pytest.raises(InputError, match="expected 16 selected voxels.*shape \\(15,\\)"):
        fmri_token(bold, np.arange(15), 16)
    with pytest.raises(InputError, match="do not fit"):
        fmri_token(bold, np.arange(16) + 5, 16)


def test_losses_follow_equation_1(audiomae, data):
    c_gt = torch.from_numpy(data["c_gt_train"][:2])
    mel = torch.from_numpy(data["mel_train"][:2])
    with torch.no_grad():
        exact = acoustic_losses(c_gt, c_gt, mel, audiomae, clip_frames=64)
        m_upp, hidden = audiomae.decode_with_hidden(c_gt)
        off = acoustic_losses(c_gt + 1.0, c_gt, mel, audiomae, clip_frames=64)
        _, hidden_off = audiomae.decode_with_hidden(c_gt + 1.0)
    assert exact["cond"] == 0 and exact["perceptual"] == 0
    # With c = c_gt the two mel terms are equal: 2 * mean((m_upp - m)^2) over the clip's frames.
    expected = 2 * ((m_upp - mel)[..., :64] ** 2).mean()
    torch.testing.assert_close(exact["mel"], expected)
    assert off["cond"].item() == pytest.approx(1.0)
    perceptual = sum(((a - b) ** 2).mean() for a, b in zip(hidden_off, hidden, strict=True))
    torch.testing.assert_close(off["perceptual"], perceptual)
    torch.testing.assert_close(off["loss"], off["cond"] + off["perceptual"] + off["mel"])
    # Frames past the clip do not count.
    changed = mel.clone()
    changed[..., 64:] += 5.0
    with torch.no_grad():
        assert acoustic_losses(c_gt, c_gt, changed, audiomae, 64)["mel"] == exact["mel"]


def test_training_lowers_the_loss_on_a_fixed_batch(data, audiomae):
    fixed = {name: array[:4] for name, array in data.items()}
    _, metrics = train(fixed, audiomae, epochs=25, dropout=0.0)
    losses = metrics["loss"].to_numpy()
    assert losses[-5:].mean() < 0.5 * losses[:3].mean()


@pytest.mark.parametrize("p_gt", [0.0, 1.0, 0.5])
def test_p_gt_decides_which_semantic_embedding_is_fed(data, audiomae, p_gt):
    seen = []

    def record(module, inputs):
        if isinstance(module, torch.nn.Linear) and module.in_features == D_SEM:
            seen.append(inputs[0].detach().clone().numpy())

    handle = torch.nn.modules.module.register_module_forward_pre_hook(record)
    try:
        train(data, audiomae, p_gt=p_gt, epochs=2)
    finally:
        handle.remove()
    assert len(seen) == 5  # one batch per step: ceil(2 * 10 / 4)
    n_gt = 0
    for step, fed in enumerate(seen):
        indices = batch_indices(step, 10, 4, seed=0)
        from_gt = np.all(fed == data["s_gt_train"][indices], axis=1)
        from_s = np.all(fed == data["s_train"][indices], axis=1)
        assert np.all(from_gt ^ from_s)
        n_gt += from_gt.sum()
    if p_gt in (0.0, 1.0):
        assert n_gt == p_gt * 20
    else:
        assert 0 < n_gt < 20


def test_the_fine_variant_has_no_semantic_token_and_ignores_s(data, audiomae):
    model, _ = train(data, audiomae, fine=True, epochs=1)
    assert model.decoder.semantic_projection is None
    voxels = data["voxels_train"][:3]
    without = predict_acoustic(model, voxels)
    with_s = predict_acoustic(model, voxels, np.ones((3, D_SEM), dtype=np.float32))
    np.testing.assert_array_equal(without, with_s)
    semantic, _ = train(data, audiomae, epochs=1)
    with pytest.raises(InputError, match="s must be \\(3, 6\\)"):
        predict_acoustic(semantic, voxels)
    # The semantic variant does use s: another embedding gives another c (a prompt, section 2.3).
    other = predict_acoustic(semantic, voxels, data["s_gt_train"][:3])
    assert not np.allclose(predict_acoustic(semantic, voxels, data["s_train"][:3]), other)


class Interrupted(Exception):
    pass


def test_a_resumed_run_ends_with_the_bytes_of_an_uninterrupted_one(data, audiomae, tmp_path):
    whole, whole_metrics = train(data, audiomae, epochs=3, checkpoint=tmp_path / "a.pt")
    save_acoustic(tmp_path / "whole.pt", whole)

    def stop_after_three(step):
        if step == 3:
            raise Interrupted

    checkpoint = tmp_path / "b.pt"
    with pytest.raises(Interrupted):
        train_acoustic(
            **data,
            audiomae=audiomae,
            settings=settings(epochs=3),
            seed=0,
            checkpoint=checkpoint,
            progress=False,
            on_step=stop_after_three,
        )
    assert torch.load(checkpoint, weights_only=True)["state"]["step"] == 2
    resumed, resumed_metrics = train(data, audiomae, epochs=3, checkpoint=checkpoint)
    save_acoustic(tmp_path / "resumed.pt", resumed)
    assert (tmp_path / "resumed.pt").read_bytes() == (tmp_path / "whole.pt").read_bytes()
    assert resumed_metrics.equals(whole_metrics)


def test_same_seed_same_bytes_and_the_saved_model_predicts_alike(data, audiomae, tmp_path):
    models = {}
    for name, seed in (("first", 0), ("second", 0), ("other", 1)):
        models[name], _ = train(data, audiomae, seed=seed)
        save_acoustic(tmp_path / f"{name}.pt", models[name])
    first = (tmp_path / "first.pt").read_bytes()
    assert first == (tmp_path / "second.pt").read_bytes()
    assert first != (tmp_path / "other.pt").read_bytes()
    loaded = load_acoustic(tmp_path / "first.pt", audiomae)
    voxels, s = data["voxels_train"][:3], data["s_train"][:3]
    np.testing.assert_array_equal(
        predict_acoustic(loaded, voxels, s), predict_acoustic(models["first"], voxels, s)
    )
    c = data["c_gt_train"][:2]
    np.testing.assert_array_equal(reconstruct_mel(loaded, c), reconstruct_mel(models["first"], c))
    with torch.no_grad():
        pretrained = audiomae.decode(torch.from_numpy(c)).numpy()
    assert not np.allclose(reconstruct_mel(loaded, c), pretrained), "decoder was fine-tuned"


def test_bad_input_is_named(data, audiomae):
    with pytest.raises(InputError, match="voxels_train must be \\(n, 16\\).*got \\(10, 15\\)"):
        train(dict(data, voxels_train=data["voxels_train"][:, :15]), audiomae)
    with pytest.raises(InputError, match="differ in length.*'mel_train': 9"):
        train(dict(data, mel_train=data["mel_train"][:9]), audiomae)
    with pytest.raises(InputError, match="s_train and s_gt_train, or neither"):
        train(dict(data, s_gt_train=None), audiomae)
    with pytest.raises(InputError, match="c_gt_train must be \\(n, N_patch, 16\\)"):
        train(dict(data, c_gt_train=data["c_gt_train"][:, :7]), audiomae)
    with pytest.raises(InputError, match="recon.acoustic: unknown key\\(s\\) \\['lr'\\]"):
        AcousticSettings.from_mapping({"lr": 1e-3}, "recon.acoustic")
    with pytest.raises(InputError, match="recon.acoustic.batch_size: must be > 0"):
        AcousticSettings.from_mapping({"batch_size": 0})
    with pytest.raises(InputError, match="recon.acoustic.epochs: expected int, got 'many'"):
        AcousticSettings.from_mapping({"epochs": "many"})
    with pytest.raises(InputError, match="p_gt: expected 0..1"):
        AcousticSettings.from_mapping({"p_gt": 1.5})
    # YAML reads 1e-6 as a string; it is still a number.
    assert AcousticSettings.from_mapping({"learning_rate": "1e-6"}).learning_rate == 1e-6
    assert AcousticSettings() == AcousticSettings.from_mapping({})
    paper = AcousticSettings()
    assert (paper.n_layers, paper.learning_rate, paper.batch_size, paper.p_gt) == (4, 1e-6, 8, 0.25)
