"""The demo's MOUS design: sentences and word lists in alternating blocks, logged as MOUS logs them.

MOUS (Schoffelen et al. 2019; Millet & King 2021, section 2.1) presents each participant with 60
sentences in 12 blocks of five, alternating with 12 blocks of five word lists (the words of a
sentence in scrambled order), each block announced on screen (ZINNEN: sentences, WOORDEN: word
lists). Its BIDS events are FieldTrip's conversion of the Presentation log: one row per scanner
pulse, picture, sound and log code. :func:`presentation_events` writes that format for a
:func:`block_design`, so the demo goes through :func:`audiobrain.brainscores.events.mous_events` as
the real release does.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from audiobrain.brainscores.events import MOUS_AUDIO_FILE, MOUS_COLUMNS

LEAD_IN_S = 16.0  # silence before the first block
TAIL_S = 16.0  # after the last sound, so the haemodynamic response is complete
TRIAL_GAP_S = (1.5, 2.5)  # jittered fixation between the sounds of a block
BLOCK_REST_S = (12.0, 14.0)  # between blocks: the next block's instruction and a fixation
INSTRUCTION_LEAD_S = 4.0  # the ZINNEN/WOORDEN picture comes this long before the first sound
AUDIO_ONSET_DELAY_S = 0.05  # first word after the sound's start: the synthesised audio's lead pad
QUESTION_PROBABILITY = 0.2  # MOUS asks a comprehension question after some trials
WORD_LIST_OFFSET = 500  # MOUS numbers word lists above 500 and sentences below 400
PULSE_VALUE = "50"
AUDIO_ONSET_CODES = {"sentence": (1, 5), "word_list": (3, 7)}
BLOCK_PICTURES = {"sentence": "ZINNEN", "word_list": "WOORDEN"}
START_FILE_CODE, TARGET_CODE, END_OF_FILE_CODE = 14, 2, 15

# Slice timing of the demo's scanner: interleaved ascending slices filling the TR; fMRIPrep
# corrects to the middle of the acquisition (its --slice-time-ref default, 0.5).
N_SLICES = 36
SLICE_TIME_REF = 0.5


@dataclass(frozen=True)
class Trial:
    """One sound of the design."""

    trial_type: str  # "sentence" or "word_list"
    stim: int  # MOUS stimulus number: sentence items 1.., word lists 501..
    onset: float  # s from the first volume
    duration: float
    block: int  # 1.. within its trial type


def stimulus_file(stim: int) -> str:
    """The stimulus's audio file, relative to the stimuli folder (MOUS's names)."""
    return MOUS_AUDIO_FILE.format(stim=stim)


def word_list_number(item: int) -> int:
    return WORD_LIST_OFFSET + item


def subject_items(
    n_items: int, n_sentences: int, rng: np.random.Generator
) -> tuple[list[int], list[int]]:
    """The items a subject hears as sentences and as word lists (1-based item numbers).

    As in MOUS, an item is heard in one form only when the pool holds enough items; a smaller
    pool (the reduced demo) lends word lists from items also heard as sentences.
    """
    order = [int(i) + 1 for i in rng.permutation(n_items)]
    sentences = order[:n_sentences]
    rest = order[n_sentences:]
    if len(rest) < n_sentences:
        rest = [int(i) + 1 for i in rng.choice(n_items, size=n_sentences, replace=False)]
    return sentences, rest[:n_sentences]


def block_design(
    sentence_stims: Sequence[int],
    word_list_stims: Sequence[int],
    durations_s: Mapping[int, float],
    per_block: int,
    tr_s: float,
    rng: np.random.Generator,
) -> tuple[list[Trial], int]:
    """Blocks of ``per_block`` sounds, sentence and word-list blocks alternating (which comes
    first drawn per subject), and the number of scans that covers them."""
    n_blocks = len(sentence_stims) // per_block
    kinds = ["sentence", "word_list"]
    if rng.random() < 0.5:
        kinds.reverse()
    stims = {"sentence": list(sentence_stims), "word_list": list(word_list_stims)}
    trials, time_s = [], LEAD_IN_S
    for block_index in range(2 * n_blocks):
        kind = kinds[block_index % 2]
        block = block_index // 2 + 1
        if block_index > 0:
            time_s += rng.uniform(*BLOCK_REST_S)
        for position in range(per_block):
            if position > 0:
                time_s += rng.uniform(*TRIAL_GAP_S)
            stim = stims[kind][(block - 1) * per_block + position]
            duration = round(durations_s[stim], 3)
            trials.append(Trial(kind, stim, round(time_s, 3), duration, block))
            time_s = trials[-1].onset + duration
    return trials, math.ceil((time_s + TAIL_S) / tr_s)


def trial_table(trials: Sequence[Trial]) -> pd.DataFrame:
    """The design as the project's stimulus table (what mous_events must read back)."""
    return pd.DataFrame(
        {
            "onset": [t.onset for t in trials],
            "duration": [t.duration for t in trials],
            "trial_type": [t.trial_type for t in trials],
            "stim_file": [stimulus_file(t.stim) for t in trials],
            "block": [t.block for t in trials],
        }
    )


def presentation_events(
    trials: Sequence[Trial], n_scans: int, tr_s: float, rng: np.random.Generator
) -> pd.DataFrame:
    """MOUS's BIDS events for the design: ``onset, duration, volume, type, value``.

    One Pulse per volume; per block its instruction picture and a blank; per trial a fixation
    picture (``FIX <ms>``), the Sound (``14 Start File <NNN>.wav``), its ``<k> Audio onset``
    (1/5 sentences, 3/7 word lists), sometimes a ``2 Target``, the ``15 End of file``, a blank,
    and after some trials a question and the participant's response. ``duration`` is ``n/a``
    throughout, ``volume`` the scan (1-based) in which the row falls.
    """
    rows = [(k * tr_s, "Pulse", PULSE_VALUE) for k in range(n_scans)]
    previous_block = None
    for trial in trials:
        if (trial.trial_type, trial.block) != previous_block:
            start = trial.onset - INSTRUCTION_LEAD_S
            rows += [(start, "Picture", BLOCK_PICTURES[trial.trial_type])]
            rows += [(start + 2.0, "Picture", "blank")]
            previous_block = (trial.trial_type, trial.block)
        rows += _trial_rows(trial, rng)
    table = pd.DataFrame(rows, columns=["onset", "type", "value"])
    table = table.sort_values("onset", kind="stable").reset_index(drop=True)
    table["onset"] = table["onset"].round(4)
    table["duration"] = np.nan
    table["volume"] = np.clip(np.floor(table["onset"] / tr_s).astype(int) + 1, 1, n_scans)
    return table[list(MOUS_COLUMNS)]


def _trial_rows(trial: Trial, rng: np.random.Generator) -> list[tuple[float, str, str]]:
    fixation_ms = int(rng.integers(800, 1200))  # inside the shortest gap between sounds
    end = trial.onset + trial.duration
    code = int(rng.choice(AUDIO_ONSET_CODES[trial.trial_type]))
    name = stimulus_file(trial.stim).split("LPF")[1]
    rows = [
        (trial.onset - fixation_ms / 1000.0, "Picture", f"FIX {fixation_ms}"),
        (trial.onset, "Sound", f"{START_FILE_CODE} Start File {name}"),
        (trial.onset + AUDIO_ONSET_DELAY_S, "Nothing", f"{code} Audio onset"),
    ]
    if rng.random() < 0.5:
        target = trial.onset + rng.uniform(0.3, 0.8) * trial.duration
        rows.append((target, "Nothing", f"{TARGET_CODE} Target"))
    rows += [(end, "Nothing", f"{END_OF_FILE_CODE} End of file"), (end + 0.03, "Picture", "blank")]
    if rng.random() < QUESTION_PROBABILITY:
        question = int(rng.integers(1, 200))
        rows += [(end + 0.1, "Picture", f"QUESTION {question}")]
        rows += [(end + 0.3, "Response", str(int(rng.integers(1, 3))))]
    return rows


def slice_timing(tr_s: float, n_slices: int = N_SLICES) -> list[float]:
    """Acquisition time (s) of each slice, interleaved ascending (even slices first)."""
    order = [*range(0, n_slices, 2), *range(1, n_slices, 2)]
    times = np.empty(n_slices)
    times[order] = np.arange(n_slices) * tr_s / n_slices
    return [round(float(t), 4) for t in times]


def slice_time_reference(slice_times: Sequence[float], fraction: float = SLICE_TIME_REF) -> float:
    """fMRIPrep's ``StartTime`` after slice-timing correction: ``first + fraction x range``."""
    return round(min(slice_times) + fraction * (max(slice_times) - min(slice_times)), 3)
