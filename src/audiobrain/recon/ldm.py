"""The latent diffusion model G: c -> mel of C2F-LDM (sections 2.2, 2.3, A.2), with diffusers.

The paper follows AudioLDM2's formulation and initialises from its checkpoints; what it does not
state is taken from AudioLDM2's own configuration (``audioldm2/utils.py`` of its code):

- The vocoder's log-mel ``(n_frames, n_mels)`` is a one-channel image ``(1, n_frames, n_mels)``
  for a VAE (``AutoencoderKL``); its latent is multiplied by ``vae.config.scaling_factor``.
  AudioLDM2 sets that factor to one over the standard deviation of training latents
  (``scale_by_std``); :func:`train_vae` does the same for the demo's small VAE.
- The T-UNet is a ``UNet2DConditionModel`` whose transformer blocks cross-attend to
  ``c (N_patch, d)``, the AudioMAE tokens (``cross_attention_dim = d``). As in AudioLDM2 every
  block but the first, and the middle block, has attention.
- Training is DDPM with epsilon prediction on AudioLDM2's schedule (1000 steps, scaled-linear
  betas 0.0015 to 0.0195); sampling is DDIM with classifier-free guidance.
- Guidance needs an unconditional input. AudioLDM2 drops its conditions with probability 0.1
  while training; here a dropped ``c`` becomes all zeros, which is also the unconditional input
  at sampling. The paper gives neither (``uncond_prob``).

Equation 4 sums two noise-prediction errors under one expectation, so both terms share ``z_t``,
``epsilon`` and ``t``: one conditioned on ``c`` from D_aco (fine-tuned at the same time, fed the
semantic embedding with P_gt mixing as in its own training), one on ``c_gt``. Each squared norm is
a mean over elements, as in :mod:`audiobrain.recon.acoustic`. The VAE stays frozen.

The mel is padded to a multiple of the total downsampling (VAE x UNet) with the vocoder front
end's log floor, ``log(1e-5)`` (silence, what AudioLDM2 pads clips with), and cut back to the
clip's frames and bins after decoding.

Sampling draws each sample's initial noise from its own generator seeded with
``(seed, sample index)`` and DDIM runs with ``eta = 0``, so the batch size does not change which
noise a sample starts from: the same call gives the same bytes on CPU, and calls with another
batch size agree to float rounding only (about 1e-6), because CPU convolutions and matrix
products choose their blocking, and so their summation order, by the batch shape.

:func:`load_pretrained_unet` takes a local diffusers folder holding either class of T-UNet: a
``UNet2DConditionModel`` cross-attending to ``d`` channels, or AudioLDM2's released
``AudioLDM2UNet2DConditionModel``, whose transformers read two streams: the generated AudioMAE
tokens (``d`` = 768, where ``c`` goes) and Flan-T5's text embeddings (``audioldm2-full``). C2F-LDM
has no text for the second stream; it gets one all-zero token (:func:`denoise`), so it adds a
constant that fine-tuning adapts to.
"""

from __future__ import annotations

import copy
import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL, DDIMScheduler, DDPMScheduler, UNet2DConditionModel
from torch import nn

from audiobrain.io import InputError, load_torch, save_torch
from audiobrain.recon.acoustic import AcousticModel, mix_semantic
from audiobrain.recon.trainer import (
    ParamGroup,
    Schedule,
    array_digest,
    batched,
    fit,
    seeded_module,
    settings_from_mapping,
    state_digest,
    tensor_batch,
)

PathLike = str | os.PathLike
CONFIG_KEY = "recon.ldm"
MEL_LOG_FLOOR = math.log(1e-5)  # log of the vocoder front ends' magnitude floor: silence
BETA_SCHEDULES = ("linear", "scaled_linear", "squaredcos_cap_v2")
PREDICTION_TYPES = ("epsilon", "v_prediction")
AUTOCAST_DTYPES = {"none": None, "bf16": torch.bfloat16, "fp16": torch.float16}
ENCODE_BATCH = 16  # mels per VAE call when measuring the latent scale


@dataclass(frozen=True)
class LDMSettings:
    """Sizes, noise schedule, training and sampling of G.

    From the paper (A.2): the learning rates, batch size, epochs and ``p_gt`` (2.1.2). From
    AudioLDM2's configuration (the paper names only the formulation): the UNet and VAE sizes
    (audioldm2-full), the noise schedule, ``uncond_prob`` (its ``unconditional_prob_cfg``),
    ``ddim_steps`` and ``guidance_scale`` (its evaluation defaults). Neither gives the weight
    decay (AdamW's default), the pad value (module docstring) or the demo VAE's training
    (``vae_*`` learning rate, epochs and KL weight; AudioLDM2's VAE is pretrained).
    ``pretrained_unet``/``pretrained_vae``: local diffusers folders; empty builds the model
    from the size fields (and, for the VAE, trains it with :func:`train_vae`), and a UNet is
    then first trained on the stimuli's ``c_gt`` for ``pretrain_epochs`` (the demo's stand-in
    for AudioLDM2's pretraining, which conditions on AudioMAE tokens too).
    ``vae_min_pcc``/``vae_check_clips``: the pre-flight check of a pretrained VAE
    (:func:`audiobrain.recon.preflight.vae_check`): the mean mel PCC of ``vae_check_clips``
    training mels with their encode-decode round trip must reach ``vae_min_pcc``. Neither the
    paper nor AudioLDM2 names a value; 0.8 is a floor for a VAE that fits its mels (a random
    one gives about 0; AudioLDM2's own on its front end is not measured here, as no weights can
    be downloaded).
    ``prediction_type``: AudioLDM2 predicts the noise (``epsilon``), which a pretrained UNet
    needs. A UNet trained from scratch for minutes (the demo) learns the high-noise steps, where
    the sample's layout is decided from ``c``, far better by predicting the velocity
    (``v_prediction``, Salimans & Ho 2022): on the demo, G from ``c_gt`` scored mel PCC 0.25
    with epsilon (below the training mean mel's 0.42) and 0.69 with velocity, same steps.
    """

    unet_block_out_channels: tuple[int, ...] = (128, 256, 384, 640)
    unet_layers_per_block: int = 2
    unet_head_channels: int = 32  # channels per attention head (AudioLDM2's num_head_channels)
    unet_norm_groups: int = 32
    vae_block_out_channels: tuple[int, ...] = (128, 256, 512)
    vae_layers_per_block: int = 2
    vae_latent_channels: int = 8
    vae_norm_groups: int = 32
    num_train_timesteps: int = 1000
    beta_schedule: str = "scaled_linear"
    beta_start: float = 0.0015
    beta_end: float = 0.0195
    prediction_type: str = "epsilon"  # AudioLDM2's; or "v_prediction" (see the class docstring)
    unet_learning_rate: float = 1e-4  # A.2
    acoustic_learning_rate: float = 1e-6  # A.2: D_aco
    weight_decay: float = 0.01
    batch_size: int = 8  # A.2
    epochs: int = 30  # A.2: 30 (Brain2Sound, Brain2Speech) or 40 (Brain2Music)
    checkpoint_interval: int = 500  # steps
    p_gt: float = 0.25  # 2.1.2
    uncond_prob: float = 0.1
    ddim_steps: int = 200
    guidance_scale: float = 3.5
    sample_batch_size: int = 8
    sample_autocast: str = "bf16"  # on CUDA only; CPU sampling stays float32 (same bytes)
    mel_pad_value: float = MEL_LOG_FLOOR
    vae_learning_rate: float = 1e-4
    vae_epochs: int = 30
    vae_kl_weight: float = 1e-4  # on the mean KL per latent element, next to the mean MSE
    pretrain_epochs: int = 0  # without pretrained_unet: G's epochs on (c_gt, mel) of the stimuli
    pretrained_unet: str = ""
    pretrained_vae: str = ""
    vae_min_pcc: float = 0.8
    vae_check_clips: int = 64

    POSITIVE: ClassVar[tuple[str, ...]] = (
        "unet_layers_per_block",
        "unet_head_channels",
        "unet_norm_groups",
        "vae_layers_per_block",
        "vae_latent_channels",
        "vae_norm_groups",
        "num_train_timesteps",
        "beta_start",
        "beta_end",
        "unet_learning_rate",
        "acoustic_learning_rate",
        "batch_size",
        "epochs",
        "checkpoint_interval",
        "ddim_steps",
        "sample_batch_size",
        "vae_learning_rate",
        "vae_epochs",
        "vae_check_clips",
    )

    def __post_init__(self) -> None:
        for name in ("p_gt", "uncond_prob", "vae_min_pcc"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise InputError(
                    f"config {CONFIG_KEY}.{name}: expected 0..1, got {getattr(self, name)}"
                )
        for name in ("unet_block_out_channels", "vae_block_out_channels"):
            if not getattr(self, name) or min(getattr(self, name)) < 1:
                raise InputError(f"config {CONFIG_KEY}.{name}: expected positive channel counts")
        if self.beta_schedule not in BETA_SCHEDULES:
            raise InputError(
                f"config {CONFIG_KEY}.beta_schedule: expected one of {BETA_SCHEDULES}, got "
                f"{self.beta_schedule!r}"
            )
        if self.prediction_type not in PREDICTION_TYPES:
            raise InputError(
                f"config {CONFIG_KEY}.prediction_type: expected one of {PREDICTION_TYPES}, got "
                f"{self.prediction_type!r}"
            )
        if self.sample_autocast not in AUTOCAST_DTYPES:
            raise InputError(
                f"config {CONFIG_KEY}.sample_autocast: expected one of {tuple(AUTOCAST_DTYPES)}, "
                f"got {self.sample_autocast!r}"
            )
        if self.ddim_steps > self.num_train_timesteps:
            raise InputError(
                f"config {CONFIG_KEY}.ddim_steps: {self.ddim_steps} exceeds the "
                f"{self.num_train_timesteps} training timesteps"
            )
        if self.guidance_scale < 0 or self.vae_kl_weight < 0 or self.weight_decay < 0:
            raise InputError(
                f"config {CONFIG_KEY}: guidance_scale, vae_kl_weight and weight_decay must be >= 0"
            )

    @classmethod
    def from_mapping(cls, mapping, where: str = CONFIG_KEY) -> LDMSettings:
        """From the config section ``where``; unknown keys are an InputError naming them."""
        return settings_from_mapping(cls, mapping, where, cls.POSITIVE)

    def schedule(self) -> Schedule:
        return Schedule(self.epochs, self.batch_size, self.checkpoint_interval, self.weight_decay)

    def scheduler_config(self) -> dict:
        """DDIM's config on the training schedule (AudioLDM2's: no clipping, leading steps)."""
        return {
            "num_train_timesteps": self.num_train_timesteps,
            "beta_schedule": self.beta_schedule,
            "beta_start": self.beta_start,
            "beta_end": self.beta_end,
            "prediction_type": self.prediction_type,
            "clip_sample": False,
            "set_alpha_to_one": False,
            "steps_offset": 1,
        }


@dataclass
class LDM:
    """A trained G: the UNet, its frozen VAE, the settings and the mel bins it was trained on."""

    unet: nn.Module  # UNet2DConditionModel or AudioLDM2UNet2DConditionModel
    vae: AutoencoderKL
    settings: LDMSettings
    n_mels: int

    def sample(
        self,
        c: np.ndarray,
        n_frames: int,
        *,
        seed: int,
        batch_size: int | None = None,
        noise_indices=None,
    ):
        """:func:`sample` with this model's pieces (batches of ``settings.sample_batch_size``)."""
        return sample(
            self.unet,
            self.vae,
            self.settings.scheduler_config(),
            c,
            n_frames,
            self.n_mels,
            self.settings,
            seed=seed,
            batch_size=batch_size or self.settings.sample_batch_size,
            noise_indices=noise_indices,
        )


def _divides(groups: int, channels: tuple[int, ...], key: str) -> None:
    if any(ch % groups for ch in channels):
        raise InputError(
            f"config {CONFIG_KEY}.{key}: {groups} does not divide every block's channels {channels}"
        )


def build_unet(settings: LDMSettings, cross_attention_dim: int, seed: int) -> UNet2DConditionModel:
    """A randomly initialised T-UNet of the settings' size that cross-attends to ``d`` channels."""
    blocks = tuple(settings.unet_block_out_channels)
    _divides(settings.unet_norm_groups, blocks, "unet_norm_groups")
    _divides(settings.unet_head_channels, blocks, "unet_head_channels")
    n = len(blocks)
    # diffusers reads attention_head_dim as the number of heads per block.
    heads = tuple(ch // settings.unet_head_channels for ch in blocks)
    return seeded_module(
        lambda: UNet2DConditionModel(
            in_channels=settings.vae_latent_channels,
            out_channels=settings.vae_latent_channels,
            down_block_types=("DownBlock2D",) + ("CrossAttnDownBlock2D",) * (n - 1),
            up_block_types=("CrossAttnUpBlock2D",) * (n - 1) + ("UpBlock2D",),
            block_out_channels=blocks,
            layers_per_block=settings.unet_layers_per_block,
            attention_head_dim=heads,
            norm_num_groups=settings.unet_norm_groups,
            cross_attention_dim=int(cross_attention_dim),
        ),
        seed,
    ).eval()


def build_vae(settings: LDMSettings, seed: int) -> AutoencoderKL:
    """A randomly initialised one-channel VAE; its latent scale is 1 until :func:`train_vae`."""
    blocks = tuple(settings.vae_block_out_channels)
    _divides(settings.vae_norm_groups, blocks, "vae_norm_groups")
    return seeded_module(
        lambda: AutoencoderKL(
            in_channels=1,
            out_channels=1,
            down_block_types=("DownEncoderBlock2D",) * len(blocks),
            up_block_types=("UpDecoderBlock2D",) * len(blocks),
            block_out_channels=blocks,
            layers_per_block=settings.vae_layers_per_block,
            latent_channels=settings.vae_latent_channels,
            norm_num_groups=settings.vae_norm_groups,
            scaling_factor=1.0,
        ),
        seed,
    ).eval()


AUDIOLDM2_UNET = "AudioLDM2UNet2DConditionModel"


def _is_audioldm2(unet: nn.Module) -> bool:
    return type(unet).__name__ == AUDIOLDM2_UNET


def attention_streams(unet: nn.Module) -> tuple[set[int], set[int]]:
    """The channels that the UNet's cross-attentions read from each of its two context streams.

    AudioLDM2's UNet lists, per block, one entry per transformer (None: self-attention only); its
    forward gives entries 0-1 ``encoder_hidden_states`` and entries 2+ ``encoder_hidden_states_1``.
    """
    dims = unet.config.cross_attention_dim
    if not _is_audioldm2(unet):
        return set(dims if isinstance(dims, (list, tuple)) else [dims]), set()
    first, second = set(), set()
    for block in [dims] if isinstance(dims, int) else dims:
        for index, dim in enumerate([block] if isinstance(block, int) else block):
            if dim is not None:
                (first if index <= 1 else second).add(int(dim))
    return first, second


def denoise(unet: nn.Module, z_t: torch.Tensor, t, context: torch.Tensor) -> torch.Tensor:
    """The UNet's noise prediction from ``c``; AudioLDM2's text stream gets one zero token."""
    extra = {}
    _, second = attention_streams(unet)
    if second:
        extra["encoder_hidden_states_1"] = context.new_zeros(len(context), 1, second.pop())
    return unet(z_t, t, encoder_hidden_states=context, **extra).sample


def _unet_class(name: str):
    if name == AUDIOLDM2_UNET:
        from diffusers import AudioLDM2UNet2DConditionModel

        return AudioLDM2UNet2DConditionModel
    return UNet2DConditionModel


def _pretrained_folder(path: PathLike | None, key: str, what: str) -> Path:
    if not path or not Path(path).is_dir():
        raise InputError(
            f"config {key}: {str(path)!r} is not a folder holding a diffusers {what} "
            "(config.json and its weights)"
        )
    return Path(path)


def load_pretrained_unet(
    path: PathLike,
    cross_attention_dim: int,
    key: str = f"{CONFIG_KEY}.pretrained_unet",
) -> nn.Module:
    """The T-UNet of a local diffusers folder (either class); ``c`` must fit its first stream.

    ``d`` is the AudioMAE embedding size (768): a UNet whose (first) stream has other channels
    cannot read ``c``.
    """
    folder = _pretrained_folder(path, key, "UNet2DConditionModel or AudioLDM2UNet2DConditionModel")
    try:
        class_name = json.loads((folder / "config.json").read_text()).get("_class_name", "")
        unet = _unet_class(class_name).from_pretrained(folder, local_files_only=True)
    except (OSError, ValueError, TypeError) as error:
        raise InputError(f"config {key}: cannot load a UNet from {folder} ({error})") from error
    first, second = attention_streams(unet)
    if len(second) > 1:
        raise InputError(
            f"config {key}: the UNet in {folder} reads a second context stream of several sizes "
            f"{sorted(second)} (cross_attention_dim = {unet.config.cross_attention_dim}); "
            "its zero token needs one"
        )
    if first != {cross_attention_dim}:
        raise InputError(
            f"config {key}: the UNet in {folder} cross-attends to cross_attention_dim = "
            f"{unet.config.cross_attention_dim}, but c has d = {cross_attention_dim} channels "
            "(the AudioMAE embedding size)"
        )
    return unet.eval()


def load_pretrained_vae(path: PathLike, key: str = f"{CONFIG_KEY}.pretrained_vae") -> AutoencoderKL:
    """A one-channel ``AutoencoderKL`` (a mel as an image) from a local folder."""
    folder = _pretrained_folder(path, key, "AutoencoderKL")
    try:
        vae = AutoencoderKL.from_pretrained(folder, local_files_only=True)
    except (OSError, ValueError, TypeError) as error:
        raise InputError(f"config {key}: cannot load a VAE from {folder} ({error})") from error
    if (vae.config.in_channels, vae.config.out_channels) != (1, 1):
        raise InputError(
            f"config {key}: the VAE in {folder} has {vae.config.in_channels} input and "
            f"{vae.config.out_channels} output channels; a mel is a one-channel image"
        )
    return vae.eval()


def _factor(blocks) -> int:
    return 2 ** sum(block.downsamplers is not None for block in blocks)


def downsampling(unet: nn.Module | None, vae: AutoencoderKL) -> int:
    """How much the VAE (and the UNet) shrink a mel: its frames and bins must be multiples."""
    return _factor(vae.encoder.down_blocks) * (1 if unet is None else _factor(unet.down_blocks))


def _padded_size(size: int, multiple: int) -> int:
    return -(-size // multiple) * multiple


def _pad_mel(mel: torch.Tensor, multiple: int, value: float) -> torch.Tensor:
    """``(batch, n_frames, n_mels)`` -> ``(batch, 1, frames, bins)`` padded up to ``multiple``."""
    frames, bins = (_padded_size(size, multiple) - size for size in mel.shape[1:])
    return F.pad(mel, (0, bins, 0, frames), value=value)[:, None]


def vae_round_trip(vae: AutoencoderKL, mel: np.ndarray, pad_value: float = MEL_LOG_FLOOR):
    """Mels through the VAE and back: ``(n, n_frames, n_mels)`` -> the same shape, float32.

    Each mel is padded like G's inputs (:func:`_pad_mel`), encoded to its latent mode, decoded
    and cut back to its frames and bins; what a frozen VAE does to G's targets.
    """
    _check_mels(mel, "mel")
    multiple = downsampling(None, vae)
    n_frames, n_mels = mel.shape[1:]

    def through(batch: torch.Tensor) -> torch.Tensor:
        latent = vae.encode(_pad_mel(batch, multiple, pad_value)).latent_dist.mode()
        return vae.decode(latent).sample[:, 0, :n_frames, :n_mels]

    return batched(through, [np.asarray(mel, dtype=np.float32)], ENCODE_BATCH, vae.device)


def _check_mels(mel: np.ndarray, name: str) -> None:
    if mel.ndim != 3 or min(mel.shape) < 1:
        raise InputError(f"latent diffusion: {name} must be (n, n_frames, n_mels); got {mel.shape}")


def _plain(config) -> dict:
    """A diffusers config as plain JSON values (saved with weights_only, fingerprinted).

    Private keys go: a loaded model's ``_name_or_path`` is the folder it came from, which would
    tie the saved bytes and the fingerprint to where the weights lie.
    """
    public = {key: value for key, value in dict(config).items() if not key.startswith("_")}
    return json.loads(json.dumps(public, default=list))


def train_vae(
    mel_train: np.ndarray,
    settings: LDMSettings,
    *,
    seed: int,
    checkpoint: PathLike | None,
    device: torch.device | str = "cpu",
    progress: bool = True,
    on_step=None,
) -> tuple[AutoencoderKL, pd.DataFrame]:
    """Fit a small VAE to the training mels (the demo has no pretrained one) on ``device``.

    Loss: mean squared reconstruction error plus ``vae_kl_weight`` times the mean KL per latent
    element. Afterwards the latent scale is set to one over the standard deviation of the
    training mels' latent means (AudioLDM2's ``scale_by_std``), so the diffusion starts from unit
    variance. Returns the VAE (eval mode) and the metrics table (step, epoch, loss, mse, kl,
    learning_rate).
    """
    _check_mels(mel_train, "mel_train")
    device = torch.device(device)
    vae = build_vae(settings, seed).to(device)
    multiple = downsampling(None, vae)
    pad = settings.mel_pad_value

    def loss_terms(indices: np.ndarray, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        mel = _pad_mel(tensor_batch(mel_train, indices, device), multiple, pad)
        posterior = vae.encode(mel).latent_dist
        mse = F.mse_loss(vae.decode(posterior.sample()).sample, mel)
        kl = 0.5 * (posterior.mean**2 + posterior.var - 1.0 - posterior.logvar).mean()
        return {"loss": mse + settings.vae_kl_weight * kl, "mse": mse, "kl": kl}

    run = {
        "model": "mel VAE",
        "settings": _fingerprinted(settings),
        "data": array_digest(np.asarray(mel_train)),
    }
    schedule = Schedule(
        settings.vae_epochs,
        settings.batch_size,
        settings.checkpoint_interval,
        settings.weight_decay,
    )
    groups = [ParamGroup("vae", list(vae.parameters()), settings.vae_learning_rate)]
    metrics = fit(
        vae,
        groups,
        loss_terms,
        len(mel_train),
        schedule,
        seed=seed,
        checkpoint=checkpoint,
        run=run,
        progress=progress,
        desc="mel VAE",
        on_step=on_step,
    )
    latents = batched(
        lambda mel: vae.encode(_pad_mel(mel, multiple, pad)).latent_dist.mode(),
        [mel_train],
        ENCODE_BATCH,
        device,
    )
    vae.register_to_config(scaling_factor=float(1.0 / latents.astype(np.float64).std()))
    return vae.eval(), metrics


def _fingerprinted(settings: LDMSettings) -> dict:
    """Settings that make a run: where the initial weights came from is in their digests."""
    values = asdict(settings)
    sampling = ("ddim_steps", "guidance_scale", "sample_batch_size", "sample_autocast")
    for name in ("pretrained_unet", "pretrained_vae", "vae_min_pcc", "vae_check_clips", *sampling):
        values.pop(name)
    return values


def _check_pair(unet: nn.Module, vae: AutoencoderKL, d: int, name: str) -> None:
    if unet.config.in_channels != vae.config.latent_channels:
        raise InputError(
            f"latent diffusion: the UNet takes {unet.config.in_channels} channels but the VAE's "
            f"latent has {vae.config.latent_channels} (config {CONFIG_KEY}.vae_latent_channels)"
        )
    if attention_streams(unet)[0] != {d}:
        raise InputError(
            f"latent diffusion: {name} has d = {d} channels but the UNet cross-attends to "
            f"{unet.config.cross_attention_dim}"
        )


def _check_training_arrays(arrays: dict, acoustic: AcousticModel | None) -> None:
    mel, c_gt = arrays["mel_train"], arrays["c_gt_train"]
    _check_mels(mel, "mel_train")
    if c_gt.ndim != 3:
        raise InputError(f"latent diffusion: c_gt_train must be (n, N_patch, d); got {c_gt.shape}")
    if acoustic is not None:
        architecture = acoustic.decoder.architecture
        if architecture["d_model"] != c_gt.shape[2] or architecture["n_patch"] != c_gt.shape[1]:
            raise InputError(
                f"latent diffusion: D_aco gives c of shape (N_patch, d) = "
                f"({architecture['n_patch']}, {architecture['d_model']}) but c_gt_train is "
                f"{c_gt.shape[1:]}"
            )
        if arrays["voxels_train"] is None:
            raise InputError("latent diffusion: training with D_aco needs voxels_train")
        if architecture["d_sem"] is not None and (
            arrays["s_train"] is None or arrays["s_gt_train"] is None
        ):
            raise InputError("latent diffusion: this D_aco needs s_train and s_gt_train")
    counts = {name: len(a) for name, a in arrays.items() if a is not None}
    if len(set(counts.values())) != 1:
        raise InputError(f"latent diffusion: the training arrays differ in length: {counts}")


def train_ldm(
    unet: nn.Module,
    vae: AutoencoderKL,
    mel_train: np.ndarray,
    c_gt_train: np.ndarray,
    settings: LDMSettings,
    *,
    acoustic: AcousticModel | None = None,
    voxels_train: np.ndarray | None = None,
    s_train: np.ndarray | None = None,
    s_gt_train: np.ndarray | None = None,
    seed: int,
    checkpoint: PathLike | None,
    progress: bool = True,
    on_step=None,
) -> tuple[LDM, AcousticModel | None, pd.DataFrame]:
    """Fine-tune a copy of ``unet`` (and of D_aco) with equation 4; ``vae`` stays frozen.

    Parameters
    ----------
    unet, vae : the initial T-UNet (pretrained or :func:`build_unet`) and the frozen VAE, on the
        training device; neither is modified.
    mel_train : (n, n_frames, n_mels) vocoder log-mels of the stimuli (may be memory-mapped).
    c_gt_train : (n, N_patch, d) AudioMAE tokens of the stimuli.
    acoustic : the trained D_aco (not modified); None trains on ``c_gt`` alone (the second term
        of equation 4 only), e.g. to pretrain a UNet from scratch.
    voxels_train, s_train, s_gt_train : D_aco's inputs, as for ``train_acoustic`` (``s_*`` are
        ignored by the Fine variant).
    seed : fixes batch order, noise, timesteps, the P_gt and unconditional draws, dropout.
    checkpoint : resumable checkpoint of this run (None: none).

    Returns
    -------
    The LDM, the fine-tuned D_aco (None without one) and the metrics table (step, epoch, loss,
    ``diffusion`` (conditioned on D_aco's c), ``diffusion_gt``, learning rates).
    """
    arrays = {
        "mel_train": mel_train,
        "c_gt_train": c_gt_train,
        "voxels_train": voxels_train if acoustic is not None else None,
        "s_train": s_train,
        "s_gt_train": s_gt_train,
    }
    semantic = acoustic is not None and acoustic.decoder.semantic
    if not semantic:
        arrays.update(s_train=None, s_gt_train=None)
    _check_training_arrays(arrays, acoustic)
    _check_pair(unet, vae, c_gt_train.shape[2], "c_gt_train")
    device = next(unet.parameters()).device
    unet = copy.deepcopy(unet)
    trainable = nn.ModuleDict({"unet": unet})
    groups = [ParamGroup("unet", list(unet.parameters()), settings.unet_learning_rate)]
    decoder = None
    if acoustic is not None:
        decoder = copy.deepcopy(acoustic.decoder).to(device)
        trainable["acoustic"] = decoder
        groups.append(
            ParamGroup("acoustic", list(decoder.parameters()), settings.acoustic_learning_rate)
        )
    noise_schedule = DDPMScheduler(
        num_train_timesteps=settings.num_train_timesteps,
        beta_schedule=settings.beta_schedule,
        beta_start=settings.beta_start,
        beta_end=settings.beta_end,
        clip_sample=False,
    )
    posterior = latent_posterior(vae, mel_train, downsampling(unet, vae), settings.mel_pad_value)
    scale = vae.config.scaling_factor

    def loss_terms(indices: np.ndarray, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        mean, std = (tensor_batch(part, indices, device) for part in posterior)
        z0 = (mean + std * torch.randn(mean.shape, device=device)) * scale
        noise = torch.randn(z0.shape, device=device)
        t = torch.randint(0, settings.num_train_timesteps, (len(indices),), device=device)
        z_t = noise_schedule.add_noise(z0, noise, t)
        conditions = {}
        if decoder is not None:
            s = None
            if semantic:
                mixed, _ = mix_semantic(s_train[indices], s_gt_train[indices], settings.p_gt, rng)
                s = torch.as_tensor(mixed, dtype=torch.float32, device=device)
            conditions["diffusion"] = decoder(tensor_batch(voxels_train, indices, device), s)
        conditions["diffusion_gt"] = tensor_batch(c_gt_train, indices, device)
        kept = [_dropped(c, settings.uncond_prob, rng) for c in conditions.values()]
        k = len(kept)
        predicted = denoise(unet, z_t.repeat(k, 1, 1, 1), t.repeat(k), torch.cat(kept))
        target = _target(settings.prediction_type, noise_schedule, z0, noise, t)
        errors = ((predicted - target.repeat(k, 1, 1, 1)) ** 2).reshape(k, -1).mean(dim=1)
        terms = dict(zip(conditions, errors, strict=True))
        return {"loss": errors.sum(), **terms}

    run = {
        "model": "latent diffusion",
        "settings": _fingerprinted(settings),
        "unet": state_digest(unet),
        "unet_config": _plain(unet.config),
        "vae": state_digest(vae),
        "vae_config": _plain(vae.config),
        "acoustic": None if decoder is None else state_digest(decoder),
        "data": {
            name: None if array is None else array_digest(np.asarray(array))
            for name, array in arrays.items()
        },
    }
    metrics = fit(
        trainable,
        groups,
        loss_terms,
        len(mel_train),
        settings.schedule(),
        seed=seed,
        checkpoint=checkpoint,
        run=run,
        progress=progress,
        desc="latent diffusion",
        on_step=on_step,
    )
    tuned = None
    if decoder is not None:
        tuned = AcousticModel(decoder.eval(), acoustic.audiomae, acoustic.settings)
    return LDM(unet.eval(), vae, settings, int(mel_train.shape[2])), tuned, metrics


def latent_posterior(
    vae: AutoencoderKL, mel: np.ndarray, multiple: int, pad_value: float
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of the frozen VAE's latent of every mel, computed once.

    A training step then draws ``z0`` from them instead of running the encoder again: the same
    distribution at a fraction of the cost over many epochs.
    """
    device = next(vae.parameters()).device

    def moments(batch: torch.Tensor) -> torch.Tensor:
        latent = vae.encode(_pad_mel(batch, multiple, pad_value)).latent_dist
        return torch.stack([latent.mean, latent.std], dim=1)

    both = batched(moments, [mel], ENCODE_BATCH, device)
    return both[:, 0], both[:, 1]


def _target(prediction_type: str, schedule: DDPMScheduler, z0, noise, t) -> torch.Tensor:
    """What the UNet learns to predict: the noise, or the velocity sqrt(a) noise - sqrt(1-a) z0."""
    return noise if prediction_type == "epsilon" else schedule.get_velocity(z0, noise, t)


def _dropped(c: torch.Tensor, p: float, rng: np.random.Generator) -> torch.Tensor:
    """Classifier-free guidance: each sample's ``c`` is zeros (unconditional) with probability p."""
    keep = torch.as_tensor(rng.random(len(c)) >= p, device=c.device)
    return c * keep[:, None, None].to(c.dtype)


def _noise_seed(seed: int, index: int) -> int:
    return int(np.random.default_rng([seed, index]).integers(2**62))


@torch.no_grad()
def sample(
    unet: nn.Module,
    vae: AutoencoderKL,
    scheduler_config: dict,
    c: np.ndarray,
    n_frames: int,
    n_mels: int,
    settings: LDMSettings,
    *,
    seed: int,
    batch_size: int = 8,
    noise_indices=None,
) -> np.ndarray:
    """Mels generated from conditions ``c (n, N_patch, d)`` -> ``(n, n_frames, n_mels)`` float32.

    DDIM (``eta = 0``) over ``settings.ddim_steps`` with guidance ``settings.guidance_scale``
    (1: conditional prediction only); on CUDA the UNet runs under ``settings.sample_autocast``
    (the scheduler's arithmetic stays float32). ``scheduler_config`` is the training noise schedule
    (:meth:`LDMSettings.scheduler_config`, or a pretrained model's). Sample ``i`` starts from
    noise seeded with ``(seed, noise_indices[i])`` (default ``i``; module docstring on batch
    sizes), so a caller can start the same clip from the same noise under any condition.
    """
    c = np.ascontiguousarray(c, dtype=np.float32)
    if c.ndim != 3 or len(c) < 1:
        raise InputError(f"latent diffusion: c must be (n, N_patch, d); got {c.shape}")
    if n_frames < 1 or n_mels < 1 or batch_size < 1:
        raise InputError("latent diffusion: n_frames, n_mels and batch_size must be >= 1")
    _check_pair(unet, vae, c.shape[2], "c")
    scheduler = DDIMScheduler.from_config(scheduler_config)
    scheduler.set_timesteps(settings.ddim_steps)
    parameter = next(unet.parameters())
    multiple = downsampling(unet, vae)
    vae_factor = downsampling(None, vae)
    shape = (
        vae.config.latent_channels,
        _padded_size(n_frames, multiple) // vae_factor,
        _padded_size(n_mels, multiple) // vae_factor,
    )
    noise_indices = np.arange(len(c)) if noise_indices is None else np.asarray(noise_indices)
    if noise_indices.shape != (len(c),):
        raise InputError(f"latent diffusion: {len(c)} conditions but {noise_indices.shape} noise")
    guided = settings.guidance_scale != 1.0
    autocast = torch.autocast(
        "cuda",
        dtype=AUTOCAST_DTYPES[settings.sample_autocast] or torch.float32,
        enabled=parameter.device.type == "cuda" and settings.sample_autocast != "none",
    )
    out = []
    for start in range(0, len(c), batch_size):
        indices = range(start, min(len(c), start + batch_size))
        noise = torch.stack(
            [
                torch.randn(
                    shape,
                    generator=torch.Generator().manual_seed(_noise_seed(seed, noise_indices[i])),
                )
                for i in indices
            ]
        )
        latents = (noise * scheduler.init_noise_sigma).to(parameter)
        context = torch.from_numpy(c[start : indices.stop]).to(parameter)
        if guided:
            context = torch.cat([context, torch.zeros_like(context)])
        for t in scheduler.timesteps:
            model_input = torch.cat([latents] * 2) if guided else latents
            model_input = scheduler.scale_model_input(model_input, t)
            with autocast:
                eps = denoise(unet, model_input, t, context).float()
            if guided:
                conditional, unconditional = eps.chunk(2)
                eps = unconditional + settings.guidance_scale * (conditional - unconditional)
            latents = scheduler.step(eps, t, latents, eta=0.0).prev_sample
        mel = vae.decode((latents / vae.config.scaling_factor).to(vae.dtype)).sample
        out.append(mel[:, 0, :n_frames, :n_mels].float().cpu().numpy())
    return np.concatenate(out)


def _cpu_state(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu() for k, v in module.state_dict().items()}


def save_ldm(path: PathLike, model: LDM) -> None:
    """The UNet and VAE (configs and weights) with the settings (atomic, same bytes)."""
    save_torch(
        path,
        {
            "settings": asdict(model.settings),
            "n_mels": model.n_mels,
            "unet_class": type(model.unet).__name__,
            "unet_config": _plain(model.unet.config),
            "unet": _cpu_state(model.unet),
            "vae_config": _plain(model.vae.config),
            "vae": _cpu_state(model.vae),
        },
    )


def save_vae(path: PathLike, vae: AutoencoderKL) -> None:
    """A VAE's config (with its latent scale) and weights (atomic, same bytes)."""
    save_torch(path, {"vae_config": _plain(vae.config), "vae": _cpu_state(vae)})


def load_vae(path: PathLike, key: str = f"{CONFIG_KEY}.pretrained_vae") -> AutoencoderKL:
    """A VAE from :func:`save_vae`'s file, or a pretrained diffusers folder (``key`` names it)."""
    if Path(path).is_dir():
        return load_pretrained_vae(path, key)
    saved = _read_saved(path, "VAE")
    return _module_from(AutoencoderKL, saved["vae_config"], saved["vae"]).eval()


def _read_saved(path: PathLike, what: str) -> dict:
    return load_torch(path, f"the {what} (torch file)")


def _module_from(cls, config: dict, state: dict) -> nn.Module:
    module = cls.from_config(config)
    module.load_state_dict(state)
    return module


def load_ldm(path: PathLike, device: torch.device | str = "cpu") -> LDM:
    """A model saved by :func:`save_ldm`, in eval mode on ``device``."""
    saved = _read_saved(path, "latent diffusion model")
    unet_class = _unet_class(saved.get("unet_class", ""))
    unet = _module_from(unet_class, saved["unet_config"], saved["unet"])
    vae = _module_from(AutoencoderKL, saved["vae_config"], saved["vae"])
    return LDM(
        unet.to(device).eval(),
        vae.to(device).eval(),
        LDMSettings(**saved["settings"]),
        int(saved["n_mels"]),
    )
