"""Activation features: file format, extraction, [0, 1] scaling, HRF regressors, feature sets."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from nilearn.glm.first_level import compute_regressor
from sklearn.preprocessing import minmax_scale

from audiobrain.brainscores.features import (
    LEVEL_ORDER,
    MEL_FRAME_RATE_HZ,
    Features,
    feature_sets,
    frame_events,
    hrf_regressors,
    layer_regressors,
    load_features,
    mel_features,
    minmax_normalise,
    network_activations,
    save_features,
    stimulus_features,
)
from audiobrain.brainscores.networks import LAYER_NAMES, OUTPUT_FRAME_RATE_HZ, build_untrained
from audiobrain.io import InputError, load_json, save_json, sidecar_path

SMALL = {"conv_channels": (4, 6, 8), "gru_hidden": 12}


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture(scope="module")
def small_model():
    return build_untrained(0, 29, **SMALL)


def random_layers(rng, n_stimuli=3):
    return {
        "mel": [rng.random((int(n), 5)).astype(np.float32) for n in rng.integers(1, 30, n_stimuli)],
        "conv1": [
            rng.random((int(n), 7)).astype(np.float32) for n in rng.integers(0, 15, n_stimuli)
        ],
    }


def nilearn_regressors(per_stimulus, frame_rate_hz, onsets_s, n_scans, tr_s, oversampling):
    """The reference: one compute_regressor call per feature, as section 2.5 describes."""
    onsets, durations, values = frame_events(per_stimulus, frame_rate_hz, onsets_s)
    frame_times = np.arange(n_scans) * tr_s
    columns = [
        compute_regressor(
            (onsets, durations, values[:, j]), "glover", frame_times, oversampling=oversampling
        )[0][:, 0]
        for j in range(values.shape[1])
    ]
    return np.column_stack(columns)


# --- file format -------------------------------------------------------------------------------


def test_features_round_trip_exactly_with_deterministic_bytes(tmp_path, rng):
    layers = random_layers(rng)
    rates = {"mel": 100.0, "conv1": 50.0}
    for name in ("a", "b"):
        save_features(tmp_path / name / "features.npz", ["s1", "s2", "s3"], layers, rates, {"n": 1})
    for suffix in ("npz", "json"):
        first = (tmp_path / "a" / f"features.{suffix}").read_bytes()
        assert first == (tmp_path / "b" / f"features.{suffix}").read_bytes()
    loaded = load_features(tmp_path / "a" / "features.npz")
    assert loaded.stim_ids == ["s1", "s2", "s3"]
    assert loaded.frame_rate_hz == rates
    assert loaded.meta == {"n": 1}
    assert list(loaded.layers) == ["mel", "conv1"]
    for name, per_stimulus in layers.items():
        for saved, original in zip(loaded.layers[name], per_stimulus, strict=True):
            assert saved.dtype == np.float32
            np.testing.assert_array_equal(saved, original)


def test_corrupt_feature_files_are_refused(tmp_path, rng):
    path = tmp_path / "features.npz"
    save_features(path, ["s1", "s2", "s3"], random_layers(rng), {"mel": 100.0, "conv1": 50.0})
    sidecar = sidecar_path(path)
    good = load_json(sidecar)
    save_json(sidecar, {**good, "stim_ids": ["s1", "s2"]})
    with pytest.raises(InputError, match="offsets"):
        load_features(path)
    save_json(sidecar, {**good, "format": "something-else"})
    with pytest.raises(InputError, match="'format'"):
        load_features(path)


def test_inconsistent_layers_are_refused(tmp_path, rng):
    layers = random_layers(rng)
    with pytest.raises(ValueError, match="2 stimuli, expected 3"):
        save_features(tmp_path / "f.npz", ["a", "b", "c"], {"mel": layers["mel"][:2]}, {"mel": 1.0})
    with pytest.raises(ValueError, match="frame_rate_hz"):
        save_features(tmp_path / "f.npz", ["a", "b", "c"], layers, {"mel": 100.0})


# --- extraction ------------------------------------------------------------------------------


def test_network_activations_match_the_model_and_do_not_depend_on_batching(small_model, rng):
    spectrograms = [rng.standard_normal((n, 160)).astype(np.float32) for n in (41, 100, 7, 64)]
    small_model.train()
    single = network_activations(small_model, spectrograms)
    batched = network_activations(small_model, spectrograms, batch_size=3)
    assert small_model.training  # mode restored
    dims = small_model.layer_dims()
    small_model.eval()
    with torch.no_grad():
        direct = small_model.activations(torch.from_numpy(spectrograms[1])[None])
    for name in LAYER_NAMES:
        for i, spectrogram in enumerate(spectrograms):
            assert single[name][i].shape == (math.ceil(len(spectrogram) / 2), dims[name])
            assert single[name][i].dtype == np.float32
            np.testing.assert_allclose(batched[name][i], single[name][i], rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(single[name][1], direct[name][0].numpy())


def test_stimulus_features_hold_mel_and_every_layer(small_model, rng):
    waveforms = [0.1 * rng.standard_normal(n).astype(np.float32) for n in (16_000, 8_000)]
    features = stimulus_features(["x", "y"], waveforms, small_model)
    assert list(features.layers) == list(LEVEL_ORDER)
    assert features.frame_rate_hz["mel"] == MEL_FRAME_RATE_HZ == 100.0
    assert features.frame_rate_hz["fc"] == OUTPUT_FRAME_RATE_HZ == 50.0
    mel = mel_features(waveforms)["mel"]
    for i in range(2):  # both front ends at 100 Hz, the network halves it
        np.testing.assert_array_equal(features.layers["mel"][i], mel[i])
        assert features.layers["conv1"][i].shape[0] == math.ceil(mel[i].shape[0] / 2)


# --- normalisation ---------------------------------------------------------------------------


def test_minmax_normalise_scales_each_feature_over_the_whole_pool(rng):
    per_stimulus = [rng.normal(3.0, 2.0, (n, 4)) for n in (10, 1, 25)]
    for frames in per_stimulus:
        frames[:, 2] = 7.5  # constant over the pool
    scaled = minmax_normalise(per_stimulus)
    stacked = np.concatenate(scaled)
    np.testing.assert_allclose(stacked, minmax_scale(np.concatenate(per_stimulus)), atol=1e-12)
    np.testing.assert_array_equal(stacked[:, 2], 0.0)
    np.testing.assert_allclose(stacked[:, [0, 1, 3]].min(axis=0), 0.0)
    np.testing.assert_allclose(stacked[:, [0, 1, 3]].max(axis=0), 1.0)
    assert [len(frames) for frames in scaled] == [10, 1, 25]


# --- HRF regressors --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame_rate_hz", "oversampling", "tr_s"),
    [
        (50.0, 200, 2.0),  # the default: 10 ms grid, two cells per network frame
        (100.0, 200, 2.0),  # mel frames: one cell each
        (50.0, 16, 2.0),  # 125 ms grid: several 20 ms frames share a cell
        (100.0, 7, 1.5),  # 214 ms grid, another TR
    ],
)
def test_hrf_regressors_equal_nilearn_compute_regressor_per_feature(
    rng, frame_rate_hz, oversampling, tr_s
):
    n_scans = 45
    per_stimulus = [rng.random((int(n), 6)) for n in rng.integers(40, 300, 6)]
    per_stimulus[2] = per_stimulus[2][:0]  # a stimulus without frames contributes nothing
    onsets = np.sort(rng.uniform(0.0, n_scans * tr_s - 7.0, 6))
    fast = hrf_regressors(per_stimulus, frame_rate_hz, onsets, n_scans, tr_s, oversampling)
    reference = nilearn_regressors(per_stimulus, frame_rate_hz, onsets, n_scans, tr_s, oversampling)
    assert fast.shape == (n_scans, 6)
    np.testing.assert_allclose(fast, reference, rtol=1e-8, atol=1e-8 * np.abs(reference).max())


@pytest.mark.parametrize("start_time_s", [0.972, 1.5])
def test_hrf_regressors_at_a_slice_timing_reference_equal_nilearns(rng, start_time_s):
    """fMRIPrep's BOLD represents start_time_s into each TR: nilearn at those frame times."""
    n_scans, tr_s = 40, 2.0
    per_stimulus = [rng.random((int(n), 3)) for n in rng.integers(40, 200, 4)]
    onsets = np.sort(rng.uniform(0.0, n_scans * tr_s - 8.0, 4))
    fast = hrf_regressors(per_stimulus, 100.0, onsets, n_scans, tr_s, start_time_s=start_time_s)
    events = frame_events(per_stimulus, 100.0, onsets)
    frame_times = start_time_s + np.arange(n_scans) * tr_s
    for k in range(3):
        column, _ = compute_regressor(
            (events[0], events[1], events[2][:, k]), "glover", frame_times, oversampling=200
        )
        np.testing.assert_allclose(fast[:, k], column[:, 0], rtol=1e-8, atol=1e-10)
    assert not np.allclose(fast, hrf_regressors(per_stimulus, 100.0, onsets, n_scans, tr_s))


def test_constant_feature_over_a_sentence_gives_the_block_regressor():
    onset, duration_s, n_scans, tr_s = 10.003, 2.46, 30, 2.0
    frames = [np.ones((round(duration_s * 50), 1))]
    regressor = hrf_regressors(frames, 50.0, [onset], n_scans, tr_s)
    block, _ = compute_regressor(
        ([onset], [duration_s], [1.0]), "glover", np.arange(n_scans) * tr_s, oversampling=200
    )
    np.testing.assert_allclose(regressor, block, rtol=1e-8, atol=1e-10)
    assert np.argmax(regressor) * tr_s - onset == pytest.approx(6.0, abs=2.0)  # peak ~5-6 s after


def test_hrf_inputs_are_checked(rng):
    frames = [rng.random((100, 2)), rng.random((100, 2))]
    with pytest.raises(InputError, match="one onset per stimulus"):
        hrf_regressors(frames, 50.0, [0.0], 20, 2.0)
    with pytest.raises(InputError, match="end after the scan"):
        hrf_regressors(frames, 50.0, [0.0, 38.5], 20, 2.0)  # 38.5 + 2 s > 40 s
    with pytest.raises(InputError, match=">= 0"):
        hrf_regressors(frames, 50.0, [-1.0, 3.0], 20, 2.0)
    with pytest.raises(InputError, match="one dim"):
        hrf_regressors([frames[0], rng.random((10, 3))], 50.0, [0.0, 5.0], 20, 2.0)
    hrf_regressors(frames, 50.0, [0.0, 38.0], 20, 2.0)  # ends exactly at the scan's end: fine


# --- feature sets ----------------------------------------------------------------------------


def test_feature_sets_are_cumulative_over_levels(rng):
    dims = {"mel": 3, "conv1": 4, "conv2": 5, "conv3": 2, "gru": 6, "fc": 1}
    hrf_by_layer = {name: rng.random((12, dim)) for name, dim in dims.items()}
    sets = feature_sets(hrf_by_layer)
    assert sorted(sets) == sorted(
        ["L0", "L1", "L2", "L3", "L4", "L5"] + [f"layer-{n}" for n in LAYER_NAMES]
    )
    widths = np.cumsum(list(dims.values()))
    for k, name in enumerate(LEVEL_ORDER):
        level = sets[f"L{k}"]
        assert level.shape == (12, widths[k])
        np.testing.assert_array_equal(level[:, widths[k] - dims[name] :], hrf_by_layer[name])
        if k:
            np.testing.assert_array_equal(level[:, : widths[k - 1]], sets[f"L{k - 1}"])
            np.testing.assert_array_equal(sets[f"layer-{name}"], hrf_by_layer[name])
    with pytest.raises(ValueError, match="lacks"):
        feature_sets({"mel": hrf_by_layer["mel"]})


def test_layer_regressors_place_pool_normalised_stimuli_at_the_subjects_onsets(rng):
    names = ["s0", "s1", "s2", "s3"]
    layers = {
        name: [rng.normal(size=(int(n), 3)) for n in rng.integers(50, 150, 4)]
        for name in LEVEL_ORDER
    }
    rates = {name: (100.0 if name == "mel" else 50.0) for name in LEVEL_ORDER}
    features = Features(names, layers, rates)
    order, onsets = ["s2", "s0", "s3"], np.array([2.0, 9.5, 17.25])  # s1 not heard
    sets = feature_sets(layer_regressors(features, order, onsets, 20, 2.0))
    assert sets["L5"].shape == (20, 18)
    scaled = minmax_normalise(layers["conv2"])  # over all four stimuli, not just those heard
    expected = hrf_regressors([scaled[2], scaled[0], scaled[3]], 50.0, onsets, 20, 2.0)
    np.testing.assert_allclose(sets["layer-conv2"], expected, rtol=1e-12)
    np.testing.assert_array_equal(
        sets["L0"], layer_regressors(features, order, onsets, 20, 2.0)["mel"]
    )
    with pytest.raises(InputError, match="have no features"):
        layer_regressors(features, ["s9", "s0", "s1"], onsets, 20, 2.0)
