"""Where a finished run's time went: seconds per rule and how busy the cores were.

    python benchmarks/job_times.py              # the run in this folder (.snakemake/metadata)
    python benchmarks/job_times.py --cores 2    # also: seconds with fewer jobs than cores

Snakemake records, for every output file, the rule, the job and the job's start and end times
(``.snakemake/metadata``, one JSON record per file). This groups the records by job, so rules
without a ``benchmark:`` file count too, and prints per rule the jobs, their summed and mean wall
seconds and their share of the total, then the run's span from its first start to its last end
and how many of those seconds had fewer jobs running than ``--cores``: the time a better job
order could win back, at most. Only the jobs of the latest run of each output are recorded, so
read it after one run from a clean clone. (Snakemake's report plots the same records per
rule; this prints them as figures, and adds the idle time.)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd


def recorded_jobs(metadata: Path) -> pd.DataFrame:
    """One row per job (rule, job hash, start, end) from Snakemake's per-file records."""
    records = []
    for path in sorted(metadata.iterdir()):
        if not path.is_file():
            continue
        record = json.loads(path.read_text())
        if record.get("starttime") is None or record.get("endtime") is None:
            continue
        records.append(
            {
                "rule": record["rule"],
                "job": record["job_hash"],
                "start": record["starttime"],
                "end": record["endtime"],
            }
        )
    if not records:
        raise SystemExit(f"{metadata}: no job records (has the workflow run here?)")
    files = pd.DataFrame(records)  # a job's files share its end, their starts differ by ms
    return files.groupby(["rule", "job"], as_index=False).agg(
        start=("start", "min"), end=("end", "max")
    )


def per_rule(jobs: pd.DataFrame) -> pd.DataFrame:
    seconds = jobs.assign(seconds=jobs["end"] - jobs["start"])
    table = seconds.groupby("rule")["seconds"].agg(jobs="count", seconds="sum", mean="mean")
    table["share"] = table["seconds"] / table["seconds"].sum()
    return table.sort_values("seconds", ascending=False)


def seconds_running(jobs: pd.DataFrame) -> pd.Series:
    """Seconds of the run's span with 0, 1, 2, ... jobs running at once."""
    edges = np.unique(np.concatenate([jobs["start"], jobs["end"]]))
    middles = (edges[:-1] + edges[1:]) / 2
    running = (
        (jobs["start"].to_numpy() <= middles[:, None]) & (jobs["end"].to_numpy() > middles[:, None])
    ).sum(1)
    return pd.Series(np.diff(edges)).groupby(running).sum()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--metadata", type=Path, default=Path(".snakemake/metadata"))
    parser.add_argument("--cores", type=int, default=2, help="the run's --cores")
    args = parser.parse_args()
    jobs = recorded_jobs(args.metadata)
    table = per_rule(jobs)
    with pd.option_context("display.width", 120, "display.max_rows", None):
        print(table.round({"seconds": 1, "mean": 1, "share": 3}).to_string())
    busy = seconds_running(jobs)
    span = jobs["end"].max() - jobs["start"].min()
    idle = busy[busy.index < args.cores].sum()
    print(
        f"\n{len(jobs)} jobs, {table['seconds'].sum():.0f} s of job time; the run spans "
        f"{span:.0f} s, of which {idle:.0f} s with fewer than {args.cores} jobs running"
    )


if __name__ == "__main__":
    main()
