"""benchmarks/study_cost.py as a user runs it: one row per stage, and brain-score FLOPs right.

The brain-score count is checked against a closed form written here from audiobrain.ridge's
algorithm (per fold: Gram matrix, eigh, basis maps, then per penalty one residual product over
all vertices), at a tiny shape passed on the command line.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from audiobrain.brainscores.architecture import VOCABULARY_SIZES

REPO = Path(__file__).resolve().parents[1]
N_TRS, N_VERTICES = 48, 10  # 12 blocks of 4 TRs: 44 training and 4 test TRs per fold
STAGES = ("brain scores", "training", "reconstruction")
MOUS_SUBJECTS = 102  # configs/mous.yaml: subjects null, the auditory cohort


@pytest.fixture(scope="module")
def table() -> dict[str, list[float]]:
    """The numeric columns of each stage's row in the --quick table."""
    result = subprocess.run(
        [
            sys.executable,
            "benchmarks/study_cost.py",
            "--quick",
            "--n-trs",
            str(N_TRS),
            "--n-vertices",
            str(N_VERTICES),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("-----")) + 1
    rows = {}
    for line in lines[start:]:
        if not line.strip():
            break
        stage = next((s for s in STAGES if line.startswith(s + " ")), None)
        if stage:
            fields = line[len(stage) :].split()
            # FLOPs, GFLOP/s, core-h, A100 FP32, TF32, BF16, A100 as run
            rows[stage] = [float(field.replace(",", "")) for field in fields[:7]]
    return rows


def test_every_stage_has_positive_finite_hours(table):
    assert set(table) == set(STAGES)
    for stage, (flops, rate, *hours) in table.items():
        assert flops > 0 and rate > 0, stage
        assert all(math.isfinite(h) and h > 0 for h in hours), (stage, hours)


def paper_layer_widths(networks: dict, n_mels: int, n_outputs: int) -> dict[str, int]:
    """Section 2.3: frequency 160 -> 80 -> 40 -> 20 bins through the strided convolutions."""
    bins, widths = 160, {"mel": n_mels}
    kernels_and_pads = ((41, 20), (21, 10), (21, 10))  # along frequency; stride 2 in each
    layers = zip(
        ("conv1", "conv2", "conv3"), networks["conv_channels"], kernels_and_pads, strict=True
    )
    for name, channels, (kernel, pad) in layers:
        bins = (bins + 2 * pad - kernel) // 2 + 1
        widths[name] = channels * bins
    return {**widths, "gru": 2 * networks["gru_hidden"], "fc": n_outputs}


def feature_set_widths(widths: dict[str, int]) -> dict[str, int]:
    order = list(widths)
    sets = {f"L{k}": sum(widths[name] for name in order[: k + 1]) for k in range(len(order))}
    return {**sets, **{f"layer-{name}": widths[name] for name in order[1:]}}


def one_score_flops(p: int, n_alphas: int, n_splits: int) -> float:
    """12 identical folds of 44 training and 4 test TRs, N_VERTICES targets."""
    n, m, v = N_TRS - N_TRS // n_splits, N_TRS // n_splits, N_VERTICES
    if p >= n:  # eigh of X X^T (n x n): the basis spans R^n
        fold = 2 * n * n * p + 9 * n**3 + 4 * n * n * n_alphas  # Gram, eigh, LOO plan
        fold += 2 * m * p * n + 2 * m * n * n  # test rows through X_train^T U
        fold += 2 * n * n * v + 2 * m * n * v  # U^T Y and the predictions
        fold += n_alphas * (2 * n * n * v + 2 * n * v)  # residual product, sum of squares
    else:  # eigh of X^T X (p x p): a part of Y lies outside the span
        fold = 2 * n * p * p + 9 * p**3 + 4 * n * p * n_alphas
        fold += 2 * n * p * p + 2 * m * p * p  # U = X V / s and the test map
        fold += 2 * 2 * n * p * v + 2 * m * p * v  # U^T Y, Y - U Q, predictions
        fold += n_alphas * (2 * n * p * v + 2 * n * v + 2 * n * v)  # ... plus the outside part
    return n_splits * fold


def test_brain_score_flops_match_the_closed_form(table):
    config = yaml.safe_load((REPO / "configs/mous.yaml").read_text())
    networks, ridge = config["networks"], config["ridge"]
    assert ridge["n_splits"] == config["dataset"]["n_blocks"] == 12  # the shape assumed above
    expected = 0.0
    for network_type in networks["types"]:
        outputs = (
            networks["untrained_outputs"]
            if network_type == "untrained"
            else VOCABULARY_SIZES[network_type] + 1
        )
        widths = paper_layer_widths(networks, config["features"]["n_mels"], outputs)
        for name, p in feature_set_widths(widths).items():
            scores = 1 if name == "L0" else len(networks["seeds"])  # L0: shared by the seeds
            expected += scores * one_score_flops(p, ridge["n_alphas"], ridge["n_splits"])
    expected *= MOUS_SUBJECTS
    assert table["brain scores"][0] == pytest.approx(expected, rel=1e-3)
