"""profiles/slurm on a real SLURM, and the paper config's dry-run with it.

A one-node cluster (.ci/slurm/start.sh: munged, slurmctld, slurmd; partitions named as in the
profile; the node declares gpu:a100:1) runs a small demo through
`snakemake --profile profiles/slurm --profile .ci/slurm/profile` in a copy of the repository. On the
way, the training job is killed by `scancel` once it has written a checkpoint. The run must submit
every job with sbatch, route GPU jobs (found from the DAG's resources) to the GPU partition with the
A100 request and the rest to the CPU partition, resume the killed training job from its checkpoint,
and end with results byte-identical to `snakemake --cores 2` of the same config.

Without root or Debian's `slurmctld slurmd slurm-client munge` the SLURM tests skip with a message
(.ci/run installs the packages and sets AUDIOBRAIN_REQUIRE_SLURM=1, which turns the skip into a
failure in CI).
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yte
from test_workflow import C2F_CONFIGS, c2f_skeleton, mous_skeleton

from conftest import REDUCED_DEMO, REPO, copy_repository, merged, write_overrides

pytestmark = pytest.mark.workflow

PROFILE = REPO / "profiles" / "slurm"
CI_SLURM = REPO / ".ci" / "slurm"
PROFILE_ARGS = ["--profile", "profiles/slurm", "--profile", ".ci/slurm/profile"]
REQUIRE_SLURM = "AUDIOBRAIN_REQUIRE_SLURM"
# Issue 6: the paper config's dry-run with the profile must stay within this many seconds.
DRY_RUN_BUDGET_S = 30.0
# What `--gpus=a100:1` (the plugin's translation of gpu=1, gpu_model="a100") reads back as.
A100_REQUEST = "gres:gpu:a100:1"
TRAINING_RULE = "train_network"
RUN_TIMEOUT_S = 900

# The reduced demo of conftest.py, smaller still so that the SLURM run and the local run it is
# compared with take a few minutes on 2 cores: 3 subjects, the untrained network and one trained
# type (whose training job is the DAG's GPU job), checkpoints every 5 steps so that the training
# job is killed well before its end.
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
if _TRAINED:
    SLURM_DEMO = merged(SLURM_DEMO, {"networks": {"training": {"checkpoint_interval": 5}}})

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

    @property
    def gpus(self) -> int:
        return int(self.resources.get("gpu", 0))


_GROUP_HEADER = re.compile(r"^\[[^\]]+\] Group job (?P<name>\S+) ")
_JOB_HEADER = re.compile(r"^(?P<indent>\s*)(?:local)?rule (?P<rule>\w+):$")
_JOB_FIELD = re.compile(r"^\s+(?P<key>output|wildcards|resources): (?P<value>.*)$")
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


def profile_settings() -> dict:
    with (PROFILE / "config.yaml").open() as stream:
        return yte.process_yaml(stream, require_use_yte=True)


def profile_partitions() -> tuple[str, str]:
    """The profile's CPU partition (default-resources) and GPU partition (set-resources)."""
    settings = profile_settings()
    cpu = settings["default-resources"]["slurm_partition"]
    gpu = {
        r["slurm_partition"] for r in settings["set-resources"].values() if "slurm_partition" in r
    }
    assert len(gpu) == 1, (
        f"profiles/slurm: expected one GPU partition in set-resources, found {gpu}"
    )
    return cpu, gpu.pop()


def check_routing(jobs: list[DagJob], cpu_partition: str, gpu_partition: str) -> None:
    """GPU jobs go to the GPU partition with an A100 and outside bundles; others to the CPU one."""
    for job in jobs:
        where = f"{job.rule} {job.wildcards}"
        if job.gpus:
            assert job.resources.get("slurm_partition") == gpu_partition, (
                f"{where} asks for a GPU but goes to {job.resources.get('slurm_partition')!r}: "
                f"add {job.rule!r} to GPU_RULES in profiles/slurm/config.yaml"
            )
            assert job.resources.get("gpu_model") == "a100", where
            assert job.group is None, f"{where}: a GPU job inside a CPU bundle"
        else:
            assert job.resources.get("slurm_partition") == cpu_partition, where


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
        ["-n", "--profile", "profiles/slurm", "--configfile", "configs/mous.yaml"], cwd=clone
    )
    elapsed = time.perf_counter() - start
    jobs = dag_jobs(output)
    check_routing(jobs, *profile_partitions())

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
        ["-n", "--profile", "profiles/slurm", "--configfile", *C2F_CONFIGS], cwd=clone
    )
    jobs = [job for job in dag_jobs(output) if job.rule.startswith("recon_")]
    check_routing(jobs, *profile_partitions())
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
    cpu_partition, gpu_partition = profile_partitions()
    state = tmp_path_factory.mktemp("slurm")
    env = {
        **_client_env(),
        "SLURM_CI_CPU_PARTITION": cpu_partition,
        "SLURM_CI_GPU_PARTITION": gpu_partition,
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


class CancelTraining(threading.Thread):
    """Waits until the training job has written a checkpoint, then `scancel`s it, once."""

    def __init__(self, workdir: Path, job: DagJob, env: dict):
        super().__init__(daemon=True)
        self.outputs = {workdir / output for output in job.outputs}
        self.folder = workdir / Path(job.outputs[0]).parent
        self.comment = sbatch_comment(job)
        self.env = env
        self.done = threading.Event()
        self.cancelled_jobid: str | None = None
        self.checkpoint: Path | None = None
        self.model_existed = False

    def _checkpoints(self) -> list[Path]:
        if not self.folder.is_dir():
            return []
        return [
            path
            for path in self.folder.rglob("*.pt")
            if path not in self.outputs and not path.name.startswith(".")
        ]

    def _running_jobid(self) -> str | None:
        listing = subprocess.run(
            ["squeue", "--noheader", "--states=RUNNING", "--format=%i|%k"],
            env=self.env,
            capture_output=True,
            text=True,
        ).stdout
        for line in listing.splitlines():
            jobid, _, comment = line.partition("|")
            if comment.strip() == self.comment:
                return jobid.strip()
        return None

    def run(self):
        while not self.done.is_set():
            checkpoints = self._checkpoints()
            jobid = self._running_jobid() if checkpoints else None
            if jobid is not None:
                self.checkpoint = checkpoints[0]
                self.model_existed = any(path.exists() for path in self.outputs)
                subprocess.run(["scancel", jobid], env=self.env, check=True)
                self.cancelled_jobid = jobid
                return
            time.sleep(0.1)


@dataclass
class SlurmRun:
    workdir: Path
    local: Path
    log: str
    returncode: int
    jobs: list[DagJob]
    slurm_jobs: list[dict[str, str]]
    canceller: CancelTraining | None
    seconds: float
    cluster: Cluster


@pytest.fixture(scope="module")
def slurm_run(slurm_cluster, tmp_path_factory) -> SlurmRun:
    """The small demo through the profile on the cluster, and `--cores 2` of it beside it."""
    workdir = copy_repository(tmp_path_factory.mktemp("slurm-run") / "repo")
    config = write_overrides(workdir / "slurm-demo.yaml", SLURM_DEMO)
    local = copy_repository(tmp_path_factory.mktemp("local-run") / "repo")
    write_overrides(local / "slurm-demo.yaml", SLURM_DEMO)
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
        jobs = dag_jobs(snakemake(["-n", *args], cwd=workdir, env=env))
        training = [job for job in jobs if job.rule == TRAINING_RULE]
        canceller = CancelTraining(workdir, training[0], env) if training else None
        with (workdir / "slurm-run.log").open("w") as log:
            run = subprocess.Popen(
                [sys.executable, "-m", "snakemake", *args],
                cwd=workdir,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            if canceller:
                canceller.start()
            try:
                returncode = run.wait(timeout=RUN_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                run.terminate()  # Snakemake cancels its SLURM jobs on SIGTERM
                returncode = run.wait(timeout=60)
            finally:
                if canceller:
                    canceller.done.set()
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
        canceller,
        seconds,
        slurm_cluster,
    )


def test_every_job_is_submitted_with_sbatch_and_completes(slurm_run):
    assert slurm_run.returncode == 0, slurm_run.log[-5000:]
    n_jobs = len(slurm_run.jobs)
    assert f"{n_jobs} of {n_jobs} steps (100%) done" in slurm_run.log

    units = submitted(slurm_run.jobs)
    singles = Counter(sbatch_comment(unit) for unit in units if isinstance(unit, DagJob))
    n_bundles = sum(isinstance(unit, list) for unit in units)
    completed = [job for job in slurm_run.slurm_jobs if job["JobState"] == "COMPLETED"]
    cancelled = [job for job in slurm_run.slurm_jobs if job["JobState"] == "CANCELLED"]
    # Each job outside a bundle completed in exactly one SLURM job of its own ...
    completed_singles = Counter(job["Comment"] for job in completed if job["Comment"] in singles)
    assert completed_singles == singles
    # ... each bundle in one more, and the only other SLURM job is the one scancel killed.
    assert len(completed) == sum(singles.values()) + n_bundles, Counter(
        j["Comment"] for j in completed
    )
    assert len(cancelled) == (1 if slurm_run.canceller else 0)
    assert len(slurm_run.slurm_jobs) == len(completed) + len(cancelled), slurm_run.slurm_jobs


def test_gpu_jobs_ran_in_the_gpu_partition_with_an_a100_and_cpu_jobs_in_the_cpu_one(slurm_run):
    cluster = slurm_run.cluster
    check_routing(slurm_run.jobs, cluster.cpu_partition, cluster.gpu_partition)
    gpu_rules = {job.rule for job in slurm_run.jobs if job.gpus}
    rules = {job.rule for job in slurm_run.jobs}
    placed = {"gpu": 0, "cpu": 0}
    for job in slurm_run.slurm_jobs:
        rule = rule_of(job.get("Comment", ""), rules)
        where = f"SLURM job {job['JobId']} ({job.get('Comment')})"
        if rule in gpu_rules:
            assert job["Partition"] == cluster.gpu_partition, where
            assert job.get("TresPerJob") == A100_REQUEST, where
            placed["gpu"] += job["JobState"] == "COMPLETED"
        else:
            assert job["Partition"] == cluster.cpu_partition, where
            assert "gpu" not in job.get("TresPerJob", "") + job.get("TresPerNode", ""), where
            placed["cpu"] += job["JobState"] == "COMPLETED"
    assert placed["cpu"] > 0
    if not gpu_rules:
        pytest.skip(
            "no rule of this run declares gpu=1: the GPU partition and A100 request are checked "
            "once the training rule (train_network) is part of the demo"
        )
    assert placed["gpu"] == sum(1 for job in slurm_run.jobs if job.gpus)


def test_scancelled_training_job_is_retried_and_resumes_from_its_checkpoint(slurm_run):
    canceller = slurm_run.canceller
    if canceller is None:
        pytest.skip(f"no {TRAINING_RULE} job in this workflow yet: nothing to kill and resume")
    assert canceller.cancelled_jobid is not None, (
        f"{TRAINING_RULE} finished before a checkpoint could be seen in {canceller.folder}"
    )
    assert not canceller.model_existed, "the training job was killed after it had finished"
    attempts = [job for job in slurm_run.slurm_jobs if job.get("Comment") == canceller.comment]
    assert [job["JobState"] for job in attempts] == ["CANCELLED", "COMPLETED"], attempts
    assert attempts[0]["JobId"] == canceller.cancelled_jobid

    training = next(job for job in slurm_run.jobs if job.rule == TRAINING_RULE)
    network, seed = training.wildcards["network"], training.wildcards["seed"]
    log = (
        slurm_run.workdir / "logs" / TRAINING_RULE / f"net-{network}_seed-{seed}.log"
    ).read_text()
    resumed = re.search(r"resuming from \S+ at step (\d+)", log)
    assert resumed, f"the retried {TRAINING_RULE} did not resume from a checkpoint:\n{log}"
    assert int(resumed[1]) > 0


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
    if slurm_run.canceller:  # the network trained in two SLURM jobs, resumed in the second
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
