"""Rule-level steps on a tiny demo: bad input stops with a clear error and leaves no output."""

from __future__ import annotations

import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from audiobrain import ridge
from audiobrain.brainscores import features, pipeline
from audiobrain.brainscores.architecture import LAYER_NAMES
from audiobrain.demo import simulate
from audiobrain.io import InputError, load_json, read_tsv, write_gifti_timeseries, write_tsv

TINY = dict(n_subjects=1, pool_size=60, n_blocks=12, sentences_per_block=5, seed=5)
SETTINGS = dict(
    tr_s=2.0, trial_type="sentence", n_blocks=12, decimation=40, n_compcor=6, n_cosine=6
)


@pytest.fixture(scope="module")
def tiny_demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    simulate.simulate_demo(root, **TINY)
    return simulate.DemoLayout(root, "auditory")


@pytest.fixture
def layout(tiny_demo, tmp_path):
    """A private copy that a test may corrupt."""
    shutil.copytree(tiny_demo.root, tmp_path / "demo")
    return simulate.DemoLayout(tmp_path / "demo", "auditory")


def derived_events(layout) -> Path:
    """The stimulus table rule derive_events writes from the raw MOUS events (beside the demo)."""
    output = layout.root / "derived" / "sub-01_task-auditory_desc-trials_events.tsv"
    if not output.exists():
        pipeline.derive_events(
            layout.events("01"), layout.stimuli, output, events_format="mous", n_blocks=12,
            sentences_per_block=5,
        )  # fmt: skip
    return output


def clean(layout, output, **overrides):
    bold = [layout.surface_bold("01", hemi) for hemi in ("L", "R")]
    events = derived_events(layout)
    pipeline.clean_subject_bold(bold, events, output, **{**SETTINGS, **overrides})


def test_clean_bold_keeps_the_sentence_blocks_decimated_and_standardised(layout, tmp_path):
    output = tmp_path / "clean.npz"
    clean(layout, output)
    data = np.load(output)
    assert data["bold"].shape[1] == data["vertices"].size == 2 * 257
    np.testing.assert_allclose(data["bold"].mean(axis=0), 0, atol=1e-5)
    assert sorted(np.unique(data["blocks"])) == list(range(1, 13))
    n_run = int(data["n_run_scans"])
    assert data["bold"].shape[0] == data["scans"].size < 0.7 * n_run  # word lists left out
    start = float(data["start_time_s"])
    assert start == 0.972  # fMRIPrep's StartTime in the demo's sidecars
    np.testing.assert_allclose(data["scan_times"], start + 2.0 * data["scans"])
    meta = load_json(output.with_suffix(".json"))
    assert sum(meta["scans_per_block"].values()) == data["scans"].size
    assert meta["start_time_s"] == start


def test_raw_events_are_read_never_written(layout):
    before = layout.events("01").read_bytes()
    table = read_tsv(derived_events(layout))
    assert list(table.columns) == ["onset", "duration", "trial_type", "stim_file", "block"]
    assert layout.events("01").read_bytes() == before


def test_missing_stimulus_file_is_named(layout, tmp_path):
    table = read_tsv(derived_events(layout))
    missing = layout.stimuli / table["stim_file"].iloc[3]
    missing.unlink()
    with pytest.raises(InputError, match=r"events.tsv: 1 stimulus file\(s\) not in the stimuli"):
        pipeline.derive_events(
            layout.events("01"), layout.stimuli, tmp_path / "derived.tsv", events_format="mous",
            n_blocks=12, sentences_per_block=5,
        )  # fmt: skip
    assert not (tmp_path / "derived.tsv").exists()


def test_missing_confounds_column_names_file_and_column(layout, tmp_path):
    confounds = read_tsv(layout.confounds("01"))
    write_tsv(confounds.drop(columns=["trans_x"]), layout.confounds("01"))
    with pytest.raises(InputError, match=r"desc-confounds_timeseries.tsv.*trans_x"):
        clean(layout, tmp_path / "clean.npz")
    assert not (tmp_path / "clean.npz").exists()


def test_gifti_with_wrong_vertex_count_names_the_file(layout, tmp_path):
    path = layout.surface_bold("01", "R")
    data = np.stack([d.data for d in nib.load(path).darrays])
    write_gifti_timeseries(path, data[:, :2562], tr_s=2.0)
    with pytest.raises(InputError, match=r"hemi-R.*expected 10242 vertices.*found 2562"):
        clean(layout, tmp_path / "clean.npz")
    assert not (tmp_path / "clean.npz").exists()


def test_repetition_time_that_disagrees_with_config_names_both(layout, tmp_path):
    with pytest.raises(InputError, match=r"hemi-L.*2.*2\.5"):
        clean(layout, tmp_path / "clean.npz", tr_s=2.5)
    assert not (tmp_path / "clean.npz").exists()


def test_events_past_the_end_of_the_scan_are_an_error(layout, tmp_path):
    path = derived_events(layout)
    events = read_tsv(path)
    events.loc[events.index[-1], "onset"] += 1200.0
    write_tsv(events, path)
    with pytest.raises(InputError, match=r"events.tsv.*end after the scan"):
        clean(layout, tmp_path / "clean.npz")
    assert not (tmp_path / "clean.npz").exists()


def test_block_count_that_disagrees_with_config_is_an_error(layout, tmp_path):
    with pytest.raises(InputError, match=r"events.tsv: 12 sentence blocks.*n_blocks says 6"):
        clean(layout, tmp_path / "clean.npz", n_blocks=6)


def test_stimulus_pool_is_every_sentence_heard(layout):
    path = derived_events(layout)
    pool = pipeline.stimulus_pool([path], "sentence")
    table = pd.read_csv(path, sep="\t")
    assert pool == sorted(set(table.loc[table["trial_type"] == "sentence", "stim_file"]))
    assert all("LPF5" not in name for name in pool)  # no word list


def random_feature_file(path, stim_ids, layers, frame_rate_hz, rng):
    """A feature file of ``layers`` with random frames (1 to 2 s of them) for every stimulus."""
    lengths = rng.integers(frame_rate_hz, 2 * frame_rate_hz, len(stim_ids))
    per_layer = {name: [rng.random((n, 3), dtype=np.float32) for n in lengths] for name in layers}
    features.save_features(path, stim_ids, per_layer, dict.fromkeys(layers, frame_rate_hz))
    return path


def test_seeds_scored_in_one_call_give_the_bytes_of_one_call_each(layout, tmp_path, monkeypatch):
    bold, events = tmp_path / "clean.npz", derived_events(layout)
    clean(layout, bold)
    stim_ids = [Path(f).stem for f in pipeline.stimulus_pool([events], "sentence")]
    rng = np.random.default_rng(0)
    mel = random_feature_file(tmp_path / "mel.npz", stim_ids, ["mel"], 100, rng)
    seeds = [
        random_feature_file(tmp_path / f"seed-{seed}.npz", stim_ids, LAYER_NAMES, 50, rng)
        for seed in (0, 1)
    ]
    settings = dict(tr_s=2.0, trial_type="sentence", alphas=[1.0, 1e2, 1e4], n_splits=12)
    scored = []
    brain_score = ridge.brain_score
    monkeypatch.setattr(
        ridge, "brain_score", lambda X, *args, **kw: scored.append(X) or brain_score(X, *args, **kw)
    )
    together = [tmp_path / f"together-{seed}.npz" for seed in (0, 1)]
    pipeline.subject_brain_scores(bold, events, mel, seeds, together, **settings)
    assert len(scored) == 2 * 11 - 1  # L0, the mel baseline, is the same for both: scored once
    for seed, output in zip(seeds, together, strict=True):
        alone = tmp_path / f"alone-{seed.name}"
        pipeline.subject_brain_scores(bold, events, mel, [seed], [alone], **settings)
        assert alone.read_bytes() == output.read_bytes()
        assert alone.with_suffix(".json").read_bytes() == output.with_suffix(".json").read_bytes()
    with pytest.raises(ValueError, match="2 activations files and 1 outputs"):
        pipeline.subject_brain_scores(bold, events, mel, seeds, together[:1], **settings)


def test_a_seed_that_cannot_be_read_leaves_no_brain_score_of_any_seed(layout, tmp_path):
    """Snakemake removes a failed job's declared .npz files, not their sidecars: nothing may be
    written before every seed has scored."""
    bold, events = tmp_path / "clean.npz", derived_events(layout)
    clean(layout, bold)
    stim_ids = [Path(f).stem for f in pipeline.stimulus_pool([events], "sentence")]
    rng = np.random.default_rng(0)
    mel = random_feature_file(tmp_path / "mel.npz", stim_ids, ["mel"], 100, rng)
    good = random_feature_file(tmp_path / "seed-0.npz", stim_ids, LAYER_NAMES, 50, rng)
    damaged = random_feature_file(tmp_path / "seed-1.npz", stim_ids, LAYER_NAMES, 50, rng)
    damaged.write_bytes(damaged.read_bytes()[:1000])  # an interrupted copy
    outputs = [tmp_path / "scores" / f"seed-{seed}.npz" for seed in (0, 1)]
    settings = dict(tr_s=2.0, trial_type="sentence", alphas=[1.0, 1e2], n_splits=12)
    with pytest.raises(InputError, match=r"seed-1\.npz: cannot be read as a numpy \.npz"):
        pipeline.subject_brain_scores(bold, events, mel, [good, damaged], outputs, **settings)
    assert not (tmp_path / "scores").exists() or not any((tmp_path / "scores").iterdir())
