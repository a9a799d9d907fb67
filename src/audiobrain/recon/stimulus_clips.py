"""Brain2Sound's 8 s stimulus clips, cut from downloaded YouTube audio by the release's table.

The SoundReconstruction release (``data/SoundReconstruction_stimulus.csv``) lists each stimulus
as ``YouTube ID,start seconds,end seconds,label,split``; despite the header, the times are in
milliseconds (every row spans 8000: the 8 s VGGSound excerpts of A.1), and ``split`` is
``decoder_train`` or ``decoder_test``. Eighteen YouTube IDs occur twice, with different windows,
so a clip is named by ID *and* start: ``<YouTube ID>_<start_ms>`` (:func:`clip_name`).

The release ships no audio (footnote 4: videos vanish). :func:`cut_stimulus_clips` takes a folder
of downloaded source audio, one file per video named ``<YouTube ID>.<wav|flac|ogg|opus|mp3>``
(e.g. ``yt-dlp -x --audio-format wav -o "%(id)s.%(ext)s"``), cuts each window, and writes 16 kHz
mono float WAVs plus a table of what was cut and what is missing. :func:`clip_aliases` maps the
names a sample may use for its clip (the unique name, or ``<YouTube ID>_<train|test>`` and the
bare ID where those are unambiguous) to the unique name, for
:func:`audiobrain.recon.datasets.prepare_brain2sound`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd

from audiobrain.audio import SAMPLE_RATE_HZ, fit_length, load_segment
from audiobrain.io import InputError, atomic_path, reading, write_tsv

log = logging.getLogger(__name__)

RELEASE_TABLE = "SoundReconstruction_stimulus.csv"
RELEASE_COLUMNS = ("YouTube ID", "start seconds", "end seconds", "label", "split")
RELEASE_SPLITS = {"decoder_train": "train", "decoder_test": "test"}
CLIP_MS = 8000  # A.1: 8 s segments (the table's end - start, in ms)
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".opus", ".mp3")  # what libsndfile reads
END_TOLERANCE_S = 0.1  # a source may end this much before a window's end (zero-padded)
CLIP_COLUMNS = ("clip", "youtube_id", "start_ms", "end_ms", "label", "split", "source", "status")


def clip_name(youtube_id: str, start_ms: int) -> str:
    """The clip's file stem, unique even where a YouTube ID occurs twice."""
    return f"{youtube_id}_{int(start_ms)}"


def read_release_table(path: str | os.PathLike) -> pd.DataFrame:
    """The release's stimulus table with ``clip``, ``youtube_id``, ``start_ms``, ``end_ms``,
    ``label`` and ``split`` (``train``/``test``); InputError naming the file and row if a row is
    not an 8 s window or a clip name repeats."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: the release's stimulus table not found")
    with reading(path, "the release's stimulus table (CSV)"):
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [column for column in RELEASE_COLUMNS if column not in table.columns]
    if missing:
        raise InputError(f"{path}: missing column(s) {missing}; found {list(table.columns)}")
    try:
        start = table["start seconds"].astype(int)
        end = table["end seconds"].astype(int)
    except ValueError as error:
        raise InputError(f"{path}: start/end must be integer milliseconds ({error})") from error
    bad = np.flatnonzero((end - start).to_numpy() != CLIP_MS)
    if bad.size:
        raise InputError(
            f"{path}: row {bad[0] + 2} spans {end[bad[0]] - start[bad[0]]} ms; the release's "
            f"'seconds' columns are milliseconds of {CLIP_MS} ms clips"
        )
    unknown = sorted(set(table["split"]) - set(RELEASE_SPLITS))
    if unknown:
        raise InputError(f"{path}: split {unknown}; expected {sorted(RELEASE_SPLITS)}")
    out = pd.DataFrame(
        {
            "clip": [clip_name(y, s) for y, s in zip(table["YouTube ID"], start, strict=True)],
            "youtube_id": table["YouTube ID"],
            "start_ms": start,
            "end_ms": end,
            "label": table["label"],
            "split": table["split"].map(RELEASE_SPLITS),
        }
    )
    repeated = out["clip"][out["clip"].duplicated()]
    if not repeated.empty:
        raise InputError(f"{path}: the window {repeated.iloc[0]!r} is listed twice")
    return out


def clip_aliases(table: pd.DataFrame) -> dict[str, str | None]:
    """Name a sample may give its clip -> the unique clip name (None: ambiguous).

    The unique ``<id>_<start_ms>``; ``<id>_<split>`` and ``<id>`` where the ID has one window
    (in that split); for an ID with two windows those point to None, so that such a sample is
    not paired with the wrong audio.
    """
    aliases: dict[str, str | None] = {}
    for clip, youtube_id, split in zip(
        table["clip"], table["youtube_id"], table["split"], strict=True
    ):
        for alias in (f"{youtube_id}_{split}", youtube_id):
            aliases[alias] = None if alias in aliases else clip
    aliases.update({clip: clip for clip in table["clip"]})
    return aliases


def source_audio_file(source_dir: Path, youtube_id: str) -> Path | None:
    """The downloaded audio of a video, ``<source_dir>/<id>.<ext>`` (first suffix found)."""
    for suffix in AUDIO_SUFFIXES:
        path = source_dir / f"{youtube_id}{suffix}"
        if path.is_file():
            return path
    return None


def cut_stimulus_clips(
    table_path: str | os.PathLike,
    source_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    clips_table: str | os.PathLike,
    *,
    config_key: str = "recon.sources.brain2sound.source_audio",
) -> pd.DataFrame:
    """Cut every window of the release's table from the downloaded audio (module docstring).

    Returns (and writes to ``clips_table``) one row per window: :data:`CLIP_COLUMNS`, ``status``
    ``ok``, ``missing`` (no source file), ``short`` (the source ends before the window) or
    ``unreadable``. Only ``ok`` clips are written, as ``<out_dir>/<clip>.wav``.
    """
    import soundfile

    source_dir = Path(source_dir)
    if not source_dir.is_dir():
        raise InputError(
            f"{source_dir}: folder not found; set {config_key} to the downloaded audio"
        )
    table = read_release_table(table_path)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    n_samples = round(CLIP_MS / 1000 * SAMPLE_RATE_HZ)
    sources, statuses = [], []
    windows = zip(table["clip"], table["youtube_id"], table["start_ms"], strict=True)
    for clip, youtube_id, start_ms in windows:
        source = source_audio_file(source_dir, youtube_id)
        sources.append("" if source is None else str(source))
        if source is None:
            statuses.append("missing")
            continue
        try:
            segment = load_segment(source, start_ms / 1000, CLIP_MS / 1000)
        except InputError as error:
            log.warning("%s", error)
            statuses.append("unreadable")
            continue
        if segment.size < n_samples - END_TOLERANCE_S * SAMPLE_RATE_HZ:
            statuses.append("short")
            continue
        with atomic_path(out_dir / f"{clip}.wav") as tmp:
            soundfile.write(
                tmp, fit_length(segment, n_samples), SAMPLE_RATE_HZ, "FLOAT", format="WAV"
            )
        statuses.append("ok")
    table["source"] = sources
    table["status"] = statuses
    counts = table["status"].value_counts().to_dict()
    log.info("Brain2Sound clips from %s: %s of %d windows", source_dir, counts, len(table))
    if counts.get("ok", 0) < len(table):
        log.warning(
            "Brain2Sound: %d of %d windows have no audio in %s (listed in %s)",
            len(table) - counts.get("ok", 0), len(table), source_dir, clips_table,
        )  # fmt: skip
    write_tsv(table.loc[:, list(CLIP_COLUMNS)], clips_table)
    return table
