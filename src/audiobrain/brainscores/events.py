"""Events: MOUS's own events files, the derived stimulus table, and the scans each block keeps.

MOUS's BIDS events (FieldTrip's conversion of the Presentation logs) list scanner pulses, pictures,
sounds and log codes, not trials; :func:`mous_events` turns one run into the project's table of
sentences and word lists, which every later rule reads. The paper analyses the sentences only
("word lists ... are not presently analyzed", section 2.1), so :func:`analysed_scans` keeps the
scans of each sentence block's hemodynamic window and nothing else.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from audiobrain.io import InputError, read_tsv

logger = logging.getLogger(__name__)

EVENT_COLUMNS = ("onset", "duration", "trial_type", "stim_file", "block")
TRIAL_TYPES = ("sentence", "word_list")

# FieldTrip's conversion of the MOUS Presentation logs (Schoffelen et al. 2019, Table 3).
MOUS_COLUMNS = ("onset", "duration", "volume", "type", "value")
MOUS_ROW_TYPES = ("Pulse", "Picture", "Sound", "Nothing", "Response", "Pause", "Resume", "Quit")
MOUS_BLOCK_PICTURES = {"ZINNEN": "sentence", "WOORDEN": "word_list"}  # block instructions
MOUS_AUDIO_ONSET_CODES = {1: "sentence", 5: "sentence", 3: "word_list", 7: "word_list"}
MOUS_AUDIO_FILE = "audio_files/EQ_Ramp_Int2_Int1LPF{stim:03d}.wav"  # relative to stimuli/
_START_FILE = re.compile(r"^\d+ Start File (\d+)\.wav$")
_AUDIO_ONSET = re.compile(r"^(\d+) Audio onset$")
_END_OF_FILE = re.compile(r"^\d+ End of file$")
_HEADER_LINES = 1  # row numbers in messages count the file's lines (header = line 1)

# The end of a brief event's hemodynamic response: the Glover HRF's positive lobe ends 9.5 s
# after it (nilearn's glover_hrf; its peak is at 5.1 s).
HRF_TAIL_S = 10.0
# How long an unanalysed stimulus (a word list) still moves the BOLD: the Glover HRF's undershoot
# (down to -26 % of the peak at 12.3 s) stays beyond 10 % of the peak until 16.7 s after a brief
# event, i.e. about 16 s after the stimulus ends.
HRF_CARRYOVER_S = 16.0


@dataclass
class _OpenSound:
    """A Sound row waiting for its "End of file"."""

    row: int
    onset: float
    stim: int
    trial_type: str
    block: int
    audio_onset_code: int | None = None


def mous_events(
    path: str | os.PathLike, n_blocks: int = 12, sentences_per_block: int = 5
) -> pd.DataFrame:
    """The sentences and word lists of one MOUS run, from its BIDS ``events.tsv``.

    Returns the columns ``onset`` (the sound's start, s from the first volume), ``duration`` (to
    its "End of file"), ``trial_type`` (``sentence`` or ``word_list``, from the block's
    ZINNEN/WOORDEN instruction), ``stim_file`` (``audio_files/EQ_Ramp_Int2_Int1LPF<NNN>.wav``,
    relative to the stimuli folder) and ``block`` (1..n per trial type, in time order).

    Checked: every row type is one of MOUS's, every sound has its Audio onset and End of file, the
    Audio-onset code agrees with the block type, every sound lies inside the scan (the Pulse
    rows), and there are ``n_blocks`` sentence blocks of ``sentences_per_block``. Each failure
    names the file and the row (its line in the file).
    """
    path = Path(path)
    table = read_tsv(path, required=MOUS_COLUMNS, dtype={"value": str, "type": str})
    trials, pulses = _parse_mous_rows(path, table)
    events = pd.DataFrame(trials, columns=[*EVENT_COLUMNS, "row"])
    _check_inside_scan(path, events, pulses)
    _check_sentence_blocks(path, events, table, n_blocks, sentences_per_block)
    return events.drop(columns="row")


def _parse_mous_rows(path: Path, table: pd.DataFrame) -> tuple[list[dict], np.ndarray]:
    """Walk the rows in file order: blocks open at their instruction, sounds close at their
    End of file."""
    onsets = pd.to_numeric(table["onset"], errors="coerce").to_numpy()
    trials, pulses, sound = [], [], None
    block_type, block_counts = None, dict.fromkeys(TRIAL_TYPES, 0)
    for index, (kind, value) in enumerate(zip(table["type"], table["value"], strict=True)):
        row = index + 1 + _HEADER_LINES
        value = "" if pd.isna(value) else str(value).strip()
        if kind not in MOUS_ROW_TYPES:
            raise InputError(
                f"{path}: row {row}: unknown event type {kind!r} (MOUS has {list(MOUS_ROW_TYPES)})"
            )
        if not np.isfinite(onsets[index]):
            raise InputError(
                f"{path}: row {row}: onset {table['onset'].iloc[index]!r} is not a number"
            )
        if kind == "Pulse":
            pulses.append(onsets[index])
        elif kind == "Picture" and value in MOUS_BLOCK_PICTURES:
            _require_closed(path, sound, f"the {value} instruction at row {row}")
            block_type = MOUS_BLOCK_PICTURES[value]
            block_counts[block_type] += 1
        elif kind == "Sound":
            _require_closed(path, sound, f"the next Sound at row {row}")
            sound = _open_sound(path, row, onsets[index], value, block_type, block_counts)
        elif kind == "Nothing" and _AUDIO_ONSET.match(value):
            _record_audio_onset(path, row, value, sound)
        elif kind == "Nothing" and _END_OF_FILE.match(value):
            trials.append(_closed_sound(path, row, onsets[index], sound))
            sound = None
    _require_closed(path, sound, "the end of the file")
    return trials, np.asarray(pulses)


def _open_sound(path, row, onset, value, block_type, block_counts) -> _OpenSound:
    match = _START_FILE.match(value)
    if match is None:
        raise InputError(
            f"{path}: row {row}: Sound value {value!r} is not '<code> Start File <NNN>.wav'"
        )
    if block_type is None:
        raise InputError(
            f"{path}: row {row}: Sound before any block instruction (Picture ZINNEN or WOORDEN)"
        )
    return _OpenSound(row, float(onset), int(match[1]), block_type, block_counts[block_type])


def _record_audio_onset(path: Path, row: int, value: str, sound: _OpenSound | None) -> None:
    if sound is None:
        raise InputError(f"{path}: row {row}: {value!r} outside a sound (no Sound row before it)")
    code = int(_AUDIO_ONSET.match(value)[1])
    if code not in MOUS_AUDIO_ONSET_CODES:
        raise InputError(
            f"{path}: row {row}: Audio-onset code {code} is none of MOUS's "
            f"{sorted(MOUS_AUDIO_ONSET_CODES)} (1, 5: sentences; 3, 7: word lists)"
        )
    if MOUS_AUDIO_ONSET_CODES[code] != sound.trial_type:
        raise InputError(
            f"{path}: row {row}: Audio-onset code {code} marks {MOUS_AUDIO_ONSET_CODES[code]} "
            f"audio, but the Sound at row {sound.row} is in a {sound.trial_type} block"
        )
    sound.audio_onset_code = code


def _closed_sound(path: Path, row: int, end_s: float, sound: _OpenSound | None) -> dict:
    if sound is None:
        raise InputError(f"{path}: row {row}: End of file without a Sound row before it")
    if sound.audio_onset_code is None:
        raise InputError(
            f"{path}: row {sound.row}: Sound has no '<code> Audio onset' row before its "
            f"End of file (row {row})"
        )
    return {
        "onset": sound.onset,
        "duration": round(end_s - sound.onset, 6),
        "trial_type": sound.trial_type,
        "stim_file": MOUS_AUDIO_FILE.format(stim=sound.stim),
        "block": sound.block,
        "row": sound.row,
    }


def _require_closed(path: Path, sound: _OpenSound | None, before: str) -> None:
    if sound is not None:
        name = Path(MOUS_AUDIO_FILE.format(stim=sound.stim)).name
        raise InputError(
            f"{path}: row {sound.row}: Sound {name!r} has no '15 End of file' row before {before}"
        )


def _check_inside_scan(path: Path, events: pd.DataFrame, pulses: np.ndarray) -> None:
    """Every sound between the first pulse and one TR after the last."""
    if pulses.size < 2:
        raise InputError(f"{path}: {pulses.size} Pulse row(s); the scan's volumes are needed")
    tr_s = float(np.median(np.diff(pulses)))
    scan_end_s = pulses[-1] + tr_s
    ends = events["onset"] + events["duration"]
    outside = events[(events["onset"] < pulses[0]) | (ends > scan_end_s + 1e-6)]
    if not outside.empty:
        first = outside.iloc[0]
        raise InputError(
            f"{path}: row {first['row']}: sound from {first['onset']:g} s to "
            f"{first['onset'] + first['duration']:g} s lies outside the scan "
            f"({pulses.size} pulses, {pulses[0]:g} s to {scan_end_s:g} s)"
        )


def _check_sentence_blocks(
    path: Path, events: pd.DataFrame, table: pd.DataFrame, n_blocks: int, per_block: int
) -> None:
    sentences = events[events["trial_type"] == "sentence"]
    counts = sentences.groupby("block").size()
    if len(counts) != n_blocks:
        raise InputError(
            f"{path}: {len(counts)} sentence blocks with sounds, expected {n_blocks} "
            f"(config dataset.n_blocks)"
        )
    wrong = counts[counts != per_block]
    if not wrong.empty:
        block = int(wrong.index[0])
        first_row = int(sentences.loc[sentences["block"] == block, "row"].min())
        raise InputError(
            f"{path}: row {first_row}: sentence block {block} has {wrong.iloc[0]} sentences, "
            f"expected {per_block} (config dataset.sentences_per_block)"
        )
    odd = sentences[[int(Path(f).stem[-3:]) >= 400 for f in sentences["stim_file"]]]
    if not odd.empty:
        logger.warning(
            "%s: %d sentence(s) with stimulus ids >= 400 (MOUS's sentences are below 400), "
            "first at row %d", path, len(odd), odd["row"].iloc[0],
        )  # fmt: skip


def read_events(
    path: str | os.PathLike, n_scans: int | None = None, tr_s: float | None = None
) -> pd.DataFrame:
    """The derived stimulus table (:data:`EVENT_COLUMNS`), sorted by onset, with ``stim_id``.

    With ``n_scans`` and ``tr_s`` every event must end inside the scan.
    """
    events = read_tsv(path, required=EVENT_COLUMNS)
    for column in ("onset", "duration", "block"):
        if events[column].isna().any() or not pd.api.types.is_numeric_dtype(events[column]):
            raise InputError(f"{path}: column {column!r} must be numeric with no n/a values")
    if (events["onset"] < 0).any():
        raise InputError(f"{path}: column 'onset' has negative values")
    if n_scans is not None:
        _check_events_end_in_scan(path, events, n_scans, tr_s)
    events = events.sort_values("onset", kind="stable").reset_index(drop=True)
    events["stim_id"] = [Path(str(f)).stem for f in events["stim_file"]]
    events["block"] = events["block"].astype(int)
    return events


def _check_events_end_in_scan(path, events: pd.DataFrame, n_scans: int, tr_s: float) -> None:
    scan_end_s = n_scans * tr_s
    late = events[events["onset"] + events["duration"] > scan_end_s]
    if not late.empty:
        first = late.iloc[0]
        raise InputError(
            f"{path}: {len(late)} event(s) end after the scan ({n_scans} scans x {tr_s} s = "
            f"{scan_end_s:g} s); first: onset {first['onset']:g} s, "
            f"duration {first['duration']:g} s"
        )


def read_sentence_events(
    path: str | os.PathLike,
    n_scans: int,
    tr_s: float,
    trial_type: str | None = "sentence",
) -> pd.DataFrame:
    """The analysed rows (``trial_type``) of the derived table, sorted by onset."""
    events = read_events(path, n_scans, tr_s)
    if trial_type is not None:
        events = events[events["trial_type"] == trial_type].reset_index(drop=True)
    if events.empty:
        raise InputError(f"{path}: no sentence events (trial_type == {trial_type!r})")
    return events


def analysed_scans(
    events: pd.DataFrame,
    scan_times_s: np.ndarray,
    trial_type: str = "sentence",
    tail_s: float = HRF_TAIL_S,
    carryover_s: float = HRF_CARRYOVER_S,
    source: str | os.PathLike = "events",
) -> np.ndarray:
    """The block (1..n) of every scan that an analysed block keeps, 0 for every other scan.

    The response to a word list is not in the design, so it must not enter the sentences'
    detrending, folds or scores. A block keeps the scans from its first onset, or from
    ``carryover_s`` after the last unanalysed stimulus (another trial type) ended before it if
    that is later, to ``tail_s`` after its last stimulus ends (the end of the response to it),
    or to the next stimulus of any other block if that starts sooner. ``scan_times_s`` are the
    times the BOLD samples represent.
    """
    analysed = events[events["trial_type"] == trial_type]
    if analysed.empty:
        raise InputError(f"{source}: no {trial_type} events")
    blocks = np.zeros(len(scan_times_s), dtype=int)
    onsets = events["onset"].to_numpy()
    others = events[events["trial_type"] != trial_type]
    other_ends = (others["onset"] + others["duration"]).to_numpy()
    for block, rows in analysed.groupby("block", sort=True):
        start = rows["onset"].min()
        last_end = (rows["onset"] + rows["duration"]).max()
        inside = events.index.isin(rows.index)
        intruders = events[~inside & (onsets >= start) & (onsets < last_end)]
        if not intruders.empty:
            other = intruders.iloc[0]
            raise InputError(
                f"{source}: {trial_type} block {block} ({start:g}-{last_end:g} s) interleaves "
                f"with a {other['trial_type']} of block {other['block']} at {other['onset']:g} s"
            )
        later = onsets[~inside & (onsets >= last_end)]
        stop = min(last_end + tail_s, later.min() if later.size else np.inf)
        earlier = other_ends[other_ends <= start]
        if earlier.size:
            start = max(start, earlier.max() + carryover_s)
        blocks[(scan_times_s >= start) & (scan_times_s < stop)] = block
    return blocks


def scans_per_block(blocks: np.ndarray) -> dict[int, int]:
    """How many scans each analysed block keeps (label 0, the unanalysed scans, left out)."""
    labels, counts = np.unique(blocks[blocks > 0], return_counts=True)
    return {int(label): int(count) for label, count in zip(labels, counts, strict=True)}


def derive_stimulus_table(
    path: str | os.PathLike, events_format: str, n_blocks: int, sentences_per_block: int
) -> pd.DataFrame:
    """The table every later rule reads, from a run's raw events file in ``events_format``.

    ``mous``: :func:`mous_events`; ``sentences``: a table already in :data:`EVENT_COLUMNS`
    (other datasets), checked the same way.
    """
    if events_format == "mous":
        table = mous_events(path, n_blocks, sentences_per_block)
    elif events_format == "sentences":
        table = read_events(path)[list(EVENT_COLUMNS)]
        table = table[table["trial_type"].isin(TRIAL_TYPES)].reset_index(drop=True)
        counts = table[table["trial_type"] == "sentence"].groupby("block").size()
        if len(counts) != n_blocks:
            raise InputError(
                f"{path}: column 'block' has {len(counts)} sentence blocks, config "
                f"dataset.n_blocks says {n_blocks}"
            )
    else:
        raise ValueError(f"events_format must be 'mous' or 'sentences', got {events_format!r}")
    return table


#: A sound's logged duration may exceed its file by the playback latency, not by more.
AUDIO_DURATION_TOLERANCE_S = 0.25


def check_against_audio(path, table: pd.DataFrame, wav_durations_s: Mapping[str, float]) -> None:
    """Every stimulus of ``table`` is a file (``wav_durations_s``: stim_file -> seconds) about as
    long as its event."""
    missing = sorted(set(table["stim_file"]) - set(wav_durations_s))
    if missing:
        raise InputError(
            f"{path}: {len(missing)} stimulus file(s) not in the stimuli folder, first "
            f"{missing[0]!r}"
        )
    lengths = table["stim_file"].map(wav_durations_s)
    difference = (table["duration"] - lengths).abs()
    worst = int(difference.to_numpy().argmax())
    logger.info(
        "%s: logged durations within %.3f s of the audio files", path, difference.iloc[worst]
    )
    if difference.iloc[worst] > AUDIO_DURATION_TOLERANCE_S:
        logger.warning(
            "%s: %s lasts %.3f s in the events but %.3f s as a file",
            path, table["stim_file"].iloc[worst], table["duration"].iloc[worst],
            lengths.iloc[worst],
        )  # fmt: skip
