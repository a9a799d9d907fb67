"""Analyses of the decoded features: semantic SVM analysis, feature PCC and the result tables.

Section 3.3 (Figure 5) asks whether coarse-to-fine decoding puts more *semantic* information into
the decoded AudioMAE features ``c`` than fine-grained decoding alone. Per subject, a linear SVM
classifies a label (music genre, 10 classes; speaker gender, 2 classes) from each feature set in
5-fold cross-validation on the test set; the mean accuracy over folds is that subject's score.
Choices the paper leaves open, made here:

- **Classifier**: ``StandardScaler`` then ``SVC(kernel="linear", C=1)`` (the hinge-loss SVM,
  one-vs-one for more than two classes), refitted per fold. AudioMAE features are large
  (``N_patch x 768`` per clip, hundreds of thousands of numbers) and the test sets small
  (150-600 clips), so the linear kernel is computed once per fold as a Gram matrix of the
  standardised features with BLAS and passed to ``SVC(kernel="precomputed")``: the same
  classifier as the pipeline, without handing libsvm a dense float64 copy of the features.
- **Features**: each clip's ``c`` flattened (``pooling="flatten"``, the default: the paper
  classifies "acoustic features" with no word of pooling); ``pooling="mean"`` averages over the
  token axes first (``(n, N_patch, 768) -> (n, 768)``).
- **Folds**: ``StratifiedKFold(n_folds, shuffle=True, random_state=seed)``; every feature set of
  a subject is split by the same folds, so fold accuracies are paired.
- **Chance**: ``1 / n_classes``, the paper's 0.1 and 0.5; the majority-class rate is reported
  beside it (it is the better floor when classes are unbalanced).
- **Upper bound**: the accuracy on the ground-truth features ``c_gt``.
- **Test**: paired t-test across subjects (``scipy.stats.ttest_rel``) between the subjects'
  C2F and Fine accuracies, stars as in Figure 5.

Appendix A.5 (Figure 8) compares how well each method decodes ``c``: the Pearson correlation
between decoded and ground-truth features. :func:`feature_pcc` computes it per test clip over the
flattened feature (``kind="pattern"``, the default: "PCC between the ground truth and decoded
acoustic features" of a clip) and averages over clips; ``kind="profile"`` correlates each feature
dimension across clips instead.

:func:`reconstruction_table` turns the per-subject metrics table into Tables 1-2: subjects
averaged (:func:`~audiobrain.recon.metrics.average_across_subjects`), one row per method in the
paper's order, the best value of each column marked.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps
from sklearn.model_selection import StratifiedKFold
from sklearn.svm import SVC

from audiobrain.io import InputError
from audiobrain.recon.metrics import METRIC_COLUMNS, average_across_subjects
from audiobrain.stats import significance_stars

log = logging.getLogger(__name__)

N_FOLDS = 5  # section 3.3: "5-fold cross-validation on the test set"
SVM_C = 1.0  # not given in the paper; scikit-learn's default
POOLINGS = ("flatten", "mean")
PCC_KINDS = ("pattern", "profile")
# Feature-set names of the semantic analysis (keys of each subject's dict).
FINE, C2F, GROUND_TRUTH = "fine", "c2f", "gt"

# Tables 1-2: row order (direct decoding, fine-grained, coarse-to-fine) and metric directions.
METHOD_ORDER = (
    "LiR",
    "MLP",
    "BiLSTM",
    "Transformer",
    "Park et al.",
    "Fine-LDM",
    "C2F-Decoder",
    "C2F-LDM",
)
HIGHER_IS_BETTER = {
    "pcc": True,
    "psnr": True,
    "fd": False,
    "fad": False,
    "kl": False,
    "clap": True,
}
METRIC_LABELS = {"pcc": "PCC", "psnr": "PSNR", "fd": "FD", "fad": "FAD", "kl": "KL", "clap": "CLAP"}
# The reference rows of every table (audiobrain.recon.pipeline.reference_reconstructions) follow
# the methods: the ceiling (the clip itself through the vocoder), an oracle of category (its
# class's training mean mel), a constant (the training mean mel) and chance (another test clip).
# A method that does not beat the constant "mean-mel" has learnt nothing about the clip; it is
# flagged per metric.
REFERENCE_ORDER = ("stimulus", "class-mean", "mean-mel", "shuffled")
FLOOR = "mean-mel"
# Rows of the paper's tables that this project does not reproduce, by dataset source: Park et
# al.'s method (Table 1) needs their released code and checkpoints (a SpecVQGAN transformer on
# decoded VGGish-ish features, MelGAN). The tables show them as NOT_REPRODUCED, never blank.
NOT_REPRODUCED = "not reproduced"
NOT_REPRODUCED_METHODS = {"brain2sound": ("Park et al.",)}
UNCONDITIONAL_PROMPT = "none"  # Tables 1-2 are the reconstructions without prompt
DEFAULT_P_GT = 0.25  # section 3.4: the P_gt of Tables 1-2


# ---------------------------------------------------------------------------------------------
# Semantic analysis (section 3.3, Figure 5)


@dataclass
class Accuracy:
    """Cross-validated accuracy of one feature set.

    Attributes
    ----------
    accuracy : mean over folds (the paper's "average classification accuracy").
    fold_accuracies : (n_folds,)
    n_samples, n_classes, n_folds : the test set and split it was measured on.
    """

    accuracy: float
    fold_accuracies: np.ndarray
    n_samples: int
    n_classes: int
    n_folds: int


def design_matrix(features: np.ndarray, pooling: str = "flatten", what: str = "features"):
    """``(n_samples, n_features)`` floating rows from ``(n_samples, ...)`` features.

    float32 stays float32 (a flattened AudioMAE test set is hundreds of MB); other types become
    float64.

    ``pooling="flatten"`` keeps every number of a clip; ``"mean"`` averages over all axes but the
    first and last (tokens), leaving the embedding dimension.
    """
    if pooling not in POOLINGS:
        raise InputError(f"{what}: pooling must be one of {POOLINGS}, got {pooling!r}")
    array = np.asarray(features)
    if array.ndim < 2 or array.shape[0] == 0 or array[0].size == 0:
        raise InputError(
            f"{what}: expected (n_samples, ...) features with at least one value per sample, got "
            f"shape {array.shape}"
        )
    if not np.issubdtype(array.dtype, np.floating):
        array = array.astype(np.float64)
    if pooling == "mean" and array.ndim > 2:
        array = array.reshape(array.shape[0], -1, array.shape[-1]).mean(axis=1)
    matrix = array.reshape(array.shape[0], -1)
    if not np.all(np.isfinite(matrix)):
        raise InputError(f"{what}: features contain NaN or infinite values")
    return matrix


def check_labels(labels: Sequence, n_samples: int, n_folds: int, what: str = "labels"):
    """Labels as an array, checked against the samples and the folds they are split into."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) != n_samples:
        raise InputError(
            f"{what}: expected one label per sample ({n_samples}), got shape {labels.shape}"
        )
    if n_folds < 2:
        raise InputError(f"{what}: n_folds must be at least 2, got {n_folds}")
    if n_samples < n_folds:
        raise InputError(
            f"{what}: {n_samples} samples are fewer than the {n_folds} folds of the "
            "cross-validation"
        )
    classes, counts = np.unique(labels, return_counts=True)
    if len(classes) < 2:
        raise InputError(
            f"{what}: a classification needs at least two classes, found only {classes.tolist()}"
        )
    if counts.min() < n_folds:
        log.warning(
            "%s: class %r has %d sample(s), fewer than the %d folds; some test folds miss it",
            what,
            classes[counts.argmin()].item(),
            counts.min(),
            n_folds,
        )
    return labels


def cv_folds(labels: np.ndarray, n_folds: int = N_FOLDS, seed: int = 0) -> list:
    """Stratified, shuffled ``(train, test)`` index pairs: the same for every feature set."""
    splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros((len(labels), 1)), labels))


def _fold_gram(matrix: np.ndarray, train: np.ndarray, block: int = 16_384):
    """Linear kernels of the standardised features: train x train and all x train.

    Standardisation uses the training fold's mean and (population) standard deviation, a zero
    deviation counted as 1, as ``StandardScaler`` does; columns are processed in blocks so that
    no standardised copy of the whole matrix is held.
    """
    gram = np.zeros((len(matrix), len(train)))
    for start in range(0, matrix.shape[1], block):
        columns = np.asarray(matrix[:, start : start + block], dtype=np.float64)
        mean = columns[train].mean(axis=0)
        scale = columns[train].std(axis=0)
        scale[scale == 0] = 1.0
        scaled = (columns - mean) / scale
        gram += scaled @ scaled[train].T
    return gram[train], gram


def classification_accuracy(
    features: np.ndarray,
    labels: Sequence,
    n_folds: int = N_FOLDS,
    seed: int = 0,
    pooling: str = "flatten",
    c: float = SVM_C,
    folds: Sequence | None = None,
) -> Accuracy:
    """Stratified k-fold accuracy of a standardised linear SVM (section 3.3).

    Parameters
    ----------
    features : (n_samples, ...) one feature array per test clip (e.g. ``(n, N_patch, 768)``)
    labels : (n_samples,) class of each clip (genre, speaker gender)
    n_folds, seed : the stratified, shuffled split (ignored when ``folds`` is given)
    pooling : ``"flatten"`` or ``"mean"`` (see :func:`design_matrix`)
    c : the SVM's C
    folds : precomputed ``(train, test)`` index pairs (:func:`cv_folds`)

    Returns
    -------
    Accuracy
    """
    matrix = design_matrix(features, pooling)
    labels = check_labels(labels, len(matrix), n_folds)
    folds = cv_folds(labels, n_folds, seed) if folds is None else list(folds)
    scores = []
    for train, test in folds:
        if np.unique(labels[train]).size < 2:
            raise InputError("labels: a training fold holds a single class; use fewer folds")
        train_gram, gram = _fold_gram(matrix, train)
        model = SVC(kernel="precomputed", C=c).fit(train_gram, labels[train])
        scores.append(float(np.mean(model.predict(gram[test]) == labels[test])))
    fold_accuracies = np.asarray(scores)
    return Accuracy(
        accuracy=float(fold_accuracies.mean()),
        fold_accuracies=fold_accuracies,
        n_samples=len(matrix),
        n_classes=int(np.unique(labels).size),
        n_folds=len(folds),
    )


def chance_levels(labels: Sequence) -> tuple[float, float]:
    """``(1 / n_classes, majority-class rate)`` of a label vector."""
    _, counts = np.unique(np.asarray(labels), return_counts=True)
    return 1.0 / len(counts), float(counts.max() / counts.sum())


def paired_t_test(a: Sequence[float], b: Sequence[float]) -> tuple[float, float]:
    """``scipy.stats.ttest_rel(a, b)`` as ``(t, p)``; NaN for fewer than two pairs."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise InputError(
            f"paired t-test: expected two equal-length 1-D arrays, got {a.shape}, {b.shape}"
        )
    if len(a) < 2:
        return float("nan"), float("nan")
    result = sps.ttest_rel(a, b)
    return float(result.statistic), float(result.pvalue)


SEMANTIC_SUBJECT_COLUMNS = (
    "subject",
    "features",
    "accuracy",
    "accuracy_sd",
    "n_test",
    "n_classes",
    "n_folds",
    "chance",
    "majority_rate",
)
SEMANTIC_SUMMARY_COLUMNS = (
    "comparison",
    "features",
    "baseline",
    "n_subjects",
    "mean_features",
    "mean_baseline",
    "mean_difference",
    "t",
    "p",
    "stars",
    "chance",
    "majority_rate",
    "upper_bound",
)


def semantic_analysis(
    per_subject: Mapping[str, Mapping[str, np.ndarray]],
    labels: Sequence | Mapping[str, Sequence],
    comparisons: Sequence[tuple[str, str]] = ((C2F, FINE),),
    upper_bound: str = GROUND_TRUTH,
    n_folds: int = N_FOLDS,
    seed: int = 0,
    pooling: str = "flatten",
    c: float = SVM_C,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Figure 5: SVM accuracy per subject and feature set, and the paired t-tests across subjects.

    Parameters
    ----------
    per_subject : subject -> feature-set name -> (n_test, ...) features, e.g. ``{"S1": {"fine":
        c_fine, "c2f": c_c2f, "gt": c_gt, "semantic": s}}``; all feature sets of a subject share
        its test clips and folds
    labels : (n_test,) labels shared by all subjects, or subject -> (n_test,) labels
    comparisons : ``(features, baseline)`` pairs to test (default C2F against Fine)
    upper_bound : the feature set whose accuracy is the upper bound (ground-truth ``c_gt``);
        its mean over the subjects that have it
    n_folds, seed, pooling, c : see :func:`classification_accuracy`

    Returns
    -------
    per_subject_table : one row per subject and feature set (:data:`SEMANTIC_SUBJECT_COLUMNS`)
    summary_table : one row per comparison (:data:`SEMANTIC_SUMMARY_COLUMNS`): mean accuracies,
        ``t`` and ``p`` of ``ttest_rel(features, baseline)`` over the subjects, stars, and the
        mean chance level, majority rate and upper bound
    """
    if not per_subject:
        raise InputError("semantic analysis: no subjects given")
    rows = []
    for subject, feature_sets in per_subject.items():
        if isinstance(labels, Mapping):
            if subject not in labels:
                raise InputError(
                    f"semantic analysis: no labels for subject {subject!r} (labels has "
                    f"{sorted(labels)})"
                )
            subject_labels = labels[subject]
        else:
            subject_labels = labels
        if not feature_sets:
            raise InputError(f"semantic analysis: subject {subject!r} has no feature sets")
        first = next(iter(feature_sets.values()))
        subject_labels = check_labels(
            subject_labels, len(first), n_folds, what=f"labels of subject {subject!r}"
        )
        folds = cv_folds(subject_labels, n_folds, seed)
        chance, majority = chance_levels(subject_labels)
        for name, features in feature_sets.items():
            what = f"subject {subject!r}, features {name!r}"
            if len(features) != len(subject_labels):
                raise InputError(
                    f"{what}: {len(features)} samples but {len(subject_labels)} labels"
                )
            try:
                result = classification_accuracy(
                    features, subject_labels, n_folds, seed, pooling, c, folds=folds
                )
            except InputError as error:
                raise InputError(f"{what}: {error}") from error
            rows.append(
                {
                    "subject": subject,
                    "features": name,
                    "accuracy": result.accuracy,
                    "accuracy_sd": float(result.fold_accuracies.std(ddof=1)),
                    "n_test": result.n_samples,
                    "n_classes": result.n_classes,
                    "n_folds": result.n_folds,
                    "chance": chance,
                    "majority_rate": majority,
                }
            )
            log.info("semantic analysis: %s accuracy %.3f", what, result.accuracy)
    table = pd.DataFrame(rows, columns=list(SEMANTIC_SUBJECT_COLUMNS))
    return table, _semantic_summary(table, comparisons, upper_bound)


def _semantic_summary(
    table: pd.DataFrame, comparisons: Sequence[tuple[str, str]], upper_bound: str
) -> pd.DataFrame:
    wide = table.pivot(index="subject", columns="features", values="accuracy")
    bound = wide[upper_bound].mean() if upper_bound in wide else float("nan")
    rows = []
    for features, baseline in comparisons:
        missing = [name for name in (features, baseline) if name not in wide]
        if missing:
            raise InputError(
                f"semantic analysis: comparison {features} vs {baseline} needs feature set(s) "
                f"{missing}; the subjects have {sorted(wide.columns)}"
            )
        paired = wide[[features, baseline]].dropna()
        t, p = paired_t_test(paired[features], paired[baseline])
        subjects = table["subject"].isin(paired.index)
        rows.append(
            {
                "comparison": f"{features} vs {baseline}",
                "features": features,
                "baseline": baseline,
                "n_subjects": len(paired),
                "mean_features": float(paired[features].mean()),
                "mean_baseline": float(paired[baseline].mean()),
                "mean_difference": float((paired[features] - paired[baseline]).mean()),
                "t": t,
                "p": p,
                "stars": significance_stars(p),
                "chance": float(table.loc[subjects, "chance"].mean()),
                "majority_rate": float(table.loc[subjects, "majority_rate"].mean()),
                "upper_bound": float(bound),
            }
        )
    return pd.DataFrame(rows, columns=list(SEMANTIC_SUMMARY_COLUMNS))


# ---------------------------------------------------------------------------------------------
# Feature decoding accuracy (appendix A.5, Figure 8)


def _row_pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson's r between matching rows (0 where a row is constant)."""
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    denominator = np.sqrt(np.sum(a * a, axis=1) * np.sum(b * b, axis=1))
    numerator = np.sum(a * b, axis=1)
    safe = np.where(denominator > 0, denominator, 1.0)
    return np.where(denominator > 0, numerator / safe, 0.0)


def feature_correlations(
    decoded: np.ndarray, ground_truth: np.ndarray, kind: str = "pattern"
) -> np.ndarray:
    """Pearson correlations between decoded and ground-truth features.

    Parameters
    ----------
    decoded, ground_truth : (n_samples, ...) same shape, e.g. ``(n_test, N_patch, 768)``
    kind : ``"pattern"``: one r per clip over its flattened features; ``"profile"``: one r per
        feature dimension across clips

    Returns
    -------
    (n_samples,) for ``"pattern"``, (n_features,) for ``"profile"``
    """
    if kind not in PCC_KINDS:
        raise InputError(f"feature PCC: kind must be one of {PCC_KINDS}, got {kind!r}")
    decoded_matrix = design_matrix(decoded, what="decoded features")
    truth_matrix = design_matrix(ground_truth, what="ground-truth features")
    if np.shape(decoded) != np.shape(ground_truth):
        raise InputError(
            f"feature PCC: decoded features {np.shape(decoded)} and ground truth "
            f"{np.shape(ground_truth)} must have the same shape"
        )
    if kind == "profile":
        if len(decoded_matrix) < 2:
            raise InputError("feature PCC: a profile correlation needs at least two samples")
        return _row_pearson(decoded_matrix.T, truth_matrix.T)
    return _row_pearson(decoded_matrix, truth_matrix)


def feature_pcc(decoded: np.ndarray, ground_truth: np.ndarray, kind: str = "pattern") -> float:
    """Mean of :func:`feature_correlations`: Figure 8's PCC of one subject and method."""
    return float(np.mean(feature_correlations(decoded, ground_truth, kind)))


FEATURE_PCC_COLUMNS = ("subject", "method", "pcc", "n_test", "kind")


def feature_pcc_table(
    decoded: Mapping[str, Mapping[str, np.ndarray]],
    ground_truth: np.ndarray | Mapping[str, np.ndarray],
    kind: str = "pattern",
) -> pd.DataFrame:
    """Figure 8's numbers: one row per subject and method (:data:`FEATURE_PCC_COLUMNS`).

    Parameters
    ----------
    decoded : subject -> method (e.g. ``"LiR"``, ``"Fine"``, ``"C2F"``) -> (n_test, ...) features
    ground_truth : (n_test, ...) ``c_gt`` shared by all subjects, or subject -> ``c_gt``
    """
    if not decoded:
        raise InputError("feature PCC: no subjects given")
    rows = []
    for subject, methods in decoded.items():
        if isinstance(ground_truth, Mapping):
            if subject not in ground_truth:
                raise InputError(f"feature PCC: no ground-truth features for subject {subject!r}")
            truth = ground_truth[subject]
        else:
            truth = ground_truth
        for method, features in methods.items():
            try:
                pcc = feature_pcc(features, truth, kind)
            except InputError as error:
                raise InputError(f"subject {subject!r}, method {method!r}: {error}") from error
            rows.append(
                {
                    "subject": subject,
                    "method": method,
                    "pcc": pcc,
                    "n_test": len(features),
                    "kind": kind,
                }
            )
    return pd.DataFrame(rows, columns=list(FEATURE_PCC_COLUMNS))


# ---------------------------------------------------------------------------------------------
# Tables 1-2


def _method_key(method: str) -> str:
    """Case and separators ignored: ``"C2F-LDM"``, ``"c2f_ldm"`` and ``"lir"`` match the order."""
    return "".join(ch for ch in str(method).lower() if ch.isalnum())


def _method_rank(methods: Sequence[str], order: Sequence[str]) -> list[str]:
    """Methods in ``order`` first, the others after them in their order of appearance."""
    position = {_method_key(m): k for k, m in enumerate(order)}
    unique = list(dict.fromkeys(methods))
    return sorted(unique, key=lambda m: (position.get(_method_key(m), len(position)),))


def reconstruction_table(
    metrics: pd.DataFrame,
    prompt: str | None = UNCONDITIONAL_PROMPT,
    p_gt: float | None = DEFAULT_P_GT,
    order: Sequence[str] = METHOD_ORDER,
    metric_columns: Sequence[str] = METRIC_COLUMNS,
    not_reproduced: Sequence[str] = (),
) -> pd.DataFrame:
    """Tables 1-2: the per-subject metrics averaged across subjects, one row per method.

    Parameters
    ----------
    metrics : the per-subject table (``results/recon/{dataset}/metrics.tsv``): ``subject``,
        ``method``, ``prompt``, ``p_gt`` and the metric columns
    prompt : keep rows with this prompt (``"none"``: unconditional; a missing prompt counts as
        ``"none"``); None keeps all
    p_gt : keep rows with this ``P_gt`` or none (methods without a semantic decoder); None
        keeps all
    order : row order (case and separators ignored: ``"c2f_ldm"`` is ``"C2F-LDM"``); methods
        not in it follow, in order of appearance
    not_reproduced : paper rows this project does not run (:data:`NOT_REPRODUCED_METHODS`): a
        row each in its place, metrics NaN, ``note`` :data:`NOT_REPRODUCED`

    Returns
    -------
    DataFrame with ``method``, the metric means, ``n_subjects`` and a boolean ``best_<metric>``
    per metric (ties all marked; the direction is :data:`HIGHER_IS_BETTER`); with
    ``not_reproduced``, a ``note`` column
    """
    needed = ["subject", "method", "prompt", "p_gt", *metric_columns]
    missing = [column for column in needed if column not in metrics.columns]
    if missing:
        raise InputError(f"metrics table: missing columns {missing} (has {list(metrics.columns)})")
    unknown = [m for m in metric_columns if m not in HIGHER_IS_BETTER]
    if unknown:
        raise InputError(f"metrics table: no known direction for metric(s) {unknown}")
    rows = metrics
    if prompt is not None:
        prompts = rows["prompt"].astype(object).where(rows["prompt"].notna(), "none")
        rows = rows[prompts.astype(str) == prompt]
    if p_gt is not None:
        rows = rows[rows["p_gt"].isna() | np.isclose(rows["p_gt"].astype(float), p_gt)]
    if rows.empty:
        raise InputError(
            f"metrics table: no rows with prompt {prompt!r} and p_gt {p_gt!r} (or none)"
        )
    summary = average_across_subjects(rows, metrics=metric_columns)
    repeated = summary["method"][summary["method"].duplicated()]
    if not repeated.empty:
        raise InputError(
            f"metrics table: method {repeated.iloc[0]!r} has rows for several prompt/p_gt "
            "values; choose one with prompt= and p_gt="
        )
    present = {_method_key(method) for method in summary["method"]}
    absent = [method for method in not_reproduced if _method_key(method) not in present]
    if absent:
        placeholders = pd.DataFrame({"method": absent, "n_subjects": 0})
        summary = pd.concat([summary, placeholders], ignore_index=True)
    methods = [m for m in summary["method"] if m not in REFERENCE_ORDER]
    present = set(summary["method"])
    ranked = _method_rank(methods, order) + [r for r in REFERENCE_ORDER if r in present]
    table = summary.set_index("method").loc[ranked].reset_index()
    table = table[["method", *metric_columns, "n_subjects"]]
    if not_reproduced:
        table["note"] = np.where(table["method"].isin(absent), NOT_REPRODUCED, "")
    return calibrated(table, metric_columns)


def calibrated(
    table: pd.DataFrame, metric_columns: Sequence[str], within: str | None = None
) -> pd.DataFrame:
    """``reference`` (the row is a reference, not a method), ``best_<metric>`` among the methods,
    and ``below_mean_mel``: the metrics on which a method does not beat the ``mean-mel`` row
    (of the same ``within`` value, e.g. the same prompt, when given)."""
    table = table.copy()
    table["reference"] = table["method"].isin(REFERENCE_ORDER)
    for metric in metric_columns:
        values = table[metric].astype(float)
        methods = values.where(~table["reference"])
        best = methods.max() if HIGHER_IS_BETTER[metric] else methods.min()
        table[f"best_{metric}"] = np.isclose(values, best) & methods.notna()
    floors = table[table["method"] == FLOOR]
    flags = []
    for _, row in table.iterrows():
        floor = floors if within is None else floors[floors[within] == row[within]]
        flags.append("" if row["reference"] else _below(row, floor, metric_columns))
    table["below_mean_mel"] = flags
    return table


def _below(row: pd.Series, floor: pd.DataFrame, metric_columns: Sequence[str]) -> str:
    """The metrics on which ``row`` does not beat the single ``floor`` row (none if no floor)."""
    if floor.empty:
        return ""
    below = []
    for metric in metric_columns:
        value, level = float(row[metric]), float(floor[metric].iloc[0])
        beaten = value > level if HIGHER_IS_BETTER[metric] else value < level
        if np.isfinite(value) and np.isfinite(level) and not beaten:
            below.append(metric)
    return ",".join(below)


# The coarse-to-fine claims of the paper (Tables 1-2, section 3.2), as (better, worse) methods.
C2F_CLAIMS = (
    ("C2F-Decoder", "Fine-Decoder"),
    ("C2F-LDM", "Fine-LDM"),
    ("C2F-Decoder", "LiR"),
    ("C2F-Decoder", "MLP"),
    ("C2F-Decoder", "BiLSTM"),
    ("C2F-Decoder", "Transformer"),
)
CONFIDENCE = 0.95


def claims_table(
    metrics: pd.DataFrame,
    claims: Sequence[tuple[str, str]] = C2F_CLAIMS,
    metric_columns: Sequence[str] = METRIC_COLUMNS,
    confidence: float = CONFIDENCE,
) -> pd.DataFrame:
    """Each claim "A beats B" per metric: the per-subject differences, their mean and t interval.

    ``metrics`` is Tables 1-2's per-subject rows (one P_gt, no prompt). The difference is taken
    in the claim's direction (positive: A is better, whatever the metric's direction); the claim
    ``holds`` when the whole ``confidence`` interval (Student's t over subjects, which are
    independently seeded simulations on the demo) lies above zero.
    """
    records = []
    by_method = {m: rows.set_index("subject") for m, rows in metrics.groupby("method")}
    for better, worse in claims:
        if better not in by_method or worse not in by_method:
            continue
        subjects = by_method[better].index.intersection(by_method[worse].index)
        for metric in metric_columns:
            sign = 1.0 if HIGHER_IS_BETTER[metric] else -1.0
            a = by_method[better].loc[subjects, metric].astype(float)
            b = by_method[worse].loc[subjects, metric].astype(float)
            differences = (sign * (a - b)).dropna().to_numpy()
            n = differences.size
            mean = float(differences.mean()) if n else float("nan")
            half = float("nan")
            if n >= 2:
                sem = differences.std(ddof=1) / np.sqrt(n)
                half = float(sps.t.ppf(0.5 + confidence / 2, n - 1) * sem)
            records.append(
                {
                    "claim": f"{better} > {worse}",
                    "metric": metric,
                    "n_subjects": n,
                    "mean_difference": mean,
                    "ci_low": mean - half,
                    "ci_high": mean + half,
                    "holds": bool(n >= 2 and mean - half > 0),
                }
            )
    return pd.DataFrame(
        records,
        columns=["claim", "metric", "n_subjects", "mean_difference", "ci_low", "ci_high", "holds"],
    )


PROMPT_ORDER = ("none", "text", "audio")  # Table 3's rows within a P_gt


def conditional_table(
    metrics: pd.DataFrame,
    method: str = "C2F-LDM",
    p_gts: Sequence[float] = (0.0, 0.25, 0.5),
    prompts: Sequence[str] = PROMPT_ORDER,
    metric_columns: Sequence[str] = METRIC_COLUMNS,
) -> pd.DataFrame:
    """Table 3: ``method``'s per-subject metrics averaged across subjects per P_gt and prompt.

    Every (P_gt, prompt) pair gets a row; one without reconstructions (a dataset without audio
    prompts) has NaN metrics and ``n_subjects`` 0, the paper's "-". ``n_clips`` is the mean
    number of clips per subject. Best per metric marked as in :func:`reconstruction_table`.
    """
    needed = ["subject", "method", "prompt", "p_gt", "n_clips", *metric_columns]
    missing = [column for column in needed if column not in metrics.columns]
    if missing:
        raise InputError(f"metrics table: missing columns {missing} (has {list(metrics.columns)})")
    cells = [(method, float(p_gt), prompt) for p_gt in p_gts for prompt in prompts]
    cells += [(reference, np.nan, prompt) for prompt in prompts for reference in REFERENCE_ORDER]
    records = []
    for name, p_gt, prompt in cells:
        rows = metrics[(metrics["method"] == name) & (metrics["prompt"] == prompt)]
        if np.isfinite(p_gt):
            rows = rows[np.isclose(rows["p_gt"].astype(float), p_gt)]
        if np.isnan(p_gt) and rows.empty:
            continue  # no reference rows for a prompt nothing was generated with
        record = {"method": name, "p_gt": p_gt, "prompt": prompt}
        record.update({m: rows[m].astype(float).mean() for m in metric_columns})
        record["n_subjects"] = rows["subject"].nunique()
        record["n_clips"] = rows["n_clips"].astype(float).mean()
        records.append(record)
    return calibrated(pd.DataFrame(records), metric_columns, within="prompt")


@dataclass(frozen=True)
class TableRow:
    """One row of a printed table: cell texts, which are the column's best, a reference row?"""

    cells: list[str]
    best: list[bool]
    reference: bool


TABLE_LEGEND = (
    "Italics: references (stimulus: the clip through the vocoder, the ceiling; class-mean: the "
    "mean mel of its class in training; mean-mel: the training stimuli's mean mel; shuffled: "
    "another test clip). †: does not beat mean-mel. FD and FAD from fewer clips than embedding "
    "dimensions (metrics.tsv: covariance singular) compare at equal clip counts only."
)


def printed_table(table: pd.DataFrame, digits: int = 3) -> tuple[list[str], list[TableRow]]:
    """A :func:`reconstruction_table` or :func:`conditional_table` as printed: arrows in the
    header, † where a method does not beat the mean-mel reference, "-" where there is nothing
    to score; which cells are the best and which rows are references."""
    metrics = [c for c in table.columns if c in HIGHER_IS_BETTER]
    keys = ["method"] if "prompt" not in table.columns else ["method", "p_gt", "prompt"]
    keys = [key for key in keys if key in table.columns]
    names = {"method": "Model", "p_gt": "P_gt", "prompt": "Prompt"}
    header = [names[key] for key in keys] + [
        f"{METRIC_LABELS[m]} {'↑' if HIGHER_IS_BETTER[m] else '↓'}" for m in metrics
    ]
    rows = []
    for _, row in table.iterrows():
        cells, best = [_key_cell(row, key) for key in keys], [False] * len(keys)
        below = str(row.get("below_mean_mel", "") or "").split(",")
        for metric in metrics:
            value = row[metric]
            empty = NOT_REPRODUCED if row.get("note", "") == NOT_REPRODUCED else "-"
            text = empty if pd.isna(value) else f"{value:.{digits}f}"
            cells.append(text + " †" if metric in below else text)
            best.append(bool(row.get(f"best_{metric}", False)))
        rows.append(TableRow(cells, best, bool(row.get("reference", False))))
    return header, rows


def table_markdown(table: pd.DataFrame, digits: int = 3) -> str:
    """:func:`printed_table` as Markdown: the best in bold, reference rows in italics."""
    header, rows = printed_table(table, digits)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [f"**{c}**" if best else c for c, best in zip(row.cells, row.best, strict=True)]
        if row.reference:
            cells = [f"*{cell}*" for cell in cells]
        lines.append("| " + " | ".join(cells) + " |")
    legend = "\n" + TABLE_LEGEND.replace("Italics", "*Italics*", 1) + "\n"
    return "\n".join(lines) + "\n" + (legend if "reference" in table.columns else "")


def table_html(table: pd.DataFrame, title: str, digits: int = 3) -> str:
    """:func:`printed_table` as a self-contained HTML page (the report shows it as a table)."""
    header, rows = printed_table(table, digits)
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = "".join(
            f"<td{' class=best' if best else ''}>{html.escape(cell)}</td>"
            for cell, best in zip(row.cells, row.best, strict=True)
        )
        body.append(f"<tr{' class=reference' if row.reference else ''}>{cells}</tr>")
    legend = f"<p>{html.escape(TABLE_LEGEND)} Bold: the best of a column.</p>"
    gates = table.drop_duplicates("method").set_index("method").get("gate", pd.Series(dtype=str))
    verdicts = [
        f"{method} {gate}" for method, gate in gates.items() if isinstance(gate, str) and gate
    ]
    if verdicts:
        check = "given the stimuli's own features, does it beat mean-mel? If not, its rows are"
        legend += (
            f"<p>Conditioning check of G ({check} not to be trusted): "
            f"{html.escape(', '.join(verdicts))}.</p>"
        )
    return _TABLE_PAGE.format(
        title=html.escape(title),
        head=head,
        body="\n".join(body),
        legend=legend if "reference" in table.columns else "",
    )


_TABLE_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{title}</title><style>
body {{ font-family: sans-serif; margin: 8px }}
table {{ border-collapse: collapse; font-size: 13px }}
th, td {{ border-bottom: 1px solid #ddd; padding: 3px 8px; text-align: right }}
th:first-child, td:first-child {{ text-align: left }}
td.best {{ font-weight: bold }}
tr.reference td {{ font-style: italic; color: #555 }}
</style></head><body>
<h3>{title}</h3>
<table><thead><tr>{head}</tr></thead><tbody>
{body}
</tbody></table>
{legend}
</body></html>
"""


def _key_cell(row: pd.Series, key: str) -> str:
    if key == "p_gt":
        return "-" if pd.isna(row[key]) else f"{row[key]:g}"
    return str(row[key])
