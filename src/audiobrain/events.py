"""Sentence events: reading, validation against the scan, and the block of every TR."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from audiobrain.io import InputError, read_tsv

EVENT_COLUMNS = ("onset", "duration", "stim_file", "block")


def read_sentence_events(
    path: str | os.PathLike,
    n_scans: int,
    tr_s: float,
    trial_type: str | None = "sentence",
) -> pd.DataFrame:
    """Sentence events sorted by onset, with a ``stim_id`` column (the stimulus file's stem).

    Rows whose ``trial_type`` differs from ``trial_type`` are dropped (MOUS also lists word
    lists, which the paper does not analyse, section 2.1). Each event must end inside the scan.
    """
    events = read_tsv(path, required=EVENT_COLUMNS)
    if trial_type is not None and "trial_type" in events.columns:
        events = events[events["trial_type"] == trial_type]
    if events.empty:
        raise InputError(f"{path}: no sentence events (trial_type == {trial_type!r})")
    for column in ("onset", "duration", "block"):
        if events[column].isna().any() or not pd.api.types.is_numeric_dtype(events[column]):
            raise InputError(f"{path}: column {column!r} must be numeric with no n/a values")
    scan_end_s = n_scans * tr_s
    ends = events["onset"] + events["duration"]
    late = events[ends > scan_end_s]
    if not late.empty:
        first = late.iloc[0]
        raise InputError(
            f"{path}: {len(late)} event(s) end after the scan ({n_scans} scans x {tr_s} s = "
            f"{scan_end_s:g} s); first: onset {first['onset']:g} s, "
            f"duration {first['duration']:g} s"
        )
    if (events["onset"] < 0).any():
        raise InputError(f"{path}: column 'onset' has negative values")
    events = events.sort_values("onset", kind="stable").reset_index(drop=True)
    events["stim_id"] = [Path(str(f)).stem for f in events["stim_file"]]
    events["block"] = events["block"].astype(int)
    return events


def tr_blocks(events: pd.DataFrame, n_scans: int, tr_s: float) -> np.ndarray:
    """The sentence block of each TR: that of the latest sentence started by the TR's onset.

    TRs before the first sentence join the first block, so every TR belongs to exactly one
    block; blocks are then contiguous segments, which per-block detrending and leave-one-block-out
    cross-validation (section 2.2) both need.
    """
    tr_onsets = np.arange(n_scans) * tr_s
    latest = np.searchsorted(events["onset"].to_numpy(), tr_onsets, side="right") - 1
    blocks = events["block"].to_numpy()[np.clip(latest, 0, None)]
    n_segments = 1 + int(np.count_nonzero(np.diff(blocks)))
    if n_segments != len(np.unique(events["block"].to_numpy())):
        raise InputError(
            "sentence blocks are not contiguous in time: the events interleave blocks "
            f"({n_segments} segments for {events['block'].nunique()} blocks)"
        )
    return blocks
