"""MOUS's own events files, the derived stimulus table, and the scans each sentence block keeps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from mous_files import mous_run, write_events

from audiobrain.brainscores.events import (
    analysed_scans,
    derive_stimulus_table,
    mous_events,
    read_events,
    scans_per_block,
)
from audiobrain.io import InputError, write_tsv


@pytest.fixture
def run_file(tmp_path):
    return write_events(tmp_path / "sub-A2002_task-auditory_events.tsv", mous_run())


def test_mous_events_give_the_60_sentences_and_60_word_lists(run_file):
    table = mous_events(run_file)
    assert list(table.columns) == ["onset", "duration", "trial_type", "stim_file", "block"]
    sentences = table[table["trial_type"] == "sentence"]
    word_lists = table[table["trial_type"] == "word_list"]
    assert len(sentences) == len(word_lists) == 60
    assert sentences.groupby("block").size().tolist() == [5] * 12
    assert sentences["stim_file"].iloc[0] == "audio_files/EQ_Ramp_Int2_Int1LPF001.wav"
    assert word_lists["stim_file"].iloc[0] == "audio_files/EQ_Ramp_Int2_Int1LPF501.wav"
    # onset at the Sound row, duration to its End of file
    np.testing.assert_allclose(sentences["duration"], 4.2)
    np.testing.assert_allclose(word_lists["duration"], 5.1)
    raw = pd.read_csv(run_file, sep="\t", dtype={"value": str})
    first_sound = raw[raw["type"] == "Sound"]["onset"].iloc[0]
    assert table["onset"].iloc[0] == first_sound
    assert np.all(np.diff(table["onset"]) > 0)


def test_word_list_first_runs_number_blocks_per_type(tmp_path):
    path = write_events(tmp_path / "events.tsv", mous_run(first="WOORDEN"))
    table = mous_events(path)
    assert table["trial_type"].iloc[0] == "word_list"
    assert table[table["trial_type"] == "sentence"]["block"].iloc[0] == 1


def _without(table: pd.DataFrame, type_: str, value: str, occurrence: int) -> pd.DataFrame:
    rows = table.index[(table["type"] == type_) & (table["value"] == value)]
    return table.drop(index=rows[occurrence]).reset_index(drop=True)


def _line_of(table: pd.DataFrame, type_: str, value_start: str, occurrence: int) -> int:
    rows = table.index[(table["type"] == type_) & table["value"].str.startswith(value_start)]
    return int(rows[occurrence]) + 2  # the header is line 1


def test_missing_end_of_file_names_the_file_and_the_sound_row(tmp_path):
    table = mous_run()
    broken = _without(table, "Nothing", "15 End of file", 7)
    path = write_events(tmp_path / "sub-A2002_task-auditory_events.tsv", broken)
    line = _line_of(broken, "Sound", "14 Start File", 7)
    with pytest.raises(
        InputError,
        match=rf"sub-A2002_task-auditory_events\.tsv: row {line}: Sound 'EQ_Ramp_Int2_Int1LPF\d+"
        r"\.wav' has no '15 End of file' row before the next Sound",
    ):
        mous_events(path)


def test_sentence_block_of_four_is_an_error(tmp_path):
    path = write_events(tmp_path / "events.tsv", mous_run(short_block=2))
    with pytest.raises(InputError, match=r"events\.tsv: row \d+: sentence block 2 has 4 sentences"):
        mous_events(path)


def test_unknown_row_type_is_an_error(tmp_path):
    table = mous_run()
    table.loc[40, "type"] = "Stimulus"
    path = write_events(tmp_path / "events.tsv", table)
    with pytest.raises(InputError, match=r"events\.tsv: row 42: unknown event type 'Stimulus'"):
        mous_events(path)


def test_audio_onset_code_of_the_other_block_type_is_an_error(tmp_path):
    table = mous_run()
    first_code = table.index[table["value"].str.endswith("Audio onset")][0]
    table.loc[first_code, "value"] = "3 Audio onset"  # a word-list code in a sentence block
    path = write_events(tmp_path / "events.tsv", table)
    with pytest.raises(
        InputError,
        match=rf"row {first_code + 2}: Audio-onset code 3 marks word_list audio, but the Sound at "
        r"row \d+ is in a sentence block",
    ):
        mous_events(path)


def test_sound_outside_the_scan_is_an_error(tmp_path):
    table = mous_run()
    last_pulses = table.index[table["type"] == "Pulse"][-40:]
    path = write_events(tmp_path / "events.tsv", table.drop(index=last_pulses))
    with pytest.raises(InputError, match=r"row \d+: sound from .* lies outside the scan"):
        mous_events(path)


def test_sound_before_any_block_instruction_is_an_error(tmp_path):
    table = mous_run()
    first = table.index[table["value"] == "ZINNEN"][0]
    path = write_events(tmp_path / "events.tsv", table.drop(index=first))
    with pytest.raises(InputError, match="Sound before any block instruction"):
        mous_events(path)


def test_sentence_tables_of_other_datasets_are_read_too(tmp_path):
    rows, t = [], 4.0
    for block in range(1, 4):
        for k in range(2):
            rows.append((t, 3.0, "sentence", f"s{block}{k}.wav", block))
            t += 9.0
        t += 10.0
    path = tmp_path / "events.tsv"
    write_tsv(
        pd.DataFrame(rows, columns=["onset", "duration", "trial_type", "stim_file", "block"]), path
    )
    table = derive_stimulus_table(path, "sentences", n_blocks=3, sentences_per_block=2)
    assert len(table) == 6
    with pytest.raises(InputError, match="3 sentence blocks, config dataset.n_blocks says 4"):
        derive_stimulus_table(path, "sentences", n_blocks=4, sentences_per_block=2)


def test_a_sentence_block_keeps_its_scans_between_the_word_lists_responses(run_file, tmp_path):
    """From the first sentence (or 16 s after the last word list) to 10 s after the last
    sentence (or the next word list's onset)."""
    derived = tmp_path / "derived.tsv"
    write_tsv(mous_events(run_file), derived)
    table = read_events(derived)
    scan_times = 0.972 + np.arange(700) * 2.0
    blocks = analysed_scans(table, scan_times, tail_s=10.0, carryover_s=16.0)
    sentences = table[table["trial_type"] == "sentence"]
    word_lists = table[table["trial_type"] == "word_list"]
    ends = word_lists["onset"] + word_lists["duration"]
    assert sorted(scans_per_block(blocks)) == list(range(1, 13))
    for block, rows in sentences.groupby("block"):
        kept = scan_times[blocks == block]
        before = ends[ends <= rows["onset"].min()]
        start = max(rows["onset"].min(), before.max() + 16.0 if len(before) else 0.0)
        assert kept.min() >= start and kept.min() - 2.0 < start
        last_end = (rows["onset"] + rows["duration"]).max()
        later = word_lists["onset"][word_lists["onset"] > last_end]
        stop = min(last_end + 10.0, later.min() if len(later) else np.inf)
        assert kept.max() < stop <= kept.max() + 2.0 + 1e-9
    # no kept scan falls inside a word list or the 16 s after it
    for onset, duration in zip(word_lists["onset"], word_lists["duration"], strict=True):
        inside = (scan_times >= onset) & (scan_times <= onset + duration + 16.0)
        assert not blocks[inside].any()
    every_scan = analysed_scans(table, scan_times, tail_s=10.0, carryover_s=0.0)
    assert (every_scan > 0).sum() > (blocks > 0).sum()


def test_interleaved_blocks_are_rejected(tmp_path):
    table = pd.DataFrame(
        {
            "onset": [4.0, 12.0, 20.0, 28.0, 36.0, 44.0],
            "duration": 3.0,
            "trial_type": "sentence",
            "stim_file": [f"s{k}.wav" for k in range(6)],
            "block": [1, 2, 1, 2, 3, 3],
        }
    )
    with pytest.raises(InputError, match="block 1 .* interleaves with a sentence of block 2"):
        analysed_scans(table, np.arange(40) * 2.0)


def test_derived_events_past_the_end_of_the_scan_are_an_error(tmp_path):
    path = tmp_path / "sub-01_task-auditory_desc-trials_events.tsv"
    write_tsv(
        pd.DataFrame(
            {
                "onset": [4.0, 30.0],
                "duration": 3.0,
                "trial_type": "sentence",
                "stim_file": ["a.wav", "b.wav"],
                "block": [1, 2],
            }
        ),
        path,
    )
    with pytest.raises(InputError, match=r"desc-trials_events\.tsv.*end after the scan"):
        read_events(path, n_scans=15, tr_s=2.0)
