"""The SLURM site block (profiles/slurm/site.yaml), read by the plugin, the profile, the rules."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml
from snakemake_executor_plugin_slurm.partitions import read_partition_file

from audiobrain.cluster import check_runtime_fits, read_site
from audiobrain.io import InputError

REPO = Path(__file__).resolve().parents[1]
SITE_FILE = REPO / "profiles" / "slurm" / "site.yaml"


def write_site(tmp_path: Path, site: dict) -> Path:
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(site))
    return path


def lab_site() -> dict:
    return yaml.safe_load(SITE_FILE.read_text())


def test_the_shipped_site_block_is_valid_for_the_plugin_and_the_workflow():
    site = read_site(SITE_FILE)
    names = [partition.name for partition in read_partition_file(SITE_FILE)]
    assert names == [partition.name for partition in site.partitions]
    assert site.gpu_resources("auto") == {"gpu": 1, "gpu_model": "a100"}
    assert site.gpu_resources("cuda") == {"gpu": 1, "gpu_model": "a100"}
    # No model string without a GPU: the plugin would turn it into --gpus=<model>:N.
    assert site.gpu_resources("cpu") == {"gpu": 0, "gpu_model": ""}
    assert site.gpu_runtime_limit_min() == 1440


def test_a_site_without_a_gpu_model_asks_for_any_gpu(tmp_path):
    site = read_site(write_site(tmp_path, {**lab_site(), "gpu_model": None}))
    assert site.gpu_resources("auto") == {"gpu": 1, "gpu_model": ""}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"gpu_model": "nvidia_a100-sxm4-80gb"}, "gpu_model: 'nvidia_a100-sxm4-80gb' is not"),
        ({"gpu_model": "h100"}, "gpu_model: 'h100' is in no GPU partition"),
        ({"acount": "lab"}, "unknown key(s) ['acount']"),
        ({"account": 7}, "account: expected a name or null"),
        ({"partitions": {}}, "partitions: expected a mapping"),
        ({"partitions": {"cpu": {"max_runtime": 60}}}, "no partition has max_gpu >= 1"),
        (
            {"partitions": {"gpu": {"max_gpu": 1, "max_runtim": 60}}},
            "partitions.gpu: unknown key(s) ['max_runtim']",
        ),
        (
            {"partitions": {"gpu": {"max_gpu": 1, "max_runtime": "a day"}}},
            "partitions.gpu.max_runtime: expected minutes",
        ),
        ({"partitions": {"gpu": {"max_gpu": "4"}}}, "partitions.gpu.max_gpu: expected a whole"),
    ],
)
def test_a_bad_site_block_names_the_file_and_the_field(tmp_path, change, message):
    path = write_site(tmp_path, {**lab_site(), **change})
    with pytest.raises(InputError) as error:
        read_site(path)
    assert str(path) in str(error.value)
    assert message in str(error.value)


@pytest.mark.parametrize(
    ("max_runtime", "minutes"),
    [(720, 720), ("12h", 720), ("2d", 2880), ("1-00:00:00", 1440), ("30:00", 30), (None, math.inf)],
)
def test_time_limits_read_as_the_plugin_reads_them(tmp_path, max_runtime, minutes):
    partitions = {"gpu": {"max_gpu": 1}}
    if max_runtime is not None:
        partitions["gpu"]["max_runtime"] = max_runtime
    site = read_site(write_site(tmp_path, {"gpu_model": None, "partitions": partitions}))
    assert site.gpu_runtime_limit_min() == minutes


def test_a_training_job_longer_than_every_gpu_partition_allows_is_refused(tmp_path):
    site = read_site(SITE_FILE)
    check_runtime_fits(site, 1440, "networks.training.runtime_min")
    with pytest.raises(InputError, match=r"config networks.training.runtime_min: 2880 minutes"):
        check_runtime_fits(site, 2880, "networks.training.runtime_min")
