"""Brain scores: ridge regression with a per-voxel penalty chosen by exact leave-one-out.

The paper (section 2.6) fits scikit-learn's ``RidgeCV`` from HRF-convolved network activations
``X`` to BOLD responses ``Y`` in each of 12 grouped train/test splits, with the penalty chosen
among 20 values log-spaced from 10 to 1e8 independently for every voxel, and scores each voxel by
the Pearson correlation between prediction and truth on the test block.

This module computes exactly that criterion (equal to scikit-learn's within rounding), fast:

- Per fold, the centred design is decomposed once through the eigendecomposition of its smaller
  Gram matrix (``X X^T`` when ``n <= p``, ``X^T X`` otherwise): ``X_c X_c^T = U diag(s) U^T``.
- The targets are projected once, ``Q = U^T Y_c``. For a penalty ``a``, with
  ``g = a / (s + a)``, the residuals of the full fit are ``U (g * Q)`` (plus any part of Y outside
  the span of U) and ``1 - h_ii`` follows from ``U**2 @ g`` and the unpenalised intercept's
  leverage (as in scikit-learn's ``_RidgeGCV``), so the exact leave-one-out residuals
  ``e_i / (1 - h_ii)`` of all voxels cost one (n, r) x (r, voxels) product per penalty.
- Not every penalty is computed for every voxel: the leave-one-out sum of squares lies between
  the smallest and largest ``1 / (1 - h_ii)**2`` times the plain residual sum of squares, which
  costs r flops per voxel and penalty. Each voxel is computed first at the penalty that the
  mean factor ranks best, then only at penalties whose lower bound can still beat that; the
  winner is the same as over all 20 (a test checks it), at about half the products.
- Test predictions with each voxel's own penalty go through the same eigenbasis,
  ``X_test X_c^T U (Q / (s + a_v))``, so the refit costs one small product, not 20.
- The 12 fold decompositions are made first (each keeps an (n, n) basis); then voxels are
  processed in batches (``targets_batch_size``) through all folds, so peak memory stays bounded
  whatever the number of voxels. One implementation runs on NumPy or torch through a small
  back-end object (as in himalaya).
- The design's decomposition is always float64; ``dtype="float32"`` (the brain-score default)
  applies to the per-penalty products, where the time goes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.model_selection import GroupKFold, LeaveOneGroupOut
from sklearn.utils.validation import check_is_fitted

from audiobrain.io import InputError

logger = logging.getLogger(__name__)

#: Candidate ridge penalties: 20 values log-spaced between 10 and 1e8 (section 2.6).
DEFAULT_ALPHAS = np.logspace(1, 8, 20)
#: Train/test splits across sentence blocks (sections 2.2 and 2.6).
DEFAULT_N_SPLITS = 12
#: Working memory for one batch of targets when ``targets_batch_size`` is None (about 2,600
#: voxels at 800 TRs in float32). Measured on 2 cores: batches of 1,000-4,000 voxels run at the
#: same speed, 256 is 30% slower, so memory can stay bounded at no cost.
BATCH_MEMORY_BYTES = 64 * 2**20
#: Compute-dtype arrays of shape (n_samples, batch) alive at once in one batch, roughly: the
#: batch, its float64 conditioning copy (2), targets, projections, residuals, the part outside
#: the design's span and temporaries.
_ARRAYS_PER_BATCH = 8
#: Eigenvalues of ``X^T X`` below this fraction of the largest, times max(n, p), are numerical
#: zeros: their directions lie outside the design's span.
_RANK_RTOL = np.finfo(np.float64).eps
#: A penalty is skipped for a target when its lower bound on the leave-one-out error exceeds the
#: best error found by more than this fraction: a thousand times the float32 rounding of the
#: errors, so skipping never changes which penalty wins.
_PRUNE_MARGIN = 1e-3
_DTYPES = ("float32", "float64")
_EPS = {name: float(np.finfo(name).eps) for name in _DTYPES}


# ---------------------------------------------------------------------------------------------
# Back ends: the few array operations that NumPy and torch spell differently.
# ---------------------------------------------------------------------------------------------


class NumpyBackend:
    """Array operations on NumPy (its OpenBLAS for products and eigendecompositions)."""

    name = "numpy"

    def asarray(self, values: Any, dtype: str) -> np.ndarray:
        return np.ascontiguousarray(values, dtype=dtype)

    def to_numpy(self, values: Any) -> np.ndarray:
        return np.asarray(values)

    def eigh(self, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # numpy's LAPACK, not scipy's: scipy ships a second OpenBLAS whose idle threads spin
        # against numpy's (measured 2.5x slower decompositions on 2 cores).
        return np.linalg.eigh(matrix)

    def sqrt(self, values: np.ndarray) -> np.ndarray:
        return np.sqrt(values)

    def column_sum_of_squares(self, values: np.ndarray) -> np.ndarray:
        return np.einsum("ij,ij->j", values, values)

    def row_sum_of_squares(self, values: np.ndarray) -> np.ndarray:
        return np.einsum("ij,ij->i", values, values)

    def where(self, condition: Any, if_true: Any, if_false: Any) -> np.ndarray:
        return np.where(condition, if_true, if_false)


class TorchBackend:
    """The same operations on torch tensors (CPU threads as set by ``torch.set_num_threads``)."""

    def __init__(self, device: str = "cpu"):
        import torch

        self.torch = torch
        self.device = torch.device(device)
        self.name = "torch" if device == "cpu" else f"torch_{device}"

    def asarray(self, values: Any, dtype: str):
        tensor = self.torch.as_tensor(values, dtype=getattr(self.torch, dtype), device=self.device)
        return tensor.contiguous()

    def to_numpy(self, values: Any) -> np.ndarray:
        return values.detach().cpu().numpy()

    def eigh(self, matrix):
        return self.torch.linalg.eigh(matrix)

    def sqrt(self, values):
        return self.torch.sqrt(values)

    def column_sum_of_squares(self, values):
        return self.torch.linalg.vecdot(values, values, dim=0)

    def row_sum_of_squares(self, values):
        return self.torch.linalg.vecdot(values, values, dim=1)

    def where(self, condition, if_true, if_false):
        return self.torch.where(condition, if_true, if_false)


def get_backend(name: str) -> NumpyBackend | TorchBackend:
    """The back end called ``name``: "numpy", "torch" (CPU) or "torch_cuda"."""
    if name == "numpy":
        return NumpyBackend()
    if name == "torch":
        return TorchBackend("cpu")
    if name == "torch_cuda":
        return TorchBackend("cuda")
    raise ValueError(f"backend must be 'numpy', 'torch' or 'torch_cuda', got {name!r}")


def _dtype_name(array: Any) -> str:
    return str(array.dtype).removeprefix("torch.")


# ---------------------------------------------------------------------------------------------
# The engine: eigenbasis of the design, exact leave-one-out errors, eigenbasis weights.
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Eigenbasis:
    """Thin decomposition of a centred design ``X_c`` (n, p) restricted to its span.

    ``sample_basis`` U (n, r) has orthonormal columns with ``X_c X_c^T = U diag(eigenvalues) U^T``.
    The ridge coefficients of centred targets with projections ``Q = U^T Y_c`` are
    ``X_c^T U (Q / (eigenvalues + alpha))``. ``outside_leverage`` is ``1 - sum(U**2, axis=1)``
    (n,), the leverage outside the span; None when U is a complete basis of R^n (the n <= p
    case), where it is zero. Everything is float64 except ``sample_basis``, which is in the
    compute dtype of the per-penalty products.
    """

    design: Any  # (n, p) centred design, float64
    sample_basis: Any  # (n, r) U, compute dtype
    sample_basis64: Any  # (n, r) U, float64
    eigenvalues: Any  # (r,)
    feature_vectors: Any | None  # (p, r) X_c^T U, when it came for free (n > p)
    outside_leverage: Any | None  # (n,)

    @property
    def complete(self) -> bool:
        return self.outside_leverage is None

    def feature_basis(self, backend):
        """``X_c^T U`` (p, r), compute dtype: coefficients are this times the eigen-weights."""
        if self.feature_vectors is None:
            return backend.asarray(self.design.T @ self.sample_basis64, self.dtype)
        return backend.asarray(self.feature_vectors, self.dtype)

    def map_samples(self, backend, new_design):
        """``new_design @ X_c^T U`` (m, r), compute dtype: predictions are this times the
        eigen-weights. ``new_design`` (m, p) is float64, centred like the training design."""
        if self.feature_vectors is None:
            mapped = (new_design @ self.design.T) @ self.sample_basis64
        else:
            mapped = new_design @ self.feature_vectors
        return backend.asarray(mapped, self.dtype)

    @property
    def dtype(self) -> str:
        return _dtype_name(self.sample_basis)


def _decompose(backend, centred_design, dtype: str) -> _Eigenbasis:
    """Eigendecomposition of the smaller Gram matrix of ``centred_design`` (n, p), in float64.

    Float64 whatever ``dtype``: it costs one O(n^2 min(n, p)) step per fold, and in float32 the
    eigenvalue errors (eps * largest eigenvalue) of correlated designs change the leave-one-out
    errors at the grid's smallest penalties by percents (measured on simulated activations).
    When n > p, directions with numerically zero eigenvalues are dropped: they join the part
    outside the span, where the ridge does not shrink either.
    """
    design = backend.asarray(centred_design, "float64")
    n_samples, n_features = design.shape
    if n_samples <= n_features:
        eigenvalues, sample_basis = backend.eigh(design @ design.T)
        return _Eigenbasis(
            design=design,
            sample_basis=backend.asarray(sample_basis, dtype),
            sample_basis64=sample_basis,
            eigenvalues=backend.where(eigenvalues > 0, eigenvalues, 0.0),
            feature_vectors=None,
            outside_leverage=None,
        )
    eigenvalues, feature_vectors = backend.eigh(design.T @ design)
    keep = eigenvalues > float(eigenvalues[-1]) * max(n_samples, n_features) * _RANK_RTOL
    eigenvalues, feature_vectors = eigenvalues[keep], feature_vectors[:, keep]
    singular_values = backend.sqrt(eigenvalues)
    sample_basis = (design @ feature_vectors) / singular_values
    outside_leverage = 1.0 - (sample_basis * sample_basis).sum(1)
    return _Eigenbasis(
        design=design,
        sample_basis=backend.asarray(sample_basis, dtype),
        sample_basis64=sample_basis,
        eigenvalues=eigenvalues,
        feature_vectors=feature_vectors * singular_values,
        outside_leverage=backend.where(outside_leverage > 0, outside_leverage, 0.0),
    )


@dataclass(frozen=True)
class _LooPlan:
    """Per-penalty factors of the exact leave-one-out residuals, shared by all targets.

    With ``g = alpha / (eigenvalues + alpha)`` (r,), the residuals of the full fit are
    ``U (g * Q)`` plus the part of Y outside the span, and the leave-one-out residuals divide
    them row-wise by ``1 - h_ii``. Their sum of squares therefore lies between the smallest and
    the largest ``1 / (1 - h_ii)**2`` times the plain residual sum of squares, which the
    eigenvalues give for a few flops per target: the bounds that let :func:`_loo_best_penalties`
    skip penalties that cannot win.
    """

    sample_basis: Any  # (n, r) U, compute dtype
    eigenvalues: Any  # (r,) float64
    complete: bool  # U spans R^n: no part of Y lies outside it
    shrinks: Any  # (n_alphas, r) g, compute dtype
    inverse_residual_scales: Any  # (n_alphas, n) 1 / (1 - h_ii), compute dtype
    squared_shrinks: Any  # (n_alphas, r) g**2, float64
    squared_scale_bounds: np.ndarray  # (3, n_alphas) min, mean, max of 1 / (1 - h_ii)**2


def _plan_loo(backend, basis: _Eigenbasis, alphas: np.ndarray, fit_intercept: bool) -> _LooPlan:
    """Factors for every penalty, formed in float64 on the back end.

    ``1 - h_ii`` is the diagonal of the residual operator ``R = U diag(g) U^T + (I - U U^T)``
    less the intercept's leverage. Like scikit-learn's ``_RidgeGCV`` we write the latter as
    ``(R 1)_i / n`` rather than ``1/n``: equal in exact arithmetic (the constant vector is an
    eigenvector of the centred Gram matrix with eigenvalue 0), but computed through the same
    eigenvalues, so the rounding error of that zero eigenvalue cancels instead of swamping the
    tiny ``1 - h_ii`` of nearly interpolating fits (small penalties, n < p).
    """
    alphas = backend.asarray(alphas, "float64")[:, None]
    shrinks = alphas / (basis.eigenvalues[None, :] + alphas)  # (n_alphas, r)
    sample_basis = basis.sample_basis64
    residual_scales = (sample_basis * sample_basis) @ shrinks.T  # (n, n_alphas)
    if not basis.complete:
        residual_scales += basis.outside_leverage[:, None]
    if fit_intercept:
        n_samples = sample_basis.shape[0]
        ones_projection = sample_basis.sum(0)  # U^T 1
        residual_of_ones = sample_basis @ (shrinks * ones_projection).T
        if not basis.complete:
            residual_of_ones += (1.0 - sample_basis @ ones_projection)[:, None]
        residual_scales -= residual_of_ones / n_samples
    squared_scales = backend.to_numpy(residual_scales) ** -2.0  # (n, n_alphas)
    return _LooPlan(
        sample_basis=basis.sample_basis,
        eigenvalues=basis.eigenvalues,
        complete=basis.complete,
        shrinks=backend.asarray(shrinks, basis.dtype),
        inverse_residual_scales=backend.asarray(1.0 / residual_scales.T, basis.dtype),
        squared_shrinks=shrinks * shrinks,
        squared_scale_bounds=np.stack(
            [squared_scales.min(0), squared_scales.mean(0), squared_scales.max(0)]
        ),
    )


@dataclass(frozen=True)
class _Projection:
    """A batch of b targets in the eigenbasis, one row per target so that picking targets
    copies whole rows: ``Q^T = Y^T U`` (b, r) and the part outside the span (b, n) or None."""

    projected_rows: Any
    outside_rows: Any | None

    @property
    def projected(self):
        """``Q = U^T Y`` (r, b)."""
        return self.projected_rows.T

    @property
    def n_targets(self) -> int:
        return self.projected_rows.shape[0]


def _project(plan: _LooPlan, targets) -> _Projection:
    """Targets (n, b), centred when an intercept is fitted, in the compute dtype."""
    projected_rows = targets.T @ plan.sample_basis
    if plan.complete:
        return _Projection(projected_rows, None)
    return _Projection(projected_rows, targets.T - projected_rows @ plan.sample_basis.T)


def _loo_sums_of_squares(backend, plan: _LooPlan, targets: _Projection, penalty: int, rows):
    """Sum of squared exact leave-one-out errors at one penalty, for some targets of the batch.

    One (len(rows), r) x (r, n) product; ``rows`` is an index array or ``slice(None)``.
    """
    if not isinstance(rows, slice):
        rows = backend.asarray(rows, "int64")
    shrunk = targets.projected_rows[rows] * plan.shrinks[penalty][None, :]
    residuals = shrunk @ plan.sample_basis.T
    if targets.outside_rows is not None:
        residuals += targets.outside_rows[rows]
    residuals *= plan.inverse_residual_scales[penalty][None, :]
    return backend.to_numpy(backend.row_sum_of_squares(residuals)).astype(np.float64)


def _loo_mean_squared_errors(backend, plan: _LooPlan, targets: _Projection) -> np.ndarray:
    """Mean squared exact leave-one-out error (n_alphas, b) of every target for every penalty."""
    n_samples = plan.sample_basis.shape[0]
    sums = [
        _loo_sums_of_squares(backend, plan, targets, penalty, slice(None))
        for penalty in range(len(plan.shrinks))
    ]
    return np.stack(sums) / n_samples


def _residual_sums_of_squares(backend, plan: _LooPlan, targets: _Projection) -> np.ndarray:
    """Plain residual sums of squares (n_alphas, b), float64: ``sum_k g_k^2 Q_k^2`` + outside.

    Computed on the back end: a NumPy product in the middle of torch's work wakes OpenBLAS's
    threads, whose spinning slowed torch's products by a third on 2 cores.
    """
    projected = backend.asarray(targets.projected_rows, "float64")
    sums = plan.squared_shrinks @ (projected * projected).T
    if targets.outside_rows is not None:
        sums += backend.row_sum_of_squares(backend.asarray(targets.outside_rows, "float64"))
    return backend.to_numpy(sums)


def _loo_best_penalties(backend, plan: _LooPlan, targets: _Projection):
    """Index of each target's penalty with the least leave-one-out error, and that mean error.

    The same choice as ``argmin`` over :func:`_loo_mean_squared_errors` (lowest index among
    ties), at a fraction of the cost: each target's error is first computed at the penalty
    that the mean bound ranks best, then only at the penalties whose lower bound does not
    exceed the best error found by more than ``_PRUNE_MARGIN``.

    Returns
    -------
    best : (b,) int, index into the penalties; errors : (b,) float64; evaluations : int, the
    number of (target, penalty) errors computed (``n_alphas * b`` without pruning).
    """
    n_samples = plan.sample_basis.shape[0]
    residual_sums = _residual_sums_of_squares(backend, plan, targets)
    lower_bounds = plan.squared_scale_bounds[0][:, None] * residual_sums
    first_guess = np.argmin(plan.squared_scale_bounds[1][:, None] * residual_sums, axis=0)
    n_penalties, n_targets = residual_sums.shape
    best = np.full(n_targets, n_penalties)
    best_sums = np.full(n_targets, np.inf)
    evaluated = np.zeros((n_penalties, n_targets), dtype=bool)

    def evaluate(penalty: int, columns: np.ndarray) -> None:
        if columns.size == 0:
            return
        sums = _loo_sums_of_squares(backend, plan, targets, penalty, columns)
        wins = (sums < best_sums[columns]) | (
            (sums == best_sums[columns]) & (penalty < best[columns])
        )
        best[columns[wins]], best_sums[columns[wins]] = penalty, sums[wins]
        evaluated[penalty, columns] = True

    for penalty in range(n_penalties):
        evaluate(penalty, np.flatnonzero(first_guess == penalty))
    for penalty in range(n_penalties):
        open_ = ~evaluated[penalty] & (lower_bounds[penalty] <= best_sums * (1.0 + _PRUNE_MARGIN))
        evaluate(penalty, np.flatnonzero(open_))
    return best, best_sums / n_samples, int(evaluated.sum())


def _eigenbasis_weights(backend, plan: _LooPlan, projected, chosen_alphas: np.ndarray):
    """``Q / (eigenvalues + alpha_v)`` (r, b): coefficients are ``X_c^T U`` times these."""
    dtype = _dtype_name(projected)
    eigenvalues = backend.asarray(plan.eigenvalues, dtype)[:, None]
    return projected / (eigenvalues + backend.asarray(chosen_alphas, dtype)[None, :])


def _target_batches(n_targets: int, n_samples: int, dtype: str, batch_size: int | None):
    """Equal slices over targets, at most ``batch_size`` each (None: ``BATCH_MEMORY_BYTES``)."""
    if batch_size is None:
        per_target = _ARRAYS_PER_BATCH * n_samples * np.dtype(dtype).itemsize
        batch_size = max(1, BATCH_MEMORY_BYTES // per_target)
    if batch_size < 1:
        raise ValueError(f"targets_batch_size must be a positive integer, got {batch_size}")
    n_batches = -(-n_targets // batch_size)
    edges = np.linspace(0, n_targets, n_batches + 1).round().astype(int)
    return [slice(int(start), int(stop)) for start, stop in zip(edges[:-1], edges[1:], strict=True)]


# ---------------------------------------------------------------------------------------------
# Input checks.
# ---------------------------------------------------------------------------------------------


def _finite_matrix(name: str, values: Any, allow_1d: bool = False) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim == 1 and allow_1d:
        array = array[:, None]
    if array.ndim != 2:
        raise InputError(f"{name}: expected a 2-D array (n_samples, ...), got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
        raise InputError(f"{name}: expected real numbers, got dtype {array.dtype}")
    n_bad = int(array.size - np.count_nonzero(np.isfinite(array)))
    if n_bad:
        raise InputError(f"{name}: expected finite values, found {n_bad} NaN/inf entries")
    return array


def _check_alphas(alphas: Any) -> np.ndarray:
    alphas = np.atleast_1d(np.asarray(alphas, dtype=np.float64))
    if alphas.ndim != 1 or alphas.size == 0 or not np.all(np.isfinite(alphas) & (alphas > 0)):
        raise ValueError(f"alphas must be a non-empty 1-D array of positive numbers, got {alphas}")
    return alphas


def _check_dtype(dtype: str) -> str:
    if dtype not in _DTYPES:
        raise ValueError(f"dtype must be one of {_DTYPES}, got {dtype!r}")
    return dtype


def _check_same_samples(x_name: str, x: np.ndarray, y_name: str, y: np.ndarray) -> None:
    if x.shape[0] != y.shape[0]:
        raise InputError(
            f"{x_name} has {x.shape[0]} samples (rows) but {y_name} has {y.shape[0]}; "
            "they must describe the same time points"
        )


# ---------------------------------------------------------------------------------------------
# The scikit-learn estimator.
# ---------------------------------------------------------------------------------------------


class RidgeCV(RegressorMixin, BaseEstimator):
    """Ridge regression with penalties chosen by exact (efficient) leave-one-out.

    Same criterion and results as ``sklearn.linear_model.RidgeCV(alphas, cv=None,
    alpha_per_target=...)``: minimise the mean squared leave-one-out error, with an unpenalised
    intercept when ``fit_intercept``; faster, batched over targets, on NumPy or torch.

    Parameters
    ----------
    alphas : (n_alphas,) positive penalties; the paper's 20 values by default (section 2.6).
    alpha_per_target : choose the penalty of each target independently (the paper's setting).
    fit_intercept : centre X and Y and fit an unpenalised intercept.
    backend : "numpy", "torch" or "torch_cuda".
    dtype : "float64" or "float32", the precision of the per-penalty products.
    targets_batch_size : targets per batch; None sizes batches to ``BATCH_MEMORY_BYTES``.

    Attributes
    ----------
    alpha_ : (n_targets,) chosen penalties (a float for 1-D ``y`` or ``alpha_per_target=False``).
    coef_ : (n_targets, n_features), or (n_features,) for 1-D ``y``.
    intercept_ : (n_targets,), or a float for 1-D ``y``.
    best_score_ : negative mean squared leave-one-out error at the chosen penalty, per target.
    """

    def __init__(
        self,
        alphas=DEFAULT_ALPHAS,
        alpha_per_target: bool = True,
        fit_intercept: bool = True,
        backend: str = "numpy",
        dtype: str = "float64",
        targets_batch_size: int | None = None,
    ):
        self.alphas = alphas
        self.alpha_per_target = alpha_per_target
        self.fit_intercept = fit_intercept
        self.backend = backend
        self.dtype = dtype
        self.targets_batch_size = targets_batch_size

    def fit(self, X, y) -> RidgeCV:
        """Choose the penalties by leave-one-out on ``X`` (n, p), ``y`` (n,) or (n, n_targets)."""
        design = _finite_matrix("X", X).astype(np.float64, copy=False)
        targets = _finite_matrix("y", y, allow_1d=True)
        _check_same_samples("X", design, "y", targets)
        alphas = _check_alphas(self.alphas)
        dtype = _check_dtype(self.dtype)
        backend = get_backend(self.backend)
        n_samples, n_targets = targets.shape
        x_mean = design.mean(0) if self.fit_intercept else np.zeros(design.shape[1])
        y_mean = targets.mean(0, dtype=np.float64) if self.fit_intercept else np.zeros(n_targets)
        basis = _decompose(backend, design - x_mean, dtype)
        plan = _plan_loo(backend, basis, alphas, self.fit_intercept)
        feature_basis = basis.feature_basis(backend)
        batches = _target_batches(n_targets, n_samples, dtype, self.targets_batch_size)

        def centred(batch: slice):
            return backend.asarray(targets[:, batch] - y_mean[batch], dtype)

        def coefficients(projected, chosen: np.ndarray) -> np.ndarray:
            weights = _eigenbasis_weights(backend, plan, projected, chosen)
            return backend.to_numpy(feature_basis @ weights).T

        coef = np.empty((n_targets, design.shape[1]), dtype=dtype)
        if self.alpha_per_target:
            best = np.empty(n_targets, dtype=int)
            best_errors = np.empty(n_targets)
            for batch in batches:
                batch_targets = _project(plan, centred(batch))
                best[batch], best_errors[batch], _ = _loo_best_penalties(
                    backend, plan, batch_targets
                )
                coef[batch] = coefficients(batch_targets.projected, alphas[best[batch]])
        else:  # one penalty for all targets: the best mean error, then a second pass
            errors = np.concatenate(
                [
                    _loo_mean_squared_errors(backend, plan, _project(plan, centred(batch)))
                    for batch in batches
                ],
                axis=1,
            )
            best = np.full(n_targets, np.argmin(errors.mean(1)))
            best_errors = errors[best, np.arange(n_targets)]
            for batch in batches:
                projected = plan.sample_basis.T @ centred(batch)
                coef[batch] = coefficients(projected, alphas[best[batch]])
        self._set_fitted(alphas[best], coef, -best_errors, x_mean, y_mean)
        self.n_features_in_ = design.shape[1]
        if np.ndim(y) == 1:
            self.coef_, self.intercept_ = self.coef_[0], float(self.intercept_[0])
            self.alpha_, self.best_score_ = float(self.alpha_[0]), float(self.best_score_[0])
        elif not self.alpha_per_target:
            self.alpha_ = float(self.alpha_[0])
            self.best_score_ = float(np.mean(self.best_score_))
        return self

    def _set_fitted(self, alpha, coef, best_score, x_mean, y_mean) -> None:
        self.alpha_ = alpha
        self.coef_ = coef
        self.best_score_ = best_score
        self.intercept_ = y_mean - coef.astype(np.float64) @ x_mean

    def predict(self, X) -> np.ndarray:
        """Predictions (n, n_targets), or (n,) when fitted on 1-D ``y``."""
        check_is_fitted(self, "coef_")
        design = _finite_matrix("X", X)
        if design.shape[1] != self.n_features_in_:
            raise InputError(
                f"X has {design.shape[1]} features but the model was fitted on "
                f"{self.n_features_in_}"
            )
        return design @ np.asarray(self.coef_).T + self.intercept_


# ---------------------------------------------------------------------------------------------
# Brain scores.
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BrainScore:
    """Cross-validated brain scores of one (subject, network) pair.

    Attributes
    ----------
    r : (n_targets,) Pearson r between prediction and truth on the test block, averaged over folds.
    r_per_fold : (n_splits, n_targets) the same correlation in each fold.
    alphas : (n_splits, n_targets) the penalty chosen for each target in each fold.
    """

    r: np.ndarray
    r_per_fold: np.ndarray
    alphas: np.ndarray


def _float_eps(array: np.ndarray) -> float:
    return float(np.finfo(array.dtype).eps) if array.dtype.kind == "f" else _EPS["float64"]


def pearson_r(a: Any, b: Any) -> np.ndarray:
    """Column-wise Pearson correlation of ``a`` and ``b`` (n, k) -> (k,).

    A column that is constant in either input (within the rounding of its dtype) has no defined
    correlation; it gets r = 0 (never NaN), which is what a prediction carrying no information
    deserves in a brain score.
    """
    a, b = np.asarray(a), np.asarray(b)
    eps = max(_float_eps(a), _float_eps(b))
    a, b = a.astype(np.float64, copy=False), b.astype(np.float64, copy=False)
    if a.shape != b.shape:
        raise ValueError(f"pearson_r needs arrays of the same shape, got {a.shape} and {b.shape}")
    if a.ndim == 1:
        return pearson_r(a[:, None], b[:, None])[0]
    a_centred, b_centred = a - a.mean(0), b - b.mean(0)
    a_sum_sq = np.einsum("ij,ij->j", a_centred, a_centred)
    b_sum_sq = np.einsum("ij,ij->j", b_centred, b_centred)
    constant = _constant_columns(a.mean(0), a_sum_sq / len(a), len(a), eps)
    constant |= _constant_columns(b.mean(0), b_sum_sq / len(b), len(b), eps)
    norms = np.sqrt(np.where(constant, 1.0, a_sum_sq * b_sum_sq))
    return np.where(constant, 0.0, np.einsum("ij,ij->j", a_centred, b_centred) / norms)


def grouped_folds(groups: Any, n_splits: int = DEFAULT_N_SPLITS) -> list[tuple[np.ndarray, ...]]:
    """Deterministic (train, test) sample indices with no group on both sides.

    With exactly ``n_splits`` groups each test fold is one group (leave-one-group-out, in sorted
    group order, as the paper's 12 sentence blocks); with more groups, scikit-learn's
    ``GroupKFold`` spreads them over ``n_splits`` folds of balanced size.
    """
    groups = np.asarray(groups)
    if groups.ndim != 1:
        raise InputError(f"groups: expected a 1-D array (n_samples,), got shape {groups.shape}")
    n_groups = np.unique(groups).size
    if n_splits < 2:
        raise ValueError(f"n_splits must be at least 2, got {n_splits}")
    if n_groups < n_splits:
        raise InputError(
            f"groups: need at least n_splits={n_splits} distinct groups (sentence blocks) for "
            f"grouped cross-validation, found {n_groups}"
        )
    splitter = LeaveOneGroupOut() if n_groups == n_splits else GroupKFold(n_splits=n_splits)
    placeholder = np.zeros((groups.size, 1))
    return list(splitter.split(placeholder, groups=groups))


def _standardise(backend, train, test):
    """z-score ``train`` and ``test`` (n, k) with the training mean and std.

    Columns constant on the training rows (within rounding) carry no information and would
    divide by zero: they become exactly 0 in both, so their predictions are constant and their
    score is 0.
    """
    n_samples = train.shape[0]
    mean = train.mean(0)
    centred = train - mean
    variance = backend.column_sum_of_squares(centred) / n_samples
    constant = _constant_columns(mean, variance, n_samples, _EPS[_dtype_name(train)])
    inverse_std = backend.where(
        constant, 0.0, 1.0 / backend.sqrt(backend.where(constant, 1.0, variance))
    )
    centred *= inverse_std
    return centred, (test - mean) * inverse_std


def _constant_columns(mean, variance, n_samples: int, eps: float):
    """Columns whose variance is rounding noise around their mean (scikit-learn's bound).

    Such columns carry no information; scaling them to unit variance would turn rounding errors
    into a feature (e.g. a unit saturated at 1.0 but for one value differing in the last bit).
    """
    bound = n_samples * eps * variance + (n_samples * eps * mean) ** 2
    return variance <= bound


def _conditioned(backend, values: np.ndarray, dtype: str):
    """``values`` (n, k) z-scored over all rows in float64, then cast to ``dtype``.

    The per-fold z-scoring is invariant to this affine map (constant columns stay constant), so
    it changes nothing mathematically; numerically it spares float32 the cancellation of
    subtracting a large mean from nearly constant columns (saturated units, raw BOLD levels).
    """
    centred = np.array(values, dtype=np.float64)  # a copy, modified in place below
    mean = centred.mean(0)
    centred -= mean
    variance = np.einsum("ij,ij->j", centred, centred) / centred.shape[0]
    constant = _constant_columns(mean, variance, centred.shape[0], _EPS["float64"])
    centred *= np.where(constant, 0.0, 1.0 / np.sqrt(np.where(constant, 1.0, variance)))
    return backend.asarray(centred, dtype)


@dataclass(frozen=True)
class _FoldModel:
    """What scoring a batch of voxels in one fold needs: rows, leave-one-out plan, test map."""

    train_rows: Any  # (n_train,) int64
    test_rows: Any  # (n_test,) int64
    plan: _LooPlan
    test_basis: Any  # (n_test, r) X_test X_train^T U, compute dtype


def _fold_model(backend, design, train, test, alphas, dtype: str) -> _FoldModel:
    """Decompose one fold's z-scored training design (float64) and map its test rows."""
    train_rows, test_rows = backend.asarray(train, "int64"), backend.asarray(test, "int64")
    design_train, design_test = _standardise(backend, design[train_rows], design[test_rows])
    basis = _decompose(backend, design_train, dtype)
    return _FoldModel(
        train_rows=train_rows,
        test_rows=test_rows,
        plan=_plan_loo(backend, basis, alphas, fit_intercept=True),
        test_basis=basis.map_samples(backend, design_test),
    )


def _score_batch(backend, fold: _FoldModel, block, alphas: np.ndarray):
    """Chosen penalties and test-block correlations (2 arrays (b,)) of voxels ``block`` (n, b)."""
    targets, truth = _standardise(backend, block[fold.train_rows], block[fold.test_rows])
    projection = _project(fold.plan, targets)
    best, _, _ = _loo_best_penalties(backend, fold.plan, projection)
    chosen = alphas[best]
    weights = _eigenbasis_weights(backend, fold.plan, projection.projected, chosen)
    prediction = fold.test_basis @ weights
    return chosen, pearson_r(backend.to_numpy(prediction), backend.to_numpy(truth))


def brain_score(
    X: Any,
    Y: Any,
    groups: Any,
    alphas: Any = DEFAULT_ALPHAS,
    n_splits: int = DEFAULT_N_SPLITS,
    backend: str = "numpy",
    dtype: str = "float32",
    targets_batch_size: int | None = None,
) -> BrainScore:
    """Grouped cross-validated ridge brain scores (section 2.6).

    For each of ``n_splits`` folds that hold out whole groups (sentence blocks): X and Y are
    z-scored with the training fold's mean and std, a ridge is fitted on the training fold with
    each voxel's penalty chosen by exact leave-one-out (as scikit-learn's ``RidgeCV(alphas,
    alpha_per_target=True)``), and the voxel's score is the Pearson r between prediction and
    truth on the test fold; scores are averaged over folds.

    Parameters
    ----------
    X : (n_trs, n_features) HRF-convolved activations.
    Y : (n_trs, n_targets) BOLD responses (voxels or vertices).
    groups : (n_trs,) the sentence block of each TR
    (:func:`audiobrain.brainscores.events.analysed_scans`). alphas : candidate penalties; n_splits
    : number of folds (the paper: 20 penalties, 12 folds). backend, dtype, targets_batch_size : as
    in :class:`RidgeCV`.
    """
    design = _finite_matrix("X", X)
    responses = _finite_matrix("Y", Y, allow_1d=True)
    _check_same_samples("X", design, "Y", responses)
    groups = np.asarray(groups)
    if groups.shape != (design.shape[0],):
        raise InputError(
            f"groups: expected one group label per sample, shape ({design.shape[0]},), "
            f"got {groups.shape}"
        )
    alphas = _check_alphas(alphas)
    dtype = _check_dtype(dtype)
    array_backend = get_backend(backend)
    folds = grouped_folds(groups, n_splits)
    n_targets = responses.shape[1]
    batches = _target_batches(n_targets, design.shape[0], dtype, targets_batch_size)
    design = _conditioned(array_backend, design, "float64")
    fold_models = [_fold_model(array_backend, design, *fold, alphas, dtype) for fold in folds]
    chosen = np.empty((n_splits, n_targets))
    r_per_fold = np.empty((n_splits, n_targets))
    for batch in batches:
        block = _conditioned(array_backend, responses[:, batch], dtype)
        for fold, model in enumerate(fold_models):
            chosen[fold, batch], r_per_fold[fold, batch] = _score_batch(
                array_backend, model, block, alphas
            )
        logger.debug("voxels %d-%d of %d scored", batch.start, batch.stop, n_targets)
    return BrainScore(r=r_per_fold.mean(0), r_per_fold=r_per_fold, alphas=chosen)


# ---------------------------------------------------------------------------------------------
# Ridge with per-output voxel selection (PyFastL2LiR's model, section 2.1.1 of C2F-LDM).
# ---------------------------------------------------------------------------------------------

# Semantics of PyFastL2LiR (KamitaniLab, ``fastl2lir`` 0.11 on PyPI, ``FastL2LiR.fit`` and
# ``corrmat`` in fastl2lir/fastl2lir.py; the readme's "Notice" for the z-scoring):
# - a column of ones is appended to X and ``alpha * I`` is added to the whole (V+1) Gram matrix,
#   so it minimises ``||y - X w - b||^2 + alpha (||w||^2 + b^2)``: the bias IS penalised;
# - no standardisation inside: the readme asks users to z-score X and Y with training statistics;
# - voxels are ranked per output by the ABSOLUTE Pearson correlation on the training rows, voxels
#   with ``var(ddof=0) < 1e-8`` getting correlation 0, and the top ``n_feat`` are kept;
# - ``n_feat == 0`` or ``n_feat >= V`` means all voxels (no selection).
# The differences here are numerical only: centred Gram matrices (the penalised bias enters
# exactly through a rank-one term, see ``_solve_selected``) and stable tie-breaking (the lower
# voxel index first; fastl2lir's reversed quicksort leaves ties unspecified). fastl2lir's
# selection path itself fails on numpy 2 ("setting an array element with a sequence").

#: fastl2lir's threshold: voxels whose training variance is below this have correlation 0.
FASTL2LIR_MIN_VARIANCE = 1e-8
#: Voxels selected per output dimension (section 2.1.1: 500 voxels per CLAP dimension).
DEFAULT_N_FEAT = 500
#: Working memory for one chunk of outputs when ``chunk_size`` is None (the gathered (n, k)
#: design of each output dominates: about 7 outputs at 4,800 samples x 500 voxels).
SELECTION_CHUNK_BYTES = 128 * 2**20
#: Rows or columns of X centred at a time when forming the Gram matrices of the all-voxel path.
_CENTRING_BLOCK = 2048


def _column_moments(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance (ddof=0) of each column, in blocks: no (n, V) temporary."""
    mean = X.mean(0, dtype=np.float64)
    variance = np.empty(X.shape[1])
    for start in range(0, X.shape[1], _CENTRING_BLOCK):
        block = X[:, start : start + _CENTRING_BLOCK] - mean[start : start + _CENTRING_BLOCK]
        variance[start : start + _CENTRING_BLOCK] = np.einsum("ij,ij->j", block, block)
    return mean, variance / X.shape[0]


def _abs_correlations(cross, x_std, y_std, n: int):
    """``|r|`` (V, c) from ``cross = X^T Y_c`` (V, c); 0 for (near-)constant voxels or outputs.

    Works on NumPy arrays and torch tensors alike.
    """
    valid = (x_std**2 >= FASTL2LIR_MIN_VARIANCE)[:, None] & (y_std > 0)[None, :]
    denominator = n * x_std[:, None] * y_std[None, :]
    return (abs(cross) / (denominator + ~valid)) * valid


def _top_voxels(abs_corr, n_feat: int):
    """Indices (c, n_feat) of the largest ``abs_corr`` (V, c) per column, best first, stable."""
    import torch

    order = torch.argsort(-torch.as_tensor(abs_corr), dim=0, stable=True)
    return order[:n_feat].T


def select_voxels(X: Any, Y: Any, n_feat: int = DEFAULT_N_FEAT) -> np.ndarray:
    """The ``n_feat`` voxels most correlated (in absolute value) with each output, as fastl2lir.

    Parameters
    ----------
    X : (n_samples, n_voxels) training fMRI responses.
    Y : (n_samples, n_outputs) or (n_samples,) training targets.
    n_feat : voxels per output; 0 or at least ``n_voxels`` selects all of them.

    Returns
    -------
    (n_outputs, k) int64 voxel indices ordered by decreasing ``|r|`` (ties: lower index first),
    with ``k = min(n_feat, n_voxels)`` (``n_voxels`` when ``n_feat`` is 0).
    """
    design = _finite_matrix("X", X).astype(np.float64, copy=False)
    targets = _finite_matrix("Y", Y, allow_1d=True).astype(np.float64, copy=False)
    _check_same_samples("X", design, "Y", targets)
    k = _effective_n_feat(n_feat, design.shape[1])
    x_mean, x_var = _column_moments(design)
    centred = targets - targets.mean(0)
    y_std = np.sqrt(np.einsum("ij,ij->j", centred, centred) / len(centred))
    abs_corr = _abs_correlations(design.T @ centred, np.sqrt(x_var), y_std, len(design))
    return _top_voxels(abs_corr, k).numpy().astype(np.int64)


def _effective_n_feat(n_feat: Any, n_voxels: int) -> int:
    if isinstance(n_feat, bool) or not isinstance(n_feat, int | np.integer) or n_feat < 0:
        raise InputError(
            f"n_feat: expected a non-negative integer (0 = all voxels), got {n_feat!r}"
        )
    return n_voxels if n_feat == 0 or n_feat >= n_voxels else int(n_feat)


def _solve_selected(design, cross, selected, x_mean, y_mean, alpha: float, gamma: float):
    """Ridge weights (c, k) of ``c`` outputs, each on its own ``k`` voxels ``selected`` (c, k).

    fastl2lir solves ``[[G + aI, s], [s^T, n + a]] [w; b] = [X_s^T y; 1^T y]`` with the raw Gram
    matrix G of the selected voxels and their column sums s. Eliminating b gives the same w from
    centred quantities, better conditioned when voxels have large means:
    ``(X_c^T X_c + aI + gamma m m^T) w = X_c^T y_c + gamma m y_mean``, ``gamma = n a / (n + a)``
    (0 for an unpenalised intercept), m the selected voxels' means. Torch tensors throughout:
    its batched products and solves are several times faster than NumPy's stacked ones.
    """
    import torch

    means = x_mean[selected]  # (c, k)
    stacked = (design[:, selected] - means).permute(1, 0, 2)  # (c, n, k)
    gram = stacked.transpose(1, 2) @ stacked  # (c, k, k)
    del stacked
    gram += gamma * means[:, :, None] * means[:, None, :]
    gram.diagonal(dim1=1, dim2=2).add_(alpha)
    rhs = torch.gather(cross, 0, selected.T).T + gamma * means * y_mean[:, None]
    return torch.linalg.solve(gram, rhs[:, :, None])[:, :, 0]


def _fit_selected(design, centred_y, x_mean, x_var, y_mean, k, alpha, gamma, chunks, device):
    """Coefficients (V, m) and selected voxels (m, k) of all outputs, chunk by chunk."""
    import torch

    n_samples, n_voxels = design.shape
    X = torch.as_tensor(design, device=device)
    Yc = torch.as_tensor(centred_y, device=device)
    x_mean, y_mean = torch.as_tensor(x_mean, device=device), torch.as_tensor(y_mean, device=device)
    x_std = torch.as_tensor(np.sqrt(x_var), device=device)
    y_std = torch.sqrt((Yc * Yc).sum(0) / n_samples)
    coef = np.zeros((n_voxels, centred_y.shape[1]))
    selected = np.empty((centred_y.shape[1], k), dtype=np.int64)
    for chunk in chunks:
        cross = X.T @ Yc[:, chunk]  # (V, c) = X_c^T Y_c, since Y_c is centred
        chosen = _top_voxels(_abs_correlations(cross, x_std, y_std[chunk], n_samples), k)
        weights = _solve_selected(X, cross, chosen, x_mean, y_mean[chunk], alpha, gamma)
        chosen = chosen.cpu().numpy()
        coef[chosen, np.arange(chunk.start, chunk.stop)[:, None]] = weights.cpu().numpy()
        selected[chunk] = chosen
        logger.debug("outputs %d-%d of %d fitted", chunk.start, chunk.stop, len(selected))
    return coef, selected


def _centred_blocks(design: np.ndarray, x_mean: np.ndarray, axis: int):
    """Blocks of ``design - x_mean``: ``(slice, block)`` over rows (axis 0) or voxels (axis 1)."""
    for start in range(0, design.shape[axis], _CENTRING_BLOCK):
        span = slice(start, start + _CENTRING_BLOCK)
        if axis == 0:
            yield span, design[span] - x_mean
        else:
            yield span, design[:, span] - x_mean[span]


def _solve_all_voxels(design, centred_y, x_mean, y_mean, alpha, gamma) -> np.ndarray:
    """Ridge weights (V, m) on all voxels: primal (V x V) when V < n, else dual ((n+1) square).

    Both solve ``(X_c^T X_c + gamma m m^T + aI) W = X_c^T Y_c + gamma m y_mean^T``. Writing
    ``Z = [X_c; sqrt(gamma) m^T]`` ((n+1), V) and ``U = [Y_c; sqrt(gamma) y_mean^T]``, the dual
    form is ``W = Z^T (Z Z^T + aI)^-1 U`` (the (V+1) system of fastl2lir is 28 GB at 60,000
    voxels; this one is (n+1) square).
    """
    n_samples, n_voxels = design.shape
    root = np.sqrt(gamma)
    if n_voxels < n_samples:
        gram = np.zeros((n_voxels, n_voxels))
        cross = np.zeros((n_voxels, centred_y.shape[1]))
        for rows, block in _centred_blocks(design, x_mean, axis=0):
            gram += block.T @ block
            cross += block.T @ centred_y[rows]
        gram += gamma * np.outer(x_mean, x_mean)
        gram[np.diag_indices_from(gram)] += alpha
        return np.linalg.solve(gram, cross + gamma * np.outer(x_mean, y_mean))
    kernel = np.zeros((n_samples + 1, n_samples + 1))
    for _, block in _centred_blocks(design, x_mean, axis=1):
        kernel[:n_samples, :n_samples] += block @ block.T
    kernel[:n_samples, n_samples] = root * (design @ x_mean - x_mean @ x_mean)
    kernel[n_samples, :n_samples] = kernel[:n_samples, n_samples]
    kernel[n_samples, n_samples] = gamma * (x_mean @ x_mean)
    kernel[np.diag_indices_from(kernel)] += alpha
    dual = np.linalg.solve(kernel, np.vstack([centred_y, root * y_mean[None, :]]))
    coef = np.empty((n_voxels, centred_y.shape[1]))
    for columns, block in _centred_blocks(design, x_mean, axis=1):
        coef[columns] = block.T @ dual[:n_samples] + root * np.outer(x_mean[columns], dual[-1])
    return coef


class VoxelSelectionRidge(RegressorMixin, BaseEstimator):
    """Ridge regression in which each output uses only its ``n_feat`` most correlated voxels.

    The model of PyFastL2LiR (``fastl2lir.FastL2LiR().fit(X, Y, alpha, n_feat)``), which the paper
    uses for its semantic decoder (section 2.1.1): per output, the voxels with the largest
    absolute correlation on the training data are kept and a ridge with penalty ``alpha`` on the
    weights and (``penalize_intercept``, fastl2lir's behaviour) the bias is fitted on them. Like
    fastl2lir it does not standardise; z-score X and Y with training statistics first. Outputs
    are processed in chunks: the gathered designs of a chunk are stacked and their k x k
    systems solved in one batched torch call (float64).

    Parameters
    ----------
    alpha : non-negative L2 penalty (fastl2lir's ``alpha``: the coefficient of the squared norm).
    n_feat : voxels per output; 0 or at least the number of voxels means all voxels.
    chunk_size : outputs per chunk; None sizes chunks to ``SELECTION_CHUNK_BYTES``.
    penalize_intercept : penalise the bias like the weights (fastl2lir); False leaves it free.
    device : torch device of the selection path's batched products and solves ("cpu", "cuda").

    Attributes
    ----------
    coef_ : (n_voxels, n_outputs) the mapping W of ``s = x W + b`` (the paper's layout, not
        scikit-learn's); column j is non-zero only on ``selected_[j]``.
    intercept_ : (n_outputs,) the bias b.
    selected_ : (n_outputs, k) voxel indices of each output, by decreasing ``|r|``.
    n_feat_ : k, the number of voxels used per output.
    """

    def __init__(
        self,
        alpha: float = 1.0,
        n_feat: int = DEFAULT_N_FEAT,
        chunk_size: int | None = None,
        penalize_intercept: bool = True,
        device: str = "cpu",
    ):
        self.alpha = alpha
        self.n_feat = n_feat
        self.chunk_size = chunk_size
        self.penalize_intercept = penalize_intercept
        self.device = device

    def fit(self, X, Y) -> VoxelSelectionRidge:
        """Select voxels and fit on ``X`` (n, n_voxels), ``Y`` (n, n_outputs) or (n,)."""
        design = _finite_matrix("X", X).astype(np.float64, copy=False)
        targets = _finite_matrix("Y", Y, allow_1d=True).astype(np.float64, copy=False)
        _check_same_samples("X", design, "Y", targets)
        alpha = float(self.alpha)
        if not np.isfinite(alpha) or alpha < 0:
            raise InputError(f"alpha: expected a finite non-negative penalty, got {self.alpha!r}")
        n_samples, n_voxels = design.shape
        n_outputs = targets.shape[1]
        k = _effective_n_feat(self.n_feat, n_voxels)
        x_mean, x_var = _column_moments(design)
        y_mean = targets.mean(0)
        centred_y = targets - y_mean
        if self.penalize_intercept:
            gamma, shrink = n_samples * alpha / (n_samples + alpha), n_samples / (n_samples + alpha)
        else:
            gamma, shrink = 0.0, 1.0
        if k == n_voxels:
            coef = _solve_all_voxels(design, centred_y, x_mean, y_mean, alpha, gamma)
            selected = np.broadcast_to(np.arange(n_voxels, dtype=np.int64), (n_outputs, n_voxels))
        else:
            chunks = self._chunks(n_samples, n_voxels, n_outputs, k)
            coef, selected = _fit_selected(
                design, centred_y, x_mean, x_var, y_mean, k, alpha, gamma, chunks, self.device
            )
        self.coef_ = coef
        self.intercept_ = shrink * (y_mean - x_mean @ coef)
        self.selected_ = selected
        self.n_feat_ = k
        self.n_features_in_ = n_voxels
        self._fitted_1d = np.ndim(Y) == 1
        return self

    def _chunks(self, n_samples: int, n_voxels: int, n_outputs: int, k: int) -> list[slice]:
        size = self.chunk_size
        if size is None:
            per_output = 8 * (2 * n_samples * k + 2 * k * k + 3 * n_voxels)
            size = max(1, SELECTION_CHUNK_BYTES // per_output)
        if isinstance(size, bool) or not isinstance(size, int | np.integer) or size < 1:
            raise InputError(f"chunk_size: expected a positive integer or None, got {size!r}")
        return _target_batches(n_outputs, n_samples, "float64", int(size))

    def predict(self, X) -> np.ndarray:
        """``X W + b``: (n, n_outputs), or (n,) when fitted on 1-D ``Y``."""
        check_is_fitted(self, "coef_")
        design = _finite_matrix("X", X)
        if design.shape[1] != self.n_features_in_:
            raise InputError(
                f"X has {design.shape[1]} voxels (columns) but the model was fitted on "
                f"{self.n_features_in_}"
            )
        prediction = design @ self.coef_ + self.intercept_
        return prediction[:, 0] if self._fitted_1d else prediction


def out_of_fold_predictions(
    X: Any,
    Y: Any,
    groups: Any,
    n_splits: int = 5,
    make_estimator: Any = VoxelSelectionRidge,
) -> np.ndarray:
    """Predictions for every training sample from a model that never saw its group.

    A decoder's in-sample fits are far better than its test predictions; a second-stage model
    (the acoustic decoder) trained on them would learn to trust its input too much. Folds come
    from :func:`grouped_folds` (``GroupKFold``, deterministic), so all repetitions of one
    stimulus fall in the same fold.

    Parameters
    ----------
    X : (n_samples, n_voxels); Y : (n_samples, n_outputs) or (n_samples,).
    groups : (n_samples,) stimulus id of each sample.
    n_splits : number of folds.
    make_estimator : callable returning a fresh unfitted estimator (fit / predict).

    Returns
    -------
    (n_samples, n_outputs), or (n_samples,) for 1-D ``Y``, float64.
    """
    design = _finite_matrix("X", X)
    targets = _finite_matrix("Y", Y, allow_1d=True)
    _check_same_samples("X", design, "Y", targets)
    groups = np.asarray(groups)
    if groups.shape != (design.shape[0],):
        raise InputError(
            f"groups: expected one stimulus id per sample, shape ({design.shape[0]},), "
            f"got {groups.shape}"
        )
    predictions = np.empty(targets.shape)
    for fold, (train, test) in enumerate(grouped_folds(groups, n_splits)):
        estimator = make_estimator().fit(design[train], targets[train])
        predictions[test] = np.asarray(estimator.predict(design[test])).reshape(len(test), -1)
        logger.debug("fold %d of %d predicted", fold + 1, n_splits)
    return predictions[:, 0] if np.ndim(Y) == 1 else predictions
