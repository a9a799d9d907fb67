"""Training the DeepSpeech2 networks with CTC and evaluating them (Millet & King 2021, 2.4).

Resumable by construction. Everything a step depends on is either saved in the checkpoint (weights,
batch-norm statistics, momentum buffers, the learning-rate schedule, the best weights so far and
the metrics rows) or recomputed from ``(seed, step)`` alone (which clips form the batch, and their
augmentation), so a job killed at any point and re-run ends with the same weights, to the byte on
CPU, as one that was never interrupted. A job that SLURM stops at its time limit (SIGTERM, then
SIGKILL after the cluster's KillWait) writes a checkpoint at the end of the step it is in and exits
with an error, so that the workflow's retry resumes it there.
"""

from __future__ import annotations

import copy
import logging
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field

import jiwer
import librosa
import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from audiobrain import audio
from audiobrain.brainscores import text
from audiobrain.brainscores.networks import CTC_BLANK_INDEX, DeepSpeech2
from audiobrain.checkpoints import (
    PROGRESS_INTERVAL_S,
    batch_indices,
    fingerprint_of,
    load_checkpoint,
    save_checkpoint,
    sigterm_requested,
    stop_after_sigterm,
)
from audiobrain.io import InputError, load_json, read_tsv

log = logging.getLogger(__name__)
PathLike = str | os.PathLike

SPEECH_TASKS = ("dutch", "english", "bengali")
SCENE_TASK = "scenes"
MANIFEST_COLUMNS = ("path", "start_s", "duration_s", "transcript", "split")
METRICS_COLUMNS = ("step", "loss", "validation_metric", "learning_rate")


@dataclass(frozen=True)
class TrainingSettings:
    """Optimisation of section 2.4 (defaults are the paper's) and OpenSeq2Seq's augmentation.

    The paper trains with OpenSeq2Seq; its DeepSpeech2 recipes augment each utterance with a random
    time stretch (ratio within +-5 %) and white noise at -90 to -60 dBFS, drawn here from
    ``(seed, step, position in batch)``.
    """

    learning_rate: float = 1e-3  # section 2.4: initial learning rate
    momentum: float = 0.9  # section 2.4
    decay_power: float = 2.0  # section 2.4: polynomial decay with power 2
    batch_size: int = 8  # section 2.4
    max_steps: int = 70_000  # section 2.4: at most 70,000 steps
    validation_interval: int = 1000
    checkpoint_interval: int = 500
    time_stretch_ratio: float = 0.05
    noise_level_db: tuple[float, float] = (-90.0, -60.0)
    mixed_precision: bool = False  # bfloat16 autocast of the forward pass, on CUDA only

    def __post_init__(self):
        for name in ("learning_rate", "batch_size", "max_steps"):
            if not getattr(self, name) > 0:
                raise InputError(f"config networks.training.{name}: must be > 0")
        for name in ("validation_interval", "checkpoint_interval"):
            if not getattr(self, name) > 0:
                raise InputError(f"config networks.training.{name}: must be > 0")


# --- data ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Clip:
    """One training example: a segment of an audio file and its CTC target (1-based symbols)."""

    path: str
    start_s: float
    duration_s: float
    target: tuple[int, ...]
    reference: str  # the transcript, or the scene label


@dataclass(frozen=True)
class Corpus:
    """A task's manifest read into clips per split, with the label set of the scene task."""

    task: str
    splits: Mapping[str, list[Clip]]
    classes: tuple[str, ...] = ()

    def clips(self, split: str) -> list[Clip]:
        if not self.splits.get(split):
            raise InputError(f"{self.task} corpus: the {split!r} split holds no clips")
        return self.splits[split]


def read_corpus(manifest: PathLike, task: str, max_duration_s: float | None = None) -> Corpus:
    """Clips of a manifest TSV (see :mod:`audiobrain.brainscores.corpora`) encoded for ``task``'s
    CTC output.

    Targets are checked here, before any training: an empty transcript, a symbol outside the
    task's alphabet, or a clip longer than ``max_duration_s`` stops with the manifest row named.
    """
    table = read_tsv(manifest, required=MANIFEST_COLUMNS)
    classes: tuple[str, ...] = ()
    if task == SCENE_TASK:
        classes = tuple(load_json(str(manifest) + ".json")["classes"])
    splits: dict[str, list[Clip]] = {}
    for row_number, row in enumerate(table.itertuples(index=False), start=2):
        where = f"{manifest} line {row_number}"
        reference = "" if pd.isna(row.transcript) else str(row.transcript)
        if max_duration_s is not None and float(row.duration_s) > max_duration_s:
            raise InputError(
                f"{where}: clip of {float(row.duration_s):.2f} s is longer than the "
                f"{max_duration_s} s limit (config networks.training.max_duration_s)"
            )
        clip = Clip(
            str(row.path),
            float(row.start_s),
            float(row.duration_s),
            _target(reference, task, classes, where),
            reference,
        )
        splits.setdefault(str(row.split), []).append(clip)
    return Corpus(task, splits, classes)


def _target(reference: str, task: str, classes: Sequence[str], where: str) -> tuple[int, ...]:
    if task == SCENE_TASK:
        if reference not in classes:
            raise InputError(f"{where}: scene label {reference!r} is not in the corpus classes")
        return (classes.index(reference) + 1,)  # one-hot class as a one-symbol CTC target
    if not reference.strip():
        raise InputError(f"{where}: empty transcript")
    unknown = sorted(set(reference) - set(text.ALPHABETS[task]))
    if unknown:
        raise InputError(
            f"{where}: characters {unknown} are not in the {task} alphabet; prepare the corpus "
            "with corpora.<task>.unknown_characters set to drop or map"
        )
    return tuple(text.encode(reference, task))


def load_clip(clip: Clip, sr_hz: int = audio.SAMPLE_RATE_HZ) -> np.ndarray:
    """The clip's samples at ``sr_hz`` (only its segment of the file is read)."""
    return audio.load_segment(clip.path, clip.start_s, clip.duration_s, sr_hz)


def augment(
    waveform: np.ndarray, settings: TrainingSettings, rng: np.random.Generator
) -> np.ndarray:
    """Random time stretch and additive white noise (OpenSeq2Seq's speech augmentation)."""
    if settings.time_stretch_ratio > 0:
        rate = 1.0 + rng.uniform(-settings.time_stretch_ratio, settings.time_stretch_ratio)
        waveform = librosa.effects.time_stretch(waveform, rate=rate)
    low, high = settings.noise_level_db
    noise_amplitude = 10.0 ** (rng.uniform(low, high) / 20.0)
    noise = rng.standard_normal(waveform.shape[0]).astype(np.float32)
    return (waveform + noise_amplitude * noise).astype(np.float32)


def padded_spectrograms(waveforms: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Network input for a batch: ``(batch, frames, 160)`` log spectrograms and their lengths."""
    spectrograms = [audio.log_spectrogram(w) for w in waveforms]
    lengths = torch.tensor([len(s) for s in spectrograms], dtype=torch.int64)
    inputs = torch.zeros((len(spectrograms), int(lengths.max()), spectrograms[0].shape[1]))
    for row, spectrogram in enumerate(spectrograms):
        inputs[row, : len(spectrogram)] = torch.from_numpy(spectrogram)
    return inputs, lengths


# --- decoding and evaluation ---------------------------------------------------------------------


def greedy_ctc_decode(log_probs: torch.Tensor, lengths: torch.Tensor) -> list[list[int]]:
    """Best path per sequence: argmax per frame, repeats merged, blanks removed."""
    best = log_probs.argmax(dim=-1).cpu().numpy()
    decoded = []
    for row, length in zip(best, lengths.tolist(), strict=True):
        path = row[:length]
        keep = np.ones(len(path), dtype=bool)
        keep[1:] = path[1:] != path[:-1]
        decoded.append([int(s) for s in path[keep] if s != CTC_BLANK_INDEX])
    return decoded


def scene_predictions(log_probs: torch.Tensor, lengths: torch.Tensor) -> list[int]:
    """One class per clip (1-based): the class with the largest posterior summed over frames.

    A scene network emits its label on a few frames only and blank elsewhere; summing the
    non-blank posteriors picks the class even when no frame's argmax left the blank.
    """
    probs = log_probs.float().exp()
    predictions = []
    for row, length in enumerate(lengths.tolist()):
        totals = probs[row, :length, 1:].sum(dim=0)
        predictions.append(int(totals.argmax()) + 1)
    return predictions


@torch.no_grad()
def predict(
    model: DeepSpeech2, clips: Sequence[Clip], batch_size: int = 8
) -> list[tuple[torch.Tensor, int]]:
    """Log-probabilities ``(frames, outputs)`` of each clip, in eval mode, without augmentation."""
    was_training = model.training
    device = next(model.parameters()).device
    model.eval()
    outputs = []
    try:
        for start in range(0, len(clips), batch_size):
            inputs, lengths = padded_spectrograms(
                [load_clip(c) for c in clips[start : start + batch_size]]
            )
            result = model(inputs.to(device), lengths)
            for row, length in enumerate(result.lengths.tolist()):
                outputs.append((result.log_probs[row, :length].float().cpu(), length))
    finally:
        model.train(was_training)
    return outputs


def evaluate(model: DeepSpeech2, corpus: Corpus, split: str) -> dict[str, float]:
    """Speech: WER and CER of greedy CTC decoding (jiwer). Scenes: class error."""
    clips = corpus.clips(split)
    outputs = predict(model, clips)
    if corpus.task == SCENE_TASK:
        predicted = [scene_predictions(lp[None], torch.tensor([n]))[0] for lp, n in outputs]
        errors = [p != c.target[0] for p, c in zip(predicted, clips, strict=True)]
        return {"class_error": float(np.mean(errors))}
    hypotheses = [
        text.decode(greedy_ctc_decode(lp[None], torch.tensor([n]))[0], corpus.task)
        for lp, n in outputs
    ]
    references = [c.reference for c in clips]
    return {
        "wer": float(jiwer.wer(references, hypotheses)),
        "cer": float(jiwer.cer(references, hypotheses)),
    }


def validation_metric(task: str) -> str:
    """The metric that picks the best checkpoint (lower is better)."""
    return "class_error" if task == SCENE_TASK else "cer"


# --- the training loop ---------------------------------------------------------------------------


def learning_rate_factor(step: int, settings: TrainingSettings) -> float:
    """Polynomial decay to zero at ``max_steps``: ``(1 - step / max_steps) ** power``."""
    return (1.0 - min(step, settings.max_steps) / settings.max_steps) ** settings.decay_power


@dataclass
class TrainingState:
    """Everything that a resumed run needs beyond ``(seed, step)``."""

    step: int = 0
    best_metric: float = math.inf
    best_step: int = 0
    best_model: dict | None = None
    rows: list[dict] = field(default_factory=list)


def run_fingerprint(corpus: Corpus, settings: TrainingSettings, seed: int, model) -> str:
    """Identifies a training run; a checkpoint of another run is never resumed."""
    payload = {
        "task": corpus.task,
        "train": [(c.path, c.start_s, c.duration_s, c.target) for c in corpus.clips("train")],
        "settings": asdict(settings),
        "seed": seed,
    }
    return fingerprint_of(payload, model)


def _device_for(model) -> torch.device:
    return next(model.parameters()).device


def _training_batch(
    corpus: Corpus, settings: TrainingSettings, seed: int, step: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    clips = corpus.clips("train")
    chosen = [clips[i] for i in batch_indices(step, len(clips), settings.batch_size, seed)]
    waveforms = [
        augment(load_clip(clip), settings, np.random.default_rng([seed, step, position]))
        for position, clip in enumerate(chosen)
    ]
    inputs, lengths = padded_spectrograms(waveforms)
    targets = torch.tensor([s for c in chosen for s in c.target], dtype=torch.int64)
    target_lengths = torch.tensor([len(c.target) for c in chosen], dtype=torch.int64)
    return inputs, lengths, targets, target_lengths


def _ctc_loss(model, batch, settings: TrainingSettings) -> torch.Tensor:
    """OpenSeq2Seq's CTC loss: summed over each sequence, averaged over the batch."""
    inputs, lengths, targets, target_lengths = batch
    device = _device_for(model)
    use_autocast = settings.mixed_precision and device.type == "cuda"
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_autocast):
        output = model(inputs.to(device), lengths)
    log_probs = output.ctc_log_probs().float()
    loss = torch.nn.functional.ctc_loss(
        log_probs,
        targets.to(device),
        output.lengths.to(device),
        target_lengths.to(device),
        blank=CTC_BLANK_INDEX,
        reduction="sum",
        zero_infinity=True,
    )
    return loss / inputs.shape[0]


def train(
    model: DeepSpeech2,
    corpus: Corpus,
    settings: TrainingSettings,
    *,
    seed: int,
    checkpoint: PathLike,
    progress: bool = True,
    on_step: Callable[[int], None] | None = None,
) -> TrainingState:
    """Train ``model`` in place from its initial weights; returns the final state.

    ``model`` must hold the seed's initial weights
    (:func:`audiobrain.brainscores.networks.build_untrained`). A checkpoint of the same run at
    ``checkpoint`` is resumed. ``on_step`` is called after each step (tests use it to interrupt a
    run).
    """
    optimiser = torch.optim.SGD(
        model.parameters(), lr=settings.learning_rate, momentum=settings.momentum
    )
    fingerprint = run_fingerprint(corpus, settings, seed, model)
    state = (
        load_checkpoint(checkpoint, model, optimiser, fingerprint, TrainingState) or TrainingState()
    )
    if state.step:
        log.info("resuming from %s at step %d", checkpoint, state.step)
    metric_name = validation_metric(corpus.task)
    model.train()
    bar = tqdm(
        total=settings.max_steps,
        initial=state.step,
        disable=not progress,
        desc=corpus.task,
        mininterval=PROGRESS_INTERVAL_S,
    )
    with sigterm_requested() as stop:
        while state.step < settings.max_steps:
            if stop.is_set():
                where = f"{corpus.task}, {settings.max_steps} steps"
                stop_after_sigterm(checkpoint, model, optimiser, state, fingerprint, where)
            learning_rate = settings.learning_rate * learning_rate_factor(state.step, settings)
            for group in optimiser.param_groups:
                group["lr"] = learning_rate
            loss = _ctc_loss(model, _training_batch(corpus, settings, seed, state.step), settings)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            state.step += 1
            row = {"step": state.step, "loss": loss.item(), "validation_metric": math.nan}
            row["learning_rate"] = learning_rate
            if state.step % settings.validation_interval == 0 or state.step == settings.max_steps:
                row["validation_metric"] = evaluate(model, corpus, "val")[metric_name]
                if row["validation_metric"] < state.best_metric:
                    state.best_metric, state.best_step = row["validation_metric"], state.step
                    state.best_model = copy.deepcopy(model.state_dict())
                bar.set_postfix(
                    loss=f"{row['loss']:.3f}", **{metric_name: row["validation_metric"]}
                )
            state.rows.append(row)
            bar.update(1)
            if state.step % settings.checkpoint_interval == 0 and state.step < settings.max_steps:
                save_checkpoint(checkpoint, model, optimiser, state, fingerprint)
            if on_step is not None:
                on_step(state.step)
    bar.close()
    return state


def metrics_table(state: TrainingState) -> pd.DataFrame:
    """The learning curve: one row per step (validation metric only where it was computed)."""
    return pd.DataFrame(state.rows, columns=list(METRICS_COLUMNS))


def task_description(network: str) -> str:
    """The task column of the evaluation table."""
    if network == SCENE_TASK:
        return "acoustic scene classification"
    return f"{network} speech-to-text"
