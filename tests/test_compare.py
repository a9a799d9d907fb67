"""python -m audiobrain.compare: two result trees, array by array and column by column."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from audiobrain.compare import compare_trees, main
from audiobrain.io import save_npz, write_tsv


def result_tree(root: Path, scores: np.ndarray, table_value: float, note: str = "ok") -> Path:
    save_npz(root / "scores" / "sub-01.npz", {"r": scores, "alpha": np.array([10.0, 100.0])})
    write_tsv(
        pd.DataFrame({"roi": ["A1", "TPJ"], "mean": [table_value, 0.2], "p": [np.nan, 0.01]}),
        root / "stats" / "roi_summary.tsv",
    )
    (root / "notes.txt").write_text(note)
    return root


def test_identical_trees_match_and_exit_zero(tmp_path, capsys):
    scores = np.linspace(0, 1, 12).reshape(3, 4)
    a = result_tree(tmp_path / "a", scores, 0.5)
    b = result_tree(tmp_path / "b", scores.copy(), 0.5)
    assert compare_trees(a, b) == []
    assert main([str(a), str(b)]) == 0
    assert "3 files: 0 item(s) differ" in capsys.readouterr().out


def test_differences_are_reported_per_array_and_column(tmp_path):
    scores = np.linspace(0, 1, 12).reshape(3, 4)
    a = result_tree(tmp_path / "a", scores, 0.5, note="ok")
    b = result_tree(tmp_path / "b", scores + 1e-7, 0.5 + 2e-3, note="changed")
    (b / "extra.tsv").write_text("x\n1\n")
    found = {(d.path, d.item): d for d in compare_trees(a, b)}
    r = found[("scores/sub-01.npz", "r")]
    assert r.status == "differs" and np.isclose(r.max_abs, 1e-7, rtol=1e-3)
    assert ("scores/sub-01.npz", "alpha") not in found  # the unchanged array is not listed
    mean = found[("stats/roi_summary.tsv", "mean")]
    assert mean.status == "differs" and np.isclose(mean.max_abs, 2e-3)
    assert ("stats/roi_summary.tsv", "p") not in found  # NaN on both sides is equal
    assert found[("notes.txt", "")].status == "differs"
    assert found[("extra.tsv", "")].status == "missing in A"
    # Within a tolerance, the float differences pass; the text and the missing file do not.
    loose = {(d.path, d.item): d.status for d in compare_trees(a, b, atol=1e-2)}
    assert loose[("scores/sub-01.npz", "r")] == "within tolerance"
    assert loose[("stats/roi_summary.tsv", "mean")] == "within tolerance"
    assert main([str(a), str(b), "--atol", "1e-2"]) == 1


def test_the_command_line_names_what_differs(tmp_path):
    scores = np.zeros((2, 2))
    a = result_tree(tmp_path / "a", scores, 0.5)
    b = result_tree(tmp_path / "b", np.ones((2, 3)), 0.5)
    result = subprocess.run(
        [sys.executable, "-m", "audiobrain.compare", str(a), str(b)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert "scores/sub-01.npz:r" in result.stdout and "shape (2, 2) vs (2, 3)" in result.stdout
    missing = subprocess.run(
        [sys.executable, "-m", "audiobrain.compare", str(a), str(tmp_path / "nowhere")],
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 2 and "nowhere: not a folder of results" in missing.stderr
