"""The reconstruction demo: deterministic, balanced, distinguishable clips, recoverable fMRI."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from audiobrain.audio import SAMPLE_RATE_HZ
from audiobrain.demo.recon_dataset import (
    CLIP_SAMPLES,
    DEMO_GENRES,
    DEMO_SOUND_CATEGORIES,
    generate_demo_stimuli,
    simulate_demo_fmri,
    stimulus_properties,
    write_demo_fmri,
)
from audiobrain.io import InputError, load_npz
from audiobrain.recon.datasets import (
    STIMULUS_COLUMNS,
    check_sample_counts,
    read_stimuli,
    read_subject_fmri,
)


@pytest.fixture(scope="module")
def stimuli():
    return generate_demo_stimuli(n_train_stimuli=60, n_test_stimuli=20, n_prompt=4, seed=0)


def mel_statistics(waveforms: np.ndarray) -> np.ndarray:
    mel = librosa.feature.melspectrogram(y=waveforms, sr=SAMPLE_RATE_HZ, n_mels=40)
    log_mel = np.log(mel + 1e-8)
    return np.concatenate([log_mel.mean(axis=-1), log_mel.std(axis=-1)], axis=-1)


def test_same_seed_same_bytes_and_wavs(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    options = dict(n_train_stimuli=6, n_test_stimuli=3, n_prompt=2, seed=5)
    generate_demo_stimuli(first, write_wavs=True, **options)
    generate_demo_stimuli(second, **options)
    for name in ("stimuli.tsv", "stimuli.npz", "stimuli.json"):
        assert (first / name).read_bytes() == (second / name).read_bytes()
    assert len(list((first / "wav").glob("*.wav"))) == 11
    other = generate_demo_stimuli(**{**options, "seed": 6})
    assert not np.array_equal(other.waveforms, load_npz(first / "stimuli.npz")["waveform"])
    loaded = read_stimuli(first)
    assert list(loaded.table.columns) == list(STIMULUS_COLUMNS)


def test_format_and_balanced_labels(stimuli):
    table, waveforms = stimuli.table, stimuli.waveforms
    assert waveforms.shape == (84, CLIP_SAMPLES) and waveforms.dtype == np.float32
    assert CLIP_SAMPLES == 24_000  # 1.5 s at 16 kHz
    assert np.all(np.abs(waveforms).max(axis=1) > 0.4) and np.abs(waveforms).max() <= 0.9
    assert table["split"].value_counts().to_dict() == {"train": 60, "test": 20, "prompt": 4}
    assert table["stimulus_id"].is_unique
    for split in ("train", "test"):
        counts = table.loc[table["split"] == split, "label"].value_counts()
        assert len(counts) == 10 and counts.max() - counts.min() <= 1
    prompts = table[table["split"] == "prompt"]
    assert set(prompts["kind"]) == {"speech"}
    assert sorted(prompts["label"]) == ["female", "female", "male", "male"]
    assert set(table.loc[table["kind"] == "music", "label"]) == set(DEMO_GENRES)
    assert set(table.loc[table["kind"] == "sound", "label"]) == set(DEMO_SOUND_CATEGORIES)


@pytest.mark.parametrize("kind", ["speech", "music", "sound"])
def test_labels_are_distinguishable_from_mel_statistics(stimuli, kind):
    rows = (stimuli.table["kind"] == kind).to_numpy()
    features = mel_statistics(stimuli.waveforms[rows])
    labels = stimuli.table.loc[rows, "label"].to_numpy()
    classifier = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))
    folds = StratifiedKFold(n_splits=4, shuffle=True, random_state=0)
    accuracy = cross_val_score(classifier, features, labels, cv=folds).mean()
    chance = 1 / len(set(labels))
    assert accuracy >= max(0.85, chance + 0.3), (kind, accuracy)


def split_properties(stimuli) -> tuple[dict, dict]:
    table = stimuli.table
    train = (table["split"] == "train").to_numpy()
    test = (table["split"] == "test").to_numpy()
    properties = stimulus_properties(stimuli.waveforms, table["label"].to_numpy(str), train)
    return (
        {name: values[train] for name, values in properties.items()},
        {name: values[test] for name, values in properties.items()},
    )


@pytest.fixture(scope="module")
def simulated(stimuli):
    train, test = split_properties(stimuli)
    subjects, truth = simulate_demo_fmri(
        train, test, stimuli.table, n_subjects=2, n_voxels=100, n_repetitions=4, noise=0.7, seed=3
    )
    return train, test, subjects, truth


def test_properties_split_category_from_within_category_detail(stimuli):
    train, test = split_properties(stimuli)
    labels = stimuli.table.loc[stimuli.table["split"] == "train", "label"].to_numpy(str)
    assert train["category"].shape == (60, 10) and (train["category"].sum(axis=1) == 1).all()
    detail = train["detail"]
    # within-category detail: its class means vanish on the training clips ...
    for label in np.unique(labels):
        np.testing.assert_allclose(detail[labels == label].mean(axis=0), 0.0, atol=1e-9)
    # ... so it does not tell the categories apart, while it tells the clips apart
    accuracy = cross_val_score(LogisticRegression(max_iter=2000), detail, labels, cv=3).mean()
    assert accuracy < 0.3  # chance 0.1
    assert np.linalg.matrix_rank(detail) > 20


def test_fmri_in_the_common_format(stimuli, simulated, tmp_path):
    _, _, subjects, truth = simulated
    assert [fmri.subject for fmri in subjects] == ["01", "02"]
    fmri = subjects[0]
    assert fmri.train_voxels.shape == (240, 100) and fmri.train_voxels.dtype == np.float32
    assert fmri.test_voxels.shape == (20, 100)
    train_ids = stimuli.table.loc[stimuli.table["split"] == "train", "stimulus_id"]
    assert sorted(np.unique(fmri.train_stimulus, return_counts=True)[1]) == [4] * 60
    assert set(fmri.train_stimulus) == set(train_ids)
    assert not set(fmri.test_stimulus) & set(
        stimuli.table.loc[stimuli.table["split"] != "test", "stimulus_id"]
    )
    roles = truth["subjects"]["01"]["role"]
    assert {role: int((roles == role).sum()) for role in truth["roles"]} == {
        "semantic": 25, "acoustic": 25, "mixed": 20, "noise": 30,
    }  # fmt: skip
    write_demo_fmri(tmp_path, subjects, truth)
    loaded = read_subject_fmri(tmp_path / "sub-02_fmri.npz")
    np.testing.assert_array_equal(loaded.test_voxels, subjects[1].test_voxels)
    assert set(load_npz(tmp_path / "sub-02_truth.npz")) >= {"role", "signal_test"}
    counts = check_sample_counts("demo", [loaded])
    assert counts["matches"].all() and counts["expected"].isna().all()


def voxel_correlations(prediction: np.ndarray, observed: np.ndarray) -> np.ndarray:
    p = (prediction - prediction.mean(0)) / prediction.std(0)
    o = (observed - observed.mean(0)) / observed.std(0)
    return (p * o).mean(0)


def test_category_is_in_semantic_voxels_and_detail_in_acoustic_ones(simulated):
    """The coarse-to-fine premise: each voxel kind carries one property and not the other."""
    train, test, subjects, truth = simulated
    fmri, roles = subjects[0], truth["subjects"]["01"]["role"]
    index = {stimulus_id: row for row, stimulus_id in enumerate(np.unique(fmri.train_stimulus))}
    order = [index[s] for s in fmri.train_stimulus]  # properties are in table order = sorted ids
    scores = {}
    for family in ("category", "detail"):
        model = Ridge(alpha=10.0).fit(train[family][order], fmri.train_voxels)
        scores[family] = voxel_correlations(model.predict(test[family]), fmri.test_voxels)
    assert scores["category"][roles == "semantic"].mean() > 0.7
    assert scores["detail"][roles == "acoustic"].mean() > 0.5
    assert abs(scores["category"][roles == "acoustic"].mean()) < 0.2
    assert abs(scores["detail"][roles == "semantic"].mean()) < 0.2
    for family in scores:
        assert scores[family][roles == "mixed"].mean() > 0.25
        assert abs(scores[family][roles == "noise"].mean()) < 0.15


def test_test_averaging_reduces_noise(simulated):
    _, _, subjects, truth = simulated
    fmri, planted = subjects[0], truth["subjects"]["01"]
    ids = sorted(set(fmri.train_stimulus))
    row = {stimulus_id: k for k, stimulus_id in enumerate(ids)}
    train_residual = (
        fmri.train_voxels
        - planted["baseline"]
        - planted["signal_train"][[row[s] for s in fmri.train_stimulus]]
    )
    test_residual = fmri.test_voxels - planted["baseline"] - planted["signal_test"]
    assert train_residual.std() == pytest.approx(0.7, rel=0.1)
    assert test_residual.std() == pytest.approx(0.7 / 2, rel=0.15)  # four repetitions averaged


def test_simulation_checks_its_features(stimuli):
    train, test = split_properties(stimuli)
    with pytest.raises(InputError, match="20 rows for 19"):
        table = stimuli.table.drop(index=stimuli.table.index[stimuli.table["split"] == "test"][0])
        simulate_demo_fmri(train, test, table)
    with pytest.raises(InputError, match="no 'category' family"):
        simulate_demo_fmri({"detail": train["detail"]}, test, stimuli.table)
    subjects, _ = simulate_demo_fmri(train, test, stimuli.table, n_voxels=10, n_repetitions=1)
    assert subjects[0].train_voxels.shape == (60, 10)
