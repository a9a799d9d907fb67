"""Comparisons between network types (Millet & King 2021, sections 3.2-3.4, Figure 3).

Brain scores are first averaged over seeds within each subject (section 2.4: "we compute the
brain scores for each initialisation and present the average results across initialisations").
Every comparison is then a per-subject difference of brain scores between two network types on
the same feature set, tested across subjects with the Wilcoxon signed-rank test:

- trained type vs untrained, voxel by voxel on all levels (Fig. 3A, BH-FDR across voxels), and on
  the mean over voxels for all levels and for each layer alone (Fig. 3B, 3C);
- trained types against each other (English vs Dutch, Bengali vs Dutch and English, scenes vs
  Dutch and English) on the whole-brain mean and in A1, Belt and TPJ (Fig. 3D). The paper reports
  effects in both directions for these, so they are two-sided.

Differences of brain scores equal differences of gains over the untrained network, since the
untrained scores cancel.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from audiobrain import stats
from audiobrain.io import InputError

UNTRAINED = "untrained"
ALL_LEVELS = stats.LEVELS[-1]  # "L5": mel filterbanks and every layer, concatenated
WHOLE_BRAIN = "whole brain"
# Section 3.3-3.4: the between-type comparisons that the paper reports, first minus second.
TYPE_PAIRS = (
    ("english", "dutch"),
    ("bengali", "dutch"),
    ("bengali", "english"),
    ("scenes", "dutch"),
    ("scenes", "english"),
)
COMPARISON_COLUMNS = (
    "comparison",
    "feature_set",
    "region",
    "mean",
    "sem",
    "n_subjects",
    "alternative",
    "statistic",
    "p",
    "q",
    "paper_p",
)
# What the paper reports for a row (comparison, feature set, region), section 3.2-3.4.
_LAYERS_AFTER_FIRST = ("layer-conv2", "layer-conv3", "layer-gru", "layer-fc")
PAPER_P = {
    ("dutch - untrained", "layer-conv1", WHOLE_BRAIN): "n.s. (first layer: no gain)",
    **{("dutch - untrained", s, WHOLE_BRAIN): "< 1e-6" for s in _LAYERS_AFTER_FIRST},
    ("english - dutch", ALL_LEVELS, WHOLE_BRAIN): "0.22",
    ("bengali - dutch", ALL_LEVELS, WHOLE_BRAIN): "< 0.01 (Bengali lower)",
    ("bengali - english", ALL_LEVELS, WHOLE_BRAIN): "< 0.01 (Bengali lower)",
    ("scenes - dutch", ALL_LEVELS, WHOLE_BRAIN): "0.2",
    ("scenes - english", ALL_LEVELS, WHOLE_BRAIN): "0.2",
    ("scenes - english", ALL_LEVELS, "A1"): "< 1e-9 (scenes higher)",
    ("scenes - english", ALL_LEVELS, "Belt"): "< 1e-6 (scenes higher)",
    ("scenes - dutch", ALL_LEVELS, "A1"): "< 1e-7 (scenes higher)",
    ("scenes - dutch", ALL_LEVELS, "Belt"): "< 1e-5 (scenes higher)",
    ("scenes - dutch", ALL_LEVELS, "TPJ"): "< 0.015 (Dutch higher)",
}


def comparison_name(first: str, second: str) -> str:
    return f"{first} - {second}"


def trained_types(network_types: Sequence[str]) -> list[str]:
    return [t for t in network_types if t != UNTRAINED]


def type_pairs(network_types: Sequence[str]) -> list[tuple[str, str]]:
    """Every comparison that the configured types allow: trained vs untrained, then the pairs."""
    present = set(network_types)
    pairs = []
    if UNTRAINED in present:
        pairs += [(t, UNTRAINED) for t in trained_types(network_types)]
    pairs += [(a, b) for a, b in TYPE_PAIRS if a in present and b in present]
    return pairs


def _difference(
    scores: Mapping[str, Mapping[str, np.ndarray]], first: str, second: str, feature_set: str
) -> np.ndarray:
    for network in (first, second):
        if feature_set not in scores[network]:
            raise InputError(f"brain scores of {network!r} lack feature set {feature_set!r}")
    return scores[first][feature_set] - scores[second][feature_set]


def _region_values(
    difference: np.ndarray, roi_masks: Mapping[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Per-subject means over all voxels and over each ROI."""
    values = {WHOLE_BRAIN: difference.mean(axis=1)}
    for roi, mask in roi_masks.items():
        if mask.shape != (difference.shape[1],) or not mask.any():
            raise InputError(
                f"ROI {roi!r}: mask does not select voxels of the {difference.shape[1]}"
            )
        values[roi] = difference[:, mask].mean(axis=1)
    return values


def comparison_table(
    scores: Mapping[str, Mapping[str, np.ndarray]],
    roi_masks: Mapping[str, np.ndarray],
    *,
    layer_sets: Sequence[str],
    alternative: str = stats.DEFAULT_ALTERNATIVE,
    q: float = stats.DEFAULT_Q,
) -> pd.DataFrame:
    """Every Figure 3 comparison as one table (:data:`COMPARISON_COLUMNS`).

    Parameters
    ----------
    scores : ``{network type: {feature set: (n_subjects, n_voxels)}}``, seeds already averaged.
    roi_masks : ``{roi: (n_voxels,) bool}``.
    layer_sets : the single-layer feature sets compared between trained and untrained (Fig. 3B).
    alternative : the direction tested for trained vs untrained (the paper expects gains); the
        between-type comparisons are two-sided.

    ``q`` is Benjamini-Hochberg over all rows of the table.
    """
    rows = []
    for first, second in type_pairs(list(scores)):
        name = comparison_name(first, second)
        is_training_effect = second == UNTRAINED
        sets = [ALL_LEVELS, *layer_sets] if is_training_effect else [ALL_LEVELS]
        direction = alternative if is_training_effect else "two-sided"
        for feature_set in sets:
            difference = _difference(scores, first, second, feature_set)
            regions = _region_values(difference, roi_masks if feature_set == ALL_LEVELS else {})
            for region, values in regions.items():
                rows.append((name, feature_set, region, direction, values))
    if not rows:
        raise InputError(f"network comparisons need two network types, found {sorted(scores)}")
    return _tested(rows, q)


def _tested(rows: list, q: float) -> pd.DataFrame:
    p_values, statistics = [], []
    for _, _, _, direction, values in rows:
        test = stats.group_test(values[:, None], alternative=direction)
        statistics.append(float(test["statistic"].iloc[0]))
        p_values.append(float(test["p"].iloc[0]))
    _, q_values = stats.fdr_bh(np.asarray(p_values), q=q)
    return pd.DataFrame(
        {
            "comparison": [r[0] for r in rows],
            "feature_set": [r[1] for r in rows],
            "region": [r[2] for r in rows],
            "mean": [r[4].mean() for r in rows],
            "sem": [scipy_stats.sem(r[4], ddof=1) for r in rows],
            "n_subjects": [r[4].size for r in rows],
            "alternative": [r[3] for r in rows],
            "statistic": statistics,
            "p": p_values,
            "q": q_values,
            "paper_p": [PAPER_P.get((r[0], r[1], r[2]), "") for r in rows],
        }
    )[list(COMPARISON_COLUMNS)]


def training_effect_maps(
    scores: Mapping[str, Mapping[str, np.ndarray]],
    *,
    alternative: str = stats.DEFAULT_ALTERNATIVE,
    q: float = stats.DEFAULT_Q,
) -> dict[str, pd.DataFrame]:
    """Fig. 3A for each trained type: all-levels gain over untrained, tested voxel by voxel."""
    if UNTRAINED not in scores:
        return {}
    return {
        comparison_name(t, UNTRAINED): stats.group_test(
            _difference(scores, t, UNTRAINED, ALL_LEVELS), q=q, alternative=alternative
        )
        for t in trained_types(list(scores))
    }
