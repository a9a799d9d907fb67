"""Group statistics of brain scores (Millet & King 2021, section 2.7 and 3.1).

Brain scores are averaged over seeds within subject, then each vertex is tested across subjects
with a Wilcoxon signed-rank test and the p values are corrected with Benjamini-Hochberg FDR
across vertices. The default alternative is "greater": the paper asks whether brain scores, and
the gains of one feature set over another, are significantly *above* zero, and only plots those.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats
from statsmodels.stats.multitest import fdrcorrection

# scipy's own rule for small samples, minus its permutation fallback when scores tie (which costs
# ~20 ms per voxel): the exact null distribution up to 50 subjects, the normal one above.
EXACT_MAX_SUBJECTS = 50
N_LEVELS = 6  # L0 (mel) .. L5 (all five layers), section 3.1
LEVELS = tuple(f"L{k}" for k in range(N_LEVELS))
LEVEL_CONTRASTS = tuple(f"R {level}" for level in LEVELS)
# eq. 5 (all layers over mel) and eq. 6 (each level over the previous one)
GAIN_CONTRASTS = ("dR L5-L0", *(f"dR L{k}-L{k - 1}" for k in range(1, N_LEVELS)))
ROI_SUMMARY_COLUMNS = ("contrast", "roi", "mean", "sem", "n_subjects", "statistic", "p", "q")


def _check_scores(scores: np.ndarray) -> np.ndarray:
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim == 1:
        scores = scores[:, None]
    if scores.ndim != 2:
        raise ValueError(f"scores must be (n_subjects, n_voxels), got shape {scores.shape}")
    if scores.shape[0] < 2:
        raise ValueError(f"a test across subjects needs >= 2 subjects, got {scores.shape[0]}")
    if not np.all(np.isfinite(scores)):
        raise ValueError("scores contain NaN or infinite values")
    return scores


def wilcoxon_across_subjects(
    scores: np.ndarray, alternative: str = "greater"
) -> tuple[np.ndarray, np.ndarray]:
    """Per-voxel Wilcoxon signed-rank statistic and p value against zero, vectorised over voxels.

    Voxels whose scores are all zero carry no evidence: statistic 0 and p = 1 (scipy gives NaN).
    Ties (rare with continuous scores) are ranked by mid-rank and keep the untied exact null.
    """
    scores = _check_scores(scores)
    statistic = np.zeros(scores.shape[1])
    p = np.ones(scores.shape[1])
    informative = np.any(scores != 0, axis=0)
    if informative.any():
        method = "exact" if scores.shape[0] <= EXACT_MAX_SUBJECTS else "approx"
        result = scipy_stats.wilcoxon(
            scores[:, informative], alternative=alternative, method=method, axis=0
        )
        statistic[informative] = result.statistic
        p[informative] = result.pvalue
    return statistic, p


def group_test(scores: np.ndarray, q: float = 0.05, alternative: str = "greater") -> pd.DataFrame:
    """Wilcoxon across subjects, Benjamini-Hochberg FDR across voxels.

    Parameters
    ----------
    scores : (n_subjects, n_voxels) brain scores (or gains) of one contrast.
    q : false discovery rate.
    alternative : "greater" (default), "two-sided" or "less".

    Returns
    -------
    One row per voxel: ``mean`` (across subjects), ``statistic``, ``p``, ``q`` and ``significant``.
    """
    scores = _check_scores(scores)
    statistic, p = wilcoxon_across_subjects(scores, alternative)
    significant, q_values = fdrcorrection(p, alpha=q, method="indep")
    return pd.DataFrame(
        {
            "mean": scores.mean(axis=0),
            "statistic": statistic,
            "p": p,
            "q": q_values,
            "significant": significant,
        }
    )


def contrast_maps(scores: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every contrast of section 3.1 from per-feature-set scores ``{name: (n_subjects, n_voxels)}``.

    ``R <set>`` is the brain score of a feature set (``L0``..``L5``, ``layer-<name>``);
    ``dR L5-L0`` the gain of all layers over the mel filterbank (eq. 5); ``dR Lk-L(k-1)`` the gain
    of each level over the previous one (eq. 6).
    """
    maps = {f"R {name}": np.asarray(values, dtype=np.float64) for name, values in scores.items()}
    for contrast in GAIN_CONTRASTS:
        high, low = contrast.removeprefix("dR ").split("-")
        if high in scores and low in scores:
            maps[contrast] = maps[f"R {high}"] - maps[f"R {low}"]
    return maps


def roi_summary(
    maps: Mapping[str, np.ndarray],
    roi_masks: Mapping[str, np.ndarray],
    q: float = 0.05,
    alternative: str = "greater",
) -> pd.DataFrame:
    """ROI means per subject, then mean, SEM and Wilcoxon across subjects; BH-FDR over the rows.

    Returns the table of ``results/stats/roi_summary.tsv`` (columns ``ROI_SUMMARY_COLUMNS``).
    """
    rows = []
    for contrast, scores in maps.items():
        scores = _check_scores(scores)
        for roi, mask in roi_masks.items():
            mask = np.asarray(mask, dtype=bool)
            if mask.shape != (scores.shape[1],) or not mask.any():
                raise ValueError(
                    f"ROI {roi!r}: mask must select >= 1 of the {scores.shape[1]} voxels "
                    f"(shape {mask.shape}, {int(mask.sum())} selected)"
                )
            per_subject = scores[:, mask].mean(axis=1)
            statistic, p = wilcoxon_across_subjects(per_subject[:, None], alternative)
            rows.append(
                {
                    "contrast": contrast,
                    "roi": roi,
                    "mean": per_subject.mean(),
                    "sem": scipy_stats.sem(per_subject),
                    "n_subjects": per_subject.size,
                    "statistic": statistic[0],
                    "p": p[0],
                }
            )
    table = pd.DataFrame(rows)
    table["q"] = fdrcorrection(table["p"].to_numpy(), alpha=q)[1]
    return table[list(ROI_SUMMARY_COLUMNS)]
