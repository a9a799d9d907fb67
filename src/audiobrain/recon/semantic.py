"""The semantic decoder D_sem of C2F-LDM (section 2.1.1): fMRI voxels -> CLAP embedding.

A ridge from voxels ``x`` to the 512-d CLAP audio embedding ``s_gt`` in which each output uses
only its 500 most correlated voxels (PyFastL2LiR in the paper;
:class:`audiobrain.ridge.VoxelSelectionRidge` here). As the toolkit's readme requires, voxels and
targets are z-scored with training statistics before the fit; the fitted map is folded back to
raw units, so ``s = x W + b`` holds with the sparse ``W`` (V, 512) of the paper.

The acoustic decoder is trained on decoded embeddings of the training stimuli; in-sample fits
would be far cleaner than anything it meets at test time, so the training samples get
out-of-fold predictions (folds over stimuli, all repetitions of a stimulus together).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.compose import TransformedTargetRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from audiobrain.io import InputError
from audiobrain.ridge import DEFAULT_N_FEAT, VoxelSelectionRidge, out_of_fold_predictions

#: Voxels forming the fMRI token x' (section 2.1.2: "we select 768 voxels ... based on W").
FMRI_TOKEN_VOXELS = 768
#: Folds for the out-of-fold semantic predictions of the training set (not in the paper).
DEFAULT_N_SPLITS = 5


@dataclass(frozen=True)
class SemanticDecoder:
    """A fitted D_sem.

    Attributes
    ----------
    estimator : the fitted scikit-learn model (z-scoring, voxel-selection ridge, un-z-scoring).
    coef : (n_voxels, n_dims) W in raw units: ``s = x @ coef + intercept``.
    intercept : (n_dims,) b in raw units.
    coef_standardized : (n_voxels, n_dims) W between z-scored voxels and z-scored targets;
        comparable across voxels whatever their scale (what :func:`fmri_token_voxels` ranks).
    selected : (n_dims, n_feat) voxel indices of each output dimension, best first.
    train_predictions : (n_train, n_dims) out-of-fold decoded embeddings of the training samples.
    """

    estimator: Any
    coef: np.ndarray
    intercept: np.ndarray
    coef_standardized: np.ndarray
    selected: np.ndarray
    train_predictions: np.ndarray


def semantic_estimator(
    alpha: float, n_feat: int = DEFAULT_N_FEAT, chunk_size: int | None = None, device: str = "cpu"
) -> TransformedTargetRegressor:
    """An unfitted D_sem: z-score voxels and targets, then the voxel-selection ridge."""
    ridge = VoxelSelectionRidge(alpha=alpha, n_feat=n_feat, chunk_size=chunk_size, device=device)
    return TransformedTargetRegressor(
        regressor=make_pipeline(StandardScaler(), ridge),
        transformer=StandardScaler(),
        check_inverse=False,
    )


def fit_semantic_decoder(
    train_voxels: Any,
    s_gt_train: Any,
    groups: Any,
    alpha: float,
    n_feat: int = DEFAULT_N_FEAT,
    n_splits: int = DEFAULT_N_SPLITS,
    chunk_size: int | None = None,
    device: str = "cpu",
) -> SemanticDecoder:
    """Fit D_sem on all training samples and decode each of them out of fold.

    Parameters
    ----------
    train_voxels : (n_train, n_voxels) fMRI responses of the training samples.
    s_gt_train : (n_train, n_dims) CLAP embeddings of their stimuli (n_dims = 512).
    groups : (n_train,) stimulus id of each sample: the folds never split a stimulus.
    alpha : ridge penalty on z-scored data (fastl2lir's alpha; the paper does not give it).
    n_feat : voxels per output dimension (section 2.1.1: 500); 0 = all voxels.
    n_splits : folds of the out-of-fold predictions.
    chunk_size, device : as in :class:`~audiobrain.ridge.VoxelSelectionRidge`.
    """
    voxels = np.asarray(train_voxels, dtype=np.float64)
    targets = np.asarray(s_gt_train, dtype=np.float64)
    if targets.ndim != 2:
        raise InputError(
            f"s_gt_train: expected (n_train, n_dims) CLAP embeddings, got shape {targets.shape}"
        )

    def make() -> TransformedTargetRegressor:
        return semantic_estimator(alpha, n_feat, chunk_size, device)

    train_predictions = out_of_fold_predictions(voxels, targets, groups, n_splits, make)
    estimator = make().fit(voxels, targets)
    x_scaler, ridge = estimator.regressor_[0], estimator.regressor_[-1]
    y_scaler = estimator.transformer_
    coef = ridge.coef_ / x_scaler.scale_[:, None] * y_scaler.scale_[None, :]
    intercept = y_scaler.mean_ + y_scaler.scale_ * (
        ridge.intercept_ - (x_scaler.mean_ / x_scaler.scale_) @ ridge.coef_
    )
    return SemanticDecoder(
        estimator=estimator,
        coef=coef,
        intercept=intercept,
        coef_standardized=ridge.coef_,
        selected=np.asarray(ridge.selected_),
        train_predictions=train_predictions,
    )


def decode_semantic(decoder: SemanticDecoder, voxels: Any) -> np.ndarray:
    """``s = x W + b``: (n, n_voxels) fMRI responses -> (n, n_dims) semantic embeddings."""
    voxels = np.asarray(voxels, dtype=np.float64)
    n_voxels = decoder.coef.shape[0]
    if voxels.ndim != 2 or voxels.shape[1] != n_voxels:
        raise InputError(
            f"voxels: expected (n_samples, {n_voxels}) fMRI responses (the decoder's voxels), "
            f"got shape {voxels.shape}"
        )
    if not np.isfinite(voxels).all():
        raise InputError("voxels: expected finite values, found NaN/inf")
    return voxels @ decoder.coef + decoder.intercept


def fmri_token_voxels(coef: Any, n_voxels: int = FMRI_TOKEN_VOXELS) -> np.ndarray:
    """The voxels of the fMRI token x': the ``n_voxels`` with the largest total ``|W|``.

    The paper selects "768 voxels with the highest responses based on the mapping matrix W"
    without a formula. We rank voxels by ``sum_j |W_vj|`` over the output dimensions: it is zero
    for a voxel no dimension selected, grows with the number of dimensions that use it and with
    the weight they give it, and ignores the sign (fastl2lir selects by ``|r|`` too). Pass the
    weights between z-scored data (:attr:`SemanticDecoder.coef_standardized`): raw-unit weights
    would favour voxels with small variance. Ties go to the lower index.

    Parameters
    ----------
    coef : (n_voxels_total, n_dims) the mapping W.
    n_voxels : token size (768, the AudioMAE embedding size).

    Returns
    -------
    (n_voxels,) int64 voxel indices, sorted ascending.
    """
    coef = np.asarray(coef, dtype=np.float64)
    if coef.ndim != 2:
        raise InputError(f"coef: expected the (n_voxels, n_dims) mapping W, got shape {coef.shape}")
    if not 0 < n_voxels <= coef.shape[0]:
        raise InputError(
            f"n_voxels: expected 1..{coef.shape[0]} (the voxels W maps), got {n_voxels}; the fMRI "
            "token needs at least as many voxels as its size"
        )
    importance = np.abs(coef).sum(1)
    order = np.argsort(-importance, kind="stable")
    return np.sort(order[:n_voxels]).astype(np.int64)
