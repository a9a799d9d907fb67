"""Training corpora of the four tasks as manifests.

Millet & King (2021), section 2.4: Dutch and English speech from the aligned Spoken Wikipedia
Corpora (SWC; Baumann et al., 2018), Bengali from OpenSLR 53 (Kjartansson et al., 2018),
romanised with uroman, and acoustic scenes from the curated subset of FSDKaggle2019 (Fonseca et
al., 2019); 66 h 20 min of each speech corpus, 80/10/10 train/validation/test splits, inputs of
at most 20 s.

A manifest is a TSV with one row per training example:

``path``         the audio file as the workflow opens it: the configured root joined with the
                 file's path inside the corpus.
``start_s``      where the example starts in that file (0 for a whole clip), seconds.
``duration_s``   its duration, seconds.
``transcript``   speech: the normalised target text (:mod:`audiobrain.brainscores.text`); scenes:
                 the class name.
``split``        ``train``, ``val`` or ``test``.
``group``        the unit kept within one split (speaker, recording or clip), so that no
                 speaker or recording leaks from training into validation or test.

and a JSON sidecar (``<manifest>.json``) with the task, source, symbols (speech) or ordered class
names (scenes), counts, hours and groups per split, and every dropped example counted by reason.

Rules shared by all sources (:func:`prepare_corpus`):

- Examples longer than ``max_duration_s`` (section 2.4: 20 s) are dropped and counted (sidecar
  ``dropped.too_long``), not an error: SWC sentences run up to minutes and the paper drops them.
- Transcripts are normalised with :func:`audiobrain.brainscores.text.normalise_transcripts`;
  characters outside the alphabet stop the preparation with one error listing every character and
  where it is, unless ``unknown`` says to drop or map them. Bengali is romanised with uroman first.
- With ``total_duration_h``, a seeded random subset of examples totalling at most that many
  hours is kept (section 2.4: 66 h 20 min, :data:`PAPER_SPEECH_DURATION_H`).
- Splits: groups in a seeded random order, each given to the split whose share of the total
  duration is furthest below its target fraction, so the splits' hours come out within one group
  of 80/10/10 and no group is in two splits.
- The same inputs and arguments give the same bytes; nothing is written when an error is raised.

Source layouts (the root is a config key, ``corpora.<task>.root``):

``swc``            ``<root>/**/<article>/aligned.swc`` with ``audio.ogg`` (or ``audio1.ogg``,
                   ``audio2.ogg``... for articles read in parts; the alignment's times then run
                   over the parts in order). Examples are sentences (``<s>``) whose every word
                   (``<n>`` with a ``pronunciation``) carries ``start``/``end`` times (ms);
                   the transcript is the words' pronunciations (numbers already spelled out).
                   Words inside ``<ignored>`` were not read and are left out. Group: the reader
                   (``reader.name`` in the article's metadata), else the article.
``openslr53``      ``<root>/utt_spk_text.tsv`` (utterance, speaker, Bengali text; no header) and
                   ``<root>/data/<first two characters>/<utterance>.flac``. Group: the speaker.
                   Utterances whose audio file is absent (shards not downloaded) are dropped and
                   counted.
``fsdkaggle2019``  ``<root>/train_curated.csv`` (``fname``, ``labels``) and
                   ``<root>/train_curated/<fname>`` (the Kaggle layout), or the Zenodo layout
                   ``FSDKaggle2019.meta/train_curated_post_competition.csv`` with
                   ``FSDKaggle2019.audio_train_curated/``. The classes are the sorted label
                   names. A clip with several labels cannot be a one-hot target (section 2.4):
                   ``multilabel="drop"`` (default) leaves it out (``dropped.multilabel``),
                   ``"duplicate"`` keeps one row per label (same audio and group). Group: clip.
``demo``           what :func:`audiobrain.demo.corpora.generate_demo_corpus` writes:
                   ``<root>/clips.tsv`` with columns
                   ``file``, ``text`` (speech) or ``label`` (scenes), ``group``.
"""

from __future__ import annotations

import csv
import logging
import math
import os
import re
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from audiobrain.audio import audio_info
from audiobrain.brainscores import text as texts
from audiobrain.brainscores.architecture import VOCABULARY_SIZES
from audiobrain.io import InputError, load_json, reading, save_json, write_tsv

log = logging.getLogger(__name__)

SOURCES = ("swc", "openslr53", "fsdkaggle2019", "demo")
SOURCE_TASKS = {
    "swc": ("dutch", "english"),
    "openslr53": ("bengali",),
    "fsdkaggle2019": ("scenes",),
    "demo": ("dutch", "english", "bengali", "scenes"),
}
TASKS = ("dutch", "english", "bengali", "scenes")
SPLITS = ("train", "val", "test")
MANIFEST_COLUMNS = ("path", "start_s", "duration_s", "transcript", "split", "group")
MAX_DURATION_S = 20.0  # section 2.4: input samples limited to 20 s
PAPER_SPEECH_DURATION_H = 66 + 20 / 60  # section 2.4: 66 h 20 min of each speech corpus
PAPER_SPLIT_FRACTIONS = (0.8, 0.1, 0.1)  # section 2.4: train, validation, test
MULTILABEL_POLICIES = ("drop", "duplicate")
CONFIG_ROOT_KEY = "corpora.{task}.root"
AUDIO_END_TOLERANCE_S = 0.05  # an alignment may end this far past the audio (rounding)
_EXAMPLES_PER_REASON = 5
_SUBSAMPLE_STREAM, SPLIT_STREAM = 0, 1  # independent random streams from one seed


@dataclass(frozen=True)
class Segment:
    """One example before normalisation: where its audio is and what it says."""

    relpath: str  # audio file, relative to the corpus root (POSIX separators)
    start_s: float
    duration_s: float
    text: str  # raw transcript (speech) or class label (scenes)
    group: str
    where: str  # location for messages: "<file> line 12", "<aligned.swc> sentence 3"


@dataclass
class _Collected:
    """What a source reader found: kept segments, dropped ones by reason, scene classes."""

    segments: list[Segment] = field(default_factory=list)
    dropped: Counter = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)
    classes: list[str] | None = None
    notes: dict = field(default_factory=dict)

    def drop(self, reason: str, where: str) -> None:
        self.dropped[reason] += 1
        examples = self.examples.setdefault(reason, [])
        if len(examples) < _EXAMPLES_PER_REASON:
            examples.append(where)


def prepare_corpus(
    task: str,
    source: str,
    root: str | os.PathLike,
    output: str | os.PathLike,
    *,
    max_duration_s: float = MAX_DURATION_S,
    total_duration_h: float | None = None,
    split_fractions: Sequence[float] = PAPER_SPLIT_FRACTIONS,
    seed: int = 0,
    unknown: str = "error",
    mapping: dict[str, str] | None = None,
    multilabel: str = "drop",
) -> None:
    """Read a corpus at ``root`` and write its manifest to ``output`` (+ ``output.json``).

    Parameters
    ----------
    task : ``"dutch"``, ``"english"``, ``"bengali"`` or ``"scenes"``.
    source : ``"swc"``, ``"openslr53"``, ``"fsdkaggle2019"`` or ``"demo"`` (module docstring).
    root : the corpus folder (config ``corpora.<task>.root``); manifest paths start with it.
    output : the manifest TSV to write.
    max_duration_s : longer examples are dropped and counted.
    total_duration_h : keep a seeded random subset of at most this many hours (None: all).
    split_fractions : train, validation and test shares of the hours, summing to 1.
    seed : fixes the subset and the assignment of groups to splits.
    unknown, mapping : the policy for characters outside the alphabet
        (:func:`audiobrain.brainscores.text.normalise_transcript`); speech only.
    multilabel : FSDKaggle2019 clips with several labels: ``"drop"`` or ``"duplicate"``.

    Raises
    ------
    InputError : a missing root or file (naming it and ``corpora.<task>.root``), malformed
        listings, unknown characters, an empty corpus or a split left empty.
    """
    fractions = _check_arguments(task, source, split_fractions, multilabel, max_duration_s)
    root = Path(root)
    if not root.is_dir():
        raise InputError(
            f"{root}: corpus folder not found; set {CONFIG_ROOT_KEY.format(task=task)} to the "
            f"folder holding the {_SOURCE_DESCRIPTIONS[source]}"
        )
    collected = _READERS[source](root, task, multilabel)
    segments = _drop_too_long(collected, max_duration_s)
    if task == texts.SCENE_TASK:
        classes = collected.classes or []
        _check_classes(classes, root)
        transcripts = [segment.text for segment in segments]
    else:
        classes = None
        transcripts = _normalised_transcripts(segments, task, unknown, mapping)
        empty = [segment for segment, text in zip(segments, transcripts, strict=True) if not text]
        for segment in empty:
            collected.drop("empty_after_dropping_unknown_characters", segment.where)
        segments = [segment for segment, text in zip(segments, transcripts, strict=True) if text]
        transcripts = [text for text in transcripts if text]
    if not segments:
        raise InputError(
            f"{root}: no usable {task} examples in this {source} corpus; dropped: "
            f"{dict(collected.dropped) or 'none found'}"
        )
    available_s = float(sum(segment.duration_s for segment in segments))
    chosen = _subsample([segment.duration_s for segment in segments], total_duration_h, seed)
    for index in sorted(set(range(len(segments))) - set(chosen)):
        collected.drop("subsampled_out", segments[index].where)
    segments = [segments[index] for index in chosen]
    transcripts = [transcripts[index] for index in chosen]
    splits = assign_splits(
        [segment.group for segment in segments],
        [segment.duration_s for segment in segments],
        fractions,
        seed,
        where=str(root),
    )
    table = pd.DataFrame(
        {
            "path": [(root / segment.relpath).as_posix() for segment in segments],
            "start_s": [round(segment.start_s, 6) for segment in segments],
            "duration_s": [round(segment.duration_s, 6) for segment in segments],
            "transcript": transcripts,
            "split": splits,
            "group": [segment.group for segment in segments],
        },
        columns=list(MANIFEST_COLUMNS),
    )
    info = _sidecar(
        table, task, source, root, collected, classes, available_s,
        max_duration_s=max_duration_s, total_duration_h=total_duration_h,
        fractions=fractions, seed=seed, unknown=unknown, mapping=mapping, multilabel=multilabel,
    )  # fmt: skip
    save_json(sidecar_path(output), info)
    write_tsv(table, output)
    log.info(
        "%s: %d %s examples, %.2f h (%s)",
        output, len(table), task, table["duration_s"].sum() / 3600, info["counts"],
    )  # fmt: skip


def sidecar_path(manifest: str | os.PathLike) -> Path:
    """A manifest's JSON sidecar: the manifest path with ``.json`` appended."""
    return Path(f"{manifest}.json")


def read_manifest(path: str | os.PathLike) -> pd.DataFrame:
    """A manifest as a table (text columns kept as text), checked for columns and split names."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: manifest not found")
    with reading(path, "a corpus manifest (TSV)"):
        table = pd.read_csv(
            path,
            sep="\t",
            dtype={"path": str, "transcript": str, "split": str, "group": str},
            keep_default_na=False,
            quoting=csv.QUOTE_MINIMAL,
        )
    missing = [column for column in MANIFEST_COLUMNS if column not in table.columns]
    if missing:
        raise InputError(f"{path}: missing column(s) {missing}; found {list(table.columns)}")
    bad = sorted(set(table["split"]) - set(SPLITS))
    if bad:
        raise InputError(f"{path}: column 'split' has {bad}; expected only {list(SPLITS)}")
    return table


def read_manifest_info(path: str | os.PathLike) -> dict:
    """A manifest's sidecar: task, symbols or classes, counts and hours per split, drops."""
    sidecar = sidecar_path(path)
    if not sidecar.exists():
        raise InputError(f"{sidecar}: manifest sidecar not found (written by prepare_corpus)")
    return load_json(sidecar)


# --------------------------------------------------------------------------------------------
# Shared steps


_SOURCE_DESCRIPTIONS = {
    "swc": "Spoken Wikipedia Corpora articles (<article>/aligned.swc with audio.ogg)",
    "openslr53": "OpenSLR 53 files (utt_spk_text.tsv and data/<xx>/<utterance>.flac)",
    "fsdkaggle2019": "FSDKaggle2019 curated set (train_curated.csv and train_curated/)",
    "demo": "generated demo corpus (clips.tsv and clips/)",
}


def _check_arguments(
    task: str, source: str, split_fractions, multilabel: str, max_duration_s: float
) -> tuple[float, float, float]:
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; expected one of {list(TASKS)}")
    if source not in SOURCES:
        raise ValueError(f"unknown corpus source {source!r}; expected one of {list(SOURCES)}")
    if task not in SOURCE_TASKS[source]:
        raise ValueError(f"source {source!r} holds {list(SOURCE_TASKS[source])} data, not {task!r}")
    if multilabel not in MULTILABEL_POLICIES:
        raise ValueError(f"multilabel must be one of {MULTILABEL_POLICIES}, got {multilabel!r}")
    if not max_duration_s > 0:
        raise ValueError(f"max_duration_s must be positive, got {max_duration_s}")
    fractions = tuple(float(value) for value in split_fractions)
    if len(fractions) != len(SPLITS) or min(fractions) < 0 or not math.isclose(sum(fractions), 1):
        raise ValueError(
            f"split_fractions must be three non-negative shares (train, val, test) summing to 1, "
            f"got {list(split_fractions)}"
        )
    return fractions


def _check_classes(classes: list[str], root: Path) -> None:
    if not 0 < len(classes) <= VOCABULARY_SIZES["scenes"]:
        raise InputError(
            f"{root}: {len(classes)} scene classes found; the scene network has "
            f"{VOCABULARY_SIZES['scenes']} outputs (section 2.4)"
        )


def _drop_too_long(collected: _Collected, max_duration_s: float) -> list[Segment]:
    kept = []
    for segment in collected.segments:
        if segment.duration_s > max_duration_s:
            collected.drop("too_long", f"{segment.where} ({segment.duration_s:.2f} s)")
        elif segment.duration_s <= 0:
            collected.drop("no_duration", segment.where)
        else:
            kept.append(segment)
    return kept


def _normalised_transcripts(
    segments: list[Segment], task: str, unknown: str, mapping: dict | None
) -> list[str]:
    raw = [segment.text for segment in segments]
    if task == "bengali":
        raw = texts.romanise(raw)
    return texts.normalise_transcripts(
        raw, task, unknown=unknown, mapping=mapping, wheres=[s.where for s in segments]
    )


def _subsample(durations: Sequence[float], total_duration_h: float | None, seed: int) -> list[int]:
    """Indices (in corpus order) of a seeded random subset of at most ``total_duration_h`` hours.

    Examples are taken in a random order, skipping any that would overshoot, so the subset ends
    within one example's duration of the target.
    """
    if total_duration_h is None:
        return list(range(len(durations)))
    if total_duration_h <= 0:
        raise ValueError(f"total_duration_h must be positive, got {total_duration_h}")
    budget_s = total_duration_h * 3600.0
    if sum(durations) <= budget_s:
        log.warning(
            "corpus holds %.3f h, not more than the %.3f h asked for; keeping all of it",
            sum(durations) / 3600, total_duration_h,
        )  # fmt: skip
        return list(range(len(durations)))
    order = np.random.default_rng([seed, _SUBSAMPLE_STREAM]).permutation(len(durations))
    chosen, total = [], 0.0
    for index in order:
        if total + durations[index] <= budget_s:
            chosen.append(int(index))
            total += durations[index]
    return sorted(chosen)


def assign_splits(
    groups: Sequence[str],
    durations: Sequence[float],
    fractions: Sequence[float] = PAPER_SPLIT_FRACTIONS,
    seed: int = 0,
    where: str = "corpus",
) -> list[str]:
    """Split name of each example, whole groups at a time, near ``fractions`` of the duration.

    Groups (sorted, then shuffled by ``seed``) go one by one to the split whose duration is
    furthest below its target (``fraction x total - assigned``), so each split's share ends within
    about one group's duration of its fraction.

    Raises
    ------
    InputError : a split with a positive fraction would be empty (too few groups).
    """
    per_group: dict[str, float] = {}
    for group, duration in zip(groups, durations, strict=True):
        per_group[group] = per_group.get(group, 0.0) + float(duration)
    names = sorted(per_group)
    order = np.random.default_rng([seed, SPLIT_STREAM]).permutation(len(names))
    total = sum(per_group.values())
    targets = np.asarray(fractions, dtype=float) * total
    assigned = np.zeros(len(SPLITS))
    split_of: dict[str, str] = {}
    for index in order:
        name = names[index]
        deficit = targets - assigned
        deficit[np.asarray(fractions) == 0] = -np.inf
        chosen = int(np.argmax(deficit))
        split_of[name] = SPLITS[chosen]
        assigned[chosen] += per_group[name]
    empty = [
        split
        for split, fraction in zip(SPLITS, fractions, strict=True)
        if fraction > 0 and split not in split_of.values()
    ]
    if empty:
        raise InputError(
            f"{where}: {len(names)} group(s) (speakers/recordings/clips) cannot fill the "
            f"{'/'.join(SPLITS)} splits {list(fractions)}: {empty} would be empty"
        )
    return [split_of[group] for group in groups]


def _sidecar(
    table: pd.DataFrame,
    task: str,
    source: str,
    root: Path,
    collected: _Collected,
    classes: list[str] | None,
    available_s: float,
    **settings,
) -> dict:
    by_split = table.groupby("split")
    counts = {split: 0 for split in SPLITS} | by_split.size().to_dict()
    hours = {split: 0.0 for split in SPLITS} | (by_split["duration_s"].sum() / 3600).to_dict()
    groups = {split: 0 for split in SPLITS} | by_split["group"].nunique().to_dict()
    info = {
        "task": task,
        "source": source,
        "root": root.as_posix(),
        "columns": list(MANIFEST_COLUMNS),
        "counts": {split: int(counts[split]) for split in SPLITS},
        "hours": {split: round(float(hours[split]), 6) for split in SPLITS},
        "groups": {split: int(groups[split]) for split in SPLITS},
        "total": {
            "examples": len(table),
            "hours": round(float(table["duration_s"].sum()) / 3600, 6),
            "hours_before_subsampling": round(available_s / 3600, 6),
        },
        "dropped": dict(sorted(collected.dropped.items())),
        "dropped_examples": dict(sorted(collected.examples.items())),
        "settings": {
            "max_duration_s": settings["max_duration_s"],
            "total_duration_h": settings["total_duration_h"],
            "split_fractions": dict(zip(SPLITS, settings["fractions"], strict=True)),
            "seed": settings["seed"],
        },
        **collected.notes,
    }
    if classes is not None:
        info["classes"] = list(classes)
        info["settings"]["multilabel"] = settings["multilabel"]
    else:
        info["symbols"] = list(texts.ALPHABETS[task])
        info["settings"]["unknown"] = settings["unknown"]
        info["settings"]["mapping"] = settings["mapping"]
        if task == "bengali":
            info["romaniser"] = texts.romaniser_version()
    return info


def _audio_duration_s(path: Path) -> float:
    details = audio_info(path)
    return details.frames / details.samplerate


def _progress(items, description: str):
    from tqdm import tqdm

    return tqdm(items, desc=description, unit="file", mininterval=5.0, disable=len(items) < 500)


# --------------------------------------------------------------------------------------------
# Spoken Wikipedia Corpora

_SWC_AUDIO = re.compile(r"audio(\d*)\.(ogg|flac|wav|mp3)$")


def _read_swc(root: Path, task: str, multilabel: str) -> _Collected:
    del multilabel
    collected = _Collected()
    alignments = sorted(root.rglob("aligned.swc"))
    if not alignments:
        raise InputError(
            f"{root}: no aligned.swc files; expected the Spoken Wikipedia Corpora layout "
            f"<root>/<article>/aligned.swc with audio.ogg (set "
            f"{CONFIG_ROOT_KEY.format(task=task)})"
        )
    for alignment in _progress(alignments, "SWC articles"):
        _read_swc_article(alignment, root, collected)
    return collected


def _read_swc_article(alignment: Path, root: Path, collected: _Collected) -> None:
    try:
        document = ET.parse(alignment).getroot()
    except ET.ParseError as error:
        raise InputError(f"{alignment}: not valid SWC XML ({error})") from error
    article = alignment.parent.relative_to(root).as_posix()
    reader = next(
        (
            prop.get("value", "").strip()
            for prop in document.iter("prop")
            if prop.get("key") == "reader.name" and prop.get("value", "").strip()
        ),
        None,
    )
    group = f"reader:{reader}" if reader else f"article:{article}"
    parts = _swc_audio_parts(alignment.parent, root)
    ignored = {word for skipped in document.iter("ignored") for word in skipped.iter("n")}
    for number, sentence in enumerate(document.iter("s"), start=1):
        where = f"{alignment} sentence {number}"
        words = [word for word in sentence.iter("n") if word not in ignored]
        if not words:
            continue  # punctuation only, or wholly ignored: nothing was read
        times = [(word.get("start"), word.get("end")) for word in words]
        if any(start is None or end is None for start, end in times):
            collected.drop("not_fully_aligned", where)
            continue
        start_s = min(float(start) for start, _ in times) / 1000.0
        end_s = max(float(end) for _, end in times) / 1000.0
        transcript = " ".join(word.get("pronunciation", "") for word in words)
        if not parts:
            collected.drop("audio_missing", where)
            continue
        part = _containing_part(parts, start_s, end_s)
        if part is None:
            collected.drop("outside_one_audio_file", f"{where} ({start_s:.2f}-{end_s:.2f} s)")
            continue
        relpath, offset_s, _ = part
        collected.segments.append(
            Segment(relpath, start_s - offset_s, end_s - start_s, transcript, group, where)
        )


def _swc_audio_parts(folder: Path, root: Path) -> list[tuple[str, float, float]]:
    """``(relpath, offset_s, duration_s)`` of an article's audio, parts in reading order."""
    found = []
    for path in folder.iterdir():
        match = _SWC_AUDIO.match(path.name)
        if match and path.is_file():
            found.append((int(match.group(1) or 0), path))
    found.sort()
    parts, offset_s = [], 0.0
    for _, path in found:
        duration_s = _audio_duration_s(path)
        parts.append((path.relative_to(root).as_posix(), offset_s, duration_s))
        offset_s += duration_s
    return parts


def _containing_part(parts, start_s: float, end_s: float):
    for part in parts:
        _, offset_s, duration_s = part
        if offset_s <= start_s and end_s <= offset_s + duration_s + AUDIO_END_TOLERANCE_S:
            return part
    return None


# --------------------------------------------------------------------------------------------
# OpenSLR 53


def _read_openslr53(root: Path, task: str, multilabel: str) -> _Collected:
    del multilabel
    listing = root / "utt_spk_text.tsv"
    if not listing.is_file():
        raise InputError(
            f"{listing}: file not found; {CONFIG_ROOT_KEY.format(task=task)} must hold OpenSLR "
            f"53's utt_spk_text.tsv and data/<xx>/<utterance>.flac"
        )
    collected = _Collected()
    rows = []
    with listing.open(encoding="utf-8", newline="") as handle:
        for number, row in enumerate(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE), 1):
            if not row:
                continue
            if len(row) != 3:
                raise InputError(
                    f"{listing} line {number}: expected 3 tab-separated fields (utterance, "
                    f"speaker, transcript), found {len(row)}"
                )
            utterance, speaker, transcript = (field.strip() for field in row)
            if not transcript:
                raise InputError(f"{listing} line {number}: empty transcript for {utterance!r}")
            rows.append((number, utterance, speaker, transcript))
    for number, utterance, speaker, transcript in _progress(rows, "OpenSLR 53 clips"):
        relpath = f"data/{utterance[:2]}/{utterance}.flac"
        where = f"{listing} line {number}"
        audio = root / relpath
        if not audio.is_file():
            collected.drop("audio_missing", f"{where} ({relpath})")
            continue
        duration_s = _audio_duration_s(audio)
        collected.segments.append(
            Segment(relpath, 0.0, duration_s, transcript, f"speaker:{speaker}", where)
        )
    return collected


# --------------------------------------------------------------------------------------------
# FSDKaggle2019 (curated)

_FSD_LAYOUTS = (
    ("train_curated.csv", "train_curated"),
    (
        "FSDKaggle2019.meta/train_curated_post_competition.csv",
        "FSDKaggle2019.audio_train_curated",
    ),
)


def _read_fsdkaggle2019(root: Path, task: str, multilabel: str) -> _Collected:
    layout = next(
        (
            (root / listing, root / audio)
            for listing, audio in _FSD_LAYOUTS
            if (root / listing).is_file()
        ),
        None,
    )
    if layout is None:
        expected = " or ".join(str(root / listing) for listing, _ in _FSD_LAYOUTS)
        raise InputError(
            f"{expected}: file not found; {CONFIG_ROOT_KEY.format(task=task)} must hold the "
            f"FSDKaggle2019 curated set"
        )
    listing, audio_folder = layout
    with reading(listing, "FSDKaggle2019's listing (CSV)"):
        table = pd.read_csv(listing, dtype=str, keep_default_na=False)
    missing = [column for column in ("fname", "labels") if column not in table.columns]
    if missing:
        raise InputError(f"{listing}: missing column(s) {missing}; found {list(table.columns)}")
    collected = _Collected()
    labelled = []
    for number, (fname, labels) in enumerate(zip(table["fname"], table["labels"], strict=True)):
        where = f"{listing} line {number + 2}"
        names = [label.strip() for label in labels.split(",") if label.strip()]
        if not names:
            raise InputError(f"{where}: clip {fname!r} has no label")
        labelled.append((where, fname, names))
    classes = sorted({name for _, _, names in labelled for name in names})
    n_multilabel = 0
    for where, fname, names in _progress(labelled, "FSDKaggle2019 clips"):
        if len(names) > 1:
            n_multilabel += 1
            if multilabel == "drop":
                collected.drop("multilabel", f"{where} ({','.join(names)})")
                continue
        audio = audio_folder / fname
        if not audio.is_file():
            raise InputError(f"{audio}: audio file listed in {listing} not found")
        duration_s = _audio_duration_s(audio)
        relpath = audio.relative_to(root).as_posix()
        for name in names:
            collected.segments.append(
                Segment(relpath, 0.0, duration_s, name, f"clip:{fname}", where)
            )
    collected.classes = classes
    collected.notes["multilabel_clips"] = n_multilabel
    return collected


# --------------------------------------------------------------------------------------------
# Demo corpora

DEMO_LISTING = "clips.tsv"


def _read_demo(root: Path, task: str, multilabel: str) -> _Collected:
    del multilabel
    listing = root / DEMO_LISTING
    column = "label" if task == texts.SCENE_TASK else "text"
    if not listing.is_file():
        raise InputError(
            f"{listing}: file not found; {CONFIG_ROOT_KEY.format(task=task)} must be a folder "
            f"written by audiobrain.demo.corpora.generate_demo_corpus"
        )
    with reading(listing, "the demo corpus's listing (TSV)"):
        table = pd.read_csv(listing, sep="\t", dtype=str, keep_default_na=False)
    missing = [name for name in ("file", column, "group") if name not in table.columns]
    if missing:
        raise InputError(f"{listing}: missing column(s) {missing}; found {list(table.columns)}")
    collected = _Collected()
    for number, (file, value, group) in enumerate(
        zip(table["file"], table[column], table["group"], strict=True)
    ):
        where = f"{listing} line {number + 2}"
        if not value.strip():
            raise InputError(f"{where}: empty {column}")
        audio = root / file
        if not audio.is_file():
            raise InputError(f"{audio}: audio file listed in {listing} not found")
        collected.segments.append(Segment(file, 0.0, _audio_duration_s(audio), value, group, where))
    if task == texts.SCENE_TASK:
        collected.classes = sorted(set(table[column]))
    return collected


_READERS: dict[str, Callable[[Path, str, str], _Collected]] = {
    "swc": _read_swc,
    "openslr53": _read_openslr53,
    "fsdkaggle2019": _read_fsdkaggle2019,
    "demo": _read_demo,
}
