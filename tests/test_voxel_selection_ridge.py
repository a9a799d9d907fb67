"""VoxelSelectionRidge: PyFastL2LiR's per-output voxel selection and ridge, vectorised."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
from sklearn.linear_model import Ridge

from audiobrain.io import InputError
from audiobrain.ridge import VoxelSelectionRidge, out_of_fold_predictions, select_voxels


def _data(n=60, n_voxels=40, n_outputs=5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, n_voxels)) * rng.uniform(0.5, 3, n_voxels) + 4.0
    Y = rng.standard_normal((n, n_outputs)) + 1.5
    return X, Y


def _reference_fit(X, Y, alpha, n_feat):
    """fastl2lir's selection path, one output at a time: |r| ranking, penalised bias column."""
    n, n_voxels = X.shape
    augmented = np.hstack([X, np.ones((n, 1))])
    coef, intercept, selected = np.zeros((n_voxels, Y.shape[1])), np.zeros(Y.shape[1]), []
    for j in range(Y.shape[1]):
        r = np.array([np.corrcoef(X[:, v], Y[:, j])[0, 1] for v in range(n_voxels)])
        keep = np.argsort(-np.abs(r), kind="stable")[:n_feat]
        columns = np.append(keep, n_voxels)
        gram = augmented[:, columns].T @ augmented[:, columns] + alpha * np.eye(n_feat + 1)
        solution = np.linalg.solve(gram, augmented[:, columns].T @ Y[:, j])
        coef[keep, j], intercept[j] = solution[:-1], solution[-1]
        selected.append(keep)
    return coef, intercept, np.array(selected)


@pytest.mark.parametrize("chunk_size", [1, 2, None])
def test_equals_per_output_loop(chunk_size):
    X, Y = _data()
    model = VoxelSelectionRidge(alpha=3.0, n_feat=7, chunk_size=chunk_size).fit(X, Y)
    coef, intercept, selected = _reference_fit(X, Y, 3.0, 7)
    np.testing.assert_array_equal(model.selected_, selected)
    np.testing.assert_allclose(model.coef_, coef, atol=1e-10)
    np.testing.assert_allclose(model.intercept_, intercept, atol=1e-10)
    assert (np.count_nonzero(model.coef_, axis=0) == 7).all()
    np.testing.assert_allclose(model.predict(X), X @ coef + intercept, atol=1e-9)
    np.testing.assert_array_equal(select_voxels(X, Y, 7), selected)


def test_unpenalised_intercept_equals_sklearn_ridge_per_output():
    X, Y = _data(seed=1)
    model = VoxelSelectionRidge(alpha=2.0, n_feat=6, penalize_intercept=False).fit(X, Y)
    for j, keep in enumerate(model.selected_):
        reference = Ridge(alpha=2.0).fit(X[:, keep], Y[:, j])
        np.testing.assert_allclose(model.coef_[keep, j], reference.coef_, atol=1e-10)
        np.testing.assert_allclose(model.intercept_[j], reference.intercept_, atol=1e-10)


@pytest.mark.parametrize("shape", [(80, 30), (30, 80)])  # primal and dual forms
@pytest.mark.parametrize("n_feat", [0, 30, 500])
def test_all_voxels_equals_fastl2lir(shape, n_feat):
    X, Y = _data(*shape, n_outputs=4, seed=2)
    if n_feat == 30:
        n_feat = shape[1]
    model = VoxelSelectionRidge(alpha=2.0, n_feat=n_feat).fit(X, Y)
    fastl2lir = pytest.importorskip("fastl2lir")
    with pytest.warns(UserWarning) if n_feat > shape[1] else contextlib.nullcontext():
        reference = fastl2lir.FastL2LiR().fit(X, Y, alpha=2.0, n_feat=n_feat)
    np.testing.assert_allclose(model.coef_, reference.W, atol=1e-10)
    np.testing.assert_allclose(model.intercept_, reference.b[0], atol=1e-10)
    assert model.selected_.shape == (4, shape[1])


def test_recovers_planted_voxels_and_generalises():
    rng = np.random.default_rng(3)
    n, n_voxels, n_outputs, k = 300, 200, 6, 5
    X = rng.standard_normal((n, n_voxels))
    planted = np.stack([rng.choice(n_voxels, k, replace=False) for _ in range(n_outputs)])
    weights = rng.choice([-1.0, 1.0], (n_outputs, k)) * rng.uniform(1, 2, (n_outputs, k))
    Y = np.stack([X[:, planted[j]] @ weights[j] for j in range(n_outputs)], axis=1)
    Y += 0.5 * rng.standard_normal(Y.shape)
    train, test = slice(0, 200), slice(200, None)
    model = VoxelSelectionRidge(alpha=1.0, n_feat=k, chunk_size=4).fit(X[train], Y[train])
    for j in range(n_outputs):
        assert set(model.selected_[j]) == set(planted[j])
    prediction = model.predict(X[test])
    for j in range(n_outputs):
        assert np.corrcoef(prediction[:, j], Y[test, j])[0, 1] > 0.9


def test_one_dimensional_target():
    X, Y = _data()
    model = VoxelSelectionRidge(alpha=1.0, n_feat=4).fit(X, Y[:, 0])
    assert model.predict(X).shape == (len(X),)
    assert model.coef_.shape == (X.shape[1], 1)


def test_constant_voxel_is_never_preferred():
    X, Y = _data()
    X[:, 0] = 2.0
    model = VoxelSelectionRidge(alpha=1.0, n_feat=39).fit(X, Y)
    assert (model.selected_ != 0).all()
    assert np.isfinite(model.coef_).all()


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (lambda X, Y: (X[:-1], Y), "samples"),
        (lambda X, Y: (np.where(X > 5, np.nan, X), Y), "X: expected finite"),
        (lambda X, Y: (X, np.where(Y > 2, np.inf, Y)), "Y: expected finite"),
    ],
)
def test_bad_input(args, match):
    X, Y = _data()
    with pytest.raises(InputError, match=match):
        VoxelSelectionRidge(n_feat=3).fit(*args(X, Y))


def test_bad_parameters_and_predict_shape():
    X, Y = _data()
    with pytest.raises(InputError, match="n_feat"):
        VoxelSelectionRidge(n_feat=-1).fit(X, Y)
    with pytest.raises(InputError, match="alpha"):
        VoxelSelectionRidge(alpha=-1.0).fit(X, Y)
    model = VoxelSelectionRidge(n_feat=3).fit(X, Y)
    with pytest.raises(InputError, match="39 voxels .* fitted on 40"):
        model.predict(X[:, 1:])


class _GroupMemory:
    """Fits nothing; predicts, per sample, whether its group (column 0) was in the training set."""

    def fit(self, X, Y):
        self.seen = set(X[:, 0])
        return self

    def predict(self, X):
        return np.array([[float(g in self.seen)] for g in X[:, 0]])


def test_out_of_fold_never_uses_own_group():
    rng = np.random.default_rng(4)
    groups = np.repeat(np.arange(12), 3)  # 12 stimuli, 3 repetitions each
    X = np.column_stack([groups, rng.standard_normal((36, 5))])
    predictions = out_of_fold_predictions(X, np.zeros((36, 1)), groups, 4, _GroupMemory)
    assert (predictions == 0).all()


def test_out_of_fold_is_deterministic_and_close_to_test_quality():
    rng = np.random.default_rng(5)
    groups = np.repeat(np.arange(40), 2)
    X = rng.standard_normal((80, 30))
    Y = X[:, :3] @ rng.standard_normal((3, 4)) + 0.3 * rng.standard_normal((80, 4))

    def make():
        return VoxelSelectionRidge(alpha=1.0, n_feat=5)

    first = out_of_fold_predictions(X, Y, groups, 5, make)
    np.testing.assert_array_equal(first, out_of_fold_predictions(X, Y, groups, 5, make))
    in_sample = make().fit(X, Y).predict(X)
    assert first.shape == Y.shape
    assert np.mean((first - Y) ** 2) > np.mean((in_sample - Y) ** 2)
    assert min(np.corrcoef(first[:, j], Y[:, j])[0, 1] for j in range(4)) > 0.8
    with pytest.raises(InputError, match="groups"):
        out_of_fold_predictions(X, Y, groups[:-1], 5, make)
