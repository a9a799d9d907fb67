"""Shared fixtures: repository copies, a Snakemake runner, and one reduced demo run per session.

Workflow tests run Snakemake as a lab member does: from the root of a copy of the repository
(``config.yaml`` present, so every config overlays it), with the README's command lines.
"""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]

# The demo, reduced for CI: fewer subjects and sentences, a coarser surface. Enough subjects that an
# exact Wilcoxon test can reach FDR significance over a few hundred vertices.
REDUCED_DEMO = {
    "demo": {"pool_size": 60},
    "dataset": {"subjects": ["01", "02", "03", "04", "05", "06", "07", "08"]},
    "surface": {"decimation": 20},
    "networks": {
        "types": ["untrained", "scenes", "dutch"],
        "seeds": [0],
        "training": {"max_steps": 40, "validation_interval": 20, "checkpoint_interval": 10},
    },
}
REDUCED_DEMO["demo"]["corpus_clips"] = 40
# The reconstruction demo, reduced: two subjects, fewer training clips and steps, four clips vocoded
# per subject. The test set keeps five clips per class for the 5-fold SVM. Half the training clips
# take twice the epochs for G's VAE and pretraining to make as many steps as the demo's. Table 3
# keeps its three prompts at the main P_gt only (its other P_gt values would train two more D_aco
# and G per study subject; the dry-run of config.yaml and the table's unit tests cover them).
REDUCED_DEMO["recon"] = {
    "sources": {"demo": {"subjects": ["01", "02"], "n_train_stimuli": 60}},
    "acoustic": {"epochs": 3},
    "ldm": {"pretrain_epochs": 100, "vae_epochs": 16},
    "direct": {"epochs": 3, "mlp_max_iter": 50},
    "evaluation": {"n_clips": 4},
    "study": {"n_clips": 4, "p_gt": [0.25]},
}


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny tensors: thread start-up costs more than it saves on a shared 2-core machine."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def merged(base: dict, overrides: dict) -> dict:
    result = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merged(result[key], value)
        else:
            result[key] = value
    return result


_NOT_COPIED = {".git", ".venv", ".snakemake", "data", "results", "logs", "report.html"}


def copy_repository(destination: Path) -> Path:
    """The workflow's files, as a user's clone has them, without earlier outputs."""

    def ignored(folder: str, names: list[str]) -> set[str]:
        skip = {n for n in names if n == "__pycache__" or n.endswith("_cache")}
        if Path(folder) == REPO:
            skip |= _NOT_COPIED & set(names)
        if Path(folder) == REPO / "benchmarks":
            skip.add("rules")  # per-job timings of earlier runs
        return skip

    shutil.copytree(REPO, destination, ignore=ignored)
    return destination


@pytest.fixture
def clone(tmp_path) -> Path:
    """A fresh copy of the repository to run the workflow in, from its root."""
    return copy_repository(tmp_path / "audiobrain")


def run_snakemake(
    args: list[str], workdir: Path, check: bool = True
) -> subprocess.CompletedProcess:
    """``snakemake ARGS`` typed at the root of the repository copy ``workdir``."""
    command = [*SNAKEMAKE, *args]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=workdir)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def write_config(path: Path, overrides: dict, base: Path = REPO / "config.yaml") -> Path:
    config = merged(yaml.safe_load(base.read_text()), overrides)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def write_overrides(path: Path, overrides: dict) -> Path:
    """A config holding only ``overrides``: Snakemake merges it over config.yaml, key by key."""
    path.write_text(yaml.safe_dump(overrides, sort_keys=False))
    return path


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory) -> Path:
    """The reduced demo, run once end to end with `snakemake --cores 2 --configfile
    reduced.yaml` at the root of a repository copy; yields the copy.

    AUDIOBRAIN_DEMO_RUN=<folder> reuses a copy where that run has finished (a developer's
    shortcut while iterating on the tests; CI always runs the demo afresh).
    """
    if os.environ.get("AUDIOBRAIN_DEMO_RUN"):
        return Path(os.environ["AUDIOBRAIN_DEMO_RUN"])
    workdir = copy_repository(tmp_path_factory.mktemp("demo") / "audiobrain")
    write_overrides(workdir / "reduced.yaml", REDUCED_DEMO)
    run_snakemake(["--cores", "2", "--configfile", "reduced.yaml"], workdir)
    return workdir


@pytest.fixture(scope="session")
def demo_report(demo_run) -> Path:
    """``snakemake --report report.html`` after the reduced demo, at the copy's root."""
    run_snakemake(["--configfile", "reduced.yaml", "--report", "report.html"], demo_run)
    return demo_run / "report.html"
