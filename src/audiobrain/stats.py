"""Second-level statistics: seed averaging, contrasts, Wilcoxon across subjects, BH-FDR.

Millet & King 2021, section 2.7: brain scores are averaged over the six initialisation seeds of a
network type within each subject, tested across subjects with a Wilcoxon signed-rank test per
voxel, and corrected with Benjamini-Hochberg FDR across voxels; figures show only significant
voxels. Section 3.1 defines the contrasts (eq. 5: gain over the mel baseline L0, eq. 6: gain of
one level of concatenation over the previous one).

Contrast names (the keys of :func:`contrast_maps`, the ``contrast`` column of the tables):

- ``"R <feature set>"``: the brain score itself, e.g. ``"R L3"``, ``"R layer-conv1"``;
- ``"dR L<a>-L<b>"``: the gain ``R(L_a) - R(L_b)`` of cumulative level ``a`` over level ``b``.
  Eq. 6 gives ``"dR L<k>-L<k-1>"`` (e.g. ``"dR L2-L1"``), eq. 5 gives ``"dR L<k>-L0"``, the gain
  over the mel filterbank (e.g. ``"dR L5-L0"``, all layers over mel); ``"dR L1-L0"`` is both.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import fdrcorrection

from audiobrain.io import InputError

DEFAULT_Q = 0.05  # FDR level; section 2.7 does not state it, 0.05 is the convention
# Positive brain scores and positive gains are the effects of interest: the paper plots only
# significant positive scores/gains (Figures 2-3), so the per-voxel test is one-sided by default.
DEFAULT_ALTERNATIVE = "greater"
ALTERNATIVES = ("greater", "less", "two-sided")
MEL_LEVEL = 0  # L0 is the mel filterbank baseline (section 2.6, eq. 5)
N_LEVELS = 6  # L0 (mel) .. L5 (mel + all five layers), section 3.1
LEVELS = tuple(f"L{k}" for k in range(N_LEVELS))

# scipy.stats.wilcoxon(method="auto") per voxel: the exact null distribution up to 50 subjects
# when the voxel has no ties and no zeros; with ties or zeros, an exact sign-flip permutation test
# up to 13 subjects (2**13 sign patterns), else the tie-corrected normal approximation.
PERMUTATION_MAX_SUBJECTS = 13
_PERMUTATION_VOXEL_CHUNK = 1000  # bounds memory: resamples x subjects x voxels per batch
_PERMUTATION_BATCH = 256

_LEVEL_PATTERN = re.compile(r"^L(\d+)$")
GROUP_TEST_COLUMNS = ("mean", "statistic", "p", "q", "significant")
ROI_SUMMARY_COLUMNS = ("contrast", "roi", "mean", "sem", "n_subjects", "statistic", "p", "q")
VOXEL_TABLE_COLUMNS = ("contrast", "vertex", "mean", "statistic", "p", "q", "significant")


# --------------------------------------------------------------------------- contrast names
def score_contrast(feature_set: str) -> str:
    """Name of the contrast holding the brain score of ``feature_set`` (e.g. ``"R L2"``)."""
    return f"R {feature_set}"


def gain_contrast(high: int, low: int) -> str:
    """Name of the gain of cumulative level ``high`` over level ``low`` (``"dR L2-L1"``)."""
    return f"dR L{high}-L{low}"


LEVEL_CONTRASTS = tuple(score_contrast(level) for level in LEVELS)
SUCCESSIVE_GAIN_CONTRASTS = tuple(gain_contrast(k, k - 1) for k in range(1, N_LEVELS))  # eq. 6
MEL_GAIN_CONTRASTS = tuple(gain_contrast(k, MEL_LEVEL) for k in range(1, N_LEVELS))  # eq. 5
# The gains that Figure 2 maps: all layers over mel (2B) and each level over the previous (2C).
GAIN_CONTRASTS = (gain_contrast(N_LEVELS - 1, MEL_LEVEL), *SUCCESSIVE_GAIN_CONTRASTS)


def level_index(feature_set: str) -> int | None:
    """``k`` for a cumulative level ``"L<k>"``, None for any other feature set (single layers)."""
    match = _LEVEL_PATTERN.match(feature_set)
    return int(match.group(1)) if match else None


# --------------------------------------------------------------------------- validation
def _check_alternative(alternative: str) -> None:
    if alternative not in ALTERNATIVES:
        raise ValueError(f"alternative must be one of {ALTERNATIVES}, got {alternative!r}")


def _check_q(q: float) -> None:
    if not 0 < q < 1:
        raise ValueError(f"FDR level q must lie in (0, 1), got {q}")


def _check_scores(scores, name: str = "scores") -> np.ndarray:
    """``(n_subjects, n_voxels)`` finite floats with at least two subjects, or InputError."""
    array = np.asarray(scores, dtype=np.float64)
    if array.ndim != 2:
        raise InputError(
            f"{name}: expected a 2-D array (n_subjects, n_voxels), found shape {array.shape}"
        )
    if array.shape[0] < 2:
        raise InputError(
            f"{name}: a test across subjects needs at least 2 subjects, found {array.shape[0]}"
        )
    if array.shape[1] < 1:
        raise InputError(f"{name}: expected at least one voxel, found shape {array.shape}")
    if not np.all(np.isfinite(array)):
        bad = np.unique(np.nonzero(~np.isfinite(array))[1])
        raise InputError(
            f"{name}: expected finite brain scores, found NaN/inf in {bad.size} voxel(s), "
            f"first at voxel index {bad[0]}"
        )
    return array


def _check_same_shape(arrays: Mapping[str, np.ndarray], what: str) -> tuple[int, ...]:
    shapes = {key: np.shape(value) for key, value in arrays.items()}
    if len(set(shapes.values())) > 1:
        raise InputError(f"{what}: expected arrays of one shape, found {shapes}")
    return next(iter(shapes.values()))


# --------------------------------------------------------------------------- seeds
def average_seeds(
    scores_by_seed: Sequence | Mapping,
) -> np.ndarray | dict[str, np.ndarray]:
    """Average brain scores over initialisation seeds within subject (section 2.7).

    Parameters
    ----------
    scores_by_seed : sequence of arrays, or mapping seed -> array
        Each array is ``(n_subjects, ...)`` (e.g. ``(n_subjects, n_voxels)``) and all have the
        same shape. Elements may instead be mappings ``feature_set -> array``; each feature set
        is then averaged separately and all seeds must hold the same feature sets. A mapping is
        read in sorted seed order so the float sum (and the bytes) do not depend on insertion.

    Returns
    -------
    The mean over seeds, shaped like one element (an array, or a dict of arrays).
    """
    if isinstance(scores_by_seed, Mapping):
        scores_by_seed = [scores_by_seed[seed] for seed in sorted(scores_by_seed)]
    items = list(scores_by_seed)
    if not items:
        raise InputError("average_seeds: expected scores for at least one seed, found none")
    kinds = {isinstance(item, Mapping) for item in items}
    if len(kinds) > 1:
        raise InputError("average_seeds: expected all seeds as arrays or all as dicts, found both")
    if kinds == {True}:
        return _average_feature_sets(items)
    stack = {f"seed #{i}": np.asarray(item, dtype=np.float64) for i, item in enumerate(items)}
    _check_same_shape(stack, "average_seeds")
    return np.mean(np.stack(list(stack.values())), axis=0)


def _average_feature_sets(items: list[Mapping]) -> dict[str, np.ndarray]:
    keys = list(items[0])
    for index, item in enumerate(items):
        if sorted(item) != sorted(keys):
            raise InputError(
                f"average_seeds: seed #{index} has feature sets {sorted(item)}, "
                f"seed #0 has {sorted(keys)}"
            )
    return {key: average_seeds([item[key] for item in items]) for key in keys}


# --------------------------------------------------------------------------- contrasts
def contrast_maps(scores: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Brain scores and their gains (section 3.1, eqs. 5-6), per subject and voxel.

    Parameters
    ----------
    scores : mapping feature_set -> (n_subjects, n_voxels)
        Seed-averaged brain scores; cumulative levels are named ``"L0"`` (mel) to ``"L5"``,
        any other name (e.g. ``"layer-conv1"``) is a single feature set that only gets an
        ``"R ..."`` contrast.

    Returns
    -------
    dict contrast -> (n_subjects, n_voxels)
        ``"R <set>"`` for every input (levels by index first, then the others in input order),
        ``"dR L<k>-L<k-1>"`` where both levels exist (eq. 6), then ``"dR L<k>-L0"`` where L0 and
        L<k> exist (eq. 5).
    """
    if not scores:
        raise InputError("contrast_maps: expected at least one feature set, found none")
    arrays = {key: _check_scores(value, f"brain scores {key!r}") for key, value in scores.items()}
    _check_same_shape(arrays, "contrast_maps: brain scores of the feature sets")
    levels = sorted(k for k in map(level_index, arrays) if k is not None)
    others = [key for key in arrays if level_index(key) is None]

    maps = {score_contrast(f"L{k}"): arrays[f"L{k}"] for k in levels}
    maps.update({score_contrast(key): arrays[key] for key in others})
    pairs = [(k, k - 1) for k in levels if k - 1 in levels]
    pairs += [(k, MEL_LEVEL) for k in levels if k > MEL_LEVEL and MEL_LEVEL in levels]
    for high, low in pairs:  # dict keys: "dR L1-L0" (both equations) is computed once
        maps[gain_contrast(high, low)] = arrays[f"L{high}"] - arrays[f"L{low}"]
    return maps


# --------------------------------------------------------------------------- Wilcoxon
def _has_ties_or_zeros(scores: np.ndarray) -> np.ndarray:
    """Per voxel: does any subject score exactly 0, or do two subjects share ``|score|``?"""
    magnitudes = np.sort(np.abs(scores), axis=0)
    zeros = np.any(magnitudes == 0, axis=0)
    ties = np.any(np.diff(magnitudes, axis=0) == 0, axis=0)
    return zeros | ties


def _positive_rank_sum(signed_ranks: np.ndarray, axis: int = -1) -> np.ndarray:
    """Wilcoxon's T+ from signed ranks; sign flips of ranks are sign flips of the data."""
    return np.sum(np.clip(signed_ranks, 0, None), axis=axis)


def _signed_ranks(scores: np.ndarray) -> np.ndarray:
    """``sign(d) * rank(|d|)`` per voxel; zeros leave the ranking (``zero_method="wilcox"``)."""
    magnitudes = np.where(scores == 0, np.nan, np.abs(scores))
    ranks = stats.rankdata(magnitudes, axis=0, nan_policy="omit")
    return np.nan_to_num(np.sign(scores) * ranks, nan=0.0)


def _permutation_wilcoxon(scores: np.ndarray, alternative: str) -> tuple[np.ndarray, np.ndarray]:
    """scipy's exact sign-flip test for tied voxels, vectorised over voxels.

    ``scipy.stats.wilcoxon`` runs the same ``permutation_test`` but calls its statistic once per
    voxel (measured: about 170 s for 2000 tied voxels of 10 subjects); permuting signed ranks with
    a vectorised statistic gives the same p-values in seconds.
    """
    signed = _signed_ranks(scores)
    statistic = np.empty(scores.shape[1])
    p = np.empty(scores.shape[1])
    for start in range(0, scores.shape[1], _PERMUTATION_VOXEL_CHUNK):
        block = slice(start, start + _PERMUTATION_VOXEL_CHUNK)
        result = stats.permutation_test(
            (signed[:, block],),
            _positive_rank_sum,
            permutation_type="samples",
            vectorized=True,
            n_resamples=np.inf,
            batch=_PERMUTATION_BATCH,
            alternative=alternative,
            axis=0,
        )
        statistic[block], p[block] = result.statistic, result.pvalue
    if alternative == "two-sided":  # scipy reports min(T+, T-) for the two-sided test
        total = _positive_rank_sum(np.abs(signed), axis=0)
        statistic = np.minimum(statistic, total - statistic)
    return statistic, p


def _scipy_wilcoxon(
    scores: np.ndarray, alternative: str, method: str
) -> tuple[np.ndarray, np.ndarray]:
    result = stats.wilcoxon(scores, axis=0, alternative=alternative, method=method)
    return np.asarray(result.statistic, dtype=np.float64), np.asarray(result.pvalue)


def wilcoxon_across_subjects(
    scores: np.ndarray, alternative: str = DEFAULT_ALTERNATIVE
) -> tuple[np.ndarray, np.ndarray]:
    """Per-voxel Wilcoxon signed-rank test against 0, as ``scipy.stats.wilcoxon`` decides per voxel.

    ``scipy.stats.wilcoxon(axis=0)`` picks one method for the whole array (a single zero anywhere
    moves every voxel off the exact test); here voxels are grouped so each gets the method that a
    call on that voxel alone would use. Voxels that are 0 for every subject carry no evidence:
    statistic 0, p = 1 (scipy would return NaN for some methods).

    Returns
    -------
    statistic, p : (n_voxels,) each
    """
    _check_alternative(alternative)
    scores = _check_scores(scores)
    n_subjects = scores.shape[0]
    statistic = np.zeros(scores.shape[1])
    p = np.ones(scores.shape[1])
    informative = np.any(scores != 0, axis=0)
    tied = _has_ties_or_zeros(scores) & informative
    clean = ~tied & informative
    if clean.any():
        statistic[clean], p[clean] = _scipy_wilcoxon(scores[:, clean], alternative, "auto")
    if tied.any() and n_subjects <= PERMUTATION_MAX_SUBJECTS:
        statistic[tied], p[tied] = _permutation_wilcoxon(scores[:, tied], alternative)
    elif tied.any():
        statistic[tied], p[tied] = _scipy_wilcoxon(scores[:, tied], alternative, "asymptotic")
    return statistic, np.clip(p, 0.0, 1.0)


def fdr_bh(p: np.ndarray, q: float = DEFAULT_Q) -> tuple[np.ndarray, np.ndarray]:
    """Benjamini-Hochberg (section 2.7): ``(significant, q_values)`` over all entries of ``p``."""
    _check_q(q)
    significant, q_values = fdrcorrection(np.asarray(p, dtype=np.float64), alpha=q, method="indep")
    return significant.astype(bool), q_values


def group_test(
    scores: np.ndarray, q: float = DEFAULT_Q, alternative: str = DEFAULT_ALTERNATIVE
) -> pd.DataFrame:
    """Second-level test of one map: Wilcoxon across subjects per voxel, BH-FDR across voxels.

    Parameters
    ----------
    scores : (n_subjects, n_voxels)
        One value per subject and voxel (a brain score or a gain), already averaged over seeds.
    q : float
        FDR level (default 0.05).
    alternative : {"greater", "less", "two-sided"}
        ``"greater"`` by default: the effects of interest are positive scores and positive gains,
        the ones the paper's maps show (section 2.7, Figures 2-3).

    Returns
    -------
    DataFrame with one row per voxel and columns ``mean`` (across subjects), ``statistic``
    (scipy's Wilcoxon statistic), ``p``, ``q`` (BH-adjusted p) and ``significant`` (q-level
    rejection).
    """
    scores = _check_scores(scores)
    statistic, p = wilcoxon_across_subjects(scores, alternative)
    significant, q_values = fdr_bh(p, q)
    return pd.DataFrame(
        {
            "mean": scores.mean(axis=0),
            "statistic": statistic,
            "p": p,
            "q": q_values,
            "significant": significant,
        }
    )


# --------------------------------------------------------------------------- tables
def voxel_table(
    maps: Mapping[str, np.ndarray],
    vertices: np.ndarray,
    q: float = DEFAULT_Q,
    alternative: str = DEFAULT_ALTERNATIVE,
) -> pd.DataFrame:
    """Long table of :func:`group_test` for every contrast; FDR runs across voxels per contrast.

    Parameters
    ----------
    maps : mapping contrast -> (n_subjects, n_voxels), e.g. from :func:`contrast_maps`
    vertices : (n_voxels,) int
        fsaverage5 vertex index (both hemispheres concatenated) of each analysed voxel.

    Returns
    -------
    DataFrame with columns ``contrast, vertex, mean, statistic, p, q, significant``.
    """
    vertices = np.asarray(vertices)
    tables = []
    for contrast, scores in maps.items():
        scores = _check_scores(scores, f"contrast {contrast!r}")
        _check_vertex_count(vertices, scores.shape[1], f"contrast {contrast!r}")
        table = group_test(scores, q=q, alternative=alternative)
        table.insert(0, "vertex", vertices.astype(np.int64))
        table.insert(0, "contrast", contrast)
        tables.append(table)
    if not tables:
        raise InputError("voxel_table: expected at least one contrast, found none")
    return pd.concat(tables, ignore_index=True)[list(VOXEL_TABLE_COLUMNS)]


def _check_vertex_count(vertices: np.ndarray, n_voxels: int, what: str) -> None:
    if vertices.shape != (n_voxels,):
        raise InputError(
            f"{what}: expected one vertex index per voxel ({n_voxels}), "
            f"found vertices of shape {vertices.shape}"
        )


def _check_roi_masks(roi_masks: Mapping[str, np.ndarray], n_voxels: int) -> dict[str, np.ndarray]:
    if not roi_masks:
        raise InputError("roi_summary: expected at least one ROI mask, found none")
    checked = {}
    for roi, mask in roi_masks.items():
        mask = np.asarray(mask)
        if mask.dtype != bool or mask.shape != (n_voxels,):
            raise InputError(
                f"ROI {roi!r}: expected a boolean mask of shape ({n_voxels},), "
                f"found {mask.dtype} of shape {mask.shape}"
            )
        if not mask.any():
            raise InputError(f"ROI {roi!r}: the mask selects no analysed voxel")
        checked[roi] = mask
    return checked


def roi_summary(
    maps: Mapping[str, np.ndarray],
    roi_masks: Mapping[str, np.ndarray],
    q: float = DEFAULT_Q,
    alternative: str = DEFAULT_ALTERNATIVE,
) -> pd.DataFrame:
    """Contrast x ROI table: ROI mean per subject, then mean, SEM and Wilcoxon across subjects.

    Each subject's value is the mean of the contrast over the ROI's voxels; ``mean`` and ``sem``
    (``scipy.stats.sem``, ddof=1) run across subjects; ``statistic`` and ``p`` come from the
    Wilcoxon test across subjects; ``q`` is Benjamini-Hochberg across all rows of the table
    (every contrast and ROI together).

    Returns
    -------
    DataFrame with exactly the columns ``contrast, roi, mean, sem, n_subjects, statistic, p, q``,
    rows in contrast order then ROI order.
    """
    if not maps:
        raise InputError("roi_summary: expected at least one contrast, found none")
    arrays = {name: _check_scores(value, f"contrast {name!r}") for name, value in maps.items()}
    n_subjects, n_voxels = _check_same_shape(arrays, "roi_summary: contrast maps")
    masks = _check_roi_masks(roi_masks, n_voxels)
    rows = [(contrast, roi) for contrast in arrays for roi in masks]
    roi_means = np.column_stack(
        [arrays[contrast][:, masks[roi]].mean(axis=1) for contrast, roi in rows]
    )
    tested = group_test(roi_means, q=q, alternative=alternative)
    return pd.DataFrame(
        {
            "contrast": [contrast for contrast, _ in rows],
            "roi": [roi for _, roi in rows],
            "mean": roi_means.mean(axis=0),
            "sem": stats.sem(roi_means, axis=0, ddof=1),
            "n_subjects": n_subjects,
            "statistic": tested["statistic"].to_numpy(),
            "p": tested["p"].to_numpy(),
            "q": tested["q"].to_numpy(),
        }
    )[list(ROI_SUMMARY_COLUMNS)]


def level_summary(
    scores: Mapping[str, np.ndarray],
    q: float = DEFAULT_Q,
    alternative: str = DEFAULT_ALTERNATIVE,
) -> pd.DataFrame:
    """Mean brain score over all voxels per cumulative level, and its gain over the level below.

    The Figure 2D analogue: each subject's brain score averaged over the analysed voxels, then
    mean and SEM across subjects per level ``L0..L<K>``; the gain ``L<k> - L<k-1>`` of those
    per-subject means is tested across subjects (Wilcoxon) with BH over the successive gains.

    Returns
    -------
    DataFrame, one row per level in order, columns ``feature_set, level, mean, sem, n_subjects,
    gain_mean, gain_statistic, gain_p, gain_q`` (gain columns are NaN for the first level and
    where the level below is missing).
    """
    levels = sorted(k for k in map(level_index, scores) if k is not None)
    if not levels:
        raise InputError(
            f"level_summary: expected cumulative levels named 'L0'..'L5', found {list(scores)}"
        )
    means = {k: _check_scores(scores[f"L{k}"], f"brain scores 'L{k}'").mean(axis=1) for k in levels}
    _check_same_shape(means, "level_summary: brain scores of the levels")
    table = pd.DataFrame(
        {
            "feature_set": [f"L{k}" for k in levels],
            "level": levels,
            "mean": [means[k].mean() for k in levels],
            "sem": [stats.sem(means[k], ddof=1) for k in levels],
            "n_subjects": [means[k].size for k in levels],
        }
    )
    return table.join(_successive_gains(means, levels, q, alternative))


def _successive_gains(
    means: Mapping[int, np.ndarray], levels: list[int], q: float, alternative: str
) -> pd.DataFrame:
    gains = pd.DataFrame(
        np.nan,
        index=range(len(levels)),
        columns=["gain_mean", "gain_statistic", "gain_p", "gain_q"],
    )
    rows = [i for i, k in enumerate(levels) if k - 1 in means]
    if not rows:
        return gains
    differences = np.column_stack([means[levels[i]] - means[levels[i] - 1] for i in rows])
    tested = group_test(differences, q=q, alternative=alternative)
    gains.loc[rows, "gain_mean"] = tested["mean"].to_numpy()
    gains.loc[rows, "gain_statistic"] = tested["statistic"].to_numpy()
    gains.loc[rows, "gain_p"] = tested["p"].to_numpy()
    gains.loc[rows, "gain_q"] = tested["q"].to_numpy()
    return gains


# Stars of Figures 2-3 (q after Benjamini-Hochberg) and of Figure 5 of the reconstruction study
# (paired t-test): * < .05, ** < .01, *** < .001.
STAR_THRESHOLDS = ((0.001, "***"), (0.01, "**"), (0.05, "*"))


def significance_stars(p: float) -> str:
    """``"***"``, ``"**"``, ``"*"`` or ``""`` for a (BH-adjusted) p-value; ``""`` for NaN."""
    return next((stars for limit, stars in STAR_THRESHOLDS if p < limit), "")
