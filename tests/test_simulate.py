"""The embedded demo: BIDS/fMRIPrep layout, nilearn-readable confounds, planted truth, bytes."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from nilearn import signal
from nilearn.glm.first_level import compute_regressor
from nilearn.interfaces.fmriprep import load_confounds
from nilearn.signal import create_cosine_drift

from audiobrain import simulate, surface
from audiobrain.events import read_sentence_events, tr_blocks
from audiobrain.io import (
    gifti_repetition_time,
    load_json,
    load_npz,
    read_gifti_timeseries,
    read_tsv,
    write_gifti_timeseries,
    write_tsv,
)
from audiobrain.io import save_json as write_json
from audiobrain.sentences import dutch_sentences
from audiobrain.simulate import DemoLayout, simulate_demo
from audiobrain.speech import synthesize

TINY = dict(n_subjects=2, pool_size=20, n_blocks=4, sentences_per_block=4, seed=3)
TR_S = 2.0
N_PER_HEMI = surface.FSAVERAGE5_VERTICES_PER_HEMI
MOTION = ["trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z"]
PAPER_STRATEGY = dict(
    strategy=("motion", "high_pass", "compcor"),
    motion="basic",
    compcor="anat_combined",
    n_compcor=6,
)


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> dict:
    return simulate_demo(tmp_path_factory.mktemp("demo"), **TINY)


@pytest.fixture(scope="module")
def layout(demo) -> DemoLayout:
    return DemoLayout(demo["root"], "auditory")


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def _bold(layout: DemoLayout, subject: str) -> np.ndarray:
    return np.hstack(
        [read_gifti_timeseries(layout.surface_bold(subject, h), N_PER_HEMI) for h in "LR"]
    )


def _paper_confounds(layout: DemoLayout, subject: str) -> pd.DataFrame:
    images = [str(layout.surface_bold(subject, hemi)) for hemi in "LR"]
    confounds, sample_mask = load_confounds(images, **PAPER_STRATEGY)
    assert sample_mask is None
    return confounds


def _blocks(layout: DemoLayout, subject: str, n_scans: int) -> np.ndarray:
    events = read_sentence_events(layout.events(subject), n_scans, TR_S)
    return tr_blocks(events, n_scans, TR_S)


def _residuals(data: np.ndarray, regressors: np.ndarray) -> np.ndarray:
    """Least-squares residuals of ``data`` on ``regressors`` plus an intercept."""
    design = np.column_stack([np.ones(len(data)), regressors])
    return data - design @ np.linalg.lstsq(design, data, rcond=None)[0]


def _correlations(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson r column by column; ``b`` may be one column shared by all."""
    a = (a - a.mean(0)) / a.std(0)
    b = (b - b.mean(0)) / b.std(0)
    return (a * b).mean(0)


# --------------------------------------------------------------------------------------------
# Layout and BIDS


def test_tree_has_the_exact_bids_and_fmriprep_names(demo):
    expected = {
        "bids/dataset_description.json",
        "bids/participants.tsv",
        "bids/stimuli/sentences.tsv",
        "derivatives/fmriprep/dataset_description.json",
        "truth/truth.json",
        "truth/vertex_truth.tsv",
        "truth/loadings.npz",
        "truth/loadings.json",
        *(f"bids/stimuli/s{index:03d}.wav" for index in range(1, 21)),
    }
    for sub in ("01", "02"):
        prefix = f"sub-{sub}_task-auditory"
        expected |= {
            f"bids/sub-{sub}/func/{prefix}_events.tsv",
            f"bids/sub-{sub}/func/{prefix}_bold.json",
            f"derivatives/fmriprep/sub-{sub}/func/{prefix}_hemi-L_space-fsaverage5_bold.func.gii",
            f"derivatives/fmriprep/sub-{sub}/func/{prefix}_hemi-R_space-fsaverage5_bold.func.gii",
            f"derivatives/fmriprep/sub-{sub}/func/{prefix}_desc-confounds_timeseries.tsv",
            f"derivatives/fmriprep/sub-{sub}/func/{prefix}_desc-confounds_timeseries.json",
            f"truth/sub-{sub}/{prefix}_regressors.npz",
            f"truth/sub-{sub}/{prefix}_regressors.json",
        }
    assert set(_files(demo["root"])) == expected
    assert demo["subjects"] == ["01", "02"]
    participants = read_tsv(demo["bids"] / "participants.tsv")
    assert participants["participant_id"].tolist() == ["sub-01", "sub-02"]
    assert load_json(demo["fmriprep"] / "dataset_description.json")["DatasetType"] == "derivative"


def test_stimuli_are_the_spoken_sentence_pool(layout):
    table = read_tsv(layout.stimuli / "sentences.tsv", required=("stim_id", "text"))
    assert table["text"].tolist() == dutch_sentences(20, seed=TINY["seed"])
    for stim_id, text, duration in table[["stim_id", "text", "duration"]].itertuples(index=False):
        info = sf.info(layout.stimuli / f"{stim_id}.wav")
        assert info.samplerate == 22_050 and info.channels == 1
        assert info.frames / info.samplerate == pytest.approx(duration, abs=1e-6)
        assert 2.0 < duration < 7.0  # MOUS: 2.8-6 s (section 2.1)
        assert 9 <= len(text.split()) <= 15
    spoken, _ = synthesize(table["text"].iloc[0])
    recorded, _ = sf.read(layout.stimuli / "s001.wav", dtype="float32")
    np.testing.assert_allclose(recorded, spoken, atol=1.0 / 32768)


def test_events_follow_the_mous_block_design(demo, layout):
    pool = set(read_tsv(layout.stimuli / "sentences.tsv")["stim_id"])
    heard = []
    for subject in demo["subjects"]:
        n_scans = demo["n_scans"][subject]
        raw = read_tsv(layout.events(subject))
        assert list(raw.columns) == ["onset", "duration", "trial_type", "stim_file", "block"]
        assert (raw["trial_type"] == "sentence").all()
        events = read_sentence_events(layout.events(subject), n_scans, TR_S)
        assert events["block"].value_counts().sort_index().to_dict() == {b: 4 for b in range(1, 5)}
        assert set(events["stim_id"]) <= pool and events["stim_id"].is_unique
        assert all((layout.bids / "stimuli" / f).is_file() for f in events["stim_file"])
        ends = events["onset"] + events["duration"]
        gaps = events["onset"].to_numpy()[1:] - ends.to_numpy()[:-1]
        new_block = np.diff(events["block"].to_numpy()) == 1
        assert events["onset"].iloc[0] == simulate.LEAD_IN_S
        assert np.all((gaps[~new_block] > 1.5 - 2e-3) & (gaps[~new_block] < 2.5 + 2e-3))
        assert np.all((gaps[new_block] > 8.0 - 2e-3) & (gaps[new_block] < 10.0 + 2e-3))
        assert n_scans == math.ceil((ends.iloc[-1] + simulate.TAIL_S) / TR_S)
        assert load_json(layout.bold_sidecar(subject))["RepetitionTime"] == TR_S
        heard.append(events["stim_id"].tolist())
    assert heard[0] != heard[1]  # each subject draws their own sentences


def test_surface_bold_is_fsaverage5_gifti_with_the_tr(demo, layout):
    for subject in demo["subjects"]:
        for hemi in "LR":
            path = layout.surface_bold(subject, hemi)
            data = read_gifti_timeseries(path, expected_vertices=N_PER_HEMI)
            assert data.shape == (demo["n_scans"][subject], N_PER_HEMI)
            assert gifti_repetition_time(path) == TR_S
            assert np.isfinite(data).all() and data.min() > 0  # raw BOLD intensities


# --------------------------------------------------------------------------------------------
# Confounds


def test_nilearn_reads_the_confounds_with_the_paper_strategy(demo, layout):
    for subject in demo["subjects"]:
        confounds = _paper_confounds(layout, subject)
        table = read_tsv(layout.confounds(subject))
        cosines = [c for c in table.columns if c.startswith("cosine")]
        assert len(cosines) == simulate.n_fmriprep_cosines(demo["n_scans"][subject], TR_S)
        compcor = [f"a_comp_cor_{k:02d}" for k in range(6)]
        assert sorted(confounds.columns) == sorted(MOTION + compcor + cosines)
        assert confounds.shape == (demo["n_scans"][subject], 12 + len(cosines))
        assert np.isfinite(confounds.to_numpy()).all()
        np.testing.assert_allclose(confounds[MOTION], table[MOTION] - table[MOTION].mean())


def test_default_design_gives_exactly_the_papers_18_regressors(tmp_path):
    """60 sentences in 12 blocks at TR 2 s last long enough for 6 fMRIPrep cosines."""
    texts = dutch_sentences(60, seed=0)
    durations = {f"s{i:03d}": synthesize(t)[0].size / 22_050 for i, t in enumerate(texts)}
    rng = np.random.default_rng(0)
    _, n_scans = simulate.design_events(list(durations), durations, 5, TR_S, rng)
    assert simulate.n_fmriprep_cosines(n_scans, TR_S) == 6
    sources = simulate.simulate_confound_sources(n_scans, TR_S, 10, rng)
    bold = 1000.0 + rng.normal(size=(n_scans, 8))
    func = tmp_path / "sub-01" / "func"
    write_tsv(
        simulate.confounds_table(sources, bold),
        func / "sub-01_task-auditory_desc-confounds_timeseries.tsv",
    )
    write_json(
        func / "sub-01_task-auditory_desc-confounds_timeseries.json",
        simulate.confounds_sidecar(sources, rng),
    )
    images = []
    for hemi in "LR":
        images.append(
            str(func / f"sub-01_task-auditory_hemi-{hemi}_space-fsaverage5_bold.func.gii")
        )
        write_gifti_timeseries(images[-1], bold, TR_S)
    confounds, _ = load_confounds(images, **PAPER_STRATEGY)
    assert confounds.shape == (n_scans, 18)


def test_confounds_follow_fmriprep_conventions(demo, layout):
    table = read_tsv(layout.confounds(demo["subjects"][0]))
    first_row_missing = {c for c in table.columns if np.isnan(table[c].iloc[0])}
    assert first_row_missing == {
        c
        for c in table.columns
        if "derivative1" in c or c in ("framewise_displacement", "dvars", "std_dvars", "rmsd")
    }
    assert not table.iloc[1:].isna().any().any()
    delta = table[MOTION].diff().abs()  # Power et al. 2012: rotations on a 50 mm sphere
    fd = delta[MOTION[:3]].sum(axis=1) + 50.0 * delta[MOTION[3:]].sum(axis=1)
    np.testing.assert_allclose(table["framewise_displacement"][1:], fd[1:], rtol=1e-6)
    for name in MOTION + ["global_signal", "csf", "white_matter"]:
        np.testing.assert_allclose(table[f"{name}_power2"], table[name] ** 2, rtol=1e-8)
        np.testing.assert_allclose(  # the TSV holds 10 significant digits
            table[f"{name}_derivative1"][1:],
            table[name].diff()[1:],
            atol=1e-9 * table[name].abs().max(),
        )
    outliers = [c for c in table.columns if c.startswith("motion_outlier")]
    flagged = (table["framewise_displacement"] > 0.5) | (table["std_dvars"] > 1.5)
    assert table[outliers].sum(axis=1).astype(bool).tolist() == flagged.tolist()

    compcor = table.filter(regex=r"^a_comp_cor_").to_numpy()
    cosines = table.filter(regex=r"^cosine").to_numpy()
    np.testing.assert_allclose(compcor.T @ compcor, np.eye(compcor.shape[1]), atol=1e-8)
    drift = np.column_stack([np.ones(len(table)), cosines])
    np.testing.assert_allclose(drift.T @ compcor, 0.0, atol=1e-8)  # computed after high-pass


def test_confounds_sidecar_describes_compcor_like_fmriprep(demo, layout):
    table = read_tsv(layout.confounds(demo["subjects"][0]))
    sidecar = load_json(layout.confounds(demo["subjects"][0], "json"))
    masks = {"a": ("aCompCor", "combined"), "c": ("aCompCor", "CSF"), "w": ("aCompCor", "WM")}
    masks["t"] = ("tCompCor", None)
    for prefix, (method, mask) in masks.items():
        columns = [c for c in table.columns if c.startswith(f"{prefix}_comp_cor_")]
        assert columns == [f"{prefix}_comp_cor_{k:02d}" for k in range(len(columns))]
        explained = [sidecar[c]["VarianceExplained"] for c in columns]
        assert explained == sorted(explained, reverse=True)
        np.testing.assert_allclose(
            [sidecar[c]["CumulativeVarianceExplained"] for c in columns], np.cumsum(explained)
        )
        for column in columns:
            entry = sidecar[column]
            assert entry["Method"] == method and entry.get("Mask") == mask
            assert entry["Retained"] is True and entry["SingularValue"] > 0
    assert len([c for c in table.columns if c.startswith("a_comp_cor_")]) == 10
    dropped = [entry for name, entry in sidecar.items() if name.startswith("dropped_")]
    assert dropped and not any(entry["Retained"] for entry in dropped)
    assert sidecar["global_signal"] == {"Method": "Mean"}


@pytest.mark.parametrize("n_scans", [100, 244, 300])
def test_cosines_are_the_dct_basis_with_fmripreps_count(n_scans):
    """Same DCT-II columns as nilearn's; one fewer, because nipype's ``_cosine_drift`` (which
    fMRIPrep uses) fills ``range(1, order)`` where nilearn fills ``range(1, order + 1)``."""
    frame_times = np.arange(n_scans) * TR_S
    reference = create_cosine_drift(1.0 / simulate.FMRIPREP_HIGH_PASS_S, frame_times)[:, :-1]
    cosines = simulate.cosine_basis(n_scans, TR_S)
    assert cosines.shape == (n_scans, reference.shape[1] - 1)
    np.testing.assert_allclose(cosines, reference[:, :-1], atol=1e-12)


# --------------------------------------------------------------------------------------------
# Planted truth


def test_vertex_truth_marks_the_rois(layout):
    truth = read_tsv(layout.truth / "vertex_truth.tsv")
    assert truth["vertex"].tolist() == list(range(2 * N_PER_HEMI))
    assert truth["hemi"].tolist() == ["L"] * N_PER_HEMI + ["R"] * N_PER_HEMI
    masks = surface.roi_masks(surface.nilearn_desikan_annotation(), np.arange(2 * N_PER_HEMI))
    kinds = {"A1": "acoustic", "Belt": "mixed", "TPJ": "deep"}
    for roi, mask in masks.items():
        assert (truth["roi"] == roi).tolist() == mask.tolist()
        assert set(truth.loc[mask, "signal"]) == {kinds[roi]}
        assert (truth.loc[mask, "amplitude"] > 0).all()
    nulls = truth["roi"] == "none"
    assert (
        set(truth.loc[nulls, "signal"]) == {"null"} and (truth.loc[nulls, "amplitude"] == 0).all()
    )
    assert set(truth.loc[truth["roi"] == "A1", "label"]) == {"transversetemporal"}
    description = load_json(layout.truth / "truth.json")
    assert description["seed"] == TINY["seed"] and description["parameters"]["n_subjects"] == 2
    assert description["rois"]["TPJ"]["signal"] == "deep"


def test_stored_regressors_are_the_hrf_convolved_features_of_the_audio(demo, layout):
    stim_ids = read_tsv(layout.stimuli / "sentences.tsv")["stim_id"]
    features = simulate.stimulus_features(
        {s: layout.stimuli / f"{s}.wav" for s in stim_ids}, TINY["seed"]
    )
    subject = demo["subjects"][1]
    n_scans = demo["n_scans"][subject]
    events = read_sentence_events(layout.events(subject), n_scans, TR_S)
    stored = load_npz(layout.regressors(subject))
    for family in ("acoustic", "deep"):
        expected = simulate.hrf_regressors(events, getattr(features, family), n_scans, TR_S)
        np.testing.assert_allclose(stored[family], expected, rtol=1e-10)
    # Both families respond to speech: each regressor follows the HRF-convolved sentences.
    onsets, durations = events["onset"].to_numpy(), events["duration"].to_numpy()
    speech = compute_regressor(
        np.vstack([onsets, durations, np.ones_like(onsets)]), "glover", np.arange(n_scans) * TR_S
    )[0]
    assert np.all(_correlations(stored["acoustic"], speech) > 0.9)


def test_planted_signal_survives_cleaning_and_nulls_carry_none(demo, layout):
    truth = load_npz(layout.truth / "loadings.npz")
    table = read_tsv(layout.truth / "vertex_truth.tsv")
    roi = table["roi"].to_numpy()
    vertex_truth = simulate.VertexTruth(
        roi, table["label"].to_numpy(), table["signal"].to_numpy(), truth["amplitude"],
        truth["acoustic_share"], truth["acoustic_weights"], truth["deep_weights"],
    )  # fmt: skip
    for subject in demo["subjects"]:
        bold = _bold(layout, subject)
        n_scans = bold.shape[0]
        segments = np.unique(_blocks(layout, subject, n_scans), return_inverse=True)[1]
        cleaned = _residuals(bold, _paper_confounds(layout, subject).to_numpy())
        cleaned = signal.clean(cleaned, runs=segments, detrend=True, standardize=None)
        uncleaned = bold - bold.mean(axis=0)
        regressors = load_npz(layout.regressors(subject))
        vertices = np.flatnonzero(roi != "none")
        planted = simulate.planted_signal(
            vertex_truth, regressors["acoustic"], regressors["deep"], vertices
        )
        r = dict(zip(vertices, _correlations(cleaned[:, vertices], planted), strict=True))
        a1 = np.array([r[v] for v in np.flatnonzero(roi == "A1")])
        tpj = np.array([r[v] for v in np.flatnonzero(roi == "TPJ")])
        assert np.median(a1) > 0.4 and np.median(tpj) > 0.2
        a1_uncleaned = _correlations(uncleaned[:, roi == "A1"], planted[:, roi[vertices] == "A1"])
        assert np.median(a1_uncleaned) < np.median(a1)
        null = roi == "none"  # kept artefacts outweigh the noise: skipping cleaning hurts
        assert np.median(uncleaned[:, null].var(axis=0) / cleaned[:, null].var(axis=0)) > 3

        events = read_sentence_events(layout.events(subject), n_scans, TR_S)
        speech = compute_regressor(
            np.vstack([events["onset"], events["duration"], np.ones(len(events))]),
            "glover",
            np.arange(n_scans) * TR_S,
        )[0]
        null_r = _correlations(cleaned[:, roi == "none"], speech)
        assert np.median(_correlations(cleaned[:, roi == "A1"], speech)) > 0.4
        assert abs(np.median(null_r)) < 0.05 and np.quantile(np.abs(null_r), 0.95) < 0.35


def test_artefacts_lie_in_the_span_of_the_confounds_and_block_trends(tmp_path):
    """Without noise, regressing the 18 confounds and per-block lines leaves null vertices flat."""
    summary = simulate_demo(tmp_path, **{**TINY, "n_subjects": 1}, noise_level=0.0)
    layout = DemoLayout(summary["root"], "auditory")
    bold = _bold(layout, "01")
    n_scans = bold.shape[0]
    blocks = _blocks(layout, "01", n_scans)
    per_block = [
        np.where(blocks == b, column, 0.0)
        for b in np.unique(blocks)
        for column in (np.ones(n_scans), np.arange(n_scans, dtype=float))
    ]
    residual = _residuals(bold, np.column_stack([_paper_confounds(layout, "01"), *per_block]))
    roi = read_tsv(layout.truth / "vertex_truth.tsv")["roi"].to_numpy()
    null = roi == "none"
    centred = bold - bold.mean(axis=0)
    ratio = residual[:, null].std(axis=0) / centred[:, null].std(axis=0)
    assert np.max(ratio) < 1e-3  # float32 GIfTI precision
    signal_ratio = residual[:, roi == "A1"].std(axis=0) / centred[:, roi == "A1"].std(axis=0)
    assert np.median(signal_ratio) > 0.1  # the planted signal is not in that span


# --------------------------------------------------------------------------------------------
# Determinism and errors


def test_same_seed_writes_the_same_bytes_and_another_seed_does_not(demo, tmp_path):
    again = simulate_demo(tmp_path / "again", **TINY)
    first, second = _files(demo["root"]), _files(again["root"])
    assert first.keys() == second.keys()
    differing = [name for name in first if first[name] != second[name]]
    assert differing == []
    other = simulate_demo(tmp_path / "other", **{**TINY, "seed": TINY["seed"] + 1})
    bold = str(DemoLayout(Path(), "auditory").surface_bold("01", "L"))
    assert _files(other["root"])[bold] != first[bold]


def test_inconsistent_parameters_raise(tmp_path):
    with pytest.raises(ValueError, match="pool_size"):
        simulate_demo(tmp_path, pool_size=10, n_blocks=4, sentences_per_block=5)
    with pytest.raises(ValueError, match="n_compcor"):
        simulate_demo(tmp_path, n_compcor=4)
    with pytest.raises(ValueError, match="task"):
        simulate_demo(tmp_path, task="audi_tory")
    assert not any(tmp_path.iterdir())  # checked before anything is written
