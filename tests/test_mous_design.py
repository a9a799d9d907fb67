"""Planted truth for the MOUS design: word-list scans bias the sentence scores unless left out, and
the HRF regressors must be sampled at the times the slice-time corrected BOLD represents."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from audiobrain import ridge, surface
from audiobrain.brainscores import confounds, events, features, pipeline
from audiobrain.demo import simulate
from audiobrain.io import load_npz, read_gifti_timeseries, read_tsv

DESIGN = dict(n_subjects=1, pool_size=20, n_blocks=4, sentences_per_block=5, seed=7)
TR_S = 2.0
START_S = 0.972  # the demo's StartTime (fMRIPrep's slice-timing reference)
ALPHAS = np.logspace(1, 8, 8)
SETTINGS = dict(tr_s=TR_S, trial_type="sentence", n_blocks=4, decimation=2, n_compcor=6, n_cosine=2)


def simulated(root: Path, word_list_response: bool) -> simulate.DemoLayout:
    simulate.simulate_demo(root, noise_level=0.5, word_list_response=word_list_response, **DESIGN)
    return simulate.DemoLayout(root, "auditory")


@pytest.fixture(scope="module")
def demos(tmp_path_factory):
    """The same subject twice: hearing the word lists, and (the control) not responding to
    them; noise, artefacts and the sentences' signal are the same bytes."""
    root = tmp_path_factory.mktemp("mous-design")
    pair = {}
    for name, response in (("word_lists", True), ("control", False)):
        layout = simulated(root / name, response)
        table = root / name / "events.tsv"
        pipeline.derive_events(
            layout.events("01"), layout.stimuli, table, events_format="mous", n_blocks=4,
            sentences_per_block=5,
        )  # fmt: skip
        mel = root / name / "mel.npz"
        pipeline.compute_stimulus_features(
            [table], layout.stimuli, root / name / "spectrogram.npz", mel,
            sample_rate_hz=16000, n_mels=40, trial_type="sentence",
        )  # fmt: skip
        pair[name] = (layout, table, mel)
    return pair


def a1_vertices(layout: simulate.DemoLayout, vertices: np.ndarray) -> np.ndarray:
    """Columns (of the decimated BOLD) of the A1 vertices, which follow the mel band energies."""
    truth = read_tsv(layout.truth / "vertex_truth.tsv").set_index("vertex")
    return np.flatnonzero(truth.loc[vertices, "roi"].to_numpy() == "A1")


def mel_design(table: Path, mel: Path, n_scans: int, start_time_s: float) -> np.ndarray:
    """L0, the mel baseline of section 2.6, over the whole run at the BOLD's sample times."""
    sentences = events.read_sentence_events(table, n_scans, TR_S)
    return features.layer_regressors(
        features.load_features(mel), sentences["stim_id"], sentences["onset"].to_numpy(),
        n_scans, TR_S, start_time_s=start_time_s,
    )["mel"]  # fmt: skip


def a1_scores_without_word_lists(layout, table, mel, tmp_path, start_time_s=None) -> np.ndarray:
    """What the workflow scores: the sentence blocks' scans only (clean_bold), mel features."""
    output = tmp_path / f"clean-{start_time_s}.npz"
    bold = [layout.surface_bold("01", hemi) for hemi in ("L", "R")]
    pipeline.clean_subject_bold(bold, table, output, start_time_s=start_time_s, **SETTINGS)
    cleaned = load_npz(output)
    design = mel_design(table, mel, int(cleaned["n_run_scans"]), float(cleaned["start_time_s"]))
    a1 = a1_vertices(layout, cleaned["vertices"])
    score = ridge.brain_score(
        design[cleaned["scans"]], cleaned["bold"][:, a1], cleaned["blocks"], ALPHAS, n_splits=4
    )
    return score.r


def a1_scores_of_scans(layout, table, mel, blocks: np.ndarray) -> np.ndarray:
    """A1 mel scores on the scans ``blocks`` keeps (label > 0), each block detrended.

    The whole-run confound regression is left out here: it is the same in both simulations but
    interacts with their different block-by-block signal (a run without any word-list response
    alternates between response and silence, which the slow regressors partly absorb), and this
    test is about which scans enter the analysis.
    """
    bold = np.hstack(
        [
            read_gifti_timeseries(
                layout.surface_bold("01", h), surface.FSAVERAGE5_VERTICES_PER_HEMI
            )
            for h in ("L", "R")
        ]
    )
    kept = blocks > 0
    a1 = a1_vertices(layout, surface.decimated_vertices(SETTINGS["decimation"]))
    vertices = surface.decimated_vertices(SETTINGS["decimation"])[a1]
    cleaned = confounds.detrend_blocks(bold[kept][:, vertices], blocks[kept])
    design = mel_design(table, mel, len(blocks), START_S)[kept]
    return ridge.brain_score(design, cleaned, blocks[kept], ALPHAS, n_splits=4).r


def every_scan_to_the_latest_sentence_block(table: Path, n_scans: int) -> np.ndarray:
    """The earlier analysis: every scan of the run given to the latest sentence block."""
    sentences = events.read_sentence_events(table, n_scans, TR_S)
    scan_times = START_S + np.arange(n_scans) * TR_S
    latest = np.searchsorted(sentences["onset"].to_numpy(), scan_times, side="right") - 1
    return sentences["block"].to_numpy()[np.clip(latest, 0, None)]


def test_word_list_scans_bias_the_scores_unless_left_out(demos):
    n_scans = len(read_gifti_timeseries(demos["control"][0].surface_bold("01", "L")))
    table = demos["control"][1]
    every_scan = every_scan_to_the_latest_sentence_block(table, n_scans)
    analysed = events.analysed_scans(events.read_events(table), START_S + np.arange(n_scans) * TR_S)
    scores = {
        (name, rule): a1_scores_of_scans(*demos[name], blocks)
        for name in ("word_lists", "control")
        for rule, blocks in (("kept", every_scan), ("left out", analysed))
    }
    # Keeping them: the response to word lists, which no sentence feature explains, lowers the
    # A1 scores against the same data without it.
    bias_kept = np.mean(scores["word_lists", "kept"] - scores["control", "kept"])
    assert bias_kept < -0.04, scores
    # Leaving them out (the workflow's rule): the same scores with or without the response.
    bias_left_out = np.mean(scores["word_lists", "left out"] - scores["control", "left out"])
    assert abs(bias_left_out) < 0.02 and abs(bias_left_out) < 0.25 * abs(bias_kept)
    assert scores["control", "left out"].mean() > 0.3  # the planted signal is there to score
    print(
        "A1 mean r: "
        + ", ".join(f"{name} {rule} {r.mean():.3f}" for (name, rule), r in scores.items())
    )


def test_regressors_at_fmripreps_slice_timing_reference_recover_the_signal_better(demos, tmp_path):
    """The demo's BOLD represents 0.972 s into each TR (fMRIPrep's StartTime, in its sidecar);
    sampling the regressors at the volume onsets instead misses the planted signal's timing."""
    layout, table, mel = demos["control"]
    right = a1_scores_without_word_lists(layout, table, mel, tmp_path)  # from the sidecar
    wrong = a1_scores_without_word_lists(layout, table, mel, tmp_path, start_time_s=0.0)
    assert right.mean() > wrong.mean() + 0.01, (right.mean(), wrong.mean())
    assert np.mean(right > wrong) > 0.75
    print(f"A1 mean r: StartTime 0.972 s {right.mean():.3f}, 0 s {wrong.mean():.3f}")
