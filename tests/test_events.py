"""Sentence events: validation against the scan and the TR-to-block assignment."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from audiobrain.events import read_sentence_events, tr_blocks
from audiobrain.io import InputError, write_tsv


def events_table(n_blocks=3, per_block=2, gap_s=6.0, rest_s=10.0):
    rows, t = [], 4.0
    for block in range(1, n_blocks + 1):
        for k in range(per_block):
            rows.append((t, 3.0, "sentence", f"s{block}{k}.wav", block))
            t += 3.0 + gap_s
        t += rest_s
    rows.append((1.0, 0.5, "fixation", "n/a", 0))
    return pd.DataFrame(rows, columns=["onset", "duration", "trial_type", "stim_file", "block"])


def test_sentence_events_are_read_sorted_with_stimulus_ids(tmp_path):
    path = tmp_path / "sub-01_task-auditory_events.tsv"
    write_tsv(events_table(), path)
    events = read_sentence_events(path, n_scans=60, tr_s=2.0)
    assert len(events) == 6
    assert np.all(np.diff(events["onset"]) > 0)
    assert events["stim_id"].tolist()[:2] == ["s10", "s11"]


def test_event_past_the_end_of_the_scan_is_an_error(tmp_path):
    path = tmp_path / "sub-01_task-auditory_events.tsv"
    write_tsv(events_table(), path)
    with pytest.raises(InputError, match=r"sub-01_task-auditory_events.tsv.*end after the scan"):
        read_sentence_events(path, n_scans=20, tr_s=2.0)


def test_every_tr_belongs_to_one_contiguous_block(tmp_path):
    path = tmp_path / "events.tsv"
    write_tsv(events_table(), path)
    events = read_sentence_events(path, n_scans=60, tr_s=2.0)
    blocks = tr_blocks(events, n_scans=60, tr_s=2.0)
    assert blocks.shape == (60,)
    assert blocks[0] == 1 and blocks[-1] == 3
    assert np.count_nonzero(np.diff(blocks)) == 2
    second_block_onset = events.loc[events["block"] == 2, "onset"].min()
    assert blocks[int(np.ceil(second_block_onset / 2.0))] == 2


def test_interleaved_blocks_are_rejected(tmp_path):
    table = events_table()
    table.loc[table["trial_type"] == "sentence", "block"] = [1, 2, 1, 2, 3, 3]
    path = tmp_path / "events.tsv"
    write_tsv(table, path)
    events = read_sentence_events(path, n_scans=60, tr_s=2.0)
    with pytest.raises(InputError, match="not contiguous"):
        tr_blocks(events, n_scans=60, tr_s=2.0)
