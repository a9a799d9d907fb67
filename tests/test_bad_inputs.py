"""What a lab's real files do wrong, fed to the step of each study that reads them.

Every case damages one file of a tiny demo copy the way real data goes bad (a truncated download,
an HTML error page saved under the data's name, NaN-filled runs, a table one row short, a column
renamed, another subject's file) and runs the function a rule calls. Each must stop with an
InputError that names the damaged file and the problem, and leave no output behind.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from test_pipeline import SETTINGS, derived_events, random_feature_file, tiny_demo  # noqa: F401

from audiobrain.brainscores import pipeline
from audiobrain.brainscores.architecture import LAYER_NAMES
from audiobrain.demo import simulate
from audiobrain.io import (
    InputError,
    load_npz,
    read_tsv,
    save_npz,
    sidecar_path,
    write_gifti_timeseries,
)
from audiobrain.recon.datasets import read_subject_fmri

HTML_PAGE = b"<!DOCTYPE html>\n<html><head><title>Login</title></head><body>Sign in</body></html>\n"


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: max(1, path.stat().st_size // 3)])


def html_page(path: Path) -> None:
    path.write_bytes(HTML_PAGE)


def nan_vertex(path: Path) -> None:
    """A vertex NaN at every scan, as fMRIPrep's --medial-surface-nan writes the medial wall."""
    data = pipeline.read_gifti_timeseries(path)
    data[:, 7] = np.nan
    write_gifti_timeseries(path, data, tr_s=2.0)


def nan_value(path: Path) -> None:
    data = pipeline.read_gifti_timeseries(path)
    data[10, 3] = np.nan
    write_gifti_timeseries(path, data, tr_s=2.0)


def drop_last_row(path: Path) -> None:
    table = read_tsv(path)
    table.iloc[:-1].to_csv(path, sep="\t", index=False, na_rep="n/a")


def blank_value(column: str) -> Callable[[Path], None]:
    def damage(path: Path) -> None:
        table = read_tsv(path)
        table.loc[5, column] = np.nan
        table.to_csv(path, sep="\t", index=False, na_rep="n/a")

    return damage


def rename_column(old: str, new: str) -> Callable[[Path], None]:
    def damage(path: Path) -> None:
        table = read_tsv(path, dtype=str)
        table.rename(columns={old: new}).to_csv(path, sep="\t", index=False)

    return damage


def binary_garbage(path: Path) -> None:
    path.write_bytes(bytes(range(256)) * 8)


def mislabel_a_sentence_block(path: Path) -> None:
    """The last sentence of block 2 labelled block 1: block 1 then spans a word-list block."""
    table = read_tsv(path)
    last_of_block_2 = table.index[(table["trial_type"] == "sentence") & (table["block"] == 2)][-1]
    table.loc[last_of_block_2, "block"] = 1
    table.to_csv(path, sep="\t", index=False, na_rep="n/a")


def nan_samples(path: Path) -> None:
    samples, sr_hz = sf.read(path, dtype="float32")
    samples[len(samples) // 2] = np.nan
    sf.write(path, samples, sr_hz, subtype="FLOAT")


# --- the brain-score study: a MOUS-like subject through derive_events and clean_bold -----------


@dataclass(frozen=True)
class Subject:
    layout: simulate.DemoLayout
    out: Path

    def bold(self, hemi: str) -> Path:
        return self.layout.surface_bold("01", hemi)

    def first_stimulus(self) -> Path:
        table = read_tsv(self.layout.events("01"))
        names = table.loc[table["type"] == "Sound", "value"].str.extract(r"(\d+)\.wav")[0]
        return next(self.layout.stimuli.rglob(f"*LPF{int(names.iloc[0]):03d}.wav"))


def derive(subject: Subject) -> Path:
    output = subject.out / "derived_events.tsv"
    pipeline.derive_events(
        subject.layout.events("01"), subject.layout.stimuli, output, events_format="mous",
        n_blocks=12, sentences_per_block=5,
    )  # fmt: skip
    return output


def clean(subject: Subject) -> Path:
    events = derived_events(subject.layout)  # derived before the damage, in the layout's folder
    output = subject.out / "clean.npz"
    bold = [subject.bold(hemi) for hemi in ("L", "R")]
    pipeline.clean_subject_bold(bold, events, output, **SETTINGS)
    return output


# (case, file to damage, damage, step, what the message must say besides the file's name)
SUBJECT_CASES = [
    ("truncated BOLD", lambda s: s.bold("L"), truncate, clean, "cannot be read as a GIfTI"),
    ("HTML page as BOLD", lambda s: s.bold("R"), html_page, clean, "cannot be read as a GIfTI"),
    ("medial wall NaN", lambda s: s.bold("L"), nan_vertex, clean, "1 of them NaN/inf in every"),
    ("one NaN in a run", lambda s: s.bold("R"), nan_value, clean, "1 NaN/inf value(s)"),
    (
        "confounds one row short",
        lambda s: s.layout.confounds("01"),
        drop_last_row,
        clean,
        "rows, but",
    ),
    ("HTML page as confounds", lambda s: s.layout.confounds("01"), html_page, clean, "confound"),
    (
        "confound value blank",
        lambda s: s.layout.confounds("01"),
        blank_value("trans_x"),
        clean,
        "missing or infinite confound value",
    ),
    (
        "truncated confounds sidecar",
        lambda s: s.layout.confounds("01", "json"),
        truncate,
        clean,
        "cannot be read as JSON",
    ),
    (
        "truncated fMRIPrep BOLD sidecar",
        lambda s: sidecar_path(s.bold("L")),
        truncate,
        clean,
        "cannot be read as JSON",
    ),
    ("binary file as events", lambda s: s.layout.events("01"), binary_garbage, derive, "table"),
    ("HTML page as events", lambda s: s.layout.events("01"), html_page, derive, "column"),
    (
        "events column renamed",
        lambda s: s.layout.events("01"),
        rename_column("type", "trial_type"),
        derive,
        "type",
    ),
    ("HTML page as stimulus WAV", Subject.first_stimulus, html_page, derive, "audio"),
    ("truncated stimulus WAV", Subject.first_stimulus, truncate, derive, "truncated audio"),
    (
        "sentence blocks interleaved",
        lambda s: derived_events(s.layout),
        mislabel_a_sentence_block,
        clean,
        "interleaves with a word_list",
    ),
]


@pytest.fixture
def subject(tiny_demo, tmp_path):  # noqa: F811
    shutil.copytree(tiny_demo.root, tmp_path / "demo")
    (tmp_path / "out").mkdir()
    return Subject(simulate.DemoLayout(tmp_path / "demo", "auditory"), tmp_path / "out")


@pytest.mark.parametrize(
    ("damaged", "damage", "step", "problem"),
    [case[1:] for case in SUBJECT_CASES],
    ids=[case[0] for case in SUBJECT_CASES],
)
def test_a_damaged_subject_file_is_named_and_leaves_no_output(
    subject, damaged, damage, step, problem
):
    path = damaged(subject)
    damage(path)
    with pytest.raises(InputError) as error:
        step(subject)
    message = str(error.value)
    assert path.name in message, message
    assert problem in message, message
    assert not any(subject.out.iterdir()), list(subject.out.iterdir())


# --- the brain-score step: cleaned BOLD, events and feature files -------------------------------


@pytest.fixture(scope="module")
def scoring_base(tiny_demo, tmp_path_factory):  # noqa: F811
    """Cleaned BOLD, its stimulus table and feature files, made once for the module."""
    root = tmp_path_factory.mktemp("scoring")
    shutil.copytree(tiny_demo.root, root / "demo")
    layout = simulate.DemoLayout(root / "demo", "auditory")
    events = derived_events(layout)
    bold = root / "clean.npz"
    pipeline.clean_subject_bold(
        [layout.surface_bold("01", hemi) for hemi in ("L", "R")], events, bold, **SETTINGS
    )
    stim_ids = [Path(f).stem for f in pipeline.stimulus_pool([events], "sentence")]
    rng = np.random.default_rng(0)
    mel = random_feature_file(root / "mel.npz", stim_ids, ["mel"], 100, rng)
    seed = random_feature_file(root / "net-dutch_seed-0.npz", stim_ids, LAYER_NAMES, 50, rng)
    return {"bold": bold, "events": events, "mel": mel, "activations": seed}


@pytest.fixture
def scoring_inputs(scoring_base, tmp_path):
    """A private copy of the scoring inputs that a test may damage."""
    inputs = {}
    for name, path in scoring_base.items():
        inputs[name] = Path(shutil.copy(path, tmp_path))
        if sidecar_path(path).is_file():
            shutil.copy(sidecar_path(path), tmp_path)
    (tmp_path / "scores").mkdir()
    return {**inputs, "out": tmp_path}


def nan_bold(path: Path) -> None:
    arrays = load_npz(path)
    arrays["bold"][:, 4] = np.nan
    save_npz(path, arrays)


def other_subjects_events(path: Path) -> None:
    """Another subject's stimulus table: other sentences in other blocks."""
    table = read_tsv(path)
    table["stim_file"] = table["stim_file"].sample(frac=1.0, random_state=0).to_numpy()
    table["stim_file"] = table["stim_file"].str.replace("LPF", "LPFX", regex=False)
    table.to_csv(path, sep="\t", index=False, na_rep="n/a")


SCORING_CASES = [
    ("truncated activations", "activations", truncate, "cannot be read as a numpy .npz"),
    ("HTML page as activations", "activations", html_page, "cannot be read as a numpy .npz"),
    ("truncated mel features", "mel", truncate, "cannot be read as a numpy .npz"),
    ("truncated cleaned BOLD", "bold", truncate, "cannot be read as a numpy .npz"),
    ("NaN in cleaned BOLD", "bold", nan_bold, "NaN/inf"),
    ("binary file as stimulus table", "events", binary_garbage, "tab-separated"),
    ("another subject's stimulus table", "events", other_subjects_events, "features"),
]


@pytest.mark.parametrize(
    ("which", "damage", "problem"),
    [case[1:] for case in SCORING_CASES],
    ids=[case[0] for case in SCORING_CASES],
)
def test_a_damaged_scoring_input_is_named_and_leaves_no_brain_score(
    scoring_inputs, which, damage, problem
):
    damage(scoring_inputs[which])
    outputs = [scoring_inputs["out"] / "scores" / "sub-01_net-dutch_seed-0_brainscore.npz"]
    with pytest.raises(InputError) as error:
        pipeline.subject_brain_scores(
            scoring_inputs["bold"], scoring_inputs["events"], scoring_inputs["mel"],
            [scoring_inputs["activations"]], outputs, tr_s=2.0, trial_type="sentence",
            alphas=[1.0, 100.0], n_splits=12,
        )  # fmt: skip
    message = str(error.value)
    assert scoring_inputs[which].name in message and problem in message, message
    assert not any((scoring_inputs["out"] / "scores").iterdir())


# --- the reconstruction study: a subject's fMRI matrix and trained weights ----------------------


def fmri_file(tmp_path: Path) -> Path:
    rng = np.random.default_rng(1)
    path = tmp_path / "sub-01_fmri.npz"
    save_npz(
        path,
        {
            "train_voxels": rng.standard_normal((12, 6)).astype(np.float32),
            "train_stimulus": np.asarray([f"clip{i % 6}" for i in range(12)]),
            "test_voxels": rng.standard_normal((3, 6)).astype(np.float32),
            "test_stimulus": np.asarray(["t0", "t1", "t2"]),
        },
    )
    return path


def change_array(name: str, change: Callable[[np.ndarray], np.ndarray]):
    def damage(path: Path) -> None:
        arrays = load_npz(path)
        arrays[name] = change(arrays[name])
        save_npz(path, arrays)

    return damage


def drop_array(name: str):
    def damage(path: Path) -> None:
        arrays = load_npz(path)
        del arrays[name]
        save_npz(path, arrays)

    return damage


def with_nan(values: np.ndarray) -> np.ndarray:
    values = values.copy()
    values[:, 2] = np.nan
    return values


FMRI_CASES = [
    ("truncated fMRI matrix", truncate, "cannot be read as a numpy .npz"),
    ("HTML page as fMRI matrix", html_page, "cannot be read as a numpy .npz"),
    ("NaN voxel in the test split", change_array("test_voxels", with_nan), "test_voxels"),
    ("labels one row short", change_array("train_stimulus", lambda v: v[:-1]), "train_stimulus"),
    ("a split missing", drop_array("test_voxels"), "missing array(s) ['test_voxels']"),
    ("voxels as a vector", change_array("train_voxels", lambda v: v.ravel()), "must be 2-D"),
]


@pytest.mark.parametrize(
    ("damage", "problem"), [case[1:] for case in FMRI_CASES], ids=[case[0] for case in FMRI_CASES]
)
def test_a_damaged_fmri_matrix_is_named_with_its_problem(tmp_path, damage, problem):
    path = fmri_file(tmp_path)
    damage(path)
    with pytest.raises(InputError) as error:
        read_subject_fmri(path)
    assert path.name in str(error.value) and problem in str(error.value), str(error.value)


@pytest.mark.parametrize("damage", [truncate, html_page], ids=["truncated", "HTML page"])
def test_damaged_network_weights_are_named_before_any_activation(tmp_path, damage):
    checkpoint = tmp_path / "model.pt"
    checkpoint.write_bytes(b"\0" * 4096)
    damage(checkpoint)
    with pytest.raises(InputError, match=r"model\.pt: cannot be read as network weights"):
        pipeline.load_network(
            "dutch", 0, conv_channels=(2, 2, 2), gru_hidden=4, checkpoint=checkpoint
        )


# --- the reconstruction study's pretrained weights: what a failed download leaves ---------------


def load_weights(kind: str, path: Path):
    if kind == "AudioMAE":
        from audiobrain.recon.audiomae import read_checkpoint

        return read_checkpoint(path)
    if kind == "vocoder":
        from audiobrain.recon.vocoder import load_hifigan

        return load_hifigan(path)
    from audiobrain.recon.metrics import load_panns_cnn14

    return load_panns_cnn14(path)


@pytest.mark.parametrize(
    ("kind", "name", "damage", "key"),
    [
        ("AudioMAE", "pretrained.pth", html_page, "recon.models.audiomae.checkpoint"),
        ("vocoder", "g_02500000.pth", truncate, "recon.models.vocoder"),
        ("PANNs", "Cnn14_16k_mAP=0.438.pth", html_page, "recon.models.panns"),
    ],
    ids=["HTML page as AudioMAE", "truncated vocoder", "HTML page as PANNs"],
)
def test_damaged_pretrained_weights_are_named_with_their_config_key(
    tmp_path, kind, name, damage, key
):
    import torch

    path = tmp_path / name
    torch.save({"model": {"weight": torch.zeros(64, 64)}}, path)
    damage(path)
    with pytest.raises(InputError) as error:
        load_weights(kind, path)
    message = str(error.value)
    assert name in message and key in message and "cannot be read as" in message, message
