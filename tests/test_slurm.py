"""profiles/slurm on a real SLURM, and the paper config's dry-run with it.

A one-node cluster (.ci/slurm/start.sh: munged, slurmctld, slurmd) is set up from a site block
unlike the profile's own (TEST_SITE: other partition names, a GRES-type GPU name, a GPU partition
whose 1-minute limit stands for a lab's 30 minutes), written as the repository copy's
profiles/slurm/site.yaml, the one file a lab edits. A small demo runs through
`snakemake --profile profiles/slurm --profile .ci/slurm/profile` there. The run must submit every
job with sbatch, let the executor plugin place GPU-declaring jobs (found from the DAG's resources)
in the GPU partition with the site's GPU type and the rest in the CPU partition, stop the training
job at its time limit and resume it from its checkpoint in the next submission, and end with
results byte-identical to `snakemake --cores 2` of the same config. The paper configs' dry-runs
are placed with the plugin's own partition selection on profiles/slurm/site.yaml.

Without root or Debian's `slurmctld slurmd slurm-client munge` the SLURM tests skip with a message
(.ci/run installs the packages and sets AUDIOBRAIN_REQUIRE_SLURM=1, which turns the skip into a
failure in CI).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
import yte
from snakemake_executor_plugin_slurm.partitions import get_best_partition, read_partition_file
from test_workflow import C2F_CONFIGS, c2f_skeleton, mous_skeleton

from conftest import REDUCED_DEMO, REPO, copy_repository, merged, write_overrides

pytestmark = pytest.mark.workflow

PROFILE = REPO / "profiles" / "slurm"
CI_SLURM = REPO / ".ci" / "slurm"
PROFILE_ARGS = ["--profile", "profiles/slurm", "--profile", ".ci/slurm/profile"]
REQUIRE_SLURM = "AUDIOBRAIN_REQUIRE_SLURM"
# Issue 6: the paper config's dry-run with the profile must stay within this many seconds.
DRY_RUN_BUDGET_S = 30.0
TRAINING_RULE = "train_network"
RUN_TIMEOUT_S = 900
# The CI cluster's site block: unlike profiles/slurm/site.yaml in every name and in the GPU
# partition's time limit, which the training job reaches (SLURM stops a job 0-30 s after it).
TEST_SITE = {
    "account": None,
    "qos": None,
    "gpu_model": "a100_80gb",
    "partitions": {
        "standard": {"max_runtime": 240, "max_mem_mb": 16000, "max_cpus_per_task": 2},
        "gpu_short": {
            "max_runtime": 1,
            "max_mem_mb": 16000,
            "max_cpus_per_task": 2,
            "max_gpu": 1,
            "available_gpu_models": ["a100_80gb"],
        },
    },
}
TEST_CPU_PARTITION, TEST_GPU_PARTITION = TEST_SITE["partitions"]
# What `--gpus=a100_80gb:1` (the plugin's translation of gpu=1, gpu_model) reads back as.
GPU_REQUEST = f"gres:gpu:{TEST_SITE['gpu_model']}:1"

# The reduced demo of conftest.py, smaller still so that the SLURM run and the local run it is
# compared with take a few minutes on 2 cores: 3 subjects, the untrained network and one trained
# type (whose training job is the DAG's GPU job). The training asks for the GPU partition's
# 1 minute and needs 2-6 (0.2-0.7 s a step here, by the machine's load: 270 steps once finished
# inside SLURM's grace time after the limit, so nothing was stopped while training), so SLURM
# stops it at least once; it checkpoints every 10 steps and may be resubmitted 8 times.
_TRAINED = [t for t in REDUCED_DEMO.get("networks", {}).get("types", []) if t != "untrained"]
SLURM_DEMO = merged(
    REDUCED_DEMO,
    {
        "dataset": {"subjects": ["01", "02", "03"]},
        "networks": {"types": ["untrained", *_TRAINED[:1]]},
        # The reconstruction study's routing is checked on its paper DAG below (a dry-run); a
        # SLURM run of its demo would add minutes to CI without testing anything more.
        "recon": {"datasets": []},
    },
)
TRAINING_STEPS = 500
if _TRAINED:
    SLURM_DEMO = merged(
        SLURM_DEMO,
        {
            "networks": {
                "training": {
                    "max_steps": TRAINING_STEPS,
                    "validation_interval": 100,
                    "checkpoint_interval": 10,
                    "runtime_min": TEST_SITE["partitions"][TEST_GPU_PARTITION]["max_runtime"],
                    "resubmissions": 8,
                }
            }
        },
    )

# The SLURM run and the local run (which builds LOCAL_TARGET and what it needs) must agree byte
# for byte on every declared output under these folders that both have: cleaned BOLD, trained
# network, activations, brain scores, statistics tables (roi_summary.tsv).
COMPARED_OUTPUTS = ("results/",)
LOCAL_TARGET = "results/stats/roi_summary.tsv"


# --- the DAG as a dry-run prints it -----------------------------------------------------------


@dataclass
class DagJob:
    """One job of `snakemake -n`: its rule, bundle (group job index) and resources."""

    rule: str
    group: int | None
    outputs: list[str] = field(default_factory=list)
    wildcards: dict[str, str] = field(default_factory=dict)
    resources: dict[str, str] = field(default_factory=dict)
    threads: int = 1

    @property
    def gpus(self) -> int:
        return int(self.resources.get("gpu", 0))

    @property
    def name(self) -> str:  # what the plugin's partition selection logs
        return f"{self.rule} {self.wildcards}"


_GROUP_HEADER = re.compile(r"^\[[^\]]+\] Group job (?P<name>\S+) ")
_JOB_HEADER = re.compile(r"^(?P<indent>\s*)(?:local)?rule (?P<rule>\w+):$")
_JOB_FIELD = re.compile(r"^\s+(?P<key>output|wildcards|resources|threads): (?P<value>.*)$")
_JOB_STATS_ROW = re.compile(r"^(?P<rule>\w+)\s+(?P<count>\d+)$")


def _key_values(text: str) -> dict[str, str]:
    return dict(item.split("=", 1) for item in text.split(", ") if "=" in item)


def dag_jobs(dry_run_output: str) -> list[DagJob]:
    """Every job of a dry-run's log, in order; members of a group job share its index."""
    jobs: list[DagJob] = []
    group, n_groups = None, 0
    for line in dry_run_output.splitlines():
        if match := _GROUP_HEADER.match(line):
            n_groups += 1
            group = n_groups
        elif match := _JOB_HEADER.match(line):
            if not match["indent"]:
                group = None
            jobs.append(DagJob(match["rule"], group))
        elif jobs and (match := _JOB_FIELD.match(line)):
            key, value = match["key"], match["value"]
            if key == "output":
                jobs[-1].outputs = value.split(", ")
            elif key == "threads":
                jobs[-1].threads = int(value)
            else:
                setattr(jobs[-1], key, _key_values(value))
    stats = dict(
        (m["rule"], int(m["count"]))
        for m in map(_JOB_STATS_ROW.match, dry_run_output.split("Job stats:")[1].splitlines())
        if m and m["rule"] != "total"
    )
    assert Counter(job.rule for job in jobs) == stats, "dry-run log and its job stats disagree"
    return jobs


def local_rules() -> set[str]:
    """Rules declared `localrules:` in the workflow: they run on the submit host."""
    names = set()
    for source in [REPO / "Snakefile", *sorted((REPO / "rules").glob("*.smk"))]:
        for match in re.finditer(r"^\s*localrules:\s*(.+)$", source.read_text(), re.M):
            names.update(name.strip() for name in match[1].split(","))
    return names


def submitted(jobs: list[DagJob]) -> list[DagJob | list[DagJob]]:
    """What the executor submits with sbatch: each bundle once, each job outside bundles once,
    except target rules without outputs (like `all`) and local rules, which run on the host."""
    bundles: dict[int, list[DagJob]] = {}
    singles = []
    local = local_rules()
    for job in jobs:
        if job.group is not None:
            bundles.setdefault(job.group, []).append(job)
        elif job.outputs and job.rule not in local:
            singles.append(job)
    return [*singles, *bundles.values()]


def profile_settings(root: Path = REPO) -> dict:
    """profiles/slurm/config.yaml as Snakemake reads it (its YTE reads site.yaml from the root)."""
    with contextlib.chdir(root), (root / "profiles" / "slurm" / "config.yaml").open() as stream:
        return yte.process_yaml(stream, require_use_yte=True)


def placed_partitions(jobs: list[DagJob], site_file: Path) -> dict[int, str | None]:
    """The partition the executor plugin picks for each job (its own selection code), by index."""
    partitions = read_partition_file(site_file)
    logger = logging.getLogger("partition selection")
    return {i: get_best_partition(partitions, job, logger) for i, job in enumerate(jobs)}


def check_routing(jobs: list[DagJob], site_file: Path) -> None:
    """GPU-declaring jobs land in a GPU partition with the site's GPU type and outside bundles,
    asking for their threads; every other job in a partition without GPUs."""
    site = yaml.safe_load(site_file.read_text())
    with_gpus = {name for name, limits in site["partitions"].items() if limits.get("max_gpu")}
    for i, partition in placed_partitions(jobs, site_file).items():
        job = jobs[i]
        assert partition is not None, f"{job.name} fits no partition of {site_file}"
        assert int(job.resources.get("cpus_per_task", 1)) == job.threads, job.name
        if job.gpus:
            assert partition in with_gpus, f"{job.name} asks for a GPU but goes to {partition}"
            assert job.resources.get("gpu_model") == site["gpu_model"], job.name
            assert job.group is None, f"{job.name}: a GPU job inside a CPU bundle"
        else:
            assert partition not in with_gpus, f"{job.name} needs no GPU but goes to {partition}"
            assert not job.resources.get("gpu_model"), job.name


def snakemake(args: list[str], cwd: Path, env: dict | None = None) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert result.returncode == 0, f"snakemake {' '.join(args)} failed:\n{result.stdout}"
    return result.stdout


# --- the paper config: dry-run with the profile ---------------------------------------------


def readme_submission_count() -> int:
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Running on a SLURM cluster")[1].split("\n## ")[0]
    match = re.search(r"([\d,]+) sbatch submissions", section)
    assert match, "README, 'Running on a SLURM cluster': no 'N sbatch submissions' sentence"
    return int(match[1].replace(",", ""))


def test_paper_config_dry_run_with_the_slurm_profile(tmp_path):
    clone = copy_repository(tmp_path / "audiobrain")
    config = mous_skeleton(clone)
    start = time.perf_counter()
    output = snakemake(
        ["-n", "--cores", "64", "--profile", "profiles/slurm", "--configfile", "configs/mous.yaml"],
        cwd=clone,
    )
    elapsed = time.perf_counter() - start
    jobs = dag_jobs(output)
    check_routing(jobs, PROFILE / "site.yaml")
    training = [job for job in jobs if job.rule == TRAINING_RULE]
    assert training and {job.threads for job in training} == {
        config["networks"]["training"]["threads"]
    }

    components = profile_settings()["group-components"]
    units = submitted(jobs)
    bundles = [unit for unit in units if isinstance(unit, list)]
    n_subjects = len(config["dataset"]["subjects"])
    n_networks = len(config["networks"]["types"]) * len(config["networks"]["seeds"])
    n_types = len(config["networks"]["types"])
    brain_scores = [b for b in bundles if b[0].rule == "brain_scores"]
    assert sum(map(len, brain_scores)) == n_subjects * n_types  # each job: all seeds of a type
    assert len(brain_scores) == math.ceil(n_subjects * n_types / components["brainscores"])
    # 30 brain scores per bundle, each counted 10 min: 5 h, as README "Bundles" says
    assert n_networks // n_types * components["brainscores"] == 30
    assert {sum(int(job.resources["runtime"]) for job in b) for b in brain_scores} == {300}
    cleaning = [b for b in bundles if b[0].rule == "clean_bold"]
    assert len(cleaning) == math.ceil(n_subjects / components["preprocess"])
    assert all(len(b) <= max(components.values()) for b in bundles)
    assert len(units) == readme_submission_count(), (
        f"the paper config makes {len(units)} sbatch submissions; update the README"
    )
    assert elapsed <= DRY_RUN_BUDGET_S, f"dry-run took {elapsed:.1f} s"
    print(
        f"paper config with profiles/slurm: {len(jobs)} jobs, {len(units)} sbatch submissions "
        f"({len(bundles)} bundles), dry-run {elapsed:.1f} s"
    )


def test_reconstruction_paper_dag_routes_gpu_jobs_to_the_gpu_partition(tmp_path):
    clone = copy_repository(tmp_path / "audiobrain")
    c2f_skeleton(clone)
    output = snakemake(
        ["-n", "--cores", "64", "--profile", "profiles/slurm", "--configfile", *C2F_CONFIGS],
        cwd=clone,
    )
    jobs = [job for job in dag_jobs(output) if job.rule.startswith("recon_")]
    check_routing(jobs, PROFILE / "site.yaml")
    paper = yaml.safe_load((clone / C2F_CONFIGS[-1]).read_text())["recon"]
    assert {job.threads for job in jobs if job.gpus} == {paper["threads"]}
    gpu_rules = {job.rule for job in jobs if job.gpus}
    assert gpu_rules == {
        "recon_clap_features",
        "recon_audiomae_features",
        "recon_acoustic_decoder",
        "recon_direct_network",
        "recon_vocode",
        "recon_subject_metrics",
        "recon_references",  # vocoded like the methods
        "recon_vae_check",  # AudioLDM2's VAE on the training mels
        "recon_ldm",
        "recon_ldm_sample",
    }
    # Paper-size jobs ask for paper-size memory (the demo's ask for 4 GB).
    linear = [job for job in jobs if job.rule == "recon_linear_acoustic_decoder"]
    assert linear and all(int(job.resources["mem_mb"]) == 64000 for job in linear)


# --- a real one-node SLURM ------------------------------------------------------------------


@dataclass
class Cluster:
    state: Path
    cpu_partition: str
    gpu_partition: str
    env: dict
    setup_s: float


def _not_available(reason: str):
    if os.environ.get(REQUIRE_SLURM) == "1":
        pytest.fail(f"the SLURM test cannot run ({REQUIRE_SLURM}=1): {reason}")
    pytest.skip(f"SLURM test skipped: {reason}")


def _client_env() -> dict:
    """This process's environment without SLURM variables (from a surrounding job, say): every
    SLURM client then reads the cluster's config at /etc/slurm/slurm.conf."""
    prefixes = ("SLURM_", "SBATCH_", "SRUN_", "SQUEUE_", "SALLOC_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env["PYTHONHASHSEED"] = "0"
    return env


@pytest.fixture(scope="module")
def slurm_cluster(tmp_path_factory):
    """munged, slurmctld and slurmd for this module; stopped by PID at the end, even on failure."""
    if shutil.which("bash") is None:
        _not_available("no bash")
    cpu_partition, gpu_partition = TEST_CPU_PARTITION, TEST_GPU_PARTITION
    limits = TEST_SITE["partitions"]
    state = tmp_path_factory.mktemp("slurm")
    env = {
        **_client_env(),
        "SLURM_CI_CPU_PARTITION": cpu_partition,
        "SLURM_CI_GPU_PARTITION": gpu_partition,
        "SLURM_CI_CPU_MAXTIME": str(limits[cpu_partition]["max_runtime"]),
        "SLURM_CI_GPU_MAXTIME": str(limits[gpu_partition]["max_runtime"]),
        "SLURM_CI_GPU_TYPE": TEST_SITE["gpu_model"],
    }
    start = time.perf_counter()
    try:
        started = subprocess.run(
            ["bash", str(CI_SLURM / "start.sh"), str(state)],
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        setup_s = time.perf_counter() - start
        if started.returncode == 2:
            _not_available(started.stderr.strip())
        assert started.returncode == 0, f"start.sh failed:\n{started.stdout}\n{started.stderr}"
        yield Cluster(state, cpu_partition, gpu_partition, _client_env(), setup_s)
    finally:
        subprocess.run(["bash", str(CI_SLURM / "stop.sh"), str(state)], timeout=60)


# Not copied: the environment, git data, caches and everything a run writes.
def scontrol_jobs(name: str, env: dict) -> list[dict[str, str]]:
    """Every job named ``name`` (the executor's run ID) that slurmctld still holds."""
    output = subprocess.run(
        ["scontrol", "show", "job", "--oneliner"], env=env, capture_output=True, text=True
    ).stdout
    jobs = [dict(re.findall(r"(\w+)=(\S*)", line)) for line in output.splitlines()]
    return sorted(
        (job for job in jobs if job.get("JobName") == name), key=lambda job: int(job["JobId"])
    )


def sbatch_comment(job: DagJob) -> str:
    """The comment the executor gives a single job's sbatch (rule and wildcard values)."""
    values = "_".join(job.wildcards.values())
    return f"rule_{job.rule}_wildcards_{values}" if values else f"rule_{job.rule}"


def rule_of(comment: str, rules: set[str]) -> str | None:
    """The rule of a single job from its sbatch comment (`rule_<rule>[_wildcards_<values>]`)."""
    for rule in rules:
        if comment == f"rule_{rule}" or comment.startswith(f"rule_{rule}_wildcards_"):
            return rule
    return None


@dataclass
class SlurmRun:
    workdir: Path
    local: Path
    log: str
    returncode: int
    jobs: list[DagJob]
    slurm_jobs: list[dict[str, str]]
    seconds: float
    cluster: Cluster


@pytest.fixture(scope="module")
def slurm_run(slurm_cluster, tmp_path_factory) -> SlurmRun:
    """The small demo through the profile on the cluster, and `--cores 2` of it beside it."""
    workdir = copy_repository(tmp_path_factory.mktemp("slurm-run") / "repo")
    config = write_overrides(workdir / "slurm-demo.yaml", SLURM_DEMO)
    local = copy_repository(tmp_path_factory.mktemp("local-run") / "repo")
    write_overrides(local / "slurm-demo.yaml", SLURM_DEMO)
    for root in (workdir, local):  # as a lab edits it for its cluster
        (root / "profiles" / "slurm" / "site.yaml").write_text(yaml.safe_dump(TEST_SITE))
    env = slurm_cluster.env
    start = time.perf_counter()
    # The local run shares the 2 cores with the SLURM run, which waits on polls much of the time;
    # it builds the key results only (roi_summary.tsv and everything it needs: cleaned BOLD,
    # trained networks, activations, brain scores, group statistics), not the figures.
    local_run = subprocess.Popen(
        [sys.executable, "-m", "snakemake", "--cores", "2", "--configfile", "slurm-demo.yaml"]
        + ["--", LOCAL_TARGET],
        cwd=local,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        args = [*PROFILE_ARGS, "--configfile", config.name]
        jobs = dag_jobs(snakemake(["-n", "--cores", "64", *args], cwd=workdir, env=env))
        with (workdir / "slurm-run.log").open("w") as log:
            run = subprocess.Popen(
                [sys.executable, "-m", "snakemake", *args],
                cwd=workdir,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            try:
                returncode = run.wait(timeout=RUN_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                run.terminate()  # Snakemake cancels its SLURM jobs on SIGTERM
                returncode = run.wait(timeout=60)
        seconds = time.perf_counter() - start
        local_output, _ = local_run.communicate(timeout=RUN_TIMEOUT_S)
        both_seconds = time.perf_counter() - start
    finally:
        if local_run.poll() is None:
            local_run.kill()
    assert local_run.returncode == 0, f"local run failed:\n{local_output}"
    text = (workdir / "slurm-run.log").read_text()
    run_id = re.search(r"SLURM run ID: (\S+)", text)
    assert run_id, text
    print(
        f"SLURM cluster up in {slurm_cluster.setup_s:.1f} s; SLURM run {seconds:.0f} s, "
        f"with the local run beside it {both_seconds:.0f} s"
    )
    return SlurmRun(
        workdir,
        local,
        text,
        returncode,
        jobs,
        scontrol_jobs(run_id[1], env),
        seconds,
        slurm_cluster,
    )


def training_attempts(slurm_run: SlurmRun) -> list[dict[str, str]]:
    """The SLURM jobs of the run's training job, in submission order."""
    training = [job for job in slurm_run.jobs if job.rule == TRAINING_RULE]
    comments = {sbatch_comment(job) for job in training}
    return [job for job in slurm_run.slurm_jobs if job.get("Comment") in comments]


def test_every_job_is_submitted_with_sbatch_and_completes(slurm_run):
    assert slurm_run.returncode == 0, slurm_run.log[-5000:]
    n_jobs = len(slurm_run.jobs)
    assert f"{n_jobs} of {n_jobs} steps (100%) done" in slurm_run.log

    units = submitted(slurm_run.jobs)
    singles = Counter(sbatch_comment(unit) for unit in units if isinstance(unit, DagJob))
    n_bundles = sum(isinstance(unit, list) for unit in units)
    completed = [job for job in slurm_run.slurm_jobs if job["JobState"] == "COMPLETED"]
    # Each job outside a bundle completed in exactly one SLURM job of its own ...
    completed_singles = Counter(job["Comment"] for job in completed if job["Comment"] in singles)
    assert completed_singles == singles
    # ... each bundle in one more, and the only other SLURM jobs are the training's timed-out ones.
    assert len(completed) == sum(singles.values()) + n_bundles, Counter(
        j["Comment"] for j in completed
    )
    timed_out = [job for job in training_attempts(slurm_run) if job["JobState"] == "TIMEOUT"]
    assert len(slurm_run.slurm_jobs) == len(completed) + len(timed_out), slurm_run.slurm_jobs


def test_gpu_jobs_ran_in_the_gpu_partition_with_the_sites_gpu_type_and_cpu_jobs_elsewhere(
    slurm_run,
):
    check_routing(slurm_run.jobs, slurm_run.workdir / "profiles" / "slurm" / "site.yaml")
    gpu_rules = {job.rule for job in slurm_run.jobs if job.gpus}
    assert gpu_rules == {TRAINING_RULE}
    rules = {job.rule for job in slurm_run.jobs}
    placed = {"gpu": 0, "cpu": 0}
    for job in slurm_run.slurm_jobs:
        rule = rule_of(job.get("Comment", ""), rules)
        where = f"SLURM job {job['JobId']} ({job.get('Comment')})"
        if rule in gpu_rules:
            assert job["Partition"] == TEST_GPU_PARTITION, where
            assert job.get("TresPerJob") == GPU_REQUEST, where
            placed["gpu"] += job["JobState"] == "COMPLETED"
        else:
            assert job["Partition"] == TEST_CPU_PARTITION, where
            assert "gpu" not in job.get("TresPerJob", "") + job.get("TresPerNode", ""), where
            placed["cpu"] += job["JobState"] == "COMPLETED"
    assert placed["cpu"] > 0
    assert placed["gpu"] == sum(1 for job in slurm_run.jobs if job.gpus)


def test_training_stopped_at_its_time_limit_is_resubmitted_and_resumes_from_its_checkpoint(
    slurm_run,
):
    attempts = training_attempts(slurm_run)
    states = [job["JobState"] for job in attempts]
    assert states[-1] == "COMPLETED" and set(states[:-1]) == {"TIMEOUT"}, attempts
    assert {job["TimeLimit"] for job in attempts} == {"00:01:00"}, attempts
    training = next(job for job in slurm_run.jobs if job.rule == TRAINING_RULE)
    network, seed = training.wildcards["network"], training.wildcards["seed"]
    # A job stopped while training says where it checkpointed (its SLURM log holds the job's
    # stderr); one stopped before its first step (still starting up) has nothing to save.
    slurm_logs = slurm_run.workdir / ".snakemake" / "slurm_logs" / f"rule_{TRAINING_RULE}"
    stopped = []
    for job in attempts[:-1]:
        (slurm_log,) = slurm_logs.rglob(f"{job['JobId']}.log")
        found = re.findall(r"SIGTERM \(a time limit\?\) at step (\d+)", slurm_log.read_text())
        stopped += [int(found[-1])] if found else []
    assert stopped, f"no training job checkpointed at its time limit: {attempts}"
    # ... and the one that finished resumed from the last of those steps.
    log = (
        slurm_run.workdir / "logs" / TRAINING_RULE / f"net-{network}_seed-{seed}.log"
    ).read_text()
    resumed = re.findall(r"resuming from \S+ at step (\d+)", log)
    assert [int(step) for step in resumed] == stopped[-1:], log
    assert stopped == sorted(stopped) and stopped[0] > 0 and stopped[-1] < TRAINING_STEPS
    print(f"training: {len(attempts)} SLURM jobs, stopped at steps {stopped}")


def test_results_are_identical_to_a_local_run(slurm_run):
    outputs = sorted(
        {
            output
            for job in slurm_run.jobs
            for output in job.outputs
            if output.startswith(COMPARED_OUTPUTS) and (slurm_run.local / output).is_file()
        }
    )
    assert LOCAL_TARGET in outputs
    for kind in ("_brainscore.npz", "_group.npz", "_activations.npz", "_desc-clean_bold.npz"):
        assert any(output.endswith(kind) for output in outputs), kind
    # the network trained over several SLURM jobs, each resuming the one before
    assert any(Path(output).name == "model.pt" for output in outputs)
    differing = [
        output
        for output in outputs
        if _digest(slurm_run.workdir / output) != _digest(slurm_run.local / output)
    ]
    assert not differing, f"{len(differing)} of {len(outputs)} outputs differ: {differing}"
    print(f"{len(outputs)} result files byte-identical to the local run")


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
