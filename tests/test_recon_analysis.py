"""Semantic SVM analysis, feature PCC, Tables 1-2 and the reconstruction figures."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from audiobrain.io import InputError
from audiobrain.recon import analysis, figures
from audiobrain.recon.metrics import METRIC_COLUMNS

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def planted(n_per_class, n_classes, strength, rng, shape=(4, 6)):
    """Token features ``(n, *shape)`` whose class means differ by ``strength`` noise SDs."""
    labels = np.repeat(np.arange(n_classes), n_per_class)
    means = rng.standard_normal((n_classes, *shape))
    features = strength * means[labels] + rng.standard_normal((len(labels), *shape))
    return features.astype(np.float32), labels


def test_classifier_beats_chance_on_planted_classes_and_not_on_shuffled_labels():
    rng = np.random.default_rng(0)
    features, labels = planted(20, 3, 2.0, rng)
    result = analysis.classification_accuracy(features, labels, seed=1)
    assert result.accuracy > 0.9
    assert result.fold_accuracies.shape == (5,) and result.n_classes == 3
    assert result.n_samples == 60 and result.n_folds == 5
    # Labels independent of the features: accuracy near 1 / n_classes.
    noise = rng.standard_normal((200, 30))
    shuffled = rng.permutation(np.repeat([0, 1], 100))
    null = analysis.classification_accuracy(noise, shuffled, seed=1)
    assert abs(null.accuracy - 0.5) < 0.12
    assert analysis.chance_levels(shuffled) == (0.5, 0.5)
    assert analysis.chance_levels([0, 0, 0, 1]) == (0.5, 0.75)


def test_precomputed_kernel_equals_the_scaler_and_linear_svc_pipeline():
    rng = np.random.default_rng(3)
    features, labels = planted(12, 3, 0.25, rng, shape=(40,))
    folds = analysis.cv_folds(labels, 5, seed=7)
    ours = analysis.classification_accuracy(features, labels, folds=folds)
    pipeline = make_pipeline(StandardScaler(), SVC(kernel="linear", C=1.0))
    reference = cross_val_score(pipeline, features.astype(np.float64), labels, cv=folds)
    np.testing.assert_allclose(ours.fold_accuracies, reference)
    assert 0.2 < ours.accuracy < 1.0  # an informative but not trivial case
    pooled = analysis.design_matrix(np.ones((3, 4, 5)), pooling="mean")
    assert pooled.shape == (3, 5)


def subjects_with_planted_semantics(rng, n_subjects=4):
    """Ground truth clearly separable; C2F more informative than Fine by subject-varying steps."""
    labels = np.repeat([0, 1], 30)
    means = rng.standard_normal((2, 3, 8))
    per_subject = {}
    for s in range(n_subjects):
        base = 0.15 + 0.05 * s
        per_subject[f"S{s + 1}"] = {
            name: strength * means[labels] + rng.standard_normal((60, 3, 8))
            for name, strength in (("fine", base), ("c2f", base + 0.25), ("gt", 3.0))
        }
    return per_subject, labels


def test_semantic_analysis_upper_bound_uses_ground_truth_and_t_test_equals_scipy():
    rng = np.random.default_rng(5)
    per_subject, labels = subjects_with_planted_semantics(rng)
    table, summary = analysis.semantic_analysis(per_subject, labels, seed=2)
    assert list(table.columns) == list(analysis.SEMANTIC_SUBJECT_COLUMNS)
    assert len(table) == 12 and set(table["n_test"]) == {60}
    wide = table.pivot(index="subject", columns="features", values="accuracy")
    assert (wide["gt"] > 0.95).all()
    row = summary.iloc[0]
    assert row["comparison"] == "c2f vs fine" and row["n_subjects"] == 4
    assert row["upper_bound"] == pytest.approx(wide["gt"].mean())
    assert row["chance"] == 0.5 and row["majority_rate"] == 0.5
    expected = sps.ttest_rel(wide["c2f"], wide["fine"])
    assert row["t"] == pytest.approx(expected.statistic)
    assert row["p"] == pytest.approx(expected.pvalue)
    assert row["stars"] == analysis.significance_stars(expected.pvalue)
    assert row["mean_difference"] == pytest.approx((wide["c2f"] - wide["fine"]).mean())
    # Labels per subject give the same numbers as shared labels.
    again, _ = analysis.semantic_analysis(per_subject, {s: labels for s in per_subject}, seed=2)
    pd.testing.assert_frame_equal(table, again)


def test_paired_t_test_and_stars():
    a, b = [0.5, 0.6, 0.7, 0.65], [0.4, 0.55, 0.5, 0.6]
    t, p = analysis.paired_t_test(a, b)
    expected = sps.ttest_rel(a, b)
    assert (t, p) == pytest.approx((expected.statistic, expected.pvalue))
    assert np.isnan(analysis.paired_t_test([0.5], [0.4])[1])
    stars = [analysis.significance_stars(p) for p in (0.0005, 0.005, 0.03, 0.2, float("nan"))]
    assert stars == ["***", "**", "*", "", ""]


def test_bad_semantic_inputs_name_the_problem():
    rng = np.random.default_rng(0)
    features = rng.standard_normal((20, 5))
    labels = np.repeat([0, 1], 10)
    with pytest.raises(InputError, match=r"one label per sample \(20\)"):
        analysis.classification_accuracy(features, labels[:-1])
    with pytest.raises(InputError, match="at least two classes"):
        analysis.classification_accuracy(features, np.zeros(20))
    with pytest.raises(InputError, match="4 samples are fewer than the 5 folds"):
        analysis.classification_accuracy(features[:4], [0, 1, 0, 1])
    with pytest.raises(InputError, match="NaN"):
        analysis.classification_accuracy(np.full((20, 5), np.nan), labels)
    with pytest.raises(InputError, match="pooling"):
        analysis.classification_accuracy(features, labels, pooling="max")
    bad = {"S1": {"fine": features, "c2f": features[:-2]}}
    with pytest.raises(InputError, match="subject 'S1', features 'c2f': 18 samples but 20"):
        analysis.semantic_analysis(bad, labels)
    with pytest.raises(InputError, match="no labels for subject 'S1'"):
        analysis.semantic_analysis({"S1": {"fine": features}}, {"S2": labels})
    with pytest.raises(InputError, match=r"needs feature set\(s\) \['c2f'\]"):
        analysis.semantic_analysis({"S1": {"fine": features}}, labels)


def test_feature_pcc_is_one_for_identical_and_near_zero_for_independent_features():
    rng = np.random.default_rng(1)
    truth = rng.standard_normal((50, 16, 24))
    assert analysis.feature_pcc(truth, truth) == pytest.approx(1.0)
    assert analysis.feature_pcc(truth, truth, kind="profile") == pytest.approx(1.0)
    assert analysis.feature_pcc(2.0 * truth + 1.0, truth) == pytest.approx(1.0)
    independent = rng.standard_normal(truth.shape)
    assert abs(analysis.feature_pcc(independent, truth)) < 0.02
    assert abs(analysis.feature_pcc(independent, truth, kind="profile")) < 0.03
    per_clip = analysis.feature_correlations(-truth, truth)
    np.testing.assert_allclose(per_clip, -1.0)
    assert per_clip.shape == (50,)
    assert analysis.feature_correlations(truth, truth, kind="profile").shape == (16 * 24,)
    noisy = truth + rng.standard_normal(truth.shape)
    table = analysis.feature_pcc_table(
        {"S1": {"LiR": independent, "Fine": noisy, "C2F": truth}}, truth
    )
    assert list(table.columns) == list(analysis.FEATURE_PCC_COLUMNS)
    assert list(table["method"]) == ["LiR", "Fine", "C2F"]
    assert table["pcc"].iloc[1] == pytest.approx(1 / np.sqrt(2), abs=0.02)
    with pytest.raises(InputError, match="same shape"):
        analysis.feature_pcc(truth[:, :8], truth)
    with pytest.raises(InputError, match="subject 'S1', method 'LiR'"):
        analysis.feature_pcc_table({"S1": {"LiR": truth[:10]}}, truth)


def metrics_rows():
    """A per-subject metrics table in a shuffled order, with prompts and two P_gt values."""
    entries = [
        ("C2F-LDM", "none", 0.25, [0.45, 15.9, 6.1, 1.5, 0.52, 0.53]),
        ("C2F-LDM", "none", 0.0, [0.40, 15.0, 7.0, 1.7, 0.60, 0.50]),
        ("C2F-LDM", "text", 0.25, [0.30, 14.0, 9.0, 2.0, 0.70, 0.40]),
        ("LiR", "none", np.nan, [0.64, 19.4, 47.7, 18.2, 1.00, 0.22]),
        ("Fine-LDM", "none", np.nan, [0.42, 15.5, 6.4, 1.27, 0.55, 0.51]),
        ("My method", "none", 0.25, [0.10, 10.0, 90.0, 30.0, 2.00, 0.10]),
        ("MLP", np.nan, np.nan, [0.59, 18.9, 49.0, 19.9, 0.73, 0.20]),
        ("C2F-Decoder", "none", 0.25, [0.64, 19.5, 63.0, 26.1, 1.19, 0.20]),
    ]
    rows = []
    for subject, shift in (("sub-001", -0.01), ("sub-002", 0.01)):
        for method, prompt, p_gt, values in entries:
            shifted = [v + shift for v in values]
            rows.append(
                {"subject": subject, "method": method, "prompt": prompt, "p_gt": p_gt}
                | dict(zip(METRIC_COLUMNS, shifted, strict=True))
            )
    return pd.DataFrame(rows)


def test_reconstruction_table_orders_methods_and_marks_the_best():
    table = analysis.reconstruction_table(metrics_rows())
    assert list(table["method"]) == [
        "LiR",
        "MLP",
        "Fine-LDM",
        "C2F-Decoder",
        "C2F-LDM",
        "My method",
    ]
    c2f = table.set_index("method").loc["C2F-LDM"]
    assert c2f["pcc"] == pytest.approx(0.45) and c2f["n_subjects"] == 2  # P_gt 0.25, no prompt
    best = {m: list(table.loc[table[f"best_{m}"], "method"]) for m in METRIC_COLUMNS}
    assert best == {
        "pcc": ["LiR", "C2F-Decoder"],  # tie: both marked
        "psnr": ["C2F-Decoder"],
        "fd": ["C2F-LDM"],
        "fad": ["Fine-LDM"],
        "kl": ["C2F-LDM"],
        "clap": ["C2F-LDM"],
    }
    markdown = analysis.table_markdown(table)
    assert "| Model | PCC ↑ | PSNR ↑ | FD ↓ | FAD ↓ | KL ↓ | CLAP ↑ |" in markdown
    assert "| C2F-LDM | 0.450 | 15.900 | **6.100** |" in markdown
    lower = metrics_rows().assign(method=lambda t: t["method"].str.lower().str.replace("-", "_"))
    assert list(analysis.reconstruction_table(lower)["method"])[:3] == ["lir", "mlp", "fine_ldm"]
    conditional = analysis.reconstruction_table(metrics_rows(), prompt="text")
    assert list(conditional["method"]) == ["C2F-LDM"]
    with pytest.raises(InputError, match="'C2F-LDM' has rows for several prompt/p_gt"):
        analysis.reconstruction_table(metrics_rows(), p_gt=None)
    with pytest.raises(InputError, match=r"missing columns \['kl'\]"):
        analysis.reconstruction_table(metrics_rows().drop(columns="kl"))


def test_figures_are_written_as_png(tmp_path):
    rng = np.random.default_rng(2)
    mels = {
        name: [rng.random((50 + 10 * k, 16)) for k in range(3)]
        for name in ("Stimulus", "LiR", "C2F-LDM")
    }
    figures.mel_spectrogram_panels(mels, tmp_path / "mels.png", clip_titles=["a", "b", "c"])
    labels = np.repeat(["man speaking", "woman speaking"], 12)
    truth = rng.standard_normal((24, 8)) + 3.0 * (labels == "man speaking")[:, None]
    figures.semantic_tsne(
        truth, rng.standard_normal((24, 8)), labels, tmp_path / "tsne.png", prompt_indices=[0, 5]
    )
    per_subject, semantic_labels = subjects_with_planted_semantics(rng, n_subjects=3)
    table, summary = analysis.semantic_analysis(per_subject, semantic_labels)
    figures.semantic_accuracy_bars(
        table, summary, tmp_path / "accuracy.png", names={"fine": "Fine", "c2f": "C2F"}
    )
    truth = rng.standard_normal((20, 4, 6))
    pcc = analysis.feature_pcc_table(
        {s: {"LiR": truth + 2 * rng.standard_normal(truth.shape), "C2F": truth} for s in "AB"},
        truth,
    )
    figures.feature_pcc_bars(pcc, tmp_path / "pcc.png", methods=["LiR", "C2F"])
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == ["accuracy.png", "mels.png", "pcc.png", "tsne.png"]  # no temp files left
    for name in written:
        assert (tmp_path / name).read_bytes().startswith(PNG_SIGNATURE)


def test_tsne_is_reproducible_and_clips_the_perplexity():
    features = np.random.default_rng(4).standard_normal((6, 5))
    first = figures.tsne_embedding(features, perplexity=30.0, seed=3)
    np.testing.assert_allclose(first, figures.tsne_embedding(features, perplexity=30.0, seed=3))
    assert first.shape == (6, 2)


def test_bad_figure_inputs_name_the_problem(tmp_path):
    with pytest.raises(InputError, match="same, non-zero number of clips"):
        figures.mel_spectrogram_panels(
            {"Stimulus": [np.ones((4, 3))], "LiR": []}, tmp_path / "x.png"
        )
    with pytest.raises(InputError, match="one label each"):
        figures.semantic_tsne(np.ones((5, 2)), np.ones((5, 2)), [0, 1], tmp_path / "x.png")
    with pytest.raises(InputError, match="at least 3 samples"):
        figures.tsne_embedding(np.ones((2, 4)))
    assert not list(tmp_path.iterdir())


def test_conditional_table_has_a_row_per_p_gt_and_prompt_and_dashes_for_missing_prompts():
    rows = []
    for subject, offset in (("01", 0.0), ("02", 0.1)):
        for p_gt in (0.0, 0.25, 0.5):
            for prompt in ("none", "text"):  # no audio prompts: a dataset without prompt clips
                pcc = 0.3 + p_gt + (0.05 if prompt == "text" else 0.0) + offset
                metrics = {"pcc": pcc, "psnr": 15.0, "fd": 9.0 - p_gt, "fad": 4.0, "kl": 1.0}
                rows.append(
                    {"subject": subject, "method": "C2F-LDM", "prompt": prompt, "p_gt": p_gt,
                     **metrics, "clap": 0.4, "n_clips": 10 if prompt == "none" else 8}
                )  # fmt: skip
    rows.append({**rows[0], "method": "Fine-LDM", "p_gt": float("nan"), "pcc": 0.99})
    table = analysis.conditional_table(pd.DataFrame(rows))
    assert list(zip(table["p_gt"], table["prompt"], strict=True)) == [
        (p, prompt) for p in (0.0, 0.25, 0.5) for prompt in ("none", "text", "audio")
    ]
    cell = table.set_index(["p_gt", "prompt"]).loc[(0.5, "text")]
    assert cell["pcc"] == pytest.approx(0.9) and cell["n_subjects"] == 2 and cell["n_clips"] == 8
    audio = table[table["prompt"] == "audio"]
    assert audio["pcc"].isna().all() and (audio["n_subjects"] == 0).all()
    assert list(table.loc[table["best_pcc"], "prompt"]) == ["text"]  # Fine-LDM's row is not in
    markdown = analysis.table_markdown(table)
    assert "| P_gt | Prompt | PCC ↑ |" in markdown
    assert "| 0.5 | text | **0.900** |" in markdown
    assert "| 0 | audio | - | - |" in markdown
