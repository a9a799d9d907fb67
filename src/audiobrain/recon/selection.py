"""Which test clips are evaluated, how stimulus ids are found in per-stimulus files, and the
seeded derangements of the sanity checks: shared by the decoders, the generation and the checks.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import pandas as pd

from audiobrain.io import InputError

PathLike = str | os.PathLike
UNCONDITIONAL = "none"  # the prompt of Tables 1-2's reconstructions


def stimulus_rows(available: np.ndarray, wanted: Sequence[str], path: PathLike) -> np.ndarray:
    """Row of each ``wanted`` stimulus id in a per-stimulus file whose ids are ``available``."""
    rows = pd.Index(np.asarray(available, dtype=str)).get_indexer(np.asarray(wanted, dtype=str))
    if (rows < 0).any():
        missing = np.asarray(wanted, dtype=str)[rows < 0]
        raise InputError(f"{path}: no row for stimulus id(s) {sorted(set(missing))[:5]}")
    return rows


def evaluation_clips(
    table: pd.DataFrame, test_ids: Sequence[str], n_clips: int | None
) -> np.ndarray:
    """Positions in ``test_ids`` of the clips to vocode and score: all, or ``n_clips`` taken
    round-robin over labels (first occurrences first) so that a small subset spans the classes."""
    test_ids = np.asarray(test_ids, dtype=str)
    if n_clips is None or n_clips >= len(test_ids):
        return np.arange(len(test_ids))
    labels = table.set_index("stimulus_id").loc[test_ids, "label"].to_numpy(str)
    rank = pd.Series(labels).groupby(labels).cumcount().to_numpy()
    first_seen = pd.Series(labels).map({label: i for i, label in enumerate(dict.fromkeys(labels))})
    order = np.lexsort((first_seen.to_numpy(), rank))
    return np.sort(order[:n_clips])


def evaluation_ids(table: pd.DataFrame, test_ids: Sequence[str], n_clips: int | None):
    """The test stimulus ids that are vocoded and scored (:func:`evaluation_clips`)."""
    test_ids = np.asarray(test_ids, dtype=str)
    return test_ids[evaluation_clips(table, test_ids, n_clips)]


def derangement(n: int, seed, what: str = "latent diffusion: the shuffled-condition check"):
    """A seeded permutation without fixed points (n >= 2): every clip gets another clip's
    condition or stimulus. ``seed``: an int or a sequence of ints (numpy's seed sequences)."""
    if n < 2:
        raise InputError(f"{what} needs >= 2 clips, found {n}")
    order = np.random.default_rng(seed).permutation(n)
    shuffled = np.empty(n, dtype=int)
    shuffled[order] = np.roll(order, 1)  # one cycle through a random order: no fixed point
    return shuffled
