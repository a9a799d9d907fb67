"""Compare two result trees: ``python -m audiobrain.compare A B [--atol X] [--rtol Y]``.

A rerun on another machine, a GPU run against a CPU one, a refactor against the code before it:
each should give the same results, and where bytes differ the question is by how much. Every file
under either tree is matched by its relative path: ``.npz`` files array by array, ``.tsv`` files
column by column (numbers by value, text exactly), anything else by its bytes. One line per file
that is not identical (and a summary) goes to standard output; the exit status is 0 when every
file matches within the tolerances (``|a - b| <= atol + rtol |b|``, numpy's rule), 1 otherwise.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from audiobrain.io import InputError, load_npz

PathLike = str | os.PathLike
IGNORED_DIRS = {".snakemake", "__pycache__"}


@dataclass(frozen=True)
class Difference:
    """One item (a file, an array of an ``.npz``, a column of a ``.tsv``) that differs."""

    path: str
    item: str  # "" for the whole file
    status: str  # "differs", "missing in A", "missing in B", "shape", "within tolerance"
    max_abs: float = float("nan")
    max_rel: float = float("nan")

    def line(self) -> str:
        where = f"{self.path}:{self.item}" if self.item else self.path
        numbers = ""
        if np.isfinite(self.max_abs):
            numbers = f"  max |a-b| {self.max_abs:.3g}  max rel {self.max_rel:.3g}"
        return f"{self.status:<17} {where}{numbers}"


def tree_files(root: PathLike) -> set[str]:
    """Relative paths of the files under ``root`` (Snakemake's own folder left out)."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: not a folder of results")
    found = set()
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in IGNORED_DIRS)
        found.update(str((Path(folder) / name).relative_to(root)) for name in files)
    return found


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _numbers(path: str, item: str, a, b, atol: float, rtol: float) -> Difference | None:
    """None when identical; else how far apart two numeric arrays of one shape are."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return Difference(path, item, f"shape {a.shape} vs {b.shape}")
    if a.dtype.kind not in "biufc" or b.dtype.kind not in "biufc":
        return None if np.array_equal(a, b) else Difference(path, item, "differs")
    if np.array_equal(a, b, equal_nan=True):
        return None
    a, b = a.astype(np.float64), b.astype(np.float64)
    gap = np.abs(a - b)
    gap = np.where(np.isnan(a) & np.isnan(b), 0.0, gap)
    gap = np.where(np.isnan(gap), np.inf, gap)  # NaN on one side only
    scale = np.abs(b)
    relative = np.divide(gap, scale, out=np.where(gap > 0, np.inf, 0.0), where=scale > 0)
    close = bool(np.all(gap <= atol + rtol * scale))
    status = "within tolerance" if close else "differs"
    return Difference(path, item, status, float(gap.max()), float(relative.max()))


def _npz_items(path: str, a: Path, b: Path, atol: float, rtol: float) -> Iterator[Difference]:
    left, right = load_npz(a), load_npz(b)
    for name in sorted(set(left) | set(right)):
        if name not in left or name not in right:
            yield Difference(path, name, "missing in A" if name not in left else "missing in B")
            continue
        difference = _numbers(path, name, left[name], right[name], atol, rtol)
        if difference is not None:
            yield difference


def _tsv_items(path: str, a: Path, b: Path, atol: float, rtol: float) -> Iterator[Difference]:
    left, right = (pd.read_csv(p, sep="\t", na_values=["n/a"]) for p in (a, b))
    if len(left) != len(right):
        yield Difference(path, "", f"shape {left.shape} vs {right.shape}")
        return
    for name in list(dict.fromkeys([*left.columns, *right.columns])):
        if name not in left or name not in right:
            yield Difference(path, name, "missing in A" if name not in left else "missing in B")
            continue
        values = [left[name], right[name]]
        if any(column.dtype == object for column in values):  # text: compared as written
            values = [column.astype(str) for column in values]
        difference = _numbers(path, name, *(v.to_numpy() for v in values), atol, rtol)
        if difference is not None:
            yield difference


def compare_trees(a: PathLike, b: PathLike, atol: float = 0.0, rtol: float = 0.0):
    """Every difference between the result trees ``a`` and ``b``, in path order."""
    a, b = Path(a), Path(b)
    files_a, files_b = tree_files(a), tree_files(b)
    differences = []
    for path in sorted(files_a | files_b):
        if path not in files_a or path not in files_b:
            missing = "missing in A" if path not in files_a else "missing in B"
            differences.append(Difference(path, "", missing))
            continue
        if _digest(a / path) == _digest(b / path):
            continue
        if path.endswith(".npz"):
            differences += list(_npz_items(path, a / path, b / path, atol, rtol))
        elif path.endswith(".tsv"):
            differences += list(_tsv_items(path, a / path, b / path, atol, rtol))
        else:
            differences.append(Difference(path, "", "differs"))
    return differences


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m audiobrain.compare", description=__doc__)
    parser.add_argument("a", help="a result tree (e.g. results/ of one run)")
    parser.add_argument("b", help="the tree to compare it with")
    parser.add_argument("--atol", type=float, default=0.0, help="absolute tolerance (default 0)")
    parser.add_argument("--rtol", type=float, default=0.0, help="relative tolerance (default 0)")
    args = parser.parse_args(argv)
    try:
        differences = compare_trees(args.a, args.b, args.atol, args.rtol)
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for difference in differences:
        print(difference.line())
    failing = [d for d in differences if d.status != "within tolerance"]
    n_files = len(tree_files(args.a) | tree_files(args.b))
    print(
        f"{n_files} files: {len(failing)} item(s) differ, "
        f"{len(differences) - len(failing)} within tolerance"
    )
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main())
