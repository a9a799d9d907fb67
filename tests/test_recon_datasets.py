"""Loaders of Brain2Sound, Brain2Music and Brain2Speech on tiny fake copies of the real layouts."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from audiobrain.io import InputError
from audiobrain.recon.datasets import (
    STIMULUS_COLUMNS,
    SubjectFMRI,
    check_sample_counts,
    prepare_brain2music,
    prepare_brain2sound,
    prepare_brain2speech,
    read_stimuli,
    read_subject_fmri,
)

h5py = pytest.importorskip("h5py")

SR = 16_000


def write_ramp(path, duration_s: float, sr_hz: int = SR, slope: float = 0.01) -> None:
    """Audio whose sample value tells the time: ``slope * t`` (float WAV, exact)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(round(duration_s * sr_hz)) / sr_hz
    sf.write(path, (slope * t).astype(np.float32), sr_hz, subtype="FLOAT")


def assert_common_format(folder, clip_samples: int):
    stimuli = read_stimuli(folder)
    assert list(stimuli.table.columns) == list(STIMULUS_COLUMNS)
    assert stimuli.waveforms.dtype == np.float32
    assert stimuli.waveforms.shape == (len(stimuli.table), clip_samples)
    return stimuli


# --------------------------------------------------------------------------------------------
# Brain2Sound: bdpy BData HDF5


def write_bdata(path, names: list[str], voxels: np.ndarray, roi_of_voxel: list[str]) -> None:
    """A bdpy file: column 0 holds sample_name codes, then one column per voxel."""
    codes = {name: float(k + 1) for k, name in enumerate(sorted(set(names)))}
    dataset = np.column_stack([[codes[n] for n in names], voxels])
    keys = ["sample_name", "VoxelData", *sorted(set(roi_of_voxel))]
    value = np.full((len(keys), dataset.shape[1]), np.nan)
    value[0, 0] = 1
    value[1, 1:] = 1
    for column, roi in enumerate(roi_of_voxel, start=1):
        value[keys.index(roi), column] = 1
    with h5py.File(path, "w") as handle:
        handle["dataset"] = dataset
        handle["metadata/key"] = np.asarray(keys, dtype="S")
        handle["metadata/description"] = np.asarray(keys, dtype="S")
        handle["metadata/value"] = value
        for name, code in codes.items():
            handle[f"vmap/sample_name/{code}"] = name


ROIS = ["hcp180_r_lh.L_A1_ROI", "hcp180_r_rh.R_LBelt_ROI", "hcp180_r_lh.L_V1_ROI"] * 2


@pytest.fixture
def brain2sound(tmp_path):
    root = tmp_path / "sound"
    (root / "fmri_data").mkdir(parents=True)
    train_clips = ["ytA_train", "ytB_train", "gone_train"]  # gone_train has no audio
    names, values = [], []
    for rep in range(2):
        for clip_index, clip in enumerate(train_clips):
            for k in range(3):
                names.append(f"{clip}_slide{k}")
                values.append(np.full(6, 100 * clip_index + 10 * k + rep))
    write_bdata(
        root / "fmri_data/S1_VGGishishTrain_volume_native.h5", names, np.array(values), ROIS
    )
    names, values = [], []
    for rep in range(3):
        for k in range(3):
            names.append(f"ytT_test_slide{k}")
            values.append(np.full(6, 10 * k + rep))
    write_bdata(root / "fmri_data/S1_VGGishishTest_volume_native.h5", names, np.array(values), ROIS)
    for clip in ("ytA_train", "ytB_train", "ytT_test"):
        write_ramp(root / "stimuli" / f"{clip}.wav", 8.0)
    pd.DataFrame(
        {"YouTube ID": ["ytA", "ytB", "ytT"], "start seconds": [0, 0, 0], "end seconds": [8000] * 3,
         "label": ["dog barking", "playing flute", "rain"], "split": ["decoder_train"] * 3}
    ).to_csv(root / "SoundReconstruction_stimulus.csv", index=False)  # fmt: skip
    return root


def test_brain2sound_windows_repetitions_and_rois(brain2sound, tmp_path, caplog):
    out = tmp_path / "out"
    with caplog.at_level(logging.WARNING):  # a tiny copy: far below Table 4, so no limit here
        counts = prepare_brain2sound(brain2sound, out, subjects=["S1"], max_missing_audio=1.0)
    stimuli = assert_common_format(out, 4 * SR)
    table = stimuli.table.set_index("stimulus_id")
    assert table["split"].value_counts().to_dict() == {"train": 6, "test": 3}
    assert table.loc["ytB_train_slide2", "label"] == "playing flute"
    assert table.loc["ytB_train_slide2", "start_s"] == 4.0
    assert set(table["kind"]) == {"sound"}
    for k in range(3):  # window k is [2k, 2k + 4) s of the 8 s clip
        row = list(table.index).index(f"ytA_train_slide{k}")
        waveform = stimuli.waveforms[row]
        assert waveform[0] == pytest.approx(0.01 * 2 * k, abs=1e-6)
        assert waveform[-1] == pytest.approx(0.01 * (2 * k + 4), abs=1e-3)
    fmri = read_subject_fmri(out / "sub-S1_fmri.npz")
    assert fmri.train_voxels.shape == (12, 4)  # 2 clips x 3 windows x 2 repetitions; AC only
    assert "gone_train_slide0" not in set(fmri.train_stimulus)
    row = list(fmri.train_stimulus).index("ytB_train_slide1")
    assert fmri.train_voxels[row, 0] in (110, 111)  # repetitions kept separate
    np.testing.assert_array_equal(fmri.test_stimulus, [f"ytT_test_slide{k}" for k in range(3)])
    np.testing.assert_allclose(fmri.test_voxels[:, 0], [1, 11, 21])  # mean of repetitions 0-2
    assert not counts["matches"].any() and set(counts["quantity"]) == {"train", "test", "voxels"}
    assert "Table 4 lists 13872" in caplog.text and "no audio" in caplog.text
    assert (out / "sample_counts.tsv").is_file()


def test_brain2sound_errors_name_paths_and_config_keys(brain2sound, tmp_path):
    with pytest.raises(InputError, match="recon.datasets.brain2sound.root"):
        prepare_brain2sound(tmp_path / "nowhere", tmp_path / "out")
    with pytest.raises(InputError, match="S2_VGGishishTrain_volume_native.h5"):
        prepare_brain2sound(brain2sound, tmp_path / "out", subjects=["S1", "S2"])
    test_file = brain2sound / "fmri_data/S1_VGGishishTest_volume_native.h5"
    write_bdata(test_file, ["ytT_test_slide0"], np.ones((1, 3)), ROIS[:3])
    with pytest.raises(InputError, match="S1_VGGishishTest_volume_native.h5.*2 voxels"):
        prepare_brain2sound(brain2sound, tmp_path / "out", subjects=["S1"], max_missing_audio=1.0)


# --------------------------------------------------------------------------------------------
# Brain2Music: ds003720 + GTZAN

PIECES = {  # run -> events (genre as quoted in the real files, track, start)
    ("Training", 1): [("'jazz'", 1, 0.5), ("'metal'", 2, 1.0), ("'jazz'", 3, 2.0)],
    ("Training", 2): [("'jazz'", 3, 2.0), ("classical'", 4, 0.0), ("'metal'", 5, 3.0)],
    ("Test", 1): [("'pop'", 6, 1.0), ("'pop'", 6, 1.0), ("'rock'", 7, 2.5)],
    ("Test", 2): [("'rock'", 7, 2.5), ("'pop'", 6, 1.0), ("'rock'", 7, 2.5)],
}


@pytest.fixture
def brain2music(tmp_path):
    root, gtzan = tmp_path / "ds003720", tmp_path / "gtzan"
    func = root / "sub-001" / "func"
    func.mkdir(parents=True)
    for (task, run), events in PIECES.items():
        rows = [(15 * i, 15, g, t, s, s + 15) for i, (g, t, s) in enumerate(events)]
        table = pd.DataFrame(rows, columns=["onset", "duration", "genre", "track", "start", "end"])
        table.to_csv(func / f"sub-001_task-{task}_run-{run:02d}_events.tsv", sep="\t", index=False)
    for genre, track in {(g.strip("'"), t) for e in PIECES.values() for g, t, _ in e}:
        write_ramp(gtzan / "genres" / genre / f"{genre}.{track:05d}.wav", 20.0, sr_hz=22_050)
    preprocessed = root / "derivative" / "preprocessed_data" / "sub-001"
    preprocessed.mkdir(parents=True)
    for task in ("Training", "Test"):  # 2 runs x 2 kept events x 10 TRs; value = row number
        responses = np.repeat(np.arange(40, dtype=np.float32)[:, None], 3, axis=1)
        np.save(preprocessed / f"sub-001_Resp_{task}.npy", responses)
    return root, gtzan


def test_brain2music_clips_pairing_and_test_averaging(brain2music, tmp_path):
    root, gtzan = brain2music
    out = tmp_path / "out"
    prepare_brain2music(root, gtzan, out, subjects=["001"])
    stimuli = assert_common_format(out, 24_000)
    table = stimuli.table
    assert table["split"].value_counts().to_dict() == {"train": 40, "test": 20}
    assert set(table["label"]) == {"jazz", "metal", "classical", "pop", "rock"}
    row = table.index[table["stimulus_id"] == "metal.00002_001000ms_clip03"][0]
    assert table.loc[row, "start_s"] == pytest.approx(1.0 + 3 * 1.5)
    middle = stimuli.waveforms[row][12_000]  # 0.75 s into the clip, outside the fades
    assert middle == pytest.approx(0.01 * (1.0 + 3 * 1.5 + 0.75), abs=2e-4)
    assert stimuli.waveforms[table.index[table["stimulus_id"].str.endswith("clip00")][0]][0] == 0
    fmri = read_subject_fmri(out / "sub-001_fmri.npz")
    # run 1 keeps metal 2 and jazz 3 (its first event repeats); TR r <-> clip r % 10
    assert fmri.train_stimulus[3] == "metal.00002_001000ms_clip03"
    assert fmri.train_voxels[3, 0] == 3
    assert fmri.train_stimulus[13] == "jazz.00003_002000ms_clip03"
    assert len(fmri.test_stimulus) == 20
    # pop 6 is heard at test rows 0-9 and 20-29, rock 7 at 10-19 and 30-39
    k = list(fmri.test_stimulus).index("pop.00006_001000ms_clip02")
    assert fmri.test_voxels[k, 0] == pytest.approx((2 + 22) / 2)


def test_brain2music_row_count_mismatch_is_an_error(brain2music, tmp_path):
    root, gtzan = brain2music
    path = root / "derivative/preprocessed_data/sub-001/sub-001_Resp_Test.npy"
    np.save(path, np.zeros((39, 3), dtype=np.float32))
    with pytest.raises(InputError, match="sub-001_Resp_Test.npy: expected 40 rows"):
        prepare_brain2music(root, gtzan, tmp_path / "out", subjects=["001"])
    with pytest.raises(InputError, match="recon.datasets.brain2music.gtzan_root"):
        prepare_brain2music(root, tmp_path / "no-gtzan", tmp_path / "out", subjects=["001"])


# --------------------------------------------------------------------------------------------
# Brain2Speech: ds003020


@pytest.fixture
def brain2speech(tmp_path):
    root = tmp_path / "ds003020"
    folder = root / "derivative" / "preprocessed_data" / "UTS01"
    folder.mkdir(parents=True)
    n_rows = 8  # volumes at 10, 12, ..., 24 s; paired clips start at 6, ..., 20 s
    for story in ("storya", "storyb", "hangtime"):
        with h5py.File(folder / f"{story}.hf5", "w") as handle:
            handle["data"] = np.arange(n_rows * 4, dtype=np.float32).reshape(n_rows, 4)
    repeats = np.stack([np.full((n_rows, 4), r, dtype=np.float32) for r in (1.0, 2.0, 6.0)])
    repeats[:, :, 0] += np.arange(n_rows)[None, :]
    with h5py.File(folder / "wheretheressmoke.hf5", "w") as handle:
        handle["individual_repeats"] = repeats
        handle["data"] = repeats.mean(axis=0)
    for story, duration_s in (("storya", 22.0), ("storyb", 21.0), ("hangtime", 22.0),
                              ("wheretheressmoke", 22.0)):  # fmt: skip
        write_ramp(root / "stimuli" / f"{story}.wav", duration_s)
    return root


def test_brain2speech_lag_prompts_and_repeats(brain2speech, tmp_path):
    out = tmp_path / "out"
    prepare_brain2speech(
        brain2speech,
        out,
        subjects=["UTS01"],
        train_stories=["storya", "storyb"],
        n_prompt=2,
        story_genders={"storya": "female"},
    )
    stimuli = assert_common_format(out, 2 * SR)
    table = stimuli.table.set_index("stimulus_id")
    # volume j (at 10 + 2j s) is paired with the clip starting 4 s earlier
    for clip in range(3, 11):
        assert table.loc[f"storya_clip{clip:04d}", "start_s"] == 2 * clip
        row = list(table.index).index(f"storya_clip{clip:04d}")
        assert stimuli.waveforms[row][0] == pytest.approx(0.01 * 2 * clip, abs=1e-6)
    assert "storyb_clip0010" not in table.index  # [20, 22) s runs past the 21 s story
    assert table.loc["storya_clip0005", "label"] == "female"
    assert table.loc["storyb_clip0005", "label"] == "n/a"
    assert table.loc["hangtime_clip0005", "label"] == "male"
    prompts = sorted(table.index[table["split"] == "prompt"])
    assert prompts == ["hangtime_clip0009", "hangtime_clip0010",
                       "wheretheressmoke_clip0009", "wheretheressmoke_clip0010"]  # fmt: skip
    fmri = read_subject_fmri(out / "sub-UTS01_fmri.npz")
    assert len(fmri.train_stimulus) == 8 + 7
    assert not set(prompts) & set(fmri.test_stimulus)
    assert len(fmri.test_stimulus) == 2 * (8 - 2)
    row = list(fmri.train_stimulus).index("storya_clip0005")
    assert fmri.train_voxels[row, 0] == 2 * 4  # volume 2 of storya
    row = list(fmri.test_stimulus).index("wheretheressmoke_clip0004")
    assert fmri.test_voxels[row, 0] == pytest.approx(3.0 + 1)  # mean of repeats 1, 2, 6 + row 1
    assert read_subject_fmri(out / "sub-UTS01_fmri.npz").train_voxels.shape[1] == 4


def test_brain2speech_voxel_masks_and_errors(brain2speech, tmp_path):
    mask = np.array([True, False, True, False])
    with pytest.raises(InputError, match=r"UTS01: 2 \(Table 4: 836\).*allow_voxel_count_mismatch"):
        prepare_brain2speech(
            brain2speech, tmp_path / "out", subjects=["UTS01"], train_stories=["storya"],
            n_prompt=2, voxel_masks={"UTS01": mask},
        )  # fmt: skip
    prepare_brain2speech(
        brain2speech, tmp_path / "out", subjects=["UTS01"], train_stories=["storya"],
        n_prompt=2, voxel_masks={"UTS01": mask}, allow_voxel_count_mismatch=True,
    )  # fmt: skip
    fmri = read_subject_fmri(tmp_path / "out/sub-UTS01_fmri.npz")
    assert fmri.test_voxels.shape == (12, 2) and fmri.train_voxels.shape == (8, 2)
    np.testing.assert_array_equal(fmri.train_voxels[:, 1], np.arange(8) * 4 + 2)  # voxel 2 kept
    with pytest.raises(InputError, match="UTS02/storya.hf5.*recon.datasets.brain2speech.root"):
        prepare_brain2speech(
            brain2speech, tmp_path / "o2", subjects=["UTS02"], train_stories=["storya"]
        )
    with pytest.raises(InputError, match="recon.datasets.brain2speech.root"):
        prepare_brain2speech(tmp_path / "missing", tmp_path / "o3")


def test_sample_count_check_warns_on_counts_and_raises_on_inconsistency(caplog):
    good = SubjectFMRI("001", np.zeros((4800, 60_784), np.float32), np.array(["a"] * 4800),
                       np.zeros((600, 60_784), np.float32), np.array(["b"] * 600))  # fmt: skip
    with caplog.at_level(logging.WARNING):
        table = check_sample_counts("brain2music", [good])
    assert table["matches"].all() and not caplog.text
    assert list(table.columns) == ["subject", "quantity", "expected", "found", "matches"]
    bad = SubjectFMRI("001", np.zeros((5, 3)), np.array(["a"] * 5), np.zeros((2, 4)),
                      np.array(["b"] * 2), source="somewhere/sub-001_fmri.npz")  # fmt: skip
    with pytest.raises(InputError, match="somewhere/sub-001_fmri.npz.*3 voxels.*4"):
        check_sample_counts("brain2music", [bad])


def test_a_nan_voxel_in_a_subjects_fmri_names_the_file_and_the_part(brain2sound, tmp_path):
    out = tmp_path / "out"
    prepare_brain2sound(brain2sound, out, subjects=["S1"], max_missing_audio=1.0)
    path = out / "sub-S1_fmri.npz"
    arrays = dict(np.load(path))
    arrays["test_voxels"] = arrays["test_voxels"].astype(np.float32)
    arrays["test_voxels"][:, 2] = np.nan
    np.savez(path, **arrays)
    with pytest.raises(InputError, match=r"sub-S1_fmri\.npz: test_voxels .*3 NaN/inf value"):
        read_subject_fmri(path)
