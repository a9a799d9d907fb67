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

from audiobrain import surface
from audiobrain.brainscores import atlas
from audiobrain.brainscores.confounds import load_paper_confounds
from audiobrain.brainscores.events import analysed_scans, mous_events
from audiobrain.demo import demo_design, simulate
from audiobrain.demo.sentences import dutch_sentences
from audiobrain.demo.simulate import DemoLayout, simulate_demo
from audiobrain.demo.speech import synthesize
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

TINY = dict(n_subjects=2, pool_size=20, n_blocks=4, sentences_per_block=4, seed=3)
TR_S = 2.0
START_S = demo_design.slice_time_reference(demo_design.slice_timing(TR_S))
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


def _trials(layout: DemoLayout, subject: str) -> pd.DataFrame:
    """The design as MOUS's events file gives it back (all sentences and word lists)."""
    return mous_events(layout.events(subject), TINY["n_blocks"], TINY["sentences_per_block"])


def _analysed(layout: DemoLayout, subject: str, n_scans: int) -> np.ndarray:
    """The sentence block of every scan the analysis keeps (0 elsewhere)."""
    scan_times = START_S + np.arange(n_scans) * TR_S
    return analysed_scans(_trials(layout, subject), scan_times)


def _segments(layout: DemoLayout, subject: str, n_scans: int) -> np.ndarray:
    """Every scan in the segment of the latest block (of either type) started by its time."""
    trials = _trials(layout, subject)
    starts = trials.groupby(["trial_type", "block"])["onset"].min().sort_values().to_numpy()
    return np.clip(np.searchsorted(starts, np.arange(n_scans) * TR_S, side="right") - 1, 0, None)


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
    """MOUS's raw layout (events, audio names, participants) and fMRIPrep's derivatives."""
    audio = "bids/stimuli/audio_files/EQ_Ramp_Int2_Int1LPF"
    expected = {
        "bids/dataset_description.json",
        "bids/participants.tsv",
        "bids/stimuli/stimuli.txt",
        "derivatives/fmriprep/dataset_description.json",
        "truth/truth.json",
        "truth/vertex_truth.tsv",
        "truth/loadings.npz",
        "truth/loadings.json",
        *(f"{audio}{index:03d}.wav" for index in range(1, 21)),
        *(f"{audio}{500 + index:03d}.wav" for index in range(1, 21)),
    }
    for sub in ("01", "02"):
        prefix = f"sub-{sub}_task-auditory"
        surface_bold = (
            f"derivatives/fmriprep/sub-{sub}/func/{prefix}_hemi-{{}}_space-fsaverage5_bold"
        )
        expected |= {
            f"bids/sub-{sub}/func/{prefix}_events.tsv",
            f"bids/sub-{sub}/func/{prefix}_bold.json",
            *(surface_bold.format(hemi) + ext for hemi in "LR" for ext in (".func.gii", ".json")),
            f"derivatives/fmriprep/sub-{sub}/func/{prefix}_desc-confounds_timeseries.tsv",
            f"derivatives/fmriprep/sub-{sub}/func/{prefix}_desc-confounds_timeseries.json",
            f"truth/sub-{sub}/{prefix}_regressors.npz",
            f"truth/sub-{sub}/{prefix}_regressors.json",
            f"truth/sub-{sub}/{prefix}_trials.tsv",
        }
    assert set(_files(demo["root"])) == expected
    assert demo["subjects"] == ["01", "02"]
    participants = read_tsv(demo["bids"] / "participants.tsv")
    assert participants["participant_id"].tolist() == ["sub-01", "sub-02"]
    assert load_json(demo["fmriprep"] / "dataset_description.json")["DatasetType"] == "derivative"


def test_stimuli_are_the_spoken_sentences_and_their_word_lists(layout):
    lines = (layout.stimuli / "stimuli.txt").read_text().splitlines()
    texts = dict(line.split(" ", 1) for line in lines)
    sentences = dutch_sentences(20, seed=TINY["seed"])
    assert [texts[str(i)] for i in range(1, 21)] == sentences
    for item, sentence in enumerate(sentences, start=1):
        words = texts[str(500 + item)].split()
        assert sorted(words) == sorted(w.strip(".,") for w in sentence.split())
        for stim in (item, 500 + item):
            info = sf.info(layout.stimuli / demo_design.stimulus_file(stim))
            assert info.samplerate == 22_050 and info.channels == 1
            assert 2.0 < info.duration < 12.0
        assert 9 <= len(words) <= 15
    spoken, _ = synthesize(sentences[0])
    recorded, _ = sf.read(layout.stimuli / demo_design.stimulus_file(1), dtype="float32")
    np.testing.assert_allclose(recorded, spoken, atol=1.0 / 32768)


def test_events_are_mous_events_of_the_alternating_block_design(demo, layout):
    heard = []
    for subject in demo["subjects"]:
        n_scans = demo["n_scans"][subject]
        raw = read_tsv(layout.events(subject), dtype={"value": str})
        assert list(raw.columns) == ["onset", "duration", "volume", "type", "value"]
        assert raw["duration"].isna().all()
        assert set(raw["type"]) <= {"Pulse", "Picture", "Sound", "Nothing", "Response"}
        assert (raw["type"] == "Pulse").sum() == n_scans
        trials = _trials(layout, subject)
        pd.testing.assert_frame_equal(trials, read_tsv(layout.trials(subject)), check_dtype=False)
        per_type = trials.groupby("trial_type")["block"].value_counts().unstack(0)
        assert (per_type == TINY["sentences_per_block"]).all().all() and len(per_type) == 4
        starts = trials.groupby(["trial_type", "block"])["onset"].min().sort_values()
        kinds = [kind for kind, _ in starts.index]
        assert all(a != b for a, b in zip(kinds, kinds[1:], strict=False))  # they alternate
        assert all((layout.stimuli / f).is_file() for f in trials["stim_file"])
        ends = trials["onset"] + trials["duration"]
        assert trials["onset"].iloc[0] == demo_design.LEAD_IN_S
        assert n_scans == math.ceil((ends.iloc[-1] + demo_design.TAIL_S) / TR_S)
        sidecar = load_json(layout.bold_sidecar(subject))
        assert sidecar["RepetitionTime"] == TR_S and len(sidecar["SliceTiming"]) == 36
        heard.append(trials["stim_file"].tolist())
    assert heard[0] != heard[1]  # each subject draws their own sentences


def test_surface_bold_is_fsaverage5_gifti_with_the_tr_and_fmripreps_timing(demo, layout):
    for subject in demo["subjects"]:
        for hemi in "LR":
            path = layout.surface_bold(subject, hemi)
            data = read_gifti_timeseries(path, expected_vertices=N_PER_HEMI)
            assert data.shape == (demo["n_scans"][subject], N_PER_HEMI)
            assert gifti_repetition_time(path) == TR_S
            assert np.isfinite(data).all() and data.min() > 0  # raw BOLD intensities
            timing = load_json(path.with_name(path.name.replace(".func.gii", ".json")))
            assert timing["SliceTimingCorrected"] is True
            # fMRIPrep's default reference: the middle of the slices' acquisition times
            slices = load_json(layout.bold_sidecar(subject))["SliceTiming"]
            assert timing["StartTime"] == round((min(slices) + max(slices)) / 2, 3) == START_S


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


def test_default_design_gives_the_papers_18_regressors(tmp_path):
    """60 sentences in 12 blocks and 60 word lists at TR 2 s: long enough for 6 fMRIPrep
    cosines (word lists half a sentence long, so that no run is shorter); the first 6 are the
    paper's, with the 6 motion parameters and 6 aCompCor components."""
    texts = dutch_sentences(60, seed=0)
    durations = {i: synthesize(t)[0].size / 22_050 for i, t in enumerate(texts, start=1)}
    durations |= {500 + i: 0.5 * d for i, d in list(durations.items())}
    rng = np.random.default_rng(0)
    _, n_scans = demo_design.block_design(
        list(range(1, 61)), list(range(501, 561)), durations, 5, TR_S, rng
    )
    assert simulate.n_fmriprep_cosines(n_scans, TR_S) >= 6
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
    confounds = load_paper_confounds(images)
    assert confounds.shape == (n_scans, 18)
    assert list(confounds.columns[-6:]) == [f"cosine{k:02d}" for k in range(6)]


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
    masks = atlas.annotation_roi_masks(
        surface.nilearn_desikan_annotation(), np.arange(2 * N_PER_HEMI)
    )
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
    wavs = sorted((layout.stimuli / "audio_files").glob("*.wav"))
    sentences = [path.stem for path in wavs if int(path.stem[-3:]) < 500]
    features = simulate.stimulus_features(
        {path.stem: path for path in wavs}, TINY["seed"], analysed=sentences
    )
    subject = demo["subjects"][1]
    n_scans = demo["n_scans"][subject]
    trials = _trials(layout, subject)
    heard = trials.assign(stim_file=[Path(f).stem for f in trials["stim_file"]])
    sentences = heard[heard["trial_type"] == "sentence"]
    stored = load_npz(layout.regressors(subject))
    for family in ("acoustic", "deep"):
        for name, table in ((family, heard), (f"{family}_sentences", sentences)):
            expected = simulate.hrf_regressors(
                table, getattr(features, family), n_scans, TR_S, START_S
            )
            atol = 1e-12 * np.abs(expected).max()
            np.testing.assert_allclose(stored[name], expected, rtol=1e-10, atol=atol)
    # Both families respond to speech: each regressor follows the HRF-convolved sounds.
    onsets, durations = heard["onset"].to_numpy(), heard["duration"].to_numpy()
    speech = compute_regressor(
        np.vstack([onsets, durations, np.ones_like(onsets)]),
        "glover",
        START_S + np.arange(n_scans) * TR_S,
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
        blocks = _analysed(layout, subject, n_scans)
        kept = blocks > 0
        cleaned = _residuals(bold, _paper_confounds(layout, subject).to_numpy())[kept]
        cleaned = signal.clean(cleaned, runs=blocks[kept], detrend=True, standardize=None)
        uncleaned = (bold - bold.mean(axis=0))[kept]
        regressors = load_npz(layout.regressors(subject))
        vertices = np.flatnonzero(roi != "none")
        planted = simulate.planted_signal(
            vertex_truth, regressors["acoustic"], regressors["deep"], vertices,
            (regressors["acoustic_sentences"], regressors["deep_sentences"]),
        )[kept]  # fmt: skip
        r = dict(zip(vertices, _correlations(cleaned[:, vertices], planted), strict=True))
        a1 = np.array([r[v] for v in np.flatnonzero(roi == "A1")])
        tpj = np.array([r[v] for v in np.flatnonzero(roi == "TPJ")])
        assert np.median(a1) > 0.4 and np.median(tpj) > 0.2
        a1_uncleaned = _correlations(uncleaned[:, roi == "A1"], planted[:, roi[vertices] == "A1"])
        assert np.median(a1_uncleaned) < np.median(a1)
        null = roi == "none"  # kept artefacts outweigh the noise: skipping cleaning hurts
        assert np.median(uncleaned[:, null].var(axis=0) / cleaned[:, null].var(axis=0)) > 3

        events = _trials(layout, subject)
        events = events[events["trial_type"] == "sentence"]
        speech = compute_regressor(
            np.vstack([events["onset"], events["duration"], np.ones(len(events))]),
            "glover",
            START_S + np.arange(n_scans) * TR_S,
        )[0][kept]
        null_r = _correlations(cleaned[:, roi == "none"], speech)
        assert np.median(_correlations(cleaned[:, roi == "A1"], speech)) > 0.4
        assert abs(np.median(null_r)) < 0.05 and np.quantile(np.abs(null_r), 0.95) < 0.35


def test_artefacts_lie_in_the_span_of_the_confounds_and_block_trends(tmp_path):
    """Without noise, regressing the 18 confounds and per-block lines leaves null vertices flat."""
    summary = simulate_demo(tmp_path, **{**TINY, "n_subjects": 1}, noise_level=0.0)
    layout = DemoLayout(summary["root"], "auditory")
    bold = _bold(layout, "01")
    n_scans = bold.shape[0]
    blocks = _segments(layout, "01", n_scans)
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
