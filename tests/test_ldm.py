"""The latent diffusion model G of C2F-LDM (2.2, eq. 4): training, exact resume, seeded DDIM
sampling with guidance, shapes, pretrained folders, settings. Tiny diffusers models; CPU."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from audiobrain.io import InputError
from audiobrain.recon.acoustic import AcousticDecoder, AcousticModel, AcousticSettings
from audiobrain.recon.audiomae import AudioMAE, AudioMAEConfig
from audiobrain.recon.ldm import (
    LDM,
    LDMSettings,
    build_unet,
    build_vae,
    downsampling,
    load_ldm,
    load_pretrained_unet,
    load_pretrained_vae,
    load_vae,
    sample,
    save_ldm,
    save_vae,
    train_ldm,
    train_vae,
)
from audiobrain.recon.trainer import seeded_module

pytestmark = pytest.mark.usefixtures("one_torch_thread")

D = 16  # AudioMAE embedding size: the UNet's cross_attention_dim
N_PATCH = 4
D_SEM = 6
N_FRAMES, N_MELS = 30, 18  # neither a multiple of the total downsampling (4)
TINY = {
    "unet_block_out_channels": (16, 32),
    "unet_layers_per_block": 1,
    "unet_head_channels": 8,
    "unet_norm_groups": 8,
    "vae_block_out_channels": (8, 16),
    "vae_layers_per_block": 1,
    "vae_latent_channels": 4,
    "vae_norm_groups": 4,
    "unet_learning_rate": 1e-3,
    "acoustic_learning_rate": 1e-3,
    "batch_size": 3,
    "epochs": 2,
    "checkpoint_interval": 2,
    "ddim_steps": 3,
    "guidance_scale": 3.0,
    "vae_learning_rate": 1e-3,
    "vae_epochs": 2,
}


def settings(**overrides) -> LDMSettings:
    return LDMSettings(**{**TINY, **overrides})


@pytest.fixture(scope="module")
def data() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    n = 6
    return {
        "mel_train": (rng.standard_normal((n, N_FRAMES, N_MELS)) - 5.0).astype(np.float32),
        "c_gt_train": rng.standard_normal((n, N_PATCH, D)).astype(np.float32),
        "voxels_train": rng.standard_normal((n, D)).astype(np.float32),
        "s_train": rng.standard_normal((n, D_SEM)).astype(np.float32),
        "s_gt_train": rng.standard_normal((n, D_SEM)).astype(np.float32),
    }


@pytest.fixture(scope="module")
def acoustic() -> AcousticModel:
    """An untrained D_aco (the LDM stage only needs its decoder) with a tiny AudioMAE."""
    config = AudioMAEConfig(
        embed_dim=D,
        depth=1,
        num_heads=2,
        decoder_embed_dim=16,
        decoder_depth=2,
        decoder_num_heads=2,
        meta_hidden_dim=8,
        n_mels=32,
        n_frames=128,
    )
    small = AcousticSettings(n_layers=1, n_heads=2, mlp_ratio=2.0)
    decoder = seeded_module(lambda: AcousticDecoder(D, N_PATCH, D_SEM, small), 0)
    return AcousticModel(decoder.eval(), AudioMAE(config, seed=1).eval(), small)


@pytest.fixture(scope="module")
def vae(data):
    vae, metrics = train_vae(data["mel_train"], settings(), seed=0, checkpoint=None, progress=False)
    assert list(metrics.columns) == ["step", "epoch", "loss", "mse", "kl", "learning_rate"]
    return vae


@pytest.fixture(scope="module")
def ldm(vae) -> LDM:
    return LDM(build_unet(settings(), D, seed=0), vae, settings(), N_MELS)


def train(data, vae, acoustic, checkpoint=None, on_step=None, **overrides):
    return train_ldm(
        build_unet(settings(), D, seed=0),
        vae,
        data["mel_train"],
        data["c_gt_train"],
        settings(**overrides),
        acoustic=acoustic,
        voxels_train=data["voxels_train"],
        s_train=data["s_train"],
        s_gt_train=data["s_gt_train"],
        seed=0,
        checkpoint=checkpoint,
        progress=False,
        on_step=on_step,
    )


def generate(ldm: LDM, c, seed=0, batch_size=3, **overrides) -> np.ndarray:
    config = ldm.settings.scheduler_config()
    return sample(
        ldm.unet,
        ldm.vae,
        config,
        c,
        N_FRAMES,
        N_MELS,
        settings(**overrides),
        seed=seed,
        batch_size=batch_size,
    )


def test_shapes_come_back_at_the_clip_size(ldm, data):
    assert downsampling(ldm.unet, ldm.vae) == 4
    assert downsampling(None, ldm.vae) == 2
    assert ldm.vae.config.scaling_factor != 1.0, "train_vae sets the latent scale"
    mels = generate(ldm, data["c_gt_train"][:2])
    assert mels.shape == (2, N_FRAMES, N_MELS) and mels.dtype == np.float32
    assert np.all(np.isfinite(mels))


def test_equation_4_sums_the_terms_of_c_and_c_gt(data, vae, acoustic):
    model, tuned, metrics = train(data, vae, acoustic)
    assert list(metrics.columns) == [
        "step",
        "epoch",
        "loss",
        "diffusion",
        "diffusion_gt",
        "learning_rate_unet",
        "learning_rate_acoustic",
    ]
    np.testing.assert_allclose(metrics["loss"], metrics["diffusion"] + metrics["diffusion_gt"])
    assert metrics["step"].tolist() == [1, 2, 3, 4]  # 2 epochs of 6 samples in batches of 3
    assert not torch.equal(tuned.decoder.queries, acoustic.decoder.queries), (
        "D_aco is fine-tuned with the UNet"
    )
    assert tuned.audiomae is acoustic.audiomae
    _, none, alone = train(data, vae, None)
    assert none is None
    assert list(alone.columns) == ["step", "epoch", "loss", "diffusion_gt", "learning_rate"]


@pytest.mark.parametrize("p_gt", [0.0, 1.0])
def test_p_gt_and_the_unconditional_draws_reach_d_aco(data, vae, acoustic, p_gt):
    seen = []

    def record(module, inputs):
        if isinstance(module, torch.nn.Linear) and module.in_features == D_SEM:
            seen.append(inputs[0].detach().clone().numpy())

    handle = torch.nn.modules.module.register_module_forward_pre_hook(record)
    try:
        # Every c dropped: D_aco gets no gradient and, without weight decay, keeps its weights.
        _, tuned, _ = train(data, vae, acoustic, p_gt=p_gt, uncond_prob=1.0, weight_decay=0.0)
    finally:
        handle.remove()
    fed = np.concatenate(seen)
    assert len(fed) == 12  # 4 steps of 3
    chosen = data["s_gt_train"] if p_gt else data["s_train"]
    assert all(np.any(np.all(row == chosen, axis=1)) for row in fed)
    before, after = acoustic.decoder.state_dict(), tuned.decoder.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_training_lowers_the_loss_on_a_fixed_batch(data, vae):
    fixed = {name: array[:3] for name, array in data.items()}
    _, _, metrics = train(fixed, vae, None, epochs=60, uncond_prob=0.0, unet_learning_rate=3e-3)
    losses = metrics["loss"].to_numpy()  # noisy: every step draws new t and noise
    assert losses[-10:].mean() < 0.75 * losses[:5].mean()


def test_velocity_prediction_learns_the_velocity_and_samples_with_it(data, vae):
    fixed = {name: array[:3] for name, array in data.items()}
    model, _, velocity = train(fixed, vae, None, prediction_type="v_prediction", epochs=1)
    _, _, noise = train(fixed, vae, None, epochs=1)
    # Same batch, noise and timesteps, another target: the first losses differ.
    assert velocity["loss"].iloc[0] != pytest.approx(noise["loss"].iloc[0], rel=1e-3)
    assert model.settings.scheduler_config()["prediction_type"] == "v_prediction"
    mels = model.sample(fixed["c_gt_train"], N_FRAMES, seed=0)
    assert mels.shape == (3, N_FRAMES, N_MELS) and np.isfinite(mels).all()


class Interrupted(Exception):
    pass


def test_a_resumed_run_ends_with_the_bytes_of_an_uninterrupted_one(data, vae, acoustic, tmp_path):
    whole, whole_acoustic, whole_metrics = train(
        data, vae, acoustic, checkpoint=tmp_path / "a.pt", epochs=3
    )

    def stop_after_three(step):
        if step == 3:
            raise Interrupted

    checkpoint = tmp_path / "b.pt"
    with pytest.raises(Interrupted):
        train(data, vae, acoustic, checkpoint=checkpoint, on_step=stop_after_three, epochs=3)
    assert torch.load(checkpoint, weights_only=True)["state"]["step"] == 2
    resumed, resumed_acoustic, resumed_metrics = train(
        data, vae, acoustic, checkpoint=checkpoint, epochs=3
    )
    assert resumed_metrics.equals(whole_metrics)
    for a, b in (
        (whole.unet, resumed.unet),
        (whole_acoustic.decoder, resumed_acoustic.decoder),
    ):
        state, other = a.state_dict(), b.state_dict()
        assert state.keys() == other.keys()
        assert all(torch.equal(state[k], other[k]) for k in state)
    save_ldm(tmp_path / "whole.pt", whole)
    save_ldm(tmp_path / "resumed.pt", resumed)
    assert (tmp_path / "whole.pt").read_bytes() == (tmp_path / "resumed.pt").read_bytes()


def test_sampling_is_seeded_per_sample(ldm, data):
    c = data["c_gt_train"][:3]
    first = generate(ldm, c, seed=0, batch_size=3)
    np.testing.assert_array_equal(first, generate(ldm, c, seed=0, batch_size=3))
    # Another batch size gives each sample the same noise; CPU kernels round differently.
    one_by_one = generate(ldm, c, seed=0, batch_size=1)
    np.testing.assert_allclose(one_by_one, first, rtol=0, atol=1e-4)
    np.testing.assert_allclose(generate(ldm, c[:1], seed=0, batch_size=1)[0], first[0], atol=1e-4)
    other = generate(ldm, c, seed=1, batch_size=3)
    assert np.abs(other - first).max() > 1e-2


def test_noise_follows_the_given_indices(ldm, data):
    c = data["c_gt_train"][:3]
    alone = ldm.sample(c[2:], N_FRAMES, seed=0, noise_indices=[2])
    np.testing.assert_allclose(alone[0], ldm.sample(c, N_FRAMES, seed=0)[2], atol=1e-5)
    with pytest.raises(InputError, match="3 conditions but"):
        ldm.sample(c, N_FRAMES, seed=0, noise_indices=[0])


def test_the_condition_and_the_guidance_are_used(ldm, data):
    c = data["c_gt_train"][:2]
    guided = generate(ldm, c)
    assert np.abs(generate(ldm, c + 1.0) - guided).max() > 1e-3
    assert np.abs(generate(ldm, c, guidance_scale=1.0) - guided).max() > 1e-3


def test_saved_models_sample_alike(ldm, data, tmp_path):
    save_ldm(tmp_path / "ldm.pt", ldm)
    loaded = load_ldm(tmp_path / "ldm.pt")
    c = data["c_gt_train"][:2]
    np.testing.assert_array_equal(
        loaded.sample(c, N_FRAMES, seed=0), ldm.sample(c, N_FRAMES, seed=0)
    )
    with pytest.raises(InputError, match=r"missing\.pt: file not found \(expected the latent diff"):
        load_ldm(tmp_path / "missing.pt")


def audioldm2_unet(cross_attention_dim=([None, D, 12], [None, D, 12])):
    """AudioLDM2's T-UNet class, tiny: per transformer self-attention, then c, then text."""
    from diffusers import AudioLDM2UNet2DConditionModel

    return seeded_module(
        lambda: AudioLDM2UNet2DConditionModel(
            in_channels=4,
            out_channels=4,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
            block_out_channels=(16, 32),
            layers_per_block=1,
            attention_head_dim=(2, 4),
            norm_num_groups=8,
            cross_attention_dim=list(cross_attention_dim),
        ),
        0,
    )


def test_audioldm2s_unet_reads_c_in_its_first_stream(data, vae, tmp_path):
    audioldm2_unet().save_pretrained(tmp_path / "unet")
    unet = load_pretrained_unet(tmp_path / "unet", D)
    assert type(unet).__name__ == "AudioLDM2UNet2DConditionModel"
    with pytest.raises(InputError, match="pretrained_unet: .*cross_attention_dim = .*d = 8"):
        load_pretrained_unet(tmp_path / "unet", 8)
    audioldm2_unet(([None, D, 12], [None, D, 20])).save_pretrained(tmp_path / "mixed")
    with pytest.raises(InputError, match="second context stream of several sizes \\[12, 20\\]"):
        load_pretrained_unet(tmp_path / "mixed", D)
    fixed = {name: array[:3] for name, array in data.items()}
    model, _, metrics = train_ldm(
        unet,
        vae,
        fixed["mel_train"],
        fixed["c_gt_train"],
        settings(epochs=1),
        seed=0,
        checkpoint=None,
        progress=False,
    )
    assert len(metrics) == 1 and np.isfinite(metrics["loss"]).all()
    c = data["c_gt_train"][:2]
    mels = model.sample(c, N_FRAMES, seed=0)
    assert mels.shape == (2, N_FRAMES, N_MELS) and np.isfinite(mels).all()
    assert np.abs(model.sample(c + 1.0, N_FRAMES, seed=0) - mels).max() > 1e-3
    save_ldm(tmp_path / "ldm.pt", model)
    loaded = load_ldm(tmp_path / "ldm.pt")
    assert type(loaded.unet) is type(unet)
    np.testing.assert_array_equal(loaded.sample(c, N_FRAMES, seed=0), mels)


def test_a_saved_vae_keeps_its_latent_scale_and_decodes_alike(vae, tmp_path):
    save_vae(tmp_path / "vae.pt", vae)
    loaded = load_vae(tmp_path / "vae.pt")
    assert loaded.config.scaling_factor == vae.config.scaling_factor != 1.0
    latent = torch.randn(1, 4, 2, 2, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(loaded.decode(latent).sample, vae.decode(latent).sample)
    vae.save_pretrained(tmp_path / "folder")
    assert load_vae(tmp_path / "folder").config.latent_channels == 4
    with pytest.raises(InputError, match=r"missing\.pt: file not found \(expected the VAE"):
        load_vae(tmp_path / "missing.pt")


def test_pretrained_folders_are_checked(tmp_path):
    build_unet(settings(), 8, seed=0).save_pretrained(tmp_path / "unet")
    with pytest.raises(
        InputError, match="recon.ldm.pretrained_unet: .*cross_attention_dim = 8.*d = 16"
    ):
        load_pretrained_unet(tmp_path / "unet", D)
    assert load_pretrained_unet(tmp_path / "unet", 8).config.cross_attention_dim == 8
    with pytest.raises(InputError, match="recon.ldm.pretrained_unet: .* is not a folder"):
        load_pretrained_unet(tmp_path / "missing", D)
    build_vae(settings(), seed=0).save_pretrained(tmp_path / "vae")
    assert load_pretrained_vae(tmp_path / "vae").config.latent_channels == 4
    with pytest.raises(InputError, match="recon.ldm.pretrained_vae: cannot load"):
        load_pretrained_vae(tmp_path / "unet")


def test_settings_name_bad_keys():
    with pytest.raises(InputError, match="recon.ldm: unknown key\\(s\\) \\['lr'\\]"):
        LDMSettings.from_mapping({"lr": 1e-4})
    with pytest.raises(InputError, match="recon.ldm.uncond_prob: expected 0..1"):
        LDMSettings.from_mapping({"uncond_prob": 2})
    with pytest.raises(InputError, match="recon.ldm.sample_autocast: expected one of"):
        LDMSettings.from_mapping({"sample_autocast": "fp8"})
    with pytest.raises(InputError, match="recon.ldm.prediction_type: expected one of"):
        LDMSettings.from_mapping({"prediction_type": "sample"})
    with pytest.raises(InputError, match="recon.ldm.ddim_steps: must be > 0"):
        LDMSettings.from_mapping({"ddim_steps": 0})
    with pytest.raises(InputError, match="recon.ldm.unet_head_channels: 12 does not divide"):
        build_unet(settings(unet_head_channels=12), D, seed=0)
    loaded = LDMSettings.from_mapping({"unet_learning_rate": "1e-4", "vae_block_out_channels": [4]})
    assert loaded.vae_block_out_channels == (4,) and loaded.unet_learning_rate == 1e-4
    paper = LDMSettings()
    assert (paper.unet_learning_rate, paper.acoustic_learning_rate) == (1e-4, 1e-6)
    assert (paper.batch_size, paper.epochs, paper.p_gt) == (8, 30, 0.25)
    config = paper.scheduler_config()
    assert (config["beta_start"], config["beta_end"], config["num_train_timesteps"]) == (
        0.0015,
        0.0195,
        1000,
    )
