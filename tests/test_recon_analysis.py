"""Semantic SVM analysis, feature PCC, Tables 1-2 and the reconstruction figures."""

from __future__ import annotations

import re

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
    assert "| Model | P_gt | Prompt | PCC ↑ |" in markdown
    assert "| C2F-LDM | 0.5 | text | **0.900** |" in markdown
    assert "| C2F-LDM | 0 | audio | - | - |" in markdown


def with_references(rows: pd.DataFrame) -> pd.DataFrame:
    """The per-subject table plus the four reference rows of each subject (no prompt)."""
    references = {
        "stimulus": [0.95, 30.0, 1.0, 0.5, 0.05, 0.9],
        "class-mean": [0.70, 20.0, 20.0, 8.0, 0.40, 0.6],
        "mean-mel": [0.62, 19.0, 60.0, 25.0, 1.10, 0.21],
        "shuffled": [0.30, 12.0, 9.0, 3.0, 1.50, 0.30],
    }
    extra = [
        {"subject": subject, "method": name, "prompt": "none", "p_gt": np.nan}
        | dict(zip(METRIC_COLUMNS, values, strict=True))
        for subject in ("sub-001", "sub-002")
        for name, values in references.items()
    ]
    return pd.concat([rows, pd.DataFrame(extra)], ignore_index=True)


def test_tables_carry_reference_rows_and_flag_methods_that_do_not_beat_the_mean_mel():
    table = analysis.reconstruction_table(with_references(metrics_rows()))
    assert list(table["method"])[-4:] == ["stimulus", "class-mean", "mean-mel", "shuffled"]
    assert list(table["reference"]) == [False] * 6 + [True] * 4
    # The ceiling is not a method: the best of each column is among the methods.
    assert not table.loc[table["reference"], [f"best_{m}" for m in METRIC_COLUMNS]].any().any()
    flags = dict(zip(table["method"], table["below_mean_mel"], strict=True))
    assert flags["LiR"] == ""  # PCC 0.64 > 0.62, PSNR 19.4 > 19, FD 47.7 < 60, ... CLAP 0.22 > 0.21
    assert flags["My method"] == "pcc,psnr,fd,fad,kl,clap"
    assert flags["C2F-Decoder"] == "fd,fad,kl,clap" and flags["mean-mel"] == ""
    markdown = analysis.table_markdown(table)
    assert "| *mean-mel* | *0.620* |" in markdown
    assert "| My method | 0.100 † |" in markdown
    assert "†: does not beat mean-mel" in markdown


def test_tables_as_html_mark_the_best_cells_and_the_reference_rows():
    """The report's Tables 1-3: the same cells as the Markdown, the best bold, references apart."""
    table = analysis.reconstruction_table(with_references(metrics_rows()))
    page = analysis.table_html(table, "Tables 1-2: reconstructions, demo")
    header = re.findall(r"<th>(.*?)</th>", page)
    assert header == ["Model", "PCC ↑", "PSNR ↑", "FD ↓", "FAD ↓", "KL ↓", "CLAP ↑"]
    rows = [
        re.findall(r"<td[^>]*>(.*?)</td>", row) for row in re.findall(r"<tr[^>]*>(.*?)</tr>", page)
    ]
    assert [row[0] for row in rows[1:]] == list(table["method"])
    assert dict((row[0], row[1]) for row in rows[1:])["My method"] == "0.100 †"
    assert "<td class=best>6.100</td>" in page  # C2F-LDM's FD, the column's best
    assert page.count("<tr class=reference>") == 4
    assert "†: does not beat mean-mel" in page and page.startswith("<!DOCTYPE html>")


def test_training_curves_have_a_panel_per_training(tmp_path):
    steps = np.arange(1, 21)
    curve = pd.DataFrame({"step": steps, "loss": 1.0 / steps})
    curves = {"VAE": {"VAE": curve}, "D_aco c2f": {"sub-01": curve, "sub-02": curve * 2}}
    figures.training_curves(curves, tmp_path / "curves.png")
    assert (tmp_path / "curves.png").read_bytes().startswith(PNG_SIGNATURE)
    with pytest.raises(InputError, match="D_aco c2f, sub-01: training metrics have no 'loss'"):
        figures.training_curves({"D_aco c2f": {"sub-01": curve[["step"]]}}, tmp_path / "x.png")
    with pytest.raises(InputError, match="no training metrics"):
        figures.training_curves({}, tmp_path / "x.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curves.png"]


def test_table_3_scores_the_references_on_each_prompts_clips():
    rows = with_references(metrics_rows())
    text = rows[rows["method"] == "mean-mel"].assign(prompt="text", pcc=0.35)
    rows = pd.concat([rows, text], ignore_index=True).assign(n_clips=4)
    table = analysis.conditional_table(rows, p_gts=(0.25,), prompts=("none", "text"))
    references = table[table["reference"]]
    assert set(zip(references["method"], references["prompt"], strict=True)) == {
        *((name, "none") for name in ("stimulus", "class-mean", "mean-mel", "shuffled")),
        ("mean-mel", "text"),
    }
    cells = table[~table["reference"]].set_index("prompt")["below_mean_mel"]
    assert cells["none"] == "pcc,psnr"  # PCC 0.45 < 0.62, PSNR 15.9 < 19.0 (no prompt's floor)
    assert cells["text"] == "pcc,psnr"  # PCC 0.30 < 0.35: the text clips' own floor
    assert table.set_index(["method", "prompt"]).loc[("mean-mel", "text"), "pcc"] == 0.35


def test_claims_hold_only_when_the_whole_interval_is_above_zero():
    rows = []
    rng = np.random.default_rng(0)
    for k, subject in enumerate(["01", "02", "03", "04"]):
        base = 0.3 + 0.02 * k
        for method, pcc, fd in (
            ("C2F-Decoder", base + 0.10, 20.0),
            ("Fine-Decoder", base, 25.0 + k),  # FD: lower is better, C2F always lower
            ("MLP", base + 0.10 + rng.normal(0, 0.2), 20.0),
        ):
            rows.append(
                {"subject": subject, "method": method, "pcc": pcc, "psnr": 15.0, "fd": fd,
                 "fad": 3.0, "kl": 1.0, "clap": 0.4}
            )  # fmt: skip
    claims = analysis.claims_table(pd.DataFrame(rows)).set_index(["claim", "metric"])
    fine = claims.loc[("C2F-Decoder > Fine-Decoder", "pcc")]
    assert fine["mean_difference"] == pytest.approx(0.10) and fine["holds"]
    assert claims.loc[("C2F-Decoder > Fine-Decoder", "fd"), "mean_difference"] == pytest.approx(6.5)
    assert not claims.loc[("C2F-Decoder > Fine-Decoder", "psnr"), "holds"]  # no difference
    differences = [r["pcc"] - m["pcc"] for r, m in zip(rows[0::3], rows[2::3], strict=True)]
    interval = sps.t.interval(0.95, 3, loc=np.mean(differences), scale=sps.sem(differences))
    mlp = claims.loc[("C2F-Decoder > MLP", "pcc")]
    assert (mlp["ci_low"], mlp["ci_high"]) == pytest.approx(interval)
    assert mlp["holds"] == (interval[0] > 0)
    assert ("C2F-LDM > Fine-LDM", "pcc") not in claims.index  # no LDM rows: no claim


def test_reference_reconstructions_are_the_stimulus_class_and_overall_means(tmp_path):
    """stimulus: each test clip's own vocoder mel; class-mean: the mean of its class in
    training; mean-mel: the training mean; shuffled: another test clip, never the clip itself."""
    from audiobrain.demo.recon_dataset import generate_demo_stimuli
    from audiobrain.recon import pipeline

    stimuli_dir = tmp_path / "stimuli"
    stimuli = generate_demo_stimuli(stimuli_dir, n_train_stimuli=20, n_test_stimuli=4, n_prompt=0)
    pipeline.vocoder_mels(
        stimuli_dir / "stimuli.npz", tmp_path / "vocoder_mel.npz", vocoder_path=None
    )
    outputs = {"audio": tmp_path / "references.npz", "wav": tmp_path / "references"}
    pipeline.reference_reconstructions(
        stimuli_dir, tmp_path / "vocoder_mel.npz", outputs, vocoder_path=None, seed=1
    )
    entries = {entry.method: entry for entry in pipeline.read_reconstructions(outputs["audio"])}
    assert list(entries) == ["stimulus", "class-mean", "mean-mel", "shuffled"]
    table = stimuli.table.set_index("stimulus_id")
    mels = np.load(tmp_path / "vocoder_mel.npz")
    index = {s: k for k, s in enumerate(mels["stimulus_id"].astype(str))}
    train = table.index[table["split"] == "train"]
    test_ids = entries["stimulus"].stimulus_id
    for k, clip in enumerate(test_ids):
        np.testing.assert_allclose(entries["stimulus"].mel[k], mels["mel"][index[clip]])
        same_class = [s for s in train if table.loc[s, "label"] == table.loc[clip, "label"]]
        class_mean = mels["mel"][[index[s] for s in same_class]].mean(axis=0)
        np.testing.assert_allclose(entries["class-mean"].mel[k], class_mean, rtol=1e-5)
    overall = mels["mel"][[index[s] for s in train]].mean(axis=0)
    np.testing.assert_allclose(entries["mean-mel"].mel, np.stack([overall] * 4), rtol=1e-5)
    partners = np.load(outputs["audio"])["shuffled_partner"]
    assert (partners != test_ids).all() and sorted(partners) == sorted(test_ids)
    assert len(list(outputs["wav"].glob("*_stimulus.wav"))) == 4
