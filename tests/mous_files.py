"""Files laid out as the MOUS release has them (Schoffelen et al. 2019), written for the tests.

The events follow FieldTrip's conversion of the Presentation logs as the data descriptor and the
release document them (``onset, duration, volume, type, value``; Pulse rows one per volume with
value 50, block instructions ``ZINNEN``/``WOORDEN``, ``FIX <ms>`` and ``QUESTION <id>`` pictures,
``14 Start File <NNN>.wav`` sounds, ``<k> Audio onset``/``2 Target``/``15 End of file`` codes and
responses). They are written here independently of the demo's own writer
(:mod:`audiobrain.demo.demo_design`), so a test of the reader checks the format, not our writer.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

# The auditory cohort: A2002-A2125 but for the numbers without data (FieldTrip's MOUS page).
MISSING_AUDITORY = {
    2012, 2018, 2022, 2023, 2026, 2043, 2044, 2045, 2048, 2054, 2060,
    2074, 2081, 2082, 2087, 2093, 2100, 2107, 2112, 2115, 2118, 2123,
}  # fmt: skip
MOUS_AUDITORY_COHORT = [f"A{n}" for n in range(2002, 2126) if n not in MISSING_AUDITORY]
MOUS_VISUAL_COHORT = [f"V{n}" for n in range(1001, 1118)]
TR_S = 2.0


def mous_run(
    n_blocks: int = 12, per_block: int = 5, first: str = "ZINNEN", short_block: int | None = None
) -> pd.DataFrame:
    """One subject's auditory run: ``n_blocks`` sentence blocks of ``per_block`` alternating with
    as many word-list blocks, 4.2 s sentences and 5.1 s word lists, 2 s apart; sentence block
    ``short_block`` (1-based) has one sentence less."""
    rows, t = [], 10.0
    kinds = ["ZINNEN", "WOORDEN"] if first == "ZINNEN" else ["WOORDEN", "ZINNEN"]
    for index in range(2 * n_blocks):
        kind = kinds[index % 2]
        block = index // 2
        rows += [(t, "Picture", kind), (t + 1.7, "Picture", "blank")]
        t += 4.0
        short = kind == "ZINNEN" and block + 1 == short_block
        for k in range(per_block - short):
            stim = (block * per_block + k + 1) + (0 if kind == "ZINNEN" else 500)
            length = 4.2 if kind == "ZINNEN" else 5.1
            code = (1 if k % 2 else 5) if kind == "ZINNEN" else (3 if k % 2 else 7)
            rows += [
                (t - 1.0, "Picture", f"FIX {1000 + 17 * k}"),
                (t, "Sound", f"14 Start File {stim:03d}.wav"),
                (t + 0.046, "Nothing", f"{code} Audio onset"),
                (t + 2.1, "Nothing", "2 Target"),
                (t + length, "Nothing", "15 End of file"),
                (t + length + 0.03, "Picture", "blank"),
            ]
            if k == 2:
                rows += [(t + length + 0.5, "Picture", "QUESTION 17")]
                rows += [(t + length + 1.4, "Response", "1")]
            t += length + 2.0
        t += 6.0
    n_volumes = int((t + 16.0) // TR_S)
    rows += [(k * TR_S, "Pulse", "50") for k in range(n_volumes)]
    table = pd.DataFrame(rows, columns=["onset", "type", "value"])
    table = table.sort_values("onset", kind="stable").reset_index(drop=True)
    table["duration"] = "n/a"
    table["volume"] = (table["onset"] // TR_S).astype(int) + 1
    return table[["onset", "duration", "volume", "type", "value"]]


def write_events(path: Path, table: pd.DataFrame) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(path, sep="\t", index=False, float_format="%.4f")
    return path


def release_skeleton(root: Path, config: dict) -> list[str]:
    """Empty files where the MOUS release and a lab's local copies put them; the auditory
    subjects.

    ``participants.tsv`` lists both cohorts; each auditory subject has its auditory and
    resting-state runs and a native and a CTF-space T1w, each visual one its visual run. The
    atlases, corpora, FreeSurfer license and fMRIPrep image are where ``config`` says.
    """
    bids = root / config["dataset"]["bids_dir"]
    bids.mkdir(parents=True, exist_ok=True)
    subjects = MOUS_AUDITORY_COHORT + MOUS_VISUAL_COHORT
    pd.DataFrame({"participant_id": [f"sub-{s}" for s in subjects]}).to_csv(
        bids / "participants.tsv", sep="\t", index=False
    )
    for subject in subjects:
        tasks = ["auditory", "rest"] if subject.startswith("A") else ["visual", "rest"]
        func = bids / f"sub-{subject}" / "func"
        func.mkdir(parents=True)
        for task in tasks:
            for suffix in ("events.tsv", "bold.nii", "bold.json"):
                (func / f"sub-{subject}_task-{task}_{suffix}").touch()
        anat = bids / f"sub-{subject}" / "anat"
        anat.mkdir()
        for name in ("T1w.nii", "space-CTF_T1w.nii"):
            (anat / f"sub-{subject}_{name}").touch()
    (bids / "stimuli" / "audio_files").mkdir(parents=True)
    files = [config["fmriprep"]["fs_license"], config["fmriprep"]["image"]]
    for atlas in config["rois"]["atlases"].values():
        files += list(atlas.values())
    for path in files:
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).touch()
    for corpus in config["corpora"].values():
        if isinstance(corpus, dict):
            (root / corpus["root"]).mkdir(parents=True, exist_ok=True)
    return MOUS_AUDITORY_COHORT
