"""The semantic decoder D_sem (C2F-LDM section 2.1.1) and the fMRI-token voxels."""

from __future__ import annotations

import numpy as np
import pytest

from audiobrain.io import InputError
from audiobrain.recon.semantic import decode_semantic, fit_semantic_decoder, fmri_token_voxels


@pytest.fixture(scope="module")
def planted():
    """fMRI of 60 stimuli x 2 repetitions; 8 embedding dims, each driven by 3 known voxels."""
    rng = np.random.default_rng(0)
    n_stimuli, n_voxels, n_dims = 60, 80, 8
    s_gt = rng.standard_normal((n_stimuli, n_dims)) * 3 + 1
    informative = np.arange(24).reshape(n_dims, 3)
    voxels = rng.standard_normal((2 * n_stimuli, n_voxels)) * 0.3
    groups = np.repeat(np.arange(n_stimuli), 2)
    for dim, columns in enumerate(informative):
        voxels[:, columns] += s_gt[groups, dim, None] * rng.uniform(0.5, 2, 3)
    voxels = voxels * rng.uniform(1, 50, n_voxels) + 100  # raw BOLD-like scales
    return voxels, s_gt[groups], groups, informative


def test_decoder_recovers_embeddings_and_voxels(planted):
    voxels, s_gt, groups, informative = planted
    train, test = groups < 45, groups >= 45
    decoder = fit_semantic_decoder(
        voxels[train], s_gt[train], groups[train], alpha=1.0, n_feat=3, n_splits=5
    )
    for dim, columns in enumerate(informative):
        assert set(decoder.selected[dim]) == set(columns)
    decoded = decode_semantic(decoder, voxels[test])
    np.testing.assert_allclose(decoded, decoder.estimator.predict(voxels[test]), atol=1e-8)
    for dim in range(s_gt.shape[1]):
        assert np.corrcoef(decoded[:, dim], s_gt[test, dim])[0, 1] > 0.95
    assert (np.count_nonzero(decoder.coef, axis=0) == 3).all()
    oof = decoder.train_predictions
    assert oof.shape == s_gt[train].shape
    in_sample = decode_semantic(decoder, voxels[train])
    assert np.mean((oof - s_gt[train]) ** 2) > np.mean((in_sample - s_gt[train]) ** 2)
    token = fmri_token_voxels(decoder.coef_standardized, 24)
    np.testing.assert_array_equal(token, np.arange(24))


def test_fmri_token_voxels_rule():
    coef = np.zeros((10, 3))
    coef[7] = [1.0, -1.0, 0.0]  # total |W| 2
    coef[2] = [0.0, 0.0, -1.5]  # 1.5
    coef[5] = [0.5, 0.5, 0.5]  # 1.5, tie with voxel 2: lower index first
    coef[9] = [0.1, 0.0, 0.0]
    np.testing.assert_array_equal(fmri_token_voxels(coef, 2), [2, 7])
    np.testing.assert_array_equal(fmri_token_voxels(coef, 3), [2, 5, 7])
    with pytest.raises(InputError, match="n_voxels"):
        fmri_token_voxels(coef, 11)


def test_bad_inputs(planted):
    voxels, s_gt, groups, _ = planted
    with pytest.raises(InputError, match="samples"):
        fit_semantic_decoder(voxels[:-1], s_gt, groups[:-1], alpha=1.0)
    with pytest.raises(InputError, match="s_gt_train"):
        fit_semantic_decoder(voxels, s_gt[:, 0], groups, alpha=1.0)
    decoder = fit_semantic_decoder(voxels, s_gt, groups, alpha=1.0, n_feat=3, n_splits=3)
    with pytest.raises(InputError, match="voxels"):
        decode_semantic(decoder, voxels[:, :-1])
