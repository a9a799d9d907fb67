"""The acoustic decoder D_aco: fMRI (and a CLAP embedding) into AudioMAE's latent space (2.1.2).

``s`` (a decoded CLAP embedding) is projected to one semantic token ``s'``; the ``d_model``
selected voxels form one fMRI token ``x'``; a 4-layer transformer encoder turns ``[s', x']`` into
the neural embedding ``n``; ``N_patch`` learnable queries read ``n`` through a 4-layer transformer
decoder and come out as ``c``, the predicted first ``N_patch`` AudioMAE tokens. The *Fine*
comparison model (``D_aco: x -> c``, section 3.1) is the same class without the semantic token.

``x'`` is z-scored with the training samples' mean and standard deviation (scikit-learn's
``StandardScaler``, as D_sem and the ridge baselines standardise their voxels): the statistics are
buffers of :class:`AcousticDecoder`, saved with its weights, so the same transform applies at
training, in G's fine-tuning (equation 4), at test time and with prompts. Raw BOLD values (whole
brain scale, offsets per voxel) would otherwise enter a transformer whose layer norms come only
after the first attention.

Training follows equation 1 and section A.2: D_aco from scratch and the AudioMAE decoder
fine-tuned (encoder frozen) with AdamW at 1e-6, batches of 8, and ``P_gt = 0.25``.

Loss scaling: every ``||.||_2^2`` of equation 1 is taken as a mean squared error over elements
(and over the batch). Plain sums would weigh the terms by their sizes (``N_patch x 768`` for
``L_cond``, ``512 x 512`` per decoder block, ``128 x 1024`` per mel) and make the loss, and so the
effect of the paper's learning rate, depend on the clip length; the mean is the usual reading of
an L2 loss in the PyTorch code this paper builds on.

``L_mel`` is restricted (by default) to the time frames the clip covers: the first
``N_patch / rows`` patch columns. Past them AudioMAE's input holds the clip tiled to 10 s while
the decoder sees only mask tokens there, so fitting those frames would train the decoder to
invent audio that ``c`` holds no information about. ``L_perceptual`` compares every token of each
decoder block, with the ground-truth branch as a fixed target (no gradient), so the decoder cannot
lower it by collapsing both branches together; the ground-truth branch is trained by ``m_upp``'s
term only, as equation 1 intends.
"""

from __future__ import annotations

import copy
import os
from dataclasses import asdict, dataclass
from typing import ClassVar

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from audiobrain.io import InputError, load_torch, save_torch
from audiobrain.recon.audiomae import AudioMAE, AudioMAEConfig
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
CONFIG_KEY = "recon.acoustic"
QUERY_INIT_STD = 0.02  # learnable queries start small, like AudioMAE's tokens


@dataclass(frozen=True)
class AcousticSettings:
    """D_aco's size and training (section A.2 where the paper gives a value).

    The paper does not state the number of attention heads, the feed-forward width or dropout;
    these are torch's ``nn.Transformer`` defaults (8 heads, 4 x d_model, 0.1).
    """

    n_layers: int = 4  # A.2: 4-layer Transformer Encoder and Decoder
    n_heads: int = 8
    mlp_ratio: float = 4.0
    dropout: float = 0.1
    learning_rate: float = 1e-6  # A.2: AdamW, lr 1e-6 for D_aco ...
    audiomae_learning_rate: float = 1e-6  # ... and for the AudioMAE decoder
    weight_decay: float = 0.01  # AdamW's default; the paper names none
    batch_size: int = 8  # A.2
    epochs: int = 30  # A.2: 30 (Brain2Sound, Brain2Speech) or 40 (Brain2Music)
    p_gt: float = 0.25  # 2.1.2: probability of feeding s_gt instead of the decoded s
    checkpoint_interval: int = 500  # steps
    mel_loss_clip_only: bool = True  # L_mel over the clip's frames only (module docstring)

    POSITIVE: ClassVar[tuple[str, ...]] = (
        "n_layers",
        "n_heads",
        "mlp_ratio",
        "learning_rate",
        "audiomae_learning_rate",
        "batch_size",
        "epochs",
        "checkpoint_interval",
    )

    def __post_init__(self) -> None:
        if not 0.0 <= self.p_gt <= 1.0:
            raise InputError(f"config {CONFIG_KEY}.p_gt: expected 0..1, got {self.p_gt}")
        if not 0.0 <= self.dropout < 1.0:
            raise InputError(f"config {CONFIG_KEY}.dropout: expected 0..1, got {self.dropout}")

    @classmethod
    def from_mapping(cls, mapping, where: str = CONFIG_KEY) -> AcousticSettings:
        """From the config section ``where``; unknown keys are an InputError naming them."""
        return settings_from_mapping(cls, mapping, where, cls.POSITIVE)

    def schedule(self) -> Schedule:
        return Schedule(self.epochs, self.batch_size, self.checkpoint_interval, self.weight_decay)


class AcousticDecoder(nn.Module):
    """D_aco: ``(s, x') -> c``; with ``d_sem=None`` the *Fine* variant ``x' -> c``.

    Parameters
    ----------
    d_model : width of every token, = the AudioMAE encoder's ``embed_dim`` (768) and the number of
        selected voxels in ``x'``.
    n_patch : number of learnable queries, one per AudioMAE token kept (N_patch, section A.2).
    d_sem : size of the CLAP embedding ``s`` (512), or None for the Fine variant.
    """

    def __init__(
        self,
        d_model: int,
        n_patch: int,
        d_sem: int | None,
        settings: AcousticSettings | None = None,
    ) -> None:
        super().__init__()
        settings = settings or AcousticSettings()
        if d_model % settings.n_heads:
            raise InputError(
                f"config {CONFIG_KEY}.n_heads: d_model = {d_model} (the AudioMAE embed_dim) is "
                f"not divisible by {settings.n_heads} heads"
            )
        self.architecture = {"d_model": d_model, "n_patch": n_patch, "d_sem": d_sem}
        self.semantic = d_sem is not None
        layer = {
            "d_model": d_model,
            "nhead": settings.n_heads,
            "dim_feedforward": int(round(settings.mlp_ratio * d_model)),
            "dropout": settings.dropout,
            "batch_first": True,
        }
        self.semantic_projection = nn.Linear(d_sem, d_model) if self.semantic else None
        # Which token is which: without positions the encoder could not tell s' from x'.
        self.token_type = nn.Parameter(torch.zeros(1, 2 if self.semantic else 1, d_model))
        self.encoder = nn.TransformerEncoder(
            nn.TransformerEncoderLayer(**layer),
            settings.n_layers,
            enable_nested_tensor=False,
        )
        self.queries = nn.Parameter(torch.empty(1, n_patch, d_model))
        nn.init.normal_(self.queries, std=QUERY_INIT_STD)
        self.decoder = nn.TransformerDecoder(nn.TransformerDecoderLayer(**layer), settings.n_layers)
        # x' statistics of the training samples (set_token_statistics); identity until set.
        self.register_buffer("token_mean", torch.zeros(d_model))
        self.register_buffer("token_scale", torch.ones(d_model))

    def set_token_statistics(self, voxels: np.ndarray) -> None:
        """Store the mean and standard deviation of the training ``x' (n, d_model)``.

        ``StandardScaler``'s statistics (population variance; a constant voxel gets scale 1).
        """
        from sklearn.preprocessing import StandardScaler

        voxels = np.asarray(voxels, dtype=np.float64)
        if voxels.ndim != 2 or voxels.shape[1] != self.token_mean.numel():
            raise InputError(
                f"acoustic decoder: x' statistics need (n, {self.token_mean.numel()}) training "
                f"tokens; got {voxels.shape}"
            )
        scaler = StandardScaler().fit(voxels)
        self.token_mean.copy_(torch.as_tensor(scaler.mean_, dtype=self.token_mean.dtype))
        self.token_scale.copy_(torch.as_tensor(scaler.scale_, dtype=self.token_scale.dtype))

    def forward(self, voxels: torch.Tensor, s: torch.Tensor | None = None) -> torch.Tensor:
        """``voxels (batch, d_model)``, ``s (batch, d_sem)`` -> ``c (batch, n_patch, d_model)``.

        ``voxels`` is the raw ``x'``; it is z-scored here with the stored training statistics.
        The Fine variant ignores ``s``.
        """
        tokens = ((voxels - self.token_mean) / self.token_scale)[:, None, :]
        if self.semantic:
            if s is None:
                raise InputError("acoustic decoder: the semantic variant needs s (batch, d_sem)")
            tokens = torch.cat([self.semantic_projection(s)[:, None, :], tokens], dim=1)
        memory = self.encoder(tokens + self.token_type)
        return self.decoder(self.queries.expand(voxels.shape[0], -1, -1), memory)


@dataclass
class AcousticModel:
    """A trained D_aco with the AudioMAE (fine-tuned decoder) that turns its ``c`` into mels."""

    decoder: AcousticDecoder
    audiomae: AudioMAE
    settings: AcousticSettings

    @property
    def device(self) -> torch.device:
        return self.audiomae.decoder.norm.weight.device


def fmri_token(bold: np.ndarray, voxels: np.ndarray, d_model: int) -> np.ndarray:
    """``x'``: the selected voxels' values, ``(n, n_voxels) -> (n, d_model)``.

    ``voxels`` are column indices (e.g. the 768 with the largest ridge weights, section 2.1.2);
    their number must be ``d_model``, the AudioMAE embedding size.
    """
    voxels = np.asarray(voxels)
    bold = np.asarray(bold)
    if voxels.ndim != 1 or voxels.size != d_model:
        raise InputError(
            f"acoustic decoder: expected {d_model} selected voxels (one fMRI token of the "
            f"AudioMAE embed_dim), got an index array of shape {voxels.shape}"
        )
    if not np.issubdtype(voxels.dtype, np.integer) or len(np.unique(voxels)) != voxels.size:
        raise InputError("acoustic decoder: voxel indices must be distinct integers")
    if bold.ndim != 2 or voxels.min() < 0 or voxels.max() >= bold.shape[1]:
        raise InputError(
            f"acoustic decoder: voxel indices {voxels.min()}..{voxels.max()} do not fit fMRI "
            f"data of shape {bold.shape} (samples, voxels)"
        )
    return bold[:, voxels]


def mix_semantic(
    s: np.ndarray, s_gt: np.ndarray, p_gt: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """P_gt: each row is ``s_gt`` with probability ``p_gt``, else ``s``; returns rows and choice."""
    use_gt = rng.random(len(s)) < p_gt
    return np.where(use_gt[:, None], s_gt, s), use_gt


def acoustic_losses(
    c: torch.Tensor,
    c_gt: torch.Tensor,
    mel: torch.Tensor,
    audiomae: AudioMAE,
    clip_frames: int | None,
) -> dict[str, torch.Tensor]:
    """Equation 1: ``L_cond + L_perceptual + L_mel`` (mean squared errors; module docstring).

    Parameters
    ----------
    c, c_gt : (batch, n_patch, embed_dim) decoded and ground-truth AudioMAE tokens.
    mel : (batch, 1, n_mels, n_frames) the stimulus's normalised AudioMAE input ``m``.
    clip_frames : frames that ``L_mel`` covers (None: all).
    """
    m_recon, hidden = audiomae.decode_with_hidden(c)
    m_upp, hidden_gt = audiomae.decode_with_hidden(c_gt)
    cond = F.mse_loss(c, c_gt)
    perceptual = torch.stack(
        [F.mse_loss(h, h_gt.detach()) for h, h_gt in zip(hidden, hidden_gt, strict=True)]
    ).sum()
    frames = slice(None, clip_frames)
    target = mel[..., frames]
    mel_loss = F.mse_loss(m_upp[..., frames], target) + F.mse_loss(m_recon[..., frames], target)
    return {
        "loss": cond + perceptual + mel_loss,
        "cond": cond,
        "perceptual": perceptual,
        "mel": mel_loss,
    }


def _check_training_arrays(arrays: dict[str, np.ndarray | None], config: AudioMAEConfig) -> None:
    """Shapes of :func:`train_acoustic`'s arrays, named by its parameters in errors."""
    s, s_gt = arrays["s_train"], arrays["s_gt_train"]
    voxels, c_gt, mel = arrays["voxels_train"], arrays["c_gt_train"], arrays["mel_train"]
    n = len(voxels)
    d_model = config.embed_dim
    if (s is None) != (s_gt is None):
        raise InputError("acoustic decoder: give both s_train and s_gt_train, or neither (Fine)")
    counts = {name: len(array) for name, array in arrays.items() if array is not None}
    if len(set(counts.values())) != 1:
        raise InputError(f"acoustic decoder: the training arrays differ in length: {counts}")
    if n < 1:
        raise InputError("acoustic decoder: no training samples")
    if voxels.ndim != 2 or voxels.shape[1] != d_model:
        raise InputError(
            f"acoustic decoder: voxels_train must be (n, {d_model}): one fMRI token of "
            f"d_model = AudioMAE embed_dim selected voxels; got {voxels.shape}"
        )
    if not np.all(np.isfinite(voxels)):
        raise InputError("acoustic decoder: voxels_train holds NaN or infinite values")
    rows = config.grid[1]
    if (
        c_gt.ndim != 3
        or c_gt.shape[2] != d_model
        or not 1 <= c_gt.shape[1] <= config.num_patches
        or c_gt.shape[1] % rows
    ):
        raise InputError(
            f"acoustic decoder: c_gt_train must be (n, N_patch, {d_model}) with N_patch a "
            f"multiple of {rows} up to {config.num_patches}; got {c_gt.shape}"
        )
    if mel.shape[1:] != (1, config.n_mels, config.n_frames):
        raise InputError(
            f"acoustic decoder: mel_train must be (n, 1, {config.n_mels}, {config.n_frames}) "
            f"(AudioMAE inputs); got {mel.shape}"
        )
    if s is not None and (s.ndim != 2 or s_gt.ndim != 2 or s.shape[1] != s_gt.shape[1]):
        raise InputError(
            f"acoustic decoder: s_train and s_gt_train must be (n, d_sem) alike; got {s.shape} "
            f"and {s_gt.shape}"
        )


def train_acoustic(
    s_train: np.ndarray | None,
    s_gt_train: np.ndarray | None,
    voxels_train: np.ndarray,
    c_gt_train: np.ndarray,
    mel_train: np.ndarray,
    audiomae: AudioMAE,
    settings: AcousticSettings,
    *,
    seed: int,
    checkpoint: PathLike | None,
    progress: bool = True,
    on_step=None,
) -> tuple[AcousticModel, pd.DataFrame]:
    """Train D_aco and fine-tune a copy of ``audiomae``'s decoder with equation 1.

    Parameters
    ----------
    s_train : (n, d_sem) decoded CLAP embeddings (out-of-fold), or None for the Fine variant.
    s_gt_train : (n, d_sem) ground-truth CLAP embeddings (fed with probability ``p_gt``).
    voxels_train : (n, d_model) the fMRI token ``x'`` (:func:`fmri_token`), raw; its mean and
        standard deviation become D_aco's (module docstring).
    c_gt_train : (n, N_patch, d_model) AudioMAE tokens of the stimuli (``AudioMAE.features``).
    mel_train : (n, 1, 128, 1024) normalised AudioMAE input mels ``m`` (may be memory-mapped).
    audiomae : the pretrained AudioMAE on the training device; it is not modified.
    seed : fixes D_aco's initial weights, batch order, the P_gt draws and dropout.
    checkpoint : resumable checkpoint of this run (None: none).

    Returns
    -------
    The trained model (eval mode) and the metrics table (step, epoch, loss, cond, perceptual, mel,
    learning rates).
    """
    config = audiomae.config
    arrays = {
        "s_train": s_train,
        "s_gt_train": s_gt_train,
        "voxels_train": voxels_train,
        "c_gt_train": c_gt_train,
        "mel_train": mel_train,
    }
    _check_training_arrays(arrays, config)
    n_patch = c_gt_train.shape[1]
    d_sem = None if s_train is None else s_train.shape[1]
    audiomae = copy.deepcopy(audiomae)
    device = audiomae.decoder.norm.weight.device
    decoder = seeded_module(
        lambda: AcousticDecoder(config.embed_dim, n_patch, d_sem, settings), seed
    )
    decoder.set_token_statistics(voxels_train)
    decoder = decoder.to(device)
    trainable = nn.ModuleDict({"acoustic": decoder, "audiomae_decoder": audiomae.decoder})
    clip_frames = n_patch // config.grid[1] * config.patch_size
    clip_frames = clip_frames if settings.mel_loss_clip_only else None

    def loss_terms(indices: np.ndarray, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        s = None
        if d_sem is not None:
            mixed, _ = mix_semantic(s_train[indices], s_gt_train[indices], settings.p_gt, rng)
            s = torch.as_tensor(mixed, dtype=torch.float32, device=device)
        c = decoder(tensor_batch(voxels_train, indices, device), s)
        c_gt = tensor_batch(c_gt_train, indices, device)
        mel = tensor_batch(mel_train, indices, device)
        return acoustic_losses(c, c_gt, mel, audiomae, clip_frames)

    run = {
        "model": "acoustic decoder",
        "settings": asdict(settings),
        "audiomae": asdict(config),
        "audiomae_decoder": state_digest(audiomae.decoder),
        "data": {
            name: None if array is None else array_digest(np.asarray(array))
            for name, array in arrays.items()
        },
    }
    groups = [
        ParamGroup("acoustic", list(decoder.parameters()), settings.learning_rate),
        ParamGroup(
            "audiomae", list(audiomae.decoder.parameters()), settings.audiomae_learning_rate
        ),
    ]
    metrics = fit(
        trainable,
        groups,
        loss_terms,
        len(voxels_train),
        settings.schedule(),
        seed=seed,
        checkpoint=checkpoint,
        run=run,
        progress=progress,
        desc="acoustic decoder" if d_sem is not None else "acoustic decoder (Fine)",
        on_step=on_step,
    )
    audiomae.eval()
    return AcousticModel(decoder.eval(), audiomae, settings), metrics


def predict_acoustic(
    model: AcousticModel,
    voxels: np.ndarray,
    s: np.ndarray | None = None,
    batch_size: int = 64,
) -> np.ndarray:
    """``c`` for test samples: ``voxels (n, d_model)``, ``s (n, d_sem)`` -> ``(n, N_patch, d)``.

    ``voxels`` is the raw ``x'``, standardised by D_aco with its training statistics. ``s`` is the
    decoded CLAP embedding, or any other (a text or audio prompt's, section 2.3); the Fine
    variant ignores it.
    """
    d_model = model.decoder.architecture["d_model"]
    voxels = np.asarray(voxels)
    if voxels.ndim != 2 or voxels.shape[1] != d_model:
        raise InputError(f"acoustic decoder: voxels must be (n, {d_model}); got {voxels.shape}")
    if not model.decoder.semantic:
        return batched(model.decoder, [voxels], batch_size, model.device)
    d_sem = model.decoder.architecture["d_sem"]
    if s is None or np.shape(s) != (len(voxels), d_sem):
        raise InputError(
            f"acoustic decoder: s must be ({len(voxels)}, {d_sem}), one semantic embedding per "
            f"sample; got {None if s is None else np.shape(s)}"
        )
    return batched(model.decoder, [voxels, np.asarray(s)], batch_size, model.device)


def reconstruct_mel(model: AcousticModel, c: np.ndarray, batch_size: int = 8) -> np.ndarray:
    """The fine-tuned AudioMAE decoder's mel: ``c (n, N_patch, d)`` -> ``(n, 1, 128, 1024)``.

    In the normalised AudioMAE input scale; only the first ``N_patch / rows`` patch columns
    belong to the clip.
    """
    return batched(model.audiomae.decode, [np.asarray(c)], batch_size, model.device)


def save_acoustic(path: PathLike, model: AcousticModel) -> None:
    """D_aco and the fine-tuned AudioMAE decoder with their settings (atomic, same bytes)."""
    save_torch(
        path,
        {
            "architecture": model.decoder.architecture,
            "settings": asdict(model.settings),
            "audiomae_config": asdict(model.audiomae.config),
            "decoder": _cpu_state(model.decoder),
            "audiomae_decoder": _cpu_state(model.audiomae.decoder),
        },
    )


def _cpu_state(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu() for k, v in module.state_dict().items()}


def load_acoustic(path: PathLike, audiomae: AudioMAE) -> AcousticModel:
    """A model saved by :func:`save_acoustic`, on ``audiomae``'s device (which is not modified).

    ``audiomae`` supplies the frozen pretrained encoder; its configuration must be the saved one.
    """
    saved = load_torch(path, "a trained acoustic decoder (torch file)")
    config = AudioMAEConfig(**saved["audiomae_config"])
    if config != audiomae.config:
        raise InputError(
            f"{path}: trained with AudioMAE {config}, but recon.models.audiomae describes "
            f"{audiomae.config}"
        )
    settings = AcousticSettings(**saved["settings"])
    audiomae = copy.deepcopy(audiomae)
    audiomae.decoder.load_state_dict(saved["audiomae_decoder"])
    architecture = saved["architecture"]
    decoder = AcousticDecoder(
        architecture["d_model"], architecture["n_patch"], architecture["d_sem"], settings
    )
    decoder.load_state_dict(saved["decoder"])
    device = audiomae.decoder.norm.weight.device
    return AcousticModel(decoder.to(device).eval(), audiomae.eval(), settings)
