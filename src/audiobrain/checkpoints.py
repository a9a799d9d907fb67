"""What every trainer of the project shares so that a killed job resumes where it stopped: seeded
mini-batches from ``(seed, step)`` alone, checkpoints written atomically and named by a
fingerprint of the run, and a SIGTERM (SLURM's time limit) turned into a checkpoint and a clean
stop. Used by the DeepSpeech2 training (:mod:`audiobrain.brainscores.training`) and the
reconstruction decoders (:mod:`audiobrain.recon.trainer`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import signal
import threading
from collections.abc import Iterator, Mapping
from dataclasses import asdict
from pathlib import Path

import numpy as np

from audiobrain.io import InputError, load_torch, save_torch

log = logging.getLogger(__name__)
PathLike = str | os.PathLike
PROGRESS_INTERVAL_S = 30.0  # progress-bar refresh: readable in job logs, not one line per step


def batch_indices(step: int, n_clips: int, batch_size: int, seed: int) -> np.ndarray:
    """The training clips of ``step`` (0-based): a fresh seeded permutation for every epoch.

    Computed from ``(seed, step)`` alone, so a resumed run draws the batches an uninterrupted one
    would have drawn.
    """
    positions = np.arange(step * batch_size, (step + 1) * batch_size)
    epochs, offsets = np.divmod(positions, n_clips)
    permutations = {
        int(epoch): np.random.default_rng([seed, int(epoch)]).permutation(n_clips)
        for epoch in np.unique(epochs)
    }
    return np.array(
        [permutations[int(e)][o] for e, o in zip(epochs, offsets, strict=True)], dtype=np.int64
    )


def fingerprint_of(payload: Mapping, model) -> str:
    """SHA-256 of a run's description (JSON) and its parameter shapes.

    Any trainer names its run with this, so a checkpoint left by another run (other data,
    settings, seed or architecture) is never resumed.
    """
    shapes = {k: list(v.shape) for k, v in model.state_dict().items()}
    text = json.dumps({**payload, "shapes": shapes}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def save_checkpoint(path: PathLike, model, optimiser, state, fingerprint: str):
    """Atomically: a kill during the write leaves the previous checkpoint intact."""
    save_torch(
        path,
        {
            "fingerprint": fingerprint,
            "model": model.state_dict(),
            "optimiser": optimiser.state_dict(),
            "state": asdict(state),
        },
    )


def load_checkpoint(path: PathLike, model, optimiser, fingerprint: str, state_type):
    """The saved state if ``path`` holds a checkpoint of this very run, else ``None``.

    ``state_type`` is the dataclass whose fields :func:`save_checkpoint` saved; model and
    optimiser are restored in place.
    """
    path = Path(path)
    if not path.exists():
        return None
    try:
        saved = load_torch(path, "a training checkpoint")
    except InputError as error:  # its own job's file, written atomically: start afresh
        log.warning("%s; ignored, training from step 0", error)
        return None
    if saved.get("fingerprint") != fingerprint:
        log.warning("%s: checkpoint of another run (data, settings or seed) ignored", path)
        return None
    model.load_state_dict(saved["model"])
    optimiser.load_state_dict(saved["optimiser"])
    return state_type(**saved["state"])


class TrainingStopped(RuntimeError):
    """The job was told to stop (SIGTERM); its checkpoint holds the last finished step."""


@contextlib.contextmanager
def sigterm_requested() -> Iterator[threading.Event]:
    """An event that SIGTERM sets, instead of killing the process mid-step (main thread only:
    elsewhere Python cannot take signals, and the event is never set)."""
    requested = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield requested
        return
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: requested.set())
    try:
        yield requested
    finally:
        signal.signal(signal.SIGTERM, previous)


def stop_after_sigterm(checkpoint, model, optimiser, state, fingerprint: str, where: str):
    """Checkpoint the last finished step (when the run keeps checkpoints) and stop the job."""
    saved = "no checkpoint kept"
    if checkpoint is not None:
        save_checkpoint(checkpoint, model, optimiser, state, fingerprint)
        saved = f"checkpoint written to {checkpoint}; the next attempt resumes from it"
    raise TrainingStopped(f"{where}: SIGTERM (a time limit?) at step {state.step}: {saved}")
