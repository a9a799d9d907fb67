"""benchmarks/job_times.py as a user runs it, in the folder of a finished demo run."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from conftest import REDUCED_DEMO, REPO

pytestmark = pytest.mark.workflow


@pytest.fixture(scope="module")
def printed(demo_run) -> str:
    result = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "job_times.py"), "--cores", "2"],
        cwd=demo_run,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def test_each_rule_counts_its_jobs_once(printed):
    """One brain-score job per subject and network type, however many files each job writes."""
    rows = {line.split()[0]: line.split()[1:] for line in printed.splitlines()[2:] if line.strip()}
    n_subjects = len(REDUCED_DEMO["dataset"]["subjects"])
    n_types = len(REDUCED_DEMO["networks"]["types"])
    assert int(rows["brain_scores"][0]) == n_subjects * n_types
    assert int(rows["simulate_demo"][0]) == 1  # one job, dozens of output files
    assert "recon_vocode" in rows


def test_two_cores_never_hold_more_than_twice_the_span(printed):
    summary = re.search(
        r"(\d+) jobs, (\d+) s of job time; the run spans (\d+) s, of which (\d+) s", printed
    )
    assert summary, printed
    _, job_seconds, span, below_cores = map(int, summary.groups())
    assert 0 < job_seconds <= 2 * span + 2  # rounding of both to whole seconds
    assert 0 <= below_cores <= span
