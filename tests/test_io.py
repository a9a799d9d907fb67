"""Atomic, deterministic writers and readers that name the file in their errors."""

from __future__ import annotations

import os

import numpy as np
import pytest

from audiobrain import io


def test_npz_bytes_are_identical_across_writes(tmp_path):
    arrays = {"r": np.arange(12, dtype=np.float32).reshape(3, 4), "names": np.asarray(["L0", "L1"])}
    io.save_arrays(tmp_path / "a.npz", arrays, {"seed": 0})
    io.save_arrays(tmp_path / "b.npz", arrays, {"seed": 0})
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    loaded = io.load_npz(tmp_path / "a.npz")
    np.testing.assert_array_equal(loaded["r"], arrays["r"])
    assert io.load_json(tmp_path / "a.json")["shapes"]["r"] == [3, 4]


def test_failed_write_leaves_no_output(tmp_path):
    target = tmp_path / "out.npz"
    with pytest.raises(RuntimeError), io.atomic_path(target) as tmp:
        tmp.write_text("partial")
        raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_gifti_round_trip_keeps_data_and_repetition_time(tmp_path):
    data = np.random.default_rng(0).normal(size=(5, 7)).astype(np.float32)
    path = tmp_path / "sub-01_hemi-L_space-fsaverage5_bold.func.gii"
    io.write_gifti_timeseries(path, data, tr_s=2.0)
    np.testing.assert_allclose(io.read_gifti_timeseries(path, expected_vertices=7), data)
    assert io.gifti_repetition_time(path) == pytest.approx(2.0)


def test_gifti_with_wrong_vertex_count_names_the_file(tmp_path):
    path = tmp_path / "sub-01_hemi-L_space-fsaverage5_bold.func.gii"
    io.write_gifti_timeseries(path, np.zeros((3, 100)), tr_s=2.0)
    with pytest.raises(io.InputError, match=r"hemi-L.*expected 10242 vertices.*found 100"):
        io.read_gifti_timeseries(path, expected_vertices=10242)


def test_missing_tsv_column_names_file_and_column(tmp_path):
    path = tmp_path / "events.tsv"
    path.write_text("onset\tduration\n0\t1\n")
    with pytest.raises(io.InputError, match=r"events.tsv.*missing column.*'block'"):
        io.read_tsv(path, required=("onset", "duration", "block"))


def test_outputs_get_the_usual_permissions_not_mkstemps_0600(tmp_path):
    io.save_json(tmp_path / "a.json", {"x": 1})
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o666 & ~umask


HTML_ERROR_PAGE = b"<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1></body></html>\n"


def _truncated(tmp_path, name, write):
    """A real file of the kind, cut to half its bytes (an interrupted download)."""
    path = tmp_path / name
    write(path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return path


def _html(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(HTML_ERROR_PAGE)
    return path


READERS = {
    "npz": (
        "bold.npz",
        lambda path: io.save_npz(path, {"bold": np.ones((40, 30))}),
        io.load_npz,
        "a numpy .npz archive",
    ),
    "gifti": (
        "sub-01_hemi-L_bold.func.gii",
        lambda path: io.write_gifti_timeseries(path, np.ones((5, 12)), 2.0),
        io.read_gifti_timeseries,
        "a GIfTI time series",
    ),
    "json": (
        "bold.json",
        lambda path: io.save_json(path, {"RepetitionTime": 2.0, "SliceTiming": [0.0, 1.0]}),
        io.load_json,
        "JSON",
    ),
}


@pytest.mark.parametrize("kind", sorted(READERS))
@pytest.mark.parametrize("damage", ["truncated", "html page"])
def test_a_damaged_file_is_an_error_that_names_it_and_what_was_expected(tmp_path, kind, damage):
    name, write, read, expected = READERS[kind]
    path = _truncated(tmp_path, name, write) if damage == "truncated" else _html(tmp_path, name)
    with pytest.raises(io.InputError) as error:
        read(path)
    assert str(path) in str(error.value) and expected in str(error.value)


def test_a_binary_file_under_a_table_name_names_the_file(tmp_path):
    path = tmp_path / "sub-01_task-auditory_events.tsv"
    path.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(io.InputError, match=r"events\.tsv: cannot be read as a tab-separated"):
        io.read_tsv(path)


def test_nan_values_name_the_file_and_count_whole_columns(tmp_path):
    bold = np.ones((6, 5))
    bold[:, 1] = np.nan  # a vertex NaN at every scan (fMRIPrep's --medial-surface-nan)
    bold[2, 3] = np.inf
    path = tmp_path / "sub-01_hemi-L_bold.func.gii"
    with pytest.raises(io.InputError) as error:
        io.require_finite(bold, path, "BOLD")
    message = str(error.value)
    assert str(path) in message and "BOLD: 7 NaN/inf value(s) in 2 column(s), 1 of them" in message
    assert io.require_finite(np.ones(3), path, "x") is not None


def test_a_nan_sample_in_a_stimulus_wav_names_the_wav(tmp_path):
    import soundfile as sf

    from audiobrain import audio

    path = tmp_path / "EQ_Ramp_Int2_Int1LPF001.wav"
    samples = np.zeros(1600, dtype=np.float32)
    samples[100] = np.nan
    sf.write(path, samples, 16000, subtype="FLOAT")
    with pytest.raises(io.InputError, match=r"LPF001\.wav: audio samples .*1 NaN/inf value"):
        audio.load_audio(path)
