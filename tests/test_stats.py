"""Group statistics: Wilcoxon across subjects, FDR calibration, contrasts, ROI summaries."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as scipy_stats
from statsmodels.stats.multitest import multipletests

from audiobrain import stats


def test_p_values_equal_a_per_voxel_scipy_loop_and_q_equals_statsmodels():
    scores = np.random.default_rng(0).normal(0.05, 0.1, size=(10, 200))
    table = stats.group_test(scores, q=0.05)
    for voxel in range(0, 200, 37):
        expected = scipy_stats.wilcoxon(scores[:, voxel], alternative="greater")
        assert table["p"][voxel] == pytest.approx(expected.pvalue)
        assert table["statistic"][voxel] == pytest.approx(expected.statistic)
    reject, q_values, _, _ = multipletests(table["p"], alpha=0.05, method="fdr_bh")
    np.testing.assert_allclose(table["q"], q_values)
    np.testing.assert_array_equal(table["significant"], reject)
    np.testing.assert_allclose(table["mean"], scores.mean(axis=0))


@pytest.mark.parametrize("alternative", ["greater", "two-sided"])
def test_pure_null_false_positive_share_stays_under_q(alternative):
    q = 0.1
    shares = [
        stats.group_test(
            np.random.default_rng(seed).normal(size=(12, 2000)), q=q, alternative=alternative
        )["significant"].mean()
        for seed in range(10)
    ]
    assert np.mean(shares) <= q


def test_fdr_controls_false_discoveries_among_nulls_with_planted_effects():
    q, n_signal = 0.05, 300
    proportions, power = [], []
    for seed in range(10):
        scores = np.random.default_rng(seed).normal(size=(12, 2000))
        scores[:, :n_signal] += 1.2
        significant = stats.group_test(scores, q=q)["significant"].to_numpy()
        discoveries = max(int(significant.sum()), 1)
        proportions.append(significant[n_signal:].sum() / discoveries)
        power.append(significant[:n_signal].mean())
    assert np.mean(proportions) <= q
    assert np.mean(power) > 0.5


def test_all_zero_voxels_are_not_significant_and_never_nan():
    scores = np.zeros((8, 3))
    scores[:, 0] = np.linspace(0.1, 0.8, 8)
    table = stats.group_test(scores)
    assert table["p"].tolist()[1:] == [1.0, 1.0]
    assert not table.isna().any().any()


def test_contrasts_follow_equations_5_and_6():
    rng = np.random.default_rng(1)
    scores = {f"L{k}": rng.normal(size=(4, 5)) for k in range(6)}
    scores["layer-gru"] = rng.normal(size=(4, 5))
    maps = stats.contrast_maps(scores)
    np.testing.assert_allclose(maps["dR L5-L0"], scores["L5"] - scores["L0"])
    np.testing.assert_allclose(maps["dR L3-L2"], scores["L3"] - scores["L2"])
    np.testing.assert_allclose(maps["R layer-gru"], scores["layer-gru"])
    assert set(stats.GAIN_CONTRASTS) <= set(maps)


def test_roi_summary_has_the_contract_columns_and_scipy_sem():
    rng = np.random.default_rng(2)
    maps = {"R L0": rng.normal(0.2, 0.05, size=(9, 30)), "dR L5-L0": rng.normal(size=(9, 30))}
    masks = {"A1": np.arange(30) < 10, "TPJ": np.arange(30) >= 20}
    table = stats.roi_summary(maps, masks)
    assert tuple(table.columns) == stats.ROI_SUMMARY_COLUMNS
    row = table[(table["contrast"] == "R L0") & (table["roi"] == "A1")].iloc[0]
    per_subject = maps["R L0"][:, :10].mean(axis=1)
    assert row["mean"] == pytest.approx(per_subject.mean())
    assert row["sem"] == pytest.approx(scipy_stats.sem(per_subject))
    assert row["n_subjects"] == 9
    assert row["q"] < 0.05
    np.testing.assert_allclose(table["q"], multipletests(table["p"], method="fdr_bh")[1])


@pytest.mark.parametrize(
    ("scores", "message"),
    [
        (np.zeros((1, 4)), ">= 2 subjects"),
        (np.full((3, 4), np.nan), "NaN"),
        (np.zeros((2, 3, 4)), "n_subjects, n_voxels"),
    ],
)
def test_bad_scores_are_clear_errors(scores, message):
    with pytest.raises(ValueError, match=message):
        stats.group_test(scores)


def test_empty_roi_mask_is_an_error():
    with pytest.raises(ValueError, match="ROI 'A1'"):
        stats.roi_summary({"R L0": np.ones((3, 4))}, {"A1": np.zeros(4, dtype=bool)})
