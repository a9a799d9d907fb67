"""AudioMAE features (C2F-LDM section 2.1): Kaldi fbank, input scaling, patches, N_patch, model,
official checkpoint mapping and the m_upp upper bound. Models are tiny; every test takes seconds."""

from __future__ import annotations

import argparse

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from audiobrain.io import InputError
from audiobrain.recon.audiomae import (
    AudioMAE,
    AudioMAEConfig,
    audiomae_input,
    convert_official_state_dict,
    denormalise_fbank,
    kaldi_fbank,
    load_audiomae,
    m_upp,
    n_patch_for_duration,
    normalise_fbank,
    patchify,
    to_official_state_dict,
    unpatchify,
)

SR = 16_000
# The official repository's AudioSet statistics (main_pretrain.py, norm_stats['audioset']).
OFFICIAL_MEAN, OFFICIAL_STD = -4.2677393, 4.5689974
TINY = {
    "embed_dim": 16,
    "depth": 2,
    "num_heads": 2,
    "decoder_embed_dim": 16,
    "decoder_depth": 4,  # two plain and two shifted blocks
    "decoder_num_heads": 4,
    "meta_hidden_dim": 8,
}


def tiny_config(**overrides) -> AudioMAEConfig:
    return AudioMAEConfig(**{**TINY, **overrides})


def tone_signal(seconds: float, seed: int = 0) -> np.ndarray:
    """A tone with harmonics, a chirp and noise: energy in most mel bands, float32 in [-1, 1]."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    tone = 0.3 * sum(np.sin(2 * np.pi * 220 * k * t) / k for k in range(1, 6))
    chirp = 0.2 * np.sin(2 * np.pi * (100 * t + 3000 * t**2 / seconds))
    return (tone + chirp + 0.02 * rng.standard_normal(t.size)).astype(np.float32)


# --- Kaldi filterbank ----------------------------------------------------------------------------


def kaldi_native(waveform: np.ndarray, n_mels: int) -> np.ndarray:
    knf = pytest.importorskip("kaldi_native_fbank")
    options = knf.FbankOptions()
    options.frame_opts.samp_freq = SR
    options.frame_opts.dither = 0.0
    options.frame_opts.window_type = "hanning"
    options.mel_opts.num_bins = n_mels
    options.use_energy = False
    options.htk_compat = True
    fbank = knf.OnlineFbank(options)
    fbank.accept_waveform(SR, waveform.tolist())
    fbank.input_finished()
    return np.stack([fbank.get_frame(i) for i in range(fbank.num_frames_ready)])


@pytest.mark.parametrize("n_mels", [23, 80, 120])
def test_fbank_equals_kaldi_native_fbank(n_mels):
    # Kaldi refuses 128 bands on a 512-point FFT (one band gets no FFT bin); torchaudio, and so
    # AudioMAE, accepts it. The library itself is compared at every band count it accepts.
    waveform = tone_signal(0.8)
    expected = kaldi_native(waveform, n_mels)
    found = kaldi_fbank(waveform, n_mels=n_mels).numpy()
    assert found.shape == expected.shape == (1 + (waveform.size - 400) // 160, n_mels)
    np.testing.assert_allclose(found, expected, atol=1e-3, rtol=0)


def kaldi_loop_reference(waveform: np.ndarray, n_mels: int) -> np.ndarray:
    """Kaldi's compute-fbank-feats, frame by frame, from its documented steps (float64)."""
    window, shift, n_fft = 400, 160, 512

    def mel(f):
        return 1127.0 * np.log(1.0 + f / 700.0)

    low, high = mel(20.0), mel(SR / 2)
    delta = (high - low) / (n_mels + 1)
    banks = np.zeros((n_mels, n_fft // 2))
    for band in range(n_mels):
        left, center, right = low + band * delta, low + (band + 1) * delta, low + (band + 2) * delta
        for k in range(n_fft // 2):
            m = mel(k * SR / n_fft)
            if left < m < right:
                banks[band, k] = (
                    (m - left) / (center - left) if m <= center else (right - m) / (right - center)
                )
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(window) / (window - 1))
    frames = []
    for start in range(0, waveform.size - window + 1, shift):
        frame = waveform[start : start + window].astype(np.float64)
        frame = frame - frame.mean()
        frame = np.concatenate([[frame[0] - 0.97 * frame[0]], frame[1:] - 0.97 * frame[:-1]])
        power = np.abs(np.fft.rfft(frame * hann, n_fft)) ** 2
        energies = banks @ power[: n_fft // 2]
        frames.append(np.log(np.maximum(energies, np.finfo(np.float32).eps)))
    return np.array(frames)


def test_fbank_128_bands_equals_loop_reference():
    waveform = tone_signal(0.3, seed=1)
    expected = kaldi_loop_reference(waveform, 128)
    found = kaldi_fbank(waveform).numpy()
    assert found.shape == expected.shape == (28, 128)
    np.testing.assert_allclose(found, expected, atol=1e-4, rtol=0)
    # Band 3 (about 60-90 Hz) holds no FFT bin and sits at log(eps), as in torchaudio's fbank.
    at_floor = np.all(found == np.float32(np.log(np.finfo(np.float32).eps)), axis=0)
    assert np.flatnonzero(at_floor).tolist() == [3]


def test_fbank_batches_and_short_input():
    clips = np.stack([tone_signal(0.5, seed) for seed in range(3)])
    batched = kaldi_fbank(torch.from_numpy(clips))
    for index, clip in enumerate(clips):
        np.testing.assert_array_equal(batched[index].numpy(), kaldi_fbank(clip).numpy())
    assert kaldi_fbank(np.zeros(399)).shape == (0, 128)


# --- AudioMAE input: tiling, framing, normalisation ---------------------------------------------


def test_input_tiles_to_ten_seconds_pads_and_normalises():
    clip = tone_signal(1.5)  # 24,000 samples, tiled 6.67 times
    mel = audiomae_input(clip)
    assert mel.shape == (1, 1, 128, 1024) and mel.dtype == torch.float32

    tiled = np.tile(clip.astype(np.float64), 7)[: 10 * SR]
    tiled -= tiled.mean()
    fbank = kaldi_fbank(tiled).numpy()
    assert fbank.shape == (998, 128)  # 1 + (160000 - 400) // 160
    expected = (fbank - OFFICIAL_MEAN) / (2 * OFFICIAL_STD)
    np.testing.assert_allclose(mel[0, 0, :, :998].numpy(), expected.T, atol=1e-6)
    # Frames 998-1023 are zero log-mel padding, normalised like the rest.
    padding = (0.0 - OFFICIAL_MEAN) / (2 * OFFICIAL_STD)
    np.testing.assert_allclose(mel[0, 0, :, 998:].numpy(), padding, rtol=1e-6)
    # The tiled copies repeat: frames one clip length (150 frames) apart are equal.
    np.testing.assert_allclose(
        mel[0, 0, :, 10:140].numpy(), mel[0, 0, :, 160:290].numpy(), atol=1e-4
    )


def test_input_batch_equals_single_clips_and_scaling_inverts():
    clips = np.stack([tone_signal(2.0, seed) for seed in range(2)])
    batched = audiomae_input(clips)
    for index, clip in enumerate(clips):
        torch.testing.assert_close(batched[index : index + 1], audiomae_input(clip))
    fbank = torch.randn(5, 128, dtype=torch.float64)
    torch.testing.assert_close(denormalise_fbank(normalise_fbank(fbank)), fbank)


def test_input_rejects_wrong_rate_short_clips_and_bad_shapes():
    with pytest.raises(InputError, match="16000 Hz, got 22050 Hz"):
        audiomae_input(tone_signal(1.0), sr_hz=22050)
    with pytest.raises(InputError, match="shorter than one patch column"):
        audiomae_input(np.zeros(2799))
    audiomae_input(np.ones(2800))  # exactly one column of 16 frames
    with pytest.raises(InputError, match="expected a waveform"):
        audiomae_input(np.zeros((2, 2, 4000)))
    with pytest.raises(InputError, match="NaN"):
        audiomae_input(np.full(4000, np.nan))


# --- Patches and N_patch -------------------------------------------------------------------------


def test_patch_order_is_audiomae_and_round_trips():
    frames, mels = torch.meshgrid(torch.arange(1024), torch.arange(128), indexing="ij")
    mel = (1000 * frames + mels).T.reshape(1, 1, 128, 1024).float()  # value = 1000 * frame + bin
    patches = patchify(mel)
    assert patches.shape == (1, 512, 256)
    # Patch k is time column k // 8 and mel row k % 8; inside it, frames run slowest.
    for k, i, j in [(0, 0, 0), (1, 0, 0), (8, 3, 5), (511, 15, 15), (77, 9, 2)]:
        column, row = divmod(k, 8)
        assert patches[0, k, 16 * i + j] == 1000 * (16 * column + i) + (16 * row + j)
    torch.testing.assert_close(unpatchify(patches), mel)
    other = torch.randn(3, 1, 128, 1024)
    torch.testing.assert_close(unpatchify(patchify(other)), other)
    # The first 8 n patches are exactly the first 16 n frames.
    first = unpatchify(torch.cat([patches[:, :208], torch.zeros(1, 304, 256)], dim=1))
    torch.testing.assert_close(first[..., :416], mel[..., :416])


def test_n_patch_reproduces_the_paper():
    assert n_patch_for_duration(4.0) == 208  # Brain2Sound: 4 s windows of the 8 s clips
    assert n_patch_for_duration(1.5) == 80  # Brain2Music
    assert n_patch_for_duration(2.0) == 112  # Brain2Speech
    assert n_patch_for_duration(8.0) == 400
    assert n_patch_for_duration(12.0) == 512  # AudioMAE sees 10 s at most
    assert n_patch_for_duration(2.0, column_multiple=1) == 104  # plain ceiling: 13 columns
    with pytest.raises(InputError, match="shorter than one patch column"):
        n_patch_for_duration(0.1)


# --- Model ---------------------------------------------------------------------------------------


def test_features_are_the_first_tokens_of_the_frozen_encoder():
    model = AudioMAE(tiny_config(), seed=3)
    assert not any(p.requires_grad for p in model.encoder.parameters())
    assert all(p.requires_grad for p in model.decoder.parameters())
    model.train()
    assert not model.encoder.training and model.decoder.training
    model.eval()
    clips = np.stack([tone_signal(2.0, seed) for seed in range(3)])
    features = model.features(clips, n_patch=112, batch_size=2)
    assert features.shape == (3, 112, 16)
    with torch.no_grad():
        tokens = model.encode(audiomae_input(clips))
    assert tokens.shape == (3, 512, 16)
    torch.testing.assert_close(features, tokens[:, :112])
    torch.testing.assert_close(AudioMAE(tiny_config(), seed=3).features(clips, 112), features)
    assert not torch.allclose(AudioMAE(tiny_config(), seed=4).features(clips, 112), features)
    with pytest.raises(InputError, match="multiple of 8"):
        model.features(clips, n_patch=100)
    with pytest.raises(InputError, match="16000 Hz"):
        model.features(clips, n_patch=112, sr_hz=48_000)


def test_m_upp_restores_standardised_patches():
    # The pretrained decoder (norm_pix_loss) predicts every patch standardised by its own mean and
    # unbiased variance; a decoder that got them exactly right must give back the spectrogram.
    model = AudioMAE(tiny_config()).eval()
    mel = torch.cat([audiomae_input(tone_signal(1.5, 0)), audiomae_input(tone_signal(4.0, 1))])
    with torch.no_grad():
        torch.testing.assert_close(m_upp(model, mel), model.decode(model.encode(mel)))
        target = patchify(mel)
        standardised = (target - target.mean(-1, keepdim=True)) / (
            target.var(-1, keepdim=True) + 1e-6
        ).sqrt()
        model.decode = lambda tokens: unpatchify(standardised)
        torch.testing.assert_close(m_upp(model, mel, restore_patch_scale=True), mel)


def test_decoder_gives_hidden_states_and_attends_locally():
    model = AudioMAE(tiny_config()).eval()
    tokens = torch.randn(2, 400, 16)  # 50 time columns seen, 14 filled with the mask token
    with torch.no_grad():
        mel, hidden = model.decode_with_hidden(tokens)
        assert mel.shape == (2, 1, 128, 1024)
        assert len(hidden) == 4 and hidden[0].shape == (2, 512, 16)
        # Local attention: each block mixes windows of 4 time columns (shifted by 2 every other
        # block), so 4 blocks carry a change at column 40 back by at most 12 columns.
        changed = tokens.clone()
        changed[:, 40 * 8 :] += 1.0
        new = model.decode(changed)
        torch.testing.assert_close(new[..., : 28 * 16], mel[..., : 28 * 16])
        assert not torch.allclose(new[..., 36 * 16 : 40 * 16], mel[..., 36 * 16 : 40 * 16])
    with pytest.raises(InputError, match="expected tokens"):
        model.decode(torch.randn(2, 513, 16))
    with pytest.raises(InputError, match="expected spectrograms"):
        model.encode(torch.randn(2, 1, 1024, 128))


# --- Official checkpoint -------------------------------------------------------------------------


def official_shapes(config: AudioMAEConfig) -> dict[str, tuple[int, ...]]:
    """Names and shapes of models_mae.MaskedAutoencoderViT(decoder_mode=1)'s state dict."""
    d, dd, p, n = config.embed_dim, config.decoder_embed_dim, config.patch_size, 513
    hidden, dec_hidden, heads = 4 * d, 4 * dd, config.decoder_num_heads
    shapes = {
        "cls_token": (1, 1, d),
        "pos_embed": (1, n, d),
        "mask_token": (1, 1, dd),
        "decoder_pos_embed": (1, n, dd),
        "patch_embed.proj.weight": (d, 1, p, p),
        "patch_embed.proj.bias": (d,),
        "norm.weight": (d,),
        "norm.bias": (d,),
        "decoder_embed.weight": (dd, d),
        "decoder_embed.bias": (dd,),
        "decoder_norm.weight": (dd,),
        "decoder_norm.bias": (dd,),
        "decoder_pred.weight": (p * p, dd),
        "decoder_pred.bias": (p * p,),
    }
    for i in range(config.depth):
        block = {
            "norm1.weight": (d,),
            "norm1.bias": (d,),
            "attn.qkv.weight": (3 * d, d),
            "attn.qkv.bias": (3 * d,),
            "attn.proj.weight": (d, d),
            "attn.proj.bias": (d,),
            "norm2.weight": (d,),
            "norm2.bias": (d,),
            "mlp.fc1.weight": (hidden, d),
            "mlp.fc1.bias": (hidden,),
            "mlp.fc2.weight": (d, hidden),
            "mlp.fc2.bias": (d,),
        }
        shapes.update({f"blocks.{i}.{k}": v for k, v in block.items()})
    for i in range(config.decoder_depth):
        block = {
            "attn.tau": (heads,),
            "attn.qkv.weight": (3 * dd, dd),
            "attn.qkv.bias": (3 * dd,),
            "attn.proj.weight": (dd, dd),
            "attn.proj.bias": (dd,),
            "attn.meta_mlp.fc1.weight": (config.meta_hidden_dim, 2),
            "attn.meta_mlp.fc1.bias": (config.meta_hidden_dim,),
            "attn.meta_mlp.fc2.weight": (heads, config.meta_hidden_dim),
            "attn.meta_mlp.fc2.bias": (heads,),
            "norm1.weight": (dd,),
            "norm1.bias": (dd,),
            "mlp.fc1.weight": (dec_hidden, dd),
            "mlp.fc1.bias": (dec_hidden,),
            "mlp.fc2.weight": (dd, dec_hidden),
            "mlp.fc2.bias": (dd,),
            "norm2.weight": (dd,),
            "norm2.bias": (dd,),
        }
        shapes.update({f"decoder_blocks.{i}.{k}": v for k, v in block.items()})
    return shapes


def official_state_dict(config: AudioMAEConfig, seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in official_shapes(config).items():
        value = 0.3 * torch.randn(shape, generator=generator)
        if key.endswith(("norm1.weight", "norm2.weight", "norm.weight", "attn.tau")):
            value = 1.0 + value.abs()
        state[key] = value
    return state


def _layer_norm(x, sd, name):
    return F.layer_norm(x, x.shape[-1:], sd[f"{name}.weight"], sd[f"{name}.bias"], eps=1e-6)


def _linear(x, sd, name):
    return F.linear(x, sd[f"{name}.weight"], sd[f"{name}.bias"])


def official_encoder(sd, image, heads):
    """forward_encoder with mask_ratio 0 and no shuffling, from the raw official tensors."""
    x = F.conv2d(image, sd["patch_embed.proj.weight"], sd["patch_embed.proj.bias"], stride=16)
    x = x.flatten(2).transpose(1, 2) + sd["pos_embed"][:, 1:]
    cls = (sd["cls_token"] + sd["pos_embed"][:, :1]).expand(x.shape[0], -1, -1)
    x = torch.cat([cls, x], dim=1)
    batch, length, dim = x.shape
    depth = len({k.split(".")[1] for k in sd if k.startswith("blocks.")})
    for i in range(depth):
        b = f"blocks.{i}"
        h = _linear(_layer_norm(x, sd, f"{b}.norm1"), sd, f"{b}.attn.qkv")
        q, k, v = h.reshape(batch, length, 3, heads, dim // heads).permute(2, 0, 3, 1, 4)
        attn = (q @ k.transpose(-2, -1) * (dim // heads) ** -0.5).softmax(dim=-1)
        h = (attn @ v).transpose(1, 2).reshape(batch, length, dim)
        x = x + _linear(h, sd, f"{b}.attn.proj")
        h = F.gelu(_linear(_layer_norm(x, sd, f"{b}.norm2"), sd, f"{b}.mlp.fc1"))
        x = x + _linear(h, sd, f"{b}.mlp.fc2")
    return _layer_norm(x, sd, "norm")


def _window_partition(x, window):
    b, h, w, c = x.shape
    x = x.view(b, h // window[0], window[0], w // window[1], window[1], c)
    return x.permute(0, 1, 3, 2, 4, 5).contiguous().view(-1, window[0], window[1], c)


def _window_reverse(windows, window, size):
    h, w = size
    b = int(windows.shape[0] / (h * w / window[0] / window[1]))
    x = windows.view(b, h // window[0], w // window[1], window[0], window[1], -1)
    return x.permute(0, 1, 3, 2, 4, 5).contiguous().view(b, h, w, -1)


def _shift_mask(size, window, shift):
    image = torch.zeros(1, *size, 1)
    count = 0
    for hs in (slice(0, -window[0]), slice(-window[0], -shift[0]), slice(-shift[0], None)):
        for ws in (slice(0, -window[1]), slice(-window[1], -shift[1]), slice(-shift[1], None)):
            image[:, hs, ws, :] = count
            count += 1
    windows = _window_partition(image, window).view(-1, window[0] * window[1])
    mask = windows.unsqueeze(1) - windows.unsqueeze(2)
    return mask.masked_fill(mask != 0, -100.0).masked_fill(mask == 0, 0.0)


def official_swin_block(x, sd, b, heads, shift, size=(64, 8), window=(4, 4)):
    """The patched timm SwinTransformerBlock (post-norm, scaled cosine attention)."""
    batch, length, dim = x.shape
    shortcut = x
    h = x.view(batch, *size, dim)
    if any(shift):
        h = torch.roll(h, shifts=(-shift[0], -shift[1]), dims=(1, 2))
    area = window[0] * window[1]
    windows = _window_partition(h, window).view(-1, area, dim)
    qkv = _linear(windows, sd, f"{b}.attn.qkv").view(-1, area, 3, heads, dim // heads)
    q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
    denom = torch.norm(q, dim=-1, keepdim=True) @ torch.norm(k, dim=-1, keepdim=True).transpose(
        -2, -1
    )
    attn = q @ k.transpose(-2, -1) / denom.clamp(min=1e-6)
    attn = attn / sd[f"{b}.attn.tau"].clamp(min=0.01).reshape(1, heads, 1, 1)
    coords = torch.stack(
        torch.meshgrid([torch.arange(window[0]), torch.arange(window[1])], indexing="ij")
    ).flatten(1)
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0).reshape(-1, 2).float()
    rel = torch.sign(rel) * torch.log(1.0 + rel.abs())
    bias = _linear(F.relu(_linear(rel, sd, f"{b}.attn.meta_mlp.fc1")), sd, f"{b}.attn.meta_mlp.fc2")
    attn = attn + bias.transpose(1, 0).reshape(heads, area, area).unsqueeze(0)
    if any(shift):
        mask = _shift_mask(size, window, shift)
        n_windows = mask.shape[0]
        attn = attn.view(-1, n_windows, heads, area, area) + mask.unsqueeze(1).unsqueeze(0)
        attn = attn.view(-1, heads, area, area)
    out = (attn.softmax(dim=-1) @ v).transpose(1, 2).reshape(-1, area, dim)
    out = _linear(out, sd, f"{b}.attn.proj").view(-1, window[0], window[1], dim)
    h = _window_reverse(out, window, size)
    if any(shift):
        h = torch.roll(h, shifts=shift, dims=(1, 2))
    x = shortcut + _layer_norm(h.reshape(batch, length, dim), sd, f"{b}.norm1")
    mlp = _linear(F.gelu(_linear(x, sd, f"{b}.mlp.fc1")), sd, f"{b}.mlp.fc2")
    return x + _layer_norm(mlp, sd, f"{b}.norm2")


def official_decoder(sd, encoded, n_visible, heads):
    """forward_decoder (decoder_mode=1) with the first n_visible patches seen, the rest masked."""
    x = _linear(encoded[:, : 1 + n_visible], sd, "decoder_embed")
    masked = sd["mask_token"].repeat(x.shape[0], 513 - x.shape[1], 1)
    x = torch.cat([x[:, :1], x[:, 1:], masked], dim=1) + sd["decoder_pos_embed"]
    x = x[:, 1:]
    depth = len({k.split(".")[1] for k in sd if k.startswith("decoder_blocks.")})
    for i in range(depth):
        x = official_swin_block(
            x, sd, f"decoder_blocks.{i}", heads, (0, 0) if i % 2 == 0 else (2, 0)
        )
    pred = _linear(_layer_norm(x, sd, "decoder_norm"), sd, "decoder_pred")
    x = pred.reshape(pred.shape[0], 64, 8, 16, 16, 1)  # unpatchify of models_mae.py
    return torch.einsum("nhwpqc->nchpwq", x).reshape(pred.shape[0], 1, 1024, 128)


@pytest.fixture
def official_checkpoint(tmp_path):
    config = tiny_config()
    state = official_state_dict(config)
    path = tmp_path / "pretrained.pth"
    args = argparse.Namespace(model="mae_vit_base_patch16", decoder_mode=1, norm_pix_loss=True)
    torch.save({"model": state, "epoch": 32, "args": args}, path)
    return path, state, config


def test_official_checkpoint_maps_onto_the_module(official_checkpoint):
    path, state, config = official_checkpoint
    model = load_audiomae(path, {**TINY, "checkpoint": str(path)})
    assert not model.training
    exported = to_official_state_dict(model)
    assert exported.keys() == state.keys()
    for key, value in state.items():
        torch.testing.assert_close(exported[key], value, rtol=0, atol=0, msg=key)

    mel = torch.cat([audiomae_input(tone_signal(2.0, 0)), audiomae_input(tone_signal(4.0, 1))])
    with torch.no_grad():
        reference = official_encoder(state, mel.transpose(-1, -2), config.num_heads)
        tokens = model.encode(mel)
        torch.testing.assert_close(tokens, reference[:, 1:], atol=1e-4, rtol=1e-4)
        heads = config.decoder_num_heads
        for n_visible in (512, 112):
            expected = official_decoder(state, reference, n_visible, heads).transpose(-1, -2)
            found = model.decode(tokens[:, :n_visible])
            torch.testing.assert_close(found, expected, atol=1e-4, rtol=1e-4)


def test_contextual_encoder_output_averages_the_last_blocks(official_checkpoint):
    path, state, _ = official_checkpoint
    last = load_audiomae(path, TINY)
    contextual = load_audiomae(
        path, {**TINY, "encoder_output": "contextual", "contextual_depth": 0}
    )
    mel = audiomae_input(tone_signal(2.0))
    with torch.no_grad():
        # contextual_depth 0 with 2 blocks averages only the normed last block: the same tokens.
        torch.testing.assert_close(contextual.encode(mel), last.encode(mel))


def test_checkpoint_errors_name_the_key_and_shapes(official_checkpoint, tmp_path):
    path, state, config = official_checkpoint
    missing = tmp_path / "nowhere.pth"
    with pytest.raises(InputError, match=r"recon\.models\.audiomae\.checkpoint.*nowhere\.pth"):
        load_audiomae(missing, TINY)
    with pytest.raises(InputError, match=r"my\.key.*nowhere\.pth"):
        load_audiomae(missing, TINY, config_key="my.key")

    wrong = dict(state)
    wrong["blocks.1.mlp.fc1.weight"] = torch.zeros(48, 16)
    bad_path = tmp_path / "wrong_shape.pth"
    torch.save({"model": wrong}, bad_path)
    with pytest.raises(InputError, match=r"blocks\.1\.mlp\.fc1\.weight.*\(48, 16\).*\(64, 16\)"):
        load_audiomae(bad_path, TINY)

    with pytest.raises(InputError, match=r"cls_token has shape \(1, 1, 16\).*expects \(1, 1, 32\)"):
        convert_official_state_dict(state, AudioMAE(tiny_config(embed_dim=32)))

    classifier = {k: v for k, v in state.items() if not k.startswith(("decoder", "mask_token"))}
    classifier["head.weight"] = torch.zeros(527, 16)
    with pytest.raises(InputError, match=r"unexpected keys \['head\.weight'\].*decoder_"):
        convert_official_state_dict(classifier, AudioMAE(config))

    not_torch = tmp_path / "notes.pth"
    not_torch.write_text("not a checkpoint")
    with pytest.raises(InputError, match="cannot be read as a torch checkpoint"):
        load_audiomae(not_torch, TINY)


def test_config_checks_its_keys():
    with pytest.raises(InputError, match=r"recon\.models\.audiomae: unknown keys \['embed_dims'\]"):
        AudioMAEConfig.from_mapping({"embed_dims": 16})
    with pytest.raises(InputError, match="not divisible"):
        AudioMAEConfig(embed_dim=18, num_heads=4)
    with pytest.raises(InputError, match="encoder_output"):
        AudioMAEConfig(encoder_output="mean")
    paper = AudioMAEConfig()
    assert (paper.embed_dim, paper.depth, paper.num_heads) == (768, 12, 12)
    assert (paper.decoder_embed_dim, paper.decoder_depth, paper.decoder_num_heads) == (512, 16, 16)
    assert paper.grid == (64, 8) and paper.num_patches == 512
