"""Direct decoding baselines: fMRI straight to the vocoder's mel-spectrogram (Tables 1-2).

Section 3.1 compares C2F-LDM with four models that map a voxel vector to the stimulus's
mel-spectrogram: linear regression (scikit-learn ``Ridge``), a three-layer MLP (scikit-learn
``MLPRegressor``, following Bellier et al. 2023), a bidirectional LSTM and a transformer encoder,
"both with the same configuration as our Transformer" (4 layers of width ``d_model``).

Choices the paper leaves open:

- *Scaling.* Voxels are z-scored and the log-mel targets standardised per mel band (mean and
  standard deviation over training clips and frames), with the training set's statistics;
  predictions are returned in log-mel units. Per band rather than per (frame, band) keeps each
  band's rise and fall over the clip in the target, and gives every band equal weight in the MSE.
- *MLP.* "Three-layer" is read as three weight layers: two hidden layers, 512 units each by
  default (``mlp_hidden_sizes``), ReLU, Adam, scikit-learn's defaults otherwise.
- *Sequence models.* One fMRI sample has no time axis of its own, while the output has one
  (frames). The voxel vector is projected to ``d_model`` once and repeated over the output frames
  with a learned position embedding per frame; the BiLSTM (``d_model / 2`` units per direction)
  or transformer encoder then models the spectrogram's temporal structure and a linear head gives
  the mel bands of each frame. This is the queries-per-output-position design of D_aco itself;
  cutting the voxels into tokens instead would impose an order on voxels that they do not have.
- *Training of the networks.* MSE on the standardised targets with AdamW (learning rate 1e-4 by
  default: the paper's 1e-6 is for fine-tuning D_aco and barely moves a network trained from
  scratch), batches of 8, epochs as for D_aco, through the resumable
  :func:`audiobrain.recon.trainer.fit`.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.linear_model import Ridge
from sklearn.neural_network import MLPRegressor
from torch import nn

from audiobrain.io import InputError
from audiobrain.recon import trainer

PathLike = str | os.PathLike
CONFIG_KEY = "recon.direct"
DIRECT_KINDS = ("lir", "mlp", "bilstm", "transformer")
NETWORK_KINDS = ("bilstm", "transformer")
POSITION_INIT_STD = 0.02


@dataclass(frozen=True)
class DirectSettings:
    """Sizes and training of the direct baselines (module docstring for the choices)."""

    ridge_alpha: float = 1.0  # scikit-learn's default; the paper gives none
    mlp_hidden_sizes: tuple[int, ...] = (512, 512)
    mlp_alpha: float = 1e-4  # MLPRegressor's L2 penalty (its default)
    mlp_max_iter: int = 200  # MLPRegressor's default
    n_layers: int = 4  # same as D_aco's transformer (section 3.1)
    d_model: int = 768
    n_heads: int = 8
    mlp_ratio: float = 4.0
    dropout: float = 0.1
    learning_rate: float = 1e-4
    weight_decay: float = 0.01  # AdamW's default
    batch_size: int = 8
    epochs: int = 30
    checkpoint_interval: int = 500  # steps

    POSITIVE: ClassVar[tuple[str, ...]] = (
        "ridge_alpha",
        "mlp_max_iter",
        "n_layers",
        "d_model",
        "n_heads",
        "mlp_ratio",
        "learning_rate",
        "batch_size",
        "epochs",
        "checkpoint_interval",
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "mlp_hidden_sizes", tuple(self.mlp_hidden_sizes))
        if self.d_model % self.n_heads or self.d_model % 2:
            raise InputError(
                f"config {CONFIG_KEY}.d_model: {self.d_model} must be even and divisible by "
                f"n_heads = {self.n_heads}"
            )

    @classmethod
    def from_mapping(cls, mapping, where: str = CONFIG_KEY) -> DirectSettings:
        """From the config section ``where``; unknown keys are an InputError naming them."""
        return trainer.settings_from_mapping(cls, mapping, where, cls.POSITIVE)


class SequenceDecoder(nn.Module):
    """Voxels -> ``(frames, n_mels)``: a projected brain state repeated over positioned frames."""

    def __init__(self, kind: str, n_voxels: int, n_frames: int, n_mels: int, settings) -> None:
        super().__init__()
        d_model = settings.d_model
        self.kind = kind
        self.project = nn.Linear(n_voxels, d_model)
        self.positions = nn.Parameter(torch.empty(1, n_frames, d_model))
        nn.init.normal_(self.positions, std=POSITION_INIT_STD)
        if kind == "bilstm":
            self.body = nn.LSTM(
                d_model,
                d_model // 2,
                num_layers=settings.n_layers,
                batch_first=True,
                bidirectional=True,
                dropout=settings.dropout,
            )
        else:
            self.body = nn.TransformerEncoder(
                nn.TransformerEncoderLayer(
                    d_model,
                    settings.n_heads,
                    int(round(settings.mlp_ratio * d_model)),
                    settings.dropout,
                    batch_first=True,
                ),
                settings.n_layers,
                enable_nested_tensor=False,
            )
        self.head = nn.Linear(d_model, n_mels)

    def forward(self, voxels: torch.Tensor) -> torch.Tensor:
        """``(batch, n_voxels)`` -> ``(batch, n_frames, n_mels)`` standardised log-mels."""
        x = self.project(voxels)[:, None, :] + self.positions
        x = self.body(x)[0] if self.kind == "bilstm" else self.body(x)
        return self.head(x)


@dataclass
class DirectModel:
    """A fitted baseline with the scaling of its inputs and targets."""

    kind: str
    estimator: object  # Ridge, MLPRegressor or SequenceDecoder
    x_mean: np.ndarray  # (n_voxels,)
    x_std: np.ndarray
    y_mean: np.ndarray  # (n_mels,)
    y_std: np.ndarray
    n_frames: int


def _standardiser(values: np.ndarray, axes: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    mean = values.mean(axis=axes)
    std = values.std(axis=axes)
    return mean, np.where(std > 0, std, 1.0)


def _check(kind: str, X: np.ndarray, Y: np.ndarray) -> None:
    if kind not in DIRECT_KINDS:
        raise InputError(f"direct decoding: unknown model {kind!r}; expected one of {DIRECT_KINDS}")
    if X.ndim != 2 or Y.ndim != 3:
        raise InputError(
            f"direct decoding: expected X (n, n_voxels) and Y (n, n_frames, n_mels); got "
            f"{X.shape} and {Y.shape}"
        )
    if len(X) != len(Y) or len(X) < 2:
        raise InputError(
            f"direct decoding: X has {len(X)} samples and Y {len(Y)}; expected the same number, "
            "at least 2"
        )
    if not (np.all(np.isfinite(X)) and np.all(np.isfinite(Y))):
        raise InputError("direct decoding: X or Y holds NaN or infinite values")


def fit_direct(
    kind: str,
    X: np.ndarray,
    Y: np.ndarray,
    settings: DirectSettings,
    seed: int,
    checkpoint: PathLike | None = None,
    progress: bool = True,
    on_step=None,
    device: str = "cpu",
) -> DirectModel:
    """Fit one direct baseline from voxels to log-mel spectrograms.

    Parameters
    ----------
    kind : ``"lir"``, ``"mlp"``, ``"bilstm"`` or ``"transformer"``.
    X : (n, n_voxels) fMRI samples.
    Y : (n, n_frames, n_mels) the stimuli's vocoder log-mels (``vocoder_mel``).
    seed : fixes the networks' initial weights and batch order, and the MLP's.
    checkpoint : resumable checkpoint of a network's training (ignored by ``lir`` and ``mlp``).
    device : where the networks train ("cpu" or "cuda", resolved by the caller).
    """
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    _check(kind, X, Y)
    n, n_frames, n_mels = Y.shape
    x_mean, x_std = _standardiser(X, (0,))
    y_mean, y_std = _standardiser(Y, (0, 1))
    Xz = (X - x_mean) / x_std
    Yz = (Y - y_mean) / y_std
    if kind == "lir":
        estimator = Ridge(alpha=settings.ridge_alpha).fit(Xz, Yz.reshape(n, -1))
    elif kind == "mlp":
        estimator = MLPRegressor(
            hidden_layer_sizes=settings.mlp_hidden_sizes,
            alpha=settings.mlp_alpha,
            max_iter=settings.mlp_max_iter,
            random_state=seed,
        ).fit(Xz, Yz.reshape(n, -1))
    else:
        estimator = _fit_network(
            kind,
            Xz,
            Yz,
            settings,
            seed,
            checkpoint=checkpoint,
            progress=progress,
            on_step=on_step,
            device=device,
        )
    return DirectModel(kind, estimator, x_mean, x_std, y_mean, y_std, n_frames)


def _fit_network(
    kind: str,
    Xz: np.ndarray,
    Yz: np.ndarray,
    settings: DirectSettings,
    seed: int,
    **loop,
) -> SequenceDecoder:
    """MSE on standardised targets with AdamW; ``loop`` holds fit's checkpoint, progress, etc."""
    n, n_frames, n_mels = Yz.shape
    Xz, Yz = Xz.astype(np.float32), Yz.astype(np.float32)
    device = torch.device(loop.pop("device"))  # resolved by the caller
    model = trainer.seeded_module(
        lambda: SequenceDecoder(kind, Xz.shape[1], n_frames, n_mels, settings), seed
    ).to(device)

    def loss_terms(indices: np.ndarray, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        prediction = model(trainer.tensor_batch(Xz, indices, device))
        return {"loss": F.mse_loss(prediction, trainer.tensor_batch(Yz, indices, device))}

    schedule = trainer.Schedule(
        settings.epochs, settings.batch_size, settings.checkpoint_interval, settings.weight_decay
    )
    run = {"model": kind, "settings": asdict(settings)}
    run.update(X=trainer.array_digest(Xz), Y=trainer.array_digest(Yz))
    group = trainer.ParamGroup(kind, list(model.parameters()), settings.learning_rate)
    trainer.fit(
        model, [group], loss_terms, n, schedule, seed=seed, run=run, desc=f"direct {kind}", **loop
    )
    return model


def predict_direct(model: DirectModel, X: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Log-mel spectrograms ``(n, n_frames, n_mels)`` for fMRI samples ``X (n, n_voxels)``."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != model.x_mean.shape[0]:
        raise InputError(
            f"direct decoding: expected X (n, {model.x_mean.shape[0]}) voxels; got {X.shape}"
        )
    Xz = (X - model.x_mean) / model.x_std
    if model.kind in NETWORK_KINDS:
        device = next(model.estimator.parameters()).device
        Yz = trainer.batched(model.estimator.eval(), [Xz], batch_size, device).astype(np.float64)
    else:
        Yz = model.estimator.predict(Xz).reshape(len(X), model.n_frames, -1)
    return Yz * model.y_std + model.y_mean
