"""A small resumable AdamW loop shared by the reconstruction models (C2F-LDM section A.2).

The acoustic decoder and the network baselines train the same way: a fixed number of epochs over
in-memory arrays, mini-batches drawn by :func:`audiobrain.checkpoints.batch_indices`, AdamW with one
learning rate per parameter group. Everything a step depends on is either in the checkpoint
(weights, AdamW moments, metrics rows) or derived from ``(seed, step)`` (the batch, the numpy
generator a loss may draw from, the torch generator behind dropout), so a run killed at any point
and started again ends with the same weights, to the byte on CPU, as one never interrupted.
Checkpoints are written with :mod:`audiobrain.checkpoints`' atomic helpers.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import MISSING, asdict, dataclass, field, fields

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm import tqdm

from audiobrain import checkpoints
from audiobrain.io import InputError

log = logging.getLogger(__name__)
PathLike = str | os.PathLike

# Salts that give the numpy draws of a loss and the torch generator independent streams per step.
LOSS_STREAM = 1
TORCH_STREAM = 2
DIGEST_CHUNK_BYTES = 64 * 2**20  # arrays are hashed in pieces: paper-size mels do not fit twice


@dataclass(frozen=True)
class ParamGroup:
    """Parameters that share a learning rate; ``name`` labels its metrics column."""

    name: str
    params: Sequence[nn.Parameter]
    learning_rate: float


@dataclass(frozen=True)
class Schedule:
    """How long and how often: ``epochs`` passes over the data in batches of ``batch_size``."""

    epochs: int
    batch_size: int
    checkpoint_interval: int  # steps between checkpoints
    weight_decay: float = 0.01  # torch.optim.AdamW's default

    def n_steps(self, n_samples: int) -> int:
        """Whole batches covering ``epochs`` passes; the last pass may end inside a batch."""
        return math.ceil(self.epochs * n_samples / self.batch_size)


@dataclass
class FitState:
    """What a resumed run needs beyond ``(seed, step)``."""

    step: int = 0
    rows: list[dict] = field(default_factory=list)


def array_digest(array: np.ndarray) -> str:
    """SHA-256 of an array's dtype, shape and values (memory-mapped arrays are read in pieces)."""
    digest = hashlib.sha256(f"{array.dtype.str}{array.shape}".encode())
    rows_per_chunk = max(1, DIGEST_CHUNK_BYTES // max(1, array[:1].nbytes))
    for start in range(0, max(1, len(array)), rows_per_chunk):
        digest.update(np.ascontiguousarray(array[start : start + rows_per_chunk]).tobytes())
    return digest.hexdigest()


def state_digest(module: nn.Module) -> str:
    """SHA-256 of a module's weights: a run from other starting weights is another run."""
    digest = hashlib.sha256()
    for name, value in module.state_dict().items():
        digest.update(name.encode())
        digest.update(value.detach().cpu().float().contiguous().numpy().tobytes())
    return digest.hexdigest()


def step_generator(seed: int, step: int) -> np.random.Generator:
    """The numpy generator a loss may draw from at ``step`` (e.g. P_gt's coin flips)."""
    return np.random.default_rng([seed, step, LOSS_STREAM])


def _torch_seed(seed: int, step: int) -> int:
    return int(np.random.default_rng([seed, step, TORCH_STREAM]).integers(2**62))


def seeded_module(build: Callable[[], nn.Module], seed: int) -> nn.Module:
    """``build()`` under a torch generator seeded with ``seed``: same seed, same initial weights.

    torch's layers draw their initial weights from the global generator; it is restored after.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


def fit(
    model: nn.Module,
    groups: Sequence[ParamGroup],
    loss_terms: Callable[[np.ndarray, np.random.Generator], Mapping[str, torch.Tensor]],
    n_samples: int,
    schedule: Schedule,
    *,
    seed: int,
    checkpoint: PathLike | None,
    run: Mapping,
    progress: bool = True,
    desc: str = "training",
    on_step: Callable[[int], None] | None = None,
) -> pd.DataFrame:
    """Train ``model`` in place with AdamW; returns the metrics table (one row per step).

    Parameters
    ----------
    model : every trainable module (checkpointed as one state dict), in its seed's initial state.
    groups : the parameters to optimise, each with its own learning rate.
    loss_terms : ``(batch indices, generator) -> {"loss": total, term: value, ...}``; the total
        is minimised, every entry is logged.
    n_samples : size of the training set that the batch indices range over.
    schedule : epochs, batch size, checkpoint interval and weight decay.
    seed : fixes batch order and every random draw of the run.
    checkpoint : where the run's checkpoint lives; one of this very run is resumed, any other file
        there is ignored (and overwritten at the next checkpoint). None: no checkpoints.
    run : JSON-able description of the data and settings (e.g. :func:`array_digest` values);
        together with ``seed``, the schedule, the learning rates and the parameter shapes it
        fingerprints the run.
    on_step : called after each step with the step count (tests interrupt a run with it).

    Returns
    -------
    DataFrame with columns ``step``, ``epoch`` (0-based pass the step's last sample belongs to),
    the loss terms, and ``learning_rate`` (``learning_rate_<name>`` per group when there are
    several).
    """
    if n_samples < 1:
        raise InputError(f"{desc}: no training samples")
    device = next(model.parameters()).device
    optimiser = torch.optim.AdamW(
        [{"params": list(g.params), "lr": g.learning_rate} for g in groups],
        weight_decay=schedule.weight_decay,
    )
    rates = {g.name: g.learning_rate for g in groups}
    payload = {"run": dict(run), "seed": seed, "schedule": asdict(schedule), "rates": rates}
    run_id = checkpoints.fingerprint_of(payload, model)
    state = None
    if checkpoint is not None:
        state = checkpoints.load_checkpoint(checkpoint, model, optimiser, run_id, FitState)
    state = state or FitState()
    if state.step:
        log.info("%s: resuming from %s at step %d", desc, checkpoint, state.step)
    rate_columns = (
        {"learning_rate": groups[0].learning_rate}
        if len(groups) == 1
        else {f"learning_rate_{g.name}": g.learning_rate for g in groups}
    )
    n_steps = schedule.n_steps(n_samples)
    model.train()
    bar = tqdm(
        total=n_steps,
        initial=state.step,
        disable=not progress,
        desc=desc,
        mininterval=checkpoints.PROGRESS_INTERVAL_S,
    )
    cuda = [device] if device.type == "cuda" else []
    with checkpoints.sigterm_requested() as stop:
        while state.step < n_steps:
            if stop.is_set():
                where = f"{desc}, {n_steps} steps"
                checkpoints.stop_after_sigterm(checkpoint, model, optimiser, state, run_id, where)
            indices = checkpoints.batch_indices(state.step, n_samples, schedule.batch_size, seed)
            with torch.random.fork_rng(devices=cuda):
                torch.manual_seed(_torch_seed(seed, state.step))
                terms = loss_terms(indices, step_generator(seed, state.step))
                optimiser.zero_grad(set_to_none=True)
                terms["loss"].backward()
            optimiser.step()
            last_sample = (state.step + 1) * schedule.batch_size - 1
            state.step += 1
            row = {"step": state.step, "epoch": last_sample // n_samples}
            row.update({name: float(value.detach()) for name, value in terms.items()})
            state.rows.append({**row, **rate_columns})
            bar.set_postfix(loss=f"{row['loss']:.4g}", refresh=False)
            bar.update(1)
            due = state.step % schedule.checkpoint_interval == 0 and state.step < n_steps
            if due and checkpoint is not None:
                checkpoints.save_checkpoint(checkpoint, model, optimiser, state, run_id)
            if on_step is not None:
                on_step(state.step)
    bar.close()
    model.eval()
    return pd.DataFrame(state.rows)


@torch.no_grad()
def batched(
    function: Callable[..., torch.Tensor],
    arrays: Sequence[np.ndarray],
    batch_size: int,
    device: torch.device,
) -> np.ndarray:
    """``function`` over aligned arrays in batches, without gradients; results as float32 numpy."""
    out = []
    for start in range(0, len(arrays[0]), batch_size):
        inputs = [
            torch.as_tensor(np.asarray(a[start : start + batch_size], dtype=np.float32)).to(device)
            for a in arrays
        ]
        out.append(function(*inputs).float().cpu().numpy())
    return np.concatenate(out)


def tensor_batch(array: np.ndarray, indices: np.ndarray, device: torch.device) -> torch.Tensor:
    """Rows ``indices`` of a (possibly memory-mapped) array as a float32 tensor on ``device``."""
    return torch.as_tensor(np.asarray(array[indices], dtype=np.float32)).to(device)


def settings_from_mapping(cls, mapping: Mapping | None, where: str, positive: Sequence[str] = ()):
    """A settings dataclass from a config section; unknown keys and bad values name the key.

    Numbers are converted to the type of the field's default (YAML reads ``1e-6`` as a string);
    fields listed in ``positive`` must be > 0.
    """
    values = dict(mapping or {})
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise InputError(
            f"config {where}: unknown key(s) {unknown}; expected some of {sorted(known)}"
        )
    for name, value in values.items():
        default = known[name].default
        kind = type(default) if default is not MISSING else None
        try:
            if kind in (int, float) and not isinstance(value, bool):
                value = kind(value)
                if kind is int and value != float(values[name]):
                    raise ValueError
            elif kind is tuple:  # tuples of ints (layer sizes)
                value = tuple(int(v) for v in value)
            elif kind is bool and not isinstance(value, bool):
                raise ValueError
        except (TypeError, ValueError):
            raise InputError(
                f"config {where}.{name}: expected {kind.__name__}, got {values[name]!r}"
            ) from None
        if name in positive and not value > 0:
            raise InputError(f"config {where}.{name}: must be > 0, got {value!r}")
        values[name] = value
    return cls(**values)
