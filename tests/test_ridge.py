"""The brain-score engine against scikit-learn, planted signals and its own contracts."""

from __future__ import annotations

import numpy as np
import pytest
import sklearn.linear_model
import torch
from scipy import stats
from sklearn.base import clone
from threadpoolctl import threadpool_limits

from audiobrain.io import InputError
from audiobrain.ridge import (
    DEFAULT_ALPHAS,
    RidgeCV,
    _decompose,
    _loo_best_penalties,
    _loo_mean_squared_errors,
    _plan_loo,
    _project,
    brain_score,
    get_backend,
    grouped_folds,
    pearson_r,
)

N_BLOCKS = 12
# Penalties spanning interpolation to heavy shrinkage, so every regime of the criterion is used.
WIDE_ALPHAS = np.logspace(-3, 6, 20)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """These problems are small: one BLAS/torch thread is fastest, and keeps the tests quick when
    other jobs share the cores (multi-threaded BLAS then spends its time waiting)."""
    torch_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(1):
        yield
    torch.set_num_threads(torch_threads)


def regression_problem(n_samples, n_features, n_targets, seed):
    """Correlated, offset, unequally scaled features; targets from weak to strong signal."""
    rng = np.random.default_rng(seed)
    mixing = rng.standard_normal((n_features, n_features)) / np.sqrt(n_features)
    X = rng.standard_normal((n_samples, n_features)) @ mixing
    X = X * rng.uniform(0.1, 10.0, n_features) + rng.uniform(-5.0, 5.0, n_features)
    weights = rng.standard_normal((n_features, n_targets))
    noise_scale = np.geomspace(0.01, 100.0, n_targets)
    Y = X @ weights + rng.standard_normal((n_samples, n_targets)) * noise_scale + 3.0
    return X, Y


def sklearn_brain_score(X, Y, groups, alphas, n_splits=N_BLOCKS):
    """The paper's procedure written plainly with scikit-learn (the reference)."""
    r_per_fold, chosen = [], []
    for train, test in grouped_folds(groups, n_splits):
        x_mean, x_std = X[train].mean(0), X[train].std(0)
        y_mean, y_std = Y[train].mean(0), Y[train].std(0)
        model = sklearn.linear_model.RidgeCV(alphas=alphas, alpha_per_target=True)
        model.fit((X[train] - x_mean) / x_std, (Y[train] - y_mean) / y_std)
        prediction = model.predict((X[test] - x_mean) / x_std)
        truth = (Y[test] - y_mean) / y_std
        columns = zip(prediction.T, truth.T, strict=True)
        r_per_fold.append([stats.pearsonr(p, t).statistic for p, t in columns])
        chosen.append(model.alpha_)
    return np.array(r_per_fold), np.array(chosen)


def blocks(n_samples, n_blocks=N_BLOCKS):
    """Contiguous sentence blocks of (nearly) equal length, like events.tr_blocks."""
    return np.arange(n_samples) * n_blocks // n_samples


# ------------------------------------------------------------------ RidgeCV against scikit-learn


@pytest.mark.parametrize(
    ("n_samples", "n_features"), [(80, 25), (30, 90), (40, 40)], ids=["long", "wide", "square"]
)
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_ridgecv_matches_sklearn_float64(n_samples, n_features, fit_intercept):
    X, Y = regression_problem(n_samples, n_features, 12, seed=n_features)
    reference = sklearn.linear_model.RidgeCV(
        alphas=WIDE_ALPHAS, alpha_per_target=True, fit_intercept=fit_intercept
    ).fit(X, Y)
    ours = RidgeCV(alphas=WIDE_ALPHAS, fit_intercept=fit_intercept).fit(X, Y)

    np.testing.assert_array_equal(ours.alpha_, reference.alpha_)
    assert len(np.unique(ours.alpha_)) > 3  # the targets really pick different penalties
    expected = reference.predict(X)
    np.testing.assert_allclose(
        ours.predict(X), expected, rtol=1e-6, atol=1e-6 * np.abs(expected).max()
    )
    np.testing.assert_allclose(
        ours.coef_, reference.coef_, rtol=1e-6, atol=1e-9 * np.abs(reference.coef_).max()
    )
    np.testing.assert_allclose(ours.intercept_, reference.intercept_, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(ours.best_score_, reference.best_score_, rtol=1e-5)


def test_ridgecv_single_penalty_for_all_targets_matches_sklearn():
    X, Y = regression_problem(60, 20, 5, seed=1)
    reference = sklearn.linear_model.RidgeCV(alphas=WIDE_ALPHAS).fit(X, Y)
    ours = RidgeCV(alphas=WIDE_ALPHAS, alpha_per_target=False, targets_batch_size=2).fit(X, Y)
    assert ours.alpha_ == reference.alpha_
    np.testing.assert_allclose(ours.predict(X), reference.predict(X), rtol=1e-6)
    np.testing.assert_allclose(ours.best_score_, reference.best_score_, rtol=1e-6)


def test_ridgecv_one_dimensional_target_follows_sklearn_shapes():
    X, Y = regression_problem(50, 70, 1, seed=2)
    y = Y[:, 0]
    reference = sklearn.linear_model.RidgeCV(alphas=WIDE_ALPHAS, alpha_per_target=True).fit(X, y)
    ours = RidgeCV(alphas=WIDE_ALPHAS).fit(X, y)
    assert isinstance(ours.alpha_, float) and ours.alpha_ == reference.alpha_
    assert ours.coef_.shape == reference.coef_.shape == (70,)
    assert ours.predict(X).shape == (50,)
    np.testing.assert_allclose(ours.predict(X), reference.predict(X), rtol=1e-6)


def test_ridgecv_is_a_scikit_learn_estimator():
    X, Y = regression_problem(40, 10, 3, seed=3)
    model = clone(RidgeCV(alphas=WIDE_ALPHAS, dtype="float32"))
    assert model.get_params()["dtype"] == "float32"
    score = model.fit(X, Y).score(X, Y)
    assert 0.5 < score <= 1.0


@pytest.mark.parametrize(("n_samples", "n_features"), [(70, 30), (30, 70)], ids=["long", "wide"])
def test_ridgecv_torch_backend_and_float32_agree_with_numpy_float64(n_samples, n_features):
    X, Y = regression_problem(n_samples, n_features, 10, seed=4)
    exact = RidgeCV(alphas=WIDE_ALPHAS).fit(X, Y)
    torch64 = RidgeCV(alphas=WIDE_ALPHAS, backend="torch").fit(X, Y)
    np.testing.assert_array_equal(torch64.alpha_, exact.alpha_)
    np.testing.assert_allclose(torch64.predict(X), exact.predict(X), rtol=1e-9)
    # float32 is for the paper's penalties (>= 10), not for nearly interpolating fits.
    exact = RidgeCV().fit(X, Y)
    for backend in ("numpy", "torch"):
        single = RidgeCV(backend=backend, dtype="float32").fit(X, Y)
        assert single.coef_.dtype == np.float32
        np.testing.assert_array_equal(single.alpha_, exact.alpha_)
        scale = np.abs(exact.predict(X)).max()
        np.testing.assert_allclose(single.predict(X), exact.predict(X), atol=1e-5 * scale)


def test_ridgecv_batches_over_targets_give_the_same_fit():
    X, Y = regression_problem(45, 60, 11, seed=5)
    whole = RidgeCV(alphas=WIDE_ALPHAS, targets_batch_size=1000).fit(X, Y)
    for batch_size in (1, 4):
        batched = RidgeCV(alphas=WIDE_ALPHAS, targets_batch_size=batch_size).fit(X, Y)
        np.testing.assert_array_equal(batched.alpha_, whole.alpha_)
        # float64 round-off of differently blocked BLAS products, relative to the weights' scale
        scale = np.abs(whole.coef_).max()
        np.testing.assert_allclose(batched.coef_, whole.coef_, rtol=1e-12, atol=1e-12 * scale)


@pytest.mark.parametrize(("n_samples", "n_features"), [(90, 300), (200, 30)], ids=["wide", "long"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_skipping_penalties_that_cannot_win_picks_the_same_penalty(
    n_samples, n_features, dtype, backend
):
    """The bound-pruned search against the errors of every penalty, on correlated designs."""
    X, Y = regression_problem(n_samples, n_features, 400, seed=11)
    array_backend = get_backend(backend)
    centred = X - X.mean(0)
    plan = _plan_loo(array_backend, _decompose(array_backend, centred, dtype), WIDE_ALPHAS, True)
    targets = _project(plan, array_backend.asarray(Y - Y.mean(0), dtype))
    every_penalty = _loo_mean_squared_errors(array_backend, plan, targets)
    best, errors, evaluations = _loo_best_penalties(array_backend, plan, targets)
    np.testing.assert_array_equal(best, np.argmin(every_penalty, axis=0))
    np.testing.assert_allclose(
        errors, every_penalty.min(0), rtol=1e-5 if dtype == "float32" else 1e-12
    )
    assert evaluations < every_penalty.size  # it did skip some


# ------------------------------------------------------------------ brain_score


@pytest.fixture(scope="module")
def planted():
    """240 TRs x 60 features; targets 0-9 carry a linear signal, targets 10-29 are noise."""
    rng = np.random.default_rng(7)
    n_samples, n_features, n_signal, n_noise = 240, 60, 10, 20
    X = rng.standard_normal((n_samples, n_features))
    signal = X[:, :8] @ rng.standard_normal((8, n_signal))
    signal_targets = signal + 0.5 * signal.std(0) * rng.standard_normal((n_samples, n_signal))
    noise_targets = rng.standard_normal((n_samples, n_noise)) * 5.0 + 100.0
    return X, np.hstack([signal_targets, noise_targets]), blocks(n_samples), n_signal


def test_brain_score_recovers_planted_signal(planted):
    X, Y, groups, n_signal = planted
    scores = brain_score(X, Y, groups)
    assert scores.r.shape == (Y.shape[1],)
    assert scores.r_per_fold.shape == scores.alphas.shape == (N_BLOCKS, Y.shape[1])
    assert np.all(scores.r[:n_signal] > 0.7)
    noise = scores.r[n_signal:]
    assert np.all(np.abs(noise) < 0.25) and abs(noise.mean()) < 0.06
    # Noise targets are best served by the strongest shrinkage, signal targets by weak ones.
    assert np.median(scores.alphas[:, n_signal:]) > 100 * np.median(scores.alphas[:, :n_signal])


@pytest.mark.parametrize(("n_samples", "n_features"), [(240, 30), (120, 200)], ids=["long", "wide"])
def test_brain_score_matches_sklearn_procedure_float64(n_samples, n_features):
    X, Y = regression_problem(n_samples, n_features, 9, seed=8)
    X += np.random.default_rng(9).standard_normal(X.shape) * 20.0  # make the scores moderate
    groups = blocks(n_samples)
    reference_r, reference_alphas = sklearn_brain_score(X, Y, groups, DEFAULT_ALPHAS)
    ours = brain_score(X, Y, groups, dtype="float64")
    np.testing.assert_array_equal(ours.alphas, reference_alphas)
    np.testing.assert_allclose(ours.r_per_fold, reference_r, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(ours.r, reference_r.mean(0), rtol=1e-6, atol=1e-9)


def test_brain_score_torch_float32_and_batches_agree(planted):
    X, Y, groups, n_signal = planted
    exact = brain_score(X, Y, groups, dtype="float64")
    for backend in ("numpy", "torch"):
        fast = brain_score(X, Y, groups, backend=backend, dtype="float32")
        np.testing.assert_allclose(fast.r_per_fold, exact.r_per_fold, atol=1e-4)
        # Noise voxels have flat error curves at large penalties: float32 may break those ties
        # differently (and harmlessly); signal voxels have a clear optimum.
        np.testing.assert_array_equal(fast.alphas[:, :n_signal], exact.alphas[:, :n_signal])
    torch64 = brain_score(X, Y, groups, backend="torch", dtype="float64")
    np.testing.assert_array_equal(torch64.alphas, exact.alphas)
    np.testing.assert_allclose(torch64.r_per_fold, exact.r_per_fold, rtol=1e-9, atol=1e-12)
    batched = brain_score(X, Y, groups, dtype="float64", targets_batch_size=7)
    np.testing.assert_array_equal(batched.alphas, exact.alphas)
    np.testing.assert_allclose(batched.r_per_fold, exact.r_per_fold, rtol=1e-12, atol=1e-14)


def test_brain_score_float32_wide_design_is_close_to_float64():
    """n_train < p: the float32 path decomposes X X^T in float32 itself."""
    rng = np.random.default_rng(10)
    latent = rng.standard_normal((180, 12))
    X = latent @ rng.standard_normal((12, 400)) + 0.3 * rng.standard_normal((180, 400))
    Y = latent @ rng.standard_normal((12, 40)) + 2.0 * rng.standard_normal((180, 40))
    groups = blocks(180)
    exact = brain_score(X, Y, groups, dtype="float64")
    single = brain_score(X, Y, groups, dtype="float32")
    np.testing.assert_allclose(single.r_per_fold, exact.r_per_fold, atol=1e-3)
    assert np.mean(single.alphas == exact.alphas) >= 0.95


def test_float32_keeps_small_signals_on_large_baselines(planted):
    """Raw BOLD sits on a large baseline: float32 must not round the signal away."""
    X, Y, groups, n_signal = planted
    raw_bold = 1e4 + 1e-3 * Y[:, :n_signal]  # float32 spacing at 1e4 is ~1e-3
    exact = brain_score(X, raw_bold, groups, dtype="float64")
    single = brain_score(X, raw_bold, groups, dtype="float32")
    np.testing.assert_allclose(single.r_per_fold, exact.r_per_fold, atol=1e-4)


def test_features_constant_up_to_rounding_are_ignored(planted):
    """A unit saturated at 1.0 whose values differ only in the last bit carries no signal; it
    must not be blown up into a unit-variance feature of rounding noise."""
    X, Y, groups, _ = planted
    saturated = 1.0 - np.finfo(np.float64).eps * (np.arange(len(X)) % 3 == 0)
    with_saturated = brain_score(np.column_stack([X, saturated]), Y, groups, dtype="float64")
    without = brain_score(X, Y, groups, dtype="float64")
    np.testing.assert_array_equal(with_saturated.alphas, without.alphas)
    np.testing.assert_allclose(with_saturated.r_per_fold, without.r_per_fold, atol=1e-12)


def test_brain_score_is_deterministic(planted):
    X, Y, groups, _ = planted
    first = brain_score(X, Y, groups)
    second = brain_score(X.copy(), Y.copy(), groups.copy())
    assert first.r.tobytes() == second.r.tobytes()
    assert first.alphas.tobytes() == second.alphas.tobytes()


def test_brain_score_cannot_fit_noise_through_leakage():
    """A wide design with tiny penalties interpolates its training rows: r would be ~1 on any
    test row that leaked into training; held out properly, independent noise scores ~0."""
    rng = np.random.default_rng(11)
    X = rng.standard_normal((240, 600))
    Y = rng.standard_normal((240, 50))
    scores = brain_score(X, Y, blocks(240), alphas=np.logspace(-4, -2, 3), dtype="float64")
    # Per voxel, r averages 12 folds of 20 TRs: standard deviation about 0.065 under the null.
    assert abs(scores.r.mean()) < 0.04
    assert np.all(np.abs(scores.r) < 0.3)


def test_constant_targets_and_features_score_zero_not_nan(planted):
    X, Y, groups, _ = planted
    X, Y = X.copy(), Y.copy()
    X[:, 0] = 4.0  # a feature with no variance
    Y[:, 0] = 0.1  # a voxel with no variance
    Y[groups == 3, 1] = 7.0  # a voxel that is constant on one test block
    for dtype in ("float32", "float64"):
        scores = brain_score(X, Y, groups, dtype=dtype)
        assert np.all(np.isfinite(scores.r_per_fold))
        assert np.all(scores.r_per_fold[:, 0] == 0.0)
        assert scores.r_per_fold[3, 1] == 0.0


# ------------------------------------------------------------------ folds and helpers


def test_each_test_fold_is_exactly_one_block():
    groups = np.repeat([5, 2, 9, 0, 1, 3, 4, 6, 7, 8, 10, 11], 7)
    folds = grouped_folds(groups, n_splits=12)
    assert len(folds) == 12
    tested = np.concatenate([test for _, test in folds])
    np.testing.assert_array_equal(np.sort(tested), np.arange(groups.size))
    held_out = []
    for train, test in folds:
        assert np.unique(groups[test]).size == 1
        assert np.intersect1d(groups[train], groups[test]).size == 0
        assert train.size + test.size == groups.size
        held_out.append(groups[test][0])
    assert held_out == sorted(held_out)


def test_more_blocks_than_splits_keeps_blocks_whole():
    groups = np.repeat(np.arange(30), 4)
    folds = grouped_folds(groups, n_splits=12)
    assert len(folds) == 12
    for train, test in folds:
        assert np.intersect1d(groups[train], groups[test]).size == 0
    assert grouped_folds(groups, 12)[5][1].tolist() == folds[5][1].tolist()


def test_pearson_r_matches_scipy_and_guards_constants():
    rng = np.random.default_rng(12)
    a, b = rng.standard_normal((30, 4)), rng.standard_normal((30, 4))
    b[:, 1] += 3 * a[:, 1]
    expected = [stats.pearsonr(a[:, k], b[:, k]).statistic for k in range(4)]
    np.testing.assert_allclose(pearson_r(a, b), expected, rtol=1e-12)
    a[:, 2] = 1.5
    assert pearson_r(a, b)[2] == 0.0
    assert pearson_r(a[:, 1], b[:, 1]) == pytest.approx(expected[1])


# ------------------------------------------------------------------ errors


def test_clear_errors_for_bad_inputs(planted):
    X, Y, groups, _ = planted
    with pytest.raises(InputError, match="X has 240 samples .* Y has 239"):
        brain_score(X, Y[:-1], groups)
    Y_nan = Y.copy()
    Y_nan[3, 4] = np.nan
    with pytest.raises(InputError, match="Y: expected finite values, found 1 NaN"):
        brain_score(X, Y_nan, groups)
    with pytest.raises(InputError, match="at least n_splits=12 distinct groups .* found 6"):
        brain_score(X, Y, groups // 2)
    with pytest.raises(InputError, match="one group label per sample"):
        brain_score(X, Y, groups[:-1])
    with pytest.raises(InputError, match="2-D array"):
        brain_score(X[:, 0], Y, groups)
    with pytest.raises(ValueError, match="backend must be"):
        brain_score(X, Y, groups, backend="jax")
    with pytest.raises(ValueError, match="dtype must be"):
        brain_score(X, Y, groups, dtype="float16")
    with pytest.raises(ValueError, match="positive numbers"):
        brain_score(X, Y, groups, alphas=[1.0, 0.0])
    with pytest.raises(ValueError, match="targets_batch_size"):
        brain_score(X, Y, groups, targets_batch_size=0)
    model = RidgeCV().fit(X, Y)
    with pytest.raises(InputError, match="X has 59 features but the model was fitted on 60"):
        model.predict(X[:, 1:])
    with pytest.raises(InputError, match="X: expected finite values"):
        RidgeCV().fit(np.where(X > 3, np.inf, X), Y)
