"""Direct decoding baselines (C2F-LDM section 3.1: LiR, MLP, BiLSTM, Transformer): recovery of
planted maps on held-out samples, shapes and units, exact resume, determinism, bad input."""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest
import torch

from audiobrain.checkpoints import TrainingStopped
from audiobrain.io import InputError, save_torch
from audiobrain.recon.direct import (
    DIRECT_KINDS,
    DirectSettings,
    SequenceDecoder,
    fit_direct,
    predict_direct,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

N_TRAIN, N_TEST, N_VOXELS, N_FRAMES, N_MELS = 240, 80, 12, 6, 5
TINY = DirectSettings(
    ridge_alpha=1.0,
    mlp_hidden_sizes=(32, 32),
    mlp_max_iter=400,
    n_layers=2,
    d_model=16,
    n_heads=2,
    mlp_ratio=2.0,
    dropout=0.0,
    learning_rate=3e-3,
    batch_size=16,
    epochs=40,
    checkpoint_interval=10,
)


def planted(kind: str, seed: int = 0) -> tuple[np.ndarray, ...]:
    """Log-mels (about -5 +- a few, like real ones) that depend on the voxels through a linear
    map, or through saturating responses of three latent sources; plus noise."""
    rng = np.random.default_rng(seed)
    n = N_TRAIN + N_TEST
    X = rng.standard_normal((n, N_VOXELS))
    if kind == "linear":
        signal = X @ rng.standard_normal((N_VOXELS, N_FRAMES * N_MELS)) / np.sqrt(N_VOXELS)
    else:
        sources = np.tanh(3.0 * X @ rng.standard_normal((N_VOXELS, 3)) / np.sqrt(N_VOXELS))
        signal = sources @ rng.standard_normal((3, N_FRAMES * N_MELS))
    Y = -5.0 + 2.0 * signal + 0.3 * rng.standard_normal(signal.shape)
    Y = Y.reshape(n, N_FRAMES, N_MELS)
    return X[:N_TRAIN], Y[:N_TRAIN], X[N_TRAIN:], Y[N_TRAIN:]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("kind", DIRECT_KINDS)
@pytest.mark.parametrize("relation", ["linear", "nonlinear"])
def test_each_baseline_beats_the_mean_on_held_out_samples(kind, relation):
    X, Y, X_test, Y_test = planted(relation)
    model = fit_direct(kind, X, Y, TINY, seed=0, progress=False)
    predicted = predict_direct(model, X_test)
    assert predicted.shape == Y_test.shape == (N_TEST, N_FRAMES, N_MELS)
    error = np.mean((predicted - Y_test) ** 2)
    mean_error = np.mean((Y.mean(axis=0) - Y_test) ** 2)
    assert error < 0.5 * mean_error, f"{kind} on a {relation} map: {error} vs {mean_error}"


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_the_nonlinear_map_needs_a_nonlinear_model():
    X, Y, X_test, Y_test = planted("nonlinear")
    errors = {
        kind: np.mean((predict_direct(fit_direct(kind, X, Y, TINY, 0), X_test) - Y_test) ** 2)
        for kind in ("lir", "mlp", "transformer")
    }
    assert errors["mlp"] < 0.6 * errors["lir"] and errors["transformer"] < 0.6 * errors["lir"]


def test_predictions_are_in_log_mel_units():
    X, Y, X_test, Y_test = planted("linear")
    model = fit_direct("lir", X, Y, DirectSettings(ridge_alpha=1e-6), seed=0)
    np.testing.assert_allclose(model.y_mean, Y.mean(axis=(0, 1)))
    residual = predict_direct(model, X_test) - Y_test
    assert abs(residual.mean()) < 0.1 and residual.std() < 0.4  # the planted noise is 0.3


def test_the_sequence_is_the_projected_voxels_over_positioned_frames():
    for kind in ("bilstm", "transformer"):
        network = SequenceDecoder(kind, N_VOXELS, N_FRAMES, N_MELS, TINY)
        assert network(torch.zeros(3, N_VOXELS)).shape == (3, N_FRAMES, N_MELS)
        assert network.positions.shape == (1, N_FRAMES, TINY.d_model)


class Interrupted(Exception):
    pass


@pytest.mark.parametrize("kind", ["bilstm", "transformer"])
def test_a_resumed_network_equals_an_uninterrupted_one_byte_for_byte(kind, tmp_path):
    X, Y, X_test, _ = planted("nonlinear")
    settings = DirectSettings(**{**TINY.__dict__, "epochs": 2, "dropout": 0.1})
    whole = fit_direct(kind, X, Y, settings, seed=3, checkpoint=tmp_path / "a.pt", progress=False)

    def stop(step):
        if step == 25:
            raise Interrupted

    checkpoint = tmp_path / "b.pt"
    with pytest.raises(Interrupted):
        fit_direct(kind, X, Y, settings, 3, checkpoint=checkpoint, progress=False, on_step=stop)
    assert torch.load(checkpoint, weights_only=True)["state"]["step"] == 20
    resumed = fit_direct(kind, X, Y, settings, seed=3, checkpoint=checkpoint, progress=False)
    save_torch(tmp_path / "whole.pt", whole.estimator.state_dict())
    save_torch(tmp_path / "resumed.pt", resumed.estimator.state_dict())
    assert (tmp_path / "whole.pt").read_bytes() == (tmp_path / "resumed.pt").read_bytes()
    np.testing.assert_array_equal(predict_direct(whole, X_test), predict_direct(resumed, X_test))
    # A checkpoint of another run (here: another seed) is not resumed.
    other = fit_direct(kind, X, Y, settings, seed=4, checkpoint=checkpoint, progress=False)
    fresh = fit_direct(kind, X, Y, settings, seed=4, progress=False)
    np.testing.assert_array_equal(predict_direct(other, X_test), predict_direct(fresh, X_test))


def test_sigterm_checkpoints_the_finished_step_and_the_retry_ends_where_one_run_would(tmp_path):
    """The reconstruction trainers (audiobrain.recon.trainer.fit) at a SLURM time limit."""
    X, Y, X_test, _ = planted("nonlinear")
    settings = DirectSettings(**{**TINY.__dict__, "epochs": 2})
    whole = fit_direct("bilstm", X, Y, settings, seed=3, progress=False)

    def time_limit(step):
        if step == 23:
            os.kill(os.getpid(), signal.SIGTERM)

    checkpoint = tmp_path / "c.pt"
    with pytest.raises(TrainingStopped, match="at step 23: checkpoint written"):
        fit_direct(
            "bilstm", X, Y, settings, 3, checkpoint=checkpoint, progress=False, on_step=time_limit
        )
    assert torch.load(checkpoint, weights_only=True)["state"]["step"] == 23
    resumed = fit_direct("bilstm", X, Y, settings, seed=3, checkpoint=checkpoint, progress=False)
    np.testing.assert_array_equal(predict_direct(whole, X_test), predict_direct(resumed, X_test))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("kind", ["mlp", "transformer"])
def test_same_seed_same_predictions(kind):
    X, Y, X_test, _ = planted("nonlinear")
    settings = DirectSettings(**{**TINY.__dict__, "epochs": 1, "mlp_max_iter": 20})
    first, second, other = (
        predict_direct(fit_direct(kind, X, Y, settings, seed, progress=False), X_test)
        for seed in (0, 0, 1)
    )
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(first, other)


def test_bad_input_is_named():
    X, Y, _, _ = planted("linear")
    with pytest.raises(InputError, match="unknown model 'cnn'"):
        fit_direct("cnn", X, Y, TINY, 0)
    with pytest.raises(InputError, match="X has 240 samples and Y 239"):
        fit_direct("lir", X, Y[:-1], TINY, 0)
    with pytest.raises(InputError, match="Y \\(n, n_frames, n_mels\\)"):
        fit_direct("lir", X, Y.reshape(len(Y), -1), TINY, 0)
    model = fit_direct("lir", X, Y, TINY, 0)
    with pytest.raises(InputError, match="expected X \\(n, 12\\) voxels; got \\(4, 11\\)"):
        predict_direct(model, X[:4, :11])
    with pytest.raises(InputError, match="recon.direct: unknown key\\(s\\) \\['layers'\\]"):
        DirectSettings.from_mapping({"layers": 4}, "recon.direct")
    with pytest.raises(InputError, match="recon.direct.d_model: 30 must be even and divisible"):
        DirectSettings.from_mapping({"d_model": 30})
    assert DirectSettings.from_mapping({"mlp_hidden_sizes": [8, 4]}).mlp_hidden_sizes == (8, 4)
