"""Group statistics: Wilcoxon across subjects as scipy computes it, BH-FDR calibration on planted
nulls and effects, contrasts of eqs. 5-6, ROI and level summaries, clear errors."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats
from statsmodels.stats.multitest import multipletests

from audiobrain import stats
from audiobrain.io import InputError


def scores_with_ties_and_zeros(n_subjects: int, seed: int = 0) -> np.ndarray:
    """Continuous voxels plus voxels with tied magnitudes, zeros, one all-zero and one constant."""
    rng = np.random.default_rng(seed)
    scores = rng.normal(0.1, 1.0, size=(n_subjects, 40))
    scores[:, :10] = np.round(scores[:, :10], 1)  # ties
    scores[:2, 10:20] = 0.0  # some subjects exactly 0
    scores[:, 20] = 0.0  # no evidence at all
    scores[:, 21] = 0.3  # every subject the same positive score
    return scores


def scipy_per_voxel(scores: np.ndarray, alternative: str) -> tuple[np.ndarray, np.ndarray]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # scipy warns on the all-zero voxel
        results = [
            scipy_stats.wilcoxon(scores[:, v], alternative=alternative)
            for v in range(scores.shape[1])
        ]
    return np.array([r.statistic for r in results]), np.array([r.pvalue for r in results])


# n = 8: exact test, and scipy's exact permutation test where voxels tie; n = 20: exact and the
# tie-corrected normal approximation; n = 60: normal approximation for every voxel.
@pytest.mark.parametrize("n_subjects", [8, 20, 60])
@pytest.mark.parametrize("alternative", ["greater", "two-sided", "less"])
def test_statistic_and_p_equal_a_per_voxel_scipy_loop(n_subjects, alternative):
    scores = scores_with_ties_and_zeros(n_subjects)
    table = stats.group_test(scores, alternative=alternative)
    statistic, p = scipy_per_voxel(scores, alternative)
    informative = np.any(scores != 0, axis=0)
    np.testing.assert_allclose(table["p"][informative], p[informative], rtol=1e-12)
    np.testing.assert_allclose(table["statistic"][informative], statistic[informative])
    np.testing.assert_allclose(table["mean"], scores.mean(axis=0))


def test_q_and_significance_equal_statsmodels_benjamini_hochberg():
    scores = np.random.default_rng(3).normal(0.3, 1.0, size=(15, 500))
    table = stats.group_test(scores, q=0.1)
    reject, q_values, _, _ = multipletests(table["p"], alpha=0.1, method="fdr_bh")
    np.testing.assert_allclose(table["q"], q_values)
    np.testing.assert_array_equal(table["significant"], reject)
    assert tuple(table.columns) == stats.GROUP_TEST_COLUMNS
    assert table["significant"].dtype == bool


def test_all_zero_voxels_get_p_one_and_nothing_is_nan():
    scores = np.zeros((60, 3))
    scores[:, 0] = np.linspace(0.1, 0.8, 60)
    table = stats.group_test(scores)
    assert table["p"].tolist()[1:] == [1.0, 1.0]
    assert table["statistic"].tolist()[1:] == [0.0, 0.0]
    assert not table.isna().any().any()


@pytest.mark.parametrize("alternative", ["greater", "two-sided"])
def test_pure_null_false_discoveries_stay_under_q(alternative):
    """With no effect anywhere, FDR is the chance of any discovery; BH keeps it at or under q.

    20 subjects let the exact test reach p ~ 1e-6, so BH *can* reject 1 of 2000 voxels at q = 0.1
    (uncorrected p < q would flag ~10 % of voxels in every run). 200 fixed seeds estimate the rate
    to about +-0.02, the tolerance below.
    """
    q, n_runs = 0.1, 200
    runs = [
        stats.group_test(
            np.random.default_rng(seed).normal(size=(20, 2000)), q=q, alternative=alternative
        )["significant"].to_numpy()
        for seed in range(n_runs)
    ]
    assert np.mean([run.mean() for run in runs]) <= q  # share of null voxels declared significant
    assert np.mean([run.any() for run in runs]) <= q + 2 * np.sqrt(q * (1 - q) / n_runs)


def test_fdr_controls_false_discoveries_among_nulls_with_planted_effects():
    q, n_signal, n_runs = 0.05, 200, 30
    proportions, power = [], []
    for seed in range(n_runs):
        scores = np.random.default_rng(seed).normal(size=(20, 2000))
        scores[:, :n_signal] += 0.8
        significant = stats.group_test(scores, q=q)["significant"].to_numpy()
        proportions.append(significant[n_signal:].sum() / max(int(significant.sum()), 1))
        power.append(significant[:n_signal].mean())
    assert np.mean(proportions) <= q  # BH: E[FDP] = q * 1800 / 2000 = 0.045
    assert np.mean(power) > 0.5


def test_average_seeds_means_within_subject_for_arrays_and_feature_set_dicts():
    rng = np.random.default_rng(4)
    seeds = [rng.normal(size=(3, 5)) for _ in range(4)]
    np.testing.assert_allclose(stats.average_seeds(seeds), np.mean(seeds, axis=0))
    by_seed = {seed: {"L0": s, "L1": 2 * s} for seed, s in zip((7, 1, 3, 5), seeds, strict=True)}
    averaged = stats.average_seeds(by_seed)
    np.testing.assert_allclose(averaged["L1"], 2 * np.mean(seeds, axis=0))
    reordered = dict(reversed(list(by_seed.items())))
    assert averaged["L0"].tobytes() == stats.average_seeds(reordered)["L0"].tobytes()


def test_average_seeds_rejects_mismatched_seeds():
    with pytest.raises(InputError, match="one shape"):
        stats.average_seeds([np.zeros((3, 5)), np.zeros((3, 4))])
    with pytest.raises(InputError, match="seed #1 has feature sets"):
        stats.average_seeds([{"L0": np.zeros(2)}, {"L1": np.zeros(2)}])


def test_contrasts_follow_equations_5_and_6():
    rng = np.random.default_rng(1)
    scores = {f"L{k}": rng.normal(size=(4, 5)) for k in range(6)}
    scores["layer-gru"] = rng.normal(size=(4, 5))
    maps = stats.contrast_maps(scores)
    for k in range(1, 6):
        np.testing.assert_allclose(maps[f"dR L{k}-L{k - 1}"], scores[f"L{k}"] - scores[f"L{k - 1}"])
        np.testing.assert_allclose(maps[f"dR L{k}-L0"], scores[f"L{k}"] - scores["L0"])
    np.testing.assert_allclose(maps["R layer-gru"], scores["layer-gru"])
    expected = {f"R L{k}" for k in range(6)} | {"R layer-gru"}
    expected |= set(stats.SUCCESSIVE_GAIN_CONTRASTS) | set(stats.MEL_GAIN_CONTRASTS)
    assert set(maps) == expected  # 7 scores + 5 successive + 4 more over mel
    assert set(stats.LEVEL_CONTRASTS) | set(stats.GAIN_CONTRASTS) <= set(maps)


def test_contrasts_skip_gains_whose_levels_are_missing():
    maps = stats.contrast_maps(
        {"L2": np.ones((3, 4)), "L3": np.ones((3, 4)), "layer-fc": np.ones((3, 4))}
    )
    assert list(maps) == ["R L2", "R L3", "R layer-fc", "dR L3-L2"]


def test_roi_summary_has_the_contract_columns_scipy_sem_and_table_wide_fdr():
    rng = np.random.default_rng(2)
    maps = {"R L0": rng.normal(0.2, 0.05, size=(9, 30)), "dR L5-L0": rng.normal(size=(9, 30))}
    masks = {"A1": np.arange(30) < 10, "TPJ": np.arange(30) >= 20}
    table = stats.roi_summary(maps, masks)
    assert tuple(table.columns) == stats.ROI_SUMMARY_COLUMNS
    assert list(zip(table["contrast"], table["roi"], strict=True)) == [
        ("R L0", "A1"), ("R L0", "TPJ"), ("dR L5-L0", "A1"), ("dR L5-L0", "TPJ"),
    ]  # fmt: skip
    row = table.iloc[0]
    per_subject = maps["R L0"][:, :10].mean(axis=1)
    expected = scipy_stats.wilcoxon(per_subject, alternative="greater")
    assert row["mean"] == pytest.approx(per_subject.mean())
    assert row["sem"] == pytest.approx(scipy_stats.sem(per_subject))
    assert row["n_subjects"] == 9
    assert row["statistic"] == expected.statistic
    assert row["p"] == pytest.approx(expected.pvalue)
    assert row["q"] < 0.05
    np.testing.assert_allclose(table["q"], multipletests(table["p"], method="fdr_bh")[1])


def test_voxel_table_is_long_with_fdr_per_contrast():
    rng = np.random.default_rng(5)
    maps = {"R L0": rng.normal(0.5, 1, size=(12, 50)), "R L1": rng.normal(size=(12, 50))}
    vertices = np.arange(50) * 10
    table = stats.voxel_table(maps, vertices, q=0.05)
    assert tuple(table.columns) == stats.VOXEL_TABLE_COLUMNS
    assert len(table) == 100
    part = table[table["contrast"] == "R L1"].reset_index(drop=True)
    np.testing.assert_array_equal(part["vertex"], vertices)
    pd.testing.assert_frame_equal(
        part[list(stats.GROUP_TEST_COLUMNS)], stats.group_test(maps["R L1"], q=0.05)
    )


def test_level_summary_means_over_voxels_and_tests_successive_gains():
    rng = np.random.default_rng(6)
    base = rng.normal(0.1, 0.02, size=(10, 40))
    scores = {f"L{k}": base + 0.01 * k + rng.normal(0, 0.001, size=(10, 40)) for k in range(3)}
    table = stats.level_summary(scores)
    assert table["feature_set"].tolist() == ["L0", "L1", "L2"]
    per_subject = {k: v.mean(axis=1) for k, v in scores.items()}
    assert table["sem"][1] == pytest.approx(scipy_stats.sem(per_subject["L1"]))
    gain = per_subject["L2"] - per_subject["L1"]
    assert table["gain_mean"][2] == pytest.approx(gain.mean())
    assert table["gain_p"][2] == pytest.approx(
        scipy_stats.wilcoxon(gain, alternative="greater").pvalue
    )
    assert np.isnan(table["gain_p"][0]) and (table["gain_q"][1:] < 0.05).all()


@pytest.mark.parametrize(
    ("scores", "message"),
    [
        (np.zeros((1, 4)), "at least 2 subjects"),
        (np.full((3, 4), np.nan), "NaN/inf in 4 voxel"),
        (np.zeros((2, 3, 4)), r"2-D array \(n_subjects, n_voxels\)"),
        (np.zeros((3, 0)), "at least one voxel"),
    ],
)
def test_bad_scores_are_clear_errors(scores, message):
    with pytest.raises(InputError, match=message):
        stats.group_test(scores)


def test_bad_parameters_are_clear_errors():
    scores = np.ones((3, 4))
    with pytest.raises(ValueError, match="alternative must be one of"):
        stats.group_test(scores, alternative="bigger")
    with pytest.raises(ValueError, match=r"q must lie in \(0, 1\)"):
        stats.group_test(scores, q=5)
    with pytest.raises(InputError, match="one vertex index per voxel"):
        stats.voxel_table({"R L0": scores}, np.arange(3))
    with pytest.raises(InputError, match="one shape"):
        stats.contrast_maps({"L0": np.ones((3, 4)), "L1": np.ones((3, 5))})


@pytest.mark.parametrize(
    ("mask", "message"),
    [
        (np.zeros(4, dtype=bool), "ROI 'A1': the mask selects no analysed voxel"),
        (np.ones(5, dtype=bool), r"ROI 'A1': expected a boolean mask of shape \(4,\)"),
        (np.ones(4), "found float64"),
    ],
)
def test_bad_roi_masks_are_clear_errors(mask, message):
    with pytest.raises(InputError, match=message):
        stats.roi_summary({"R L0": np.ones((3, 4))}, {"A1": mask})
