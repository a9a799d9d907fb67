"""Network training: data order, CTC decoding, resumption after a kill, evaluation, bad input."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from audiobrain import checkpoints
from audiobrain.brainscores import corpora, networks, pipeline, training
from audiobrain.demo import corpora as demo_corpora
from audiobrain.io import InputError, write_tsv

TINY = {"conv_channels": [2, 2, 2], "gru_hidden": 4}
FAST_TRAINING = {
    "learning_rate": 0.02,
    "max_steps": 6,
    "validation_interval": 3,
    "checkpoint_interval": 2,
    "batch_size": 4,
}


@pytest.fixture(scope="module")
def english_manifest(tmp_path_factory) -> Path:
    """A real (tiny) English demo corpus: eSpeak NG speech, one or two words per clip."""
    folder = tmp_path_factory.mktemp("english")
    demo_corpora.generate_demo_corpus("english", folder / "corpus", n_clips=30, seed=3, max_words=1)
    manifest = folder / "manifest.tsv"
    corpora.prepare_corpus("english", "demo", folder / "corpus", manifest)
    return manifest


@pytest.fixture(scope="module")
def scenes_manifest(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("scenes")
    demo_corpora.generate_demo_corpus("scenes", folder / "corpus", n_clips=30, seed=3)
    manifest = folder / "manifest.tsv"
    corpora.prepare_corpus("scenes", "demo", folder / "corpus", manifest)
    return manifest


def _train(manifest: Path, folder: Path, **overrides) -> tuple[Path, Path]:
    model, metrics = folder / "model.pt", folder / "metrics.tsv"
    pipeline.train_network(
        manifest,
        model,
        metrics,
        network="english",
        seed=0,
        checkpoint=folder / "resume" / "checkpoint.pt",
        training_settings={**FAST_TRAINING, **overrides},
        **TINY,
    )
    return model, metrics


def test_batches_cover_every_clip_once_per_epoch_and_depend_on_seed_and_step_only():
    n_clips, batch = 10, 4
    first_epoch = np.concatenate(
        [training.batch_indices(step, n_clips, batch, seed=5) for step in range(5)]
    )
    assert sorted(first_epoch[:10]) == list(range(10))
    assert sorted(first_epoch[10:20]) == list(range(10))
    assert not np.array_equal(first_epoch[:10], first_epoch[10:20])
    assert np.array_equal(
        training.batch_indices(3, n_clips, batch, 5), training.batch_indices(3, n_clips, batch, 5)
    )
    assert not np.array_equal(
        training.batch_indices(0, n_clips, batch, 5), training.batch_indices(0, n_clips, batch, 6)
    )


def test_polynomial_decay_follows_the_paper_schedule():
    settings = training.TrainingSettings(max_steps=100)
    assert training.learning_rate_factor(0, settings) == 1.0
    assert training.learning_rate_factor(50, settings) == pytest.approx(0.25)
    assert training.learning_rate_factor(100, settings) == 0.0
    paper = training.TrainingSettings()
    assert (paper.learning_rate, paper.momentum, paper.batch_size) == (1e-3, 0.9, 8)
    assert (paper.decay_power, paper.max_steps) == (2.0, 70_000)


def test_greedy_ctc_decoding_merges_repeats_and_drops_blanks():
    path = [0, 3, 3, 0, 3, 1, 1, 0, 0, 2]
    log_probs = torch.full((1, len(path), 4), -10.0)
    log_probs[0, torch.arange(len(path)), torch.tensor(path)] = 0.0
    assert training.greedy_ctc_decode(log_probs, torch.tensor([len(path)])) == [[3, 3, 1, 2]]
    assert training.greedy_ctc_decode(log_probs, torch.tensor([4])) == [[3]]


def test_scene_prediction_sums_posteriors_even_when_blank_wins_every_frame():
    log_probs = torch.log(torch.tensor([[[0.6, 0.1, 0.3], [0.7, 0.05, 0.25], [0.9, 0.1, 0.0]]]))
    assert training.scene_predictions(log_probs, torch.tensor([3])) == [2]


def test_a_few_sgd_steps_lower_the_ctc_loss_on_a_fixed_batch(english_manifest):
    corpus = training.read_corpus(english_manifest, "english")
    settings = training.TrainingSettings(
        learning_rate=0.02, batch_size=4, noise_level_db=(-90, -90)
    )
    model = networks.build_untrained(0, networks.ctc_output_size("english"), (2, 2, 2), 4)
    batch = training._training_batch(corpus, settings, seed=0, step=0)
    optimiser = torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.9)
    losses = []
    for _ in range(8):
        loss = training._ctc_loss(model, batch, settings)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0]


def test_training_is_deterministic_and_keeps_the_best_validation_weights(
    english_manifest, tmp_path
):
    model_a, metrics_a = _train(english_manifest, tmp_path / "a")
    model_b, _ = _train(english_manifest, tmp_path / "b")
    assert model_a.read_bytes() == model_b.read_bytes()
    curve = pd.read_csv(metrics_a, sep="\t")
    assert list(curve.columns) == list(training.METRICS_COLUMNS)
    assert curve["step"].tolist() == list(range(1, 7))
    validated = curve.dropna(subset=["validation_metric"])
    assert validated["step"].tolist() == [3, 6]
    saved = torch.load(model_a, weights_only=True)
    best = validated.loc[validated["validation_metric"].idxmin()]
    assert saved["best_step"] == best["step"]
    assert saved["best_validation_metric"] == pytest.approx(best["validation_metric"])
    assert not (tmp_path / "a" / "resume" / "checkpoint.pt").exists()


def _train_with_hook(manifest: Path, folder: Path, on_step) -> None:
    """training.train in this process, with ``on_step`` after every step (to interrupt it)."""
    corpus = training.read_corpus(manifest, "english")
    model = networks.build_untrained(0, networks.ctc_output_size("english"), (2, 2, 2), 4)
    training.train(
        model,
        corpus,
        training.TrainingSettings(**FAST_TRAINING),
        seed=0,
        checkpoint=folder / "resume" / "checkpoint.pt",
        on_step=on_step,
    )


def test_an_interrupted_run_resumes_to_the_same_weights(english_manifest, tmp_path):
    uninterrupted, curve = _train(english_manifest, tmp_path / "whole")
    folder = tmp_path / "interrupted"

    def stop_after_step_5(step):
        if step == 5:
            raise KeyboardInterrupt  # as a job killed between checkpoints (last one at step 4)

    with pytest.raises(KeyboardInterrupt):
        _train_with_hook(english_manifest, folder, stop_after_step_5)
    assert torch.load(folder / "resume" / "checkpoint.pt", weights_only=True)["state"]["step"] == 4
    resumed, resumed_curve = _train(english_manifest, folder)
    assert resumed.read_bytes() == uninterrupted.read_bytes()
    assert resumed_curve.read_bytes() == curve.read_bytes()


def test_sigterm_at_a_time_limit_checkpoints_the_step_and_the_retry_resumes_there(
    english_manifest, tmp_path
):
    """SLURM's SIGTERM at a job's time limit: a checkpoint of the finished step (3, between the
    periodic ones at 2 and 4), an error for the workflow's retry, and the same final weights."""
    uninterrupted, curve = _train(english_manifest, tmp_path / "whole")
    folder = tmp_path / "timed-out"

    def time_limit_during_step_3(step):
        if step == 3:
            os.kill(os.getpid(), signal.SIGTERM)

    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(checkpoints.TrainingStopped, match="6 steps: SIGTERM .* at step 3"):
        _train_with_hook(english_manifest, folder, time_limit_during_step_3)
    assert signal.getsignal(signal.SIGTERM) == before
    assert torch.load(folder / "resume" / "checkpoint.pt", weights_only=True)["state"]["step"] == 3
    resumed, resumed_curve = _train(english_manifest, folder)
    assert resumed.read_bytes() == uninterrupted.read_bytes()
    assert resumed_curve.read_bytes() == curve.read_bytes()


@pytest.mark.workflow
def test_a_run_killed_with_sigkill_resumes_to_the_same_weights(english_manifest, tmp_path):
    overrides = {"max_steps": 60, "checkpoint_interval": 5, "validation_interval": 30}
    uninterrupted, _ = _train(english_manifest, tmp_path / "whole", **overrides)
    folder = tmp_path / "killed"
    checkpoint = folder / "resume" / "checkpoint.pt"
    code = (
        "from audiobrain.brainscores import pipeline; pipeline.train_network("
        f"{str(english_manifest)!r}, {str(folder / 'model.pt')!r}, "
        f"{str(folder / 'metrics.tsv')!r}, network='english', seed=0, "
        f"checkpoint={str(checkpoint)!r}, training_settings={ {**FAST_TRAINING, **overrides}!r}, "
        f"conv_channels={TINY['conv_channels']!r}, gru_hidden={TINY['gru_hidden']!r})"
    )
    job = subprocess.Popen([sys.executable, "-c", code], env={**os.environ})
    deadline = time.monotonic() + 120
    while not checkpoint.exists() and job.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    job.send_signal(signal.SIGKILL)
    job.wait()
    assert checkpoint.exists() and not (folder / "model.pt").exists(), "killed before finishing"
    killed_at = torch.load(checkpoint, weights_only=True)["state"]["step"]
    assert 0 < killed_at < overrides["max_steps"]
    resumed, _ = _train(english_manifest, folder, **overrides)
    assert resumed.read_bytes() == uninterrupted.read_bytes()


def test_a_checkpoint_of_another_run_is_not_resumed(english_manifest, tmp_path):
    uninterrupted, _ = _train(english_manifest, tmp_path / "whole")
    folder = tmp_path / "stale"
    _train(english_manifest, folder, max_steps=4, checkpoint_interval=1)  # leaves no checkpoint
    # A checkpoint from a run with other settings sits where this run keeps its own.
    corpus = training.read_corpus(english_manifest, "english")
    model = networks.build_untrained(0, networks.ctc_output_size("english"), (2, 2, 2), 4)
    other = training.TrainingSettings(**{**FAST_TRAINING, "learning_rate": 0.5})
    optimiser = torch.optim.SGD(model.parameters(), lr=0.5)
    training.save_checkpoint(
        folder / "resume" / "checkpoint.pt",
        model,
        optimiser,
        training.TrainingState(step=5),
        training.run_fingerprint(corpus, other, 0, model),
    )
    resumed, _ = _train(english_manifest, folder)
    assert resumed.read_bytes() == uninterrupted.read_bytes()


def test_evaluation_reports_wer_and_cer_or_class_error(english_manifest, scenes_manifest, tmp_path):
    model, _ = _train(english_manifest, tmp_path)
    output = tmp_path / "evaluation.tsv"
    pipeline.evaluate_network(model, english_manifest, output, network="english", seed=0, **TINY)
    table = pd.read_csv(output, sep="\t")
    assert list(table.columns) == ["network", "task", "seed", "split", "metric", "value"]
    assert table["metric"].tolist() == ["wer", "cer"]
    assert (table["split"] == "test").all()
    untrained = networks.build_untrained(0, networks.ctc_output_size("scenes"), (2, 2, 2), 4)
    corpus = training.read_corpus(scenes_manifest, "scenes")
    class_error = training.evaluate(untrained, corpus, "test")["class_error"]
    predictions = [
        training.scene_predictions(lp[None], torch.tensor([n]))[0]
        for lp, n in training.predict(untrained, corpus.clips("test"))
    ]
    truth = [clip.target[0] for clip in corpus.clips("test")]
    assert class_error == pytest.approx(np.mean(np.not_equal(predictions, truth)))


def _manifest_with(tmp_path: Path, english_manifest: Path, **changes) -> Path:
    table = pd.read_csv(english_manifest, sep="\t", keep_default_na=False)
    for column, value in changes.items():
        table.loc[3, column] = value
    path = tmp_path / "edited.tsv"
    write_tsv(table, path)
    return path


def test_bad_transcripts_and_long_clips_are_named_before_training(english_manifest, tmp_path):
    bad = _manifest_with(tmp_path, english_manifest, transcript="naïve café")
    with pytest.raises(InputError, match=r"edited.tsv line 5.*'ï'.*unknown_characters"):
        training.read_corpus(bad, "english")
    empty = _manifest_with(tmp_path, english_manifest, transcript="")
    with pytest.raises(InputError, match=r"edited.tsv line 5: empty transcript"):
        training.read_corpus(empty, "english")
    long = _manifest_with(tmp_path, english_manifest, duration_s=25.0)
    with pytest.raises(InputError, match=r"line 5: clip of 25.00 s is longer than the 20.0 s"):
        training.read_corpus(long, "english", max_duration_s=20.0)


def test_a_checkpoint_of_another_architecture_is_a_clear_error(english_manifest, tmp_path):
    model, _ = _train(english_manifest, tmp_path)
    before = model.read_bytes()
    with pytest.raises(InputError, match=r"model.pt: weights of a different architecture"):
        pipeline.load_network("english", 0, checkpoint=model, conv_channels=[4, 4, 4], gru_hidden=4)
    with pytest.raises(InputError, match=r"different architecture.*'dutch'"):
        pipeline.load_network("dutch", 0, checkpoint=model, **TINY)
    assert model.read_bytes() == before
