"""The workflow as users drive it: config validation, the paper DAG, lint, the demo end to end."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import REPO, run_snakemake, write_config

pytestmark = pytest.mark.workflow


def test_unknown_config_key_stops_before_any_job(tmp_path):
    config = write_config(tmp_path / "config.yaml", {"ridge": {"n_split": 12}})
    result = run_snakemake(["-n", "--configfile", str(config)], tmp_path, check=False)
    assert result.returncode != 0
    assert "n_split" in result.stderr + result.stdout
    assert not (tmp_path / "results").exists()


def test_wrong_config_type_names_the_key(tmp_path):
    config = write_config(tmp_path / "config.yaml", {"surface": {"decimation": "ten"}})
    result = run_snakemake(["-n", "--configfile", str(config)], tmp_path, check=False)
    assert result.returncode != 0
    assert "decimation" in result.stderr + result.stdout


def mous_skeleton(root: Path) -> dict:
    """Empty files in the MOUS layout of configs/mous.yaml: raw BIDS events, license, weights."""
    config = yaml.safe_load((REPO / "configs" / "mous.yaml").read_text())
    bids = root / config["dataset"]["bids_dir"]
    for subject in config["dataset"]["subjects"]:
        events = bids / f"sub-{subject}" / "func" / f"sub-{subject}_task-auditory_events.tsv"
        events.parent.mkdir(parents=True, exist_ok=True)
        events.touch()
    (bids / "stimuli").mkdir(parents=True)
    for path in (config["fmriprep"]["fs_license"], config["fmriprep"]["image"]):
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).touch()
    for network in config["networks"]["types"]:
        for seed in config["networks"]["seeds"]:
            weights = root / config["networks"]["checkpoint_pattern"].format(
                network=network, seed=seed
            )
            if network != "untrained":
                weights.parent.mkdir(parents=True, exist_ok=True)
                weights.touch()
    return config


def test_paper_dag_dry_runs_with_all_subjects_and_networks(tmp_path):
    config = mous_skeleton(tmp_path)
    start = time.perf_counter()
    result = run_snakemake(
        ["-n", "--quiet", "rules", "--configfile", str(REPO / "configs" / "mous.yaml")], tmp_path
    )
    elapsed = time.perf_counter() - start
    counts = {
        line.split()[0]: int(line.split()[1])
        for line in result.stdout.splitlines()
        if len(line.split()) == 2 and line.split()[1].isdigit()
    }
    n_subjects = len(config["dataset"]["subjects"])
    n_networks = len(config["networks"]["types"]) * len(config["networks"]["seeds"])
    assert n_subjects == 102 and n_networks == 30
    assert counts["fmriprep"] == n_subjects
    assert counts["clean_bold"] == n_subjects
    assert counts["activations"] == n_networks
    assert counts["brain_scores"] == n_subjects * n_networks
    assert counts["group_stats"] == 5
    print(f"paper DAG dry-run: {counts['total']} jobs in {elapsed:.1f} s")


@pytest.mark.parametrize(
    "command",
    [
        [sys.executable, "-m", "snakemake", "--lint"],
        [sys.executable, "-m", "snakefmt", "--check", "."],
        [sys.executable, "-m", "ruff", "check", "src", "tests", "workflow", "benchmarks"],
        [
            sys.executable,
            "-m",
            "ruff",
            "format",
            "--check",
            "src",
            "tests",
            "workflow",
            "benchmarks",
        ],
    ],
    ids=["snakemake-lint", "snakefmt", "ruff-check", "ruff-format"],
)
def test_code_is_lint_clean(command):
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    if "--lint" in command:
        assert "Lints for" not in result.stdout + result.stderr, result.stdout + result.stderr


def test_demo_produces_the_contract_outputs(demo_run):
    summary = pd.read_csv(demo_run / "results" / "stats" / "roi_summary.tsv", sep="\t")
    assert list(summary.columns) == [
        "contrast",
        "roi",
        "mean",
        "sem",
        "n_subjects",
        "statistic",
        "p",
        "q",
    ]
    assert set(summary["roi"]) == {"A1", "Belt", "TPJ"}
    assert (summary["n_subjects"] == 8).all()
    for name in ("map-levels", "map-gains", "roi-bars", "level-profile"):
        figure = demo_run / "results" / "figures" / f"net-untrained_{name}.png"
        assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_rerunning_one_rule_gives_the_same_bytes(demo_run):
    target = "results/brainscores/sub-01/sub-01_net-untrained_seed-0_brainscore.npz"
    before = hashlib.sha256((demo_run / target).read_bytes()).hexdigest()
    run_snakemake(["--cores", "2", "--forcerun", "brain_scores", "--", target], demo_run)
    assert hashlib.sha256((demo_run / target).read_bytes()).hexdigest() == before


def test_report_collects_the_figures(demo_run):
    run_snakemake(["--report", "report.html"], demo_run)
    html = (demo_run / "report.html").read_text(errors="ignore")
    assert "roi_summary.tsv" in html
    assert "net-untrained_map-levels.png" in html
