"""The SLURM site block (``profiles/slurm/site.yaml``) and the GPU request a rule makes from it.

One file names a lab's cluster: its ``partitions:`` block is snakemake-executor-plugin-slurm's own
partition configuration (the plugin sends each job to the partition whose limits fit what the
rule declares: threads, memory, runtime, GPUs), and ``account``, ``qos`` and ``gpu_model`` are
read by the profile and by the rules (the plugin ignores keys beside ``partitions``). A rule asks
for a GPU when its device setting is not ``cpu``; the partition follows from that request alone.

Checked here rather than left to the plugin, because the plugin's answer to a mismatch is a
warning and the cluster's default partition: a GPU job on a CPU node, or a job past its
partition's time limit that SLURM leaves pending forever.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from audiobrain.io import InputError

# The plugin's accepted GPU model names (snakemake_executor_plugin_slurm.utils.set_gres_string).
GPU_MODEL_PATTERN = re.compile(r"^[A-Za-z0-9_.]+$")
# PartitionLimits' fields (snakemake_executor_plugin_slurm.partitions); the plugin rejects others.
PARTITION_LIMITS = {
    "max_runtime",
    "max_mem_mb",
    "max_mem_mb_per_cpu",
    "max_cpus_per_task",
    "max_threads",
    "max_nodes",
    "max_tasks",
    "max_tasks_per_node",
    "max_gpu",
    "available_gpu_models",
    "max_cpus_per_gpu",
    "supports_mpi",
    "max_mpi_tasks",
    "available_constraints",
    "cluster",
    "clusters",
    "slurm_cluster",
}
SITE_KEYS = {"account", "qos", "gpu_model", "partitions"}


@dataclass(frozen=True)
class Partition:
    name: str
    max_runtime_min: float = math.inf
    max_mem_mb: float = math.inf
    max_cpus: float = math.inf
    max_gpu: int = 0
    gpu_models: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Site:
    path: str
    account: str | None = None
    qos: str | None = None
    gpu_model: str | None = None
    partitions: tuple[Partition, ...] = field(default_factory=tuple)

    def gpu_resources(self, device: str) -> dict[str, int | str]:
        """``gpu`` and ``gpu_model`` of a rule whose config says ``device``: no GPU for ``cpu``.

        ``gpu_model`` is empty without a GPU: the plugin turns any model into ``--gpus=<model>:N``.
        """
        if device == "cpu":
            return {"gpu": 0, "gpu_model": ""}
        return {"gpu": 1, "gpu_model": self.gpu_model or ""}

    def gpu_runtime_limit_min(self) -> float:
        """The longest runtime that a one-GPU job can ask for on this site."""
        limits = [p.max_runtime_min for p in self.partitions if p.max_gpu >= 1]
        return max(limits, default=math.inf)


def _minutes(value, where: str) -> float:
    """SLURM-style durations as the plugin reads them: minutes, '12h', '2d', 'D-HH:MM:SS'."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return float(value)
    text = str(value).strip()
    units = {"m": 1, "h": 60, "d": 1440}
    match = re.fullmatch(r"(\d+)([mhd])", text)
    if match:
        return float(int(match[1]) * units[match[2]])
    match = re.fullmatch(r"(?:(\d+)-)?(\d+):(\d+)(?::(\d+))?", text)
    if match:
        days, first, second, third = match.groups()
        if third is None:  # MM:SS
            hours, minutes, seconds = 0, int(first), int(second)
        else:
            hours, minutes, seconds = int(first), int(second), int(third)
        return int(days or 0) * 1440 + hours * 60 + minutes + seconds / 60
    raise InputError(f"{where}: expected minutes or a SLURM time such as 1-00:00:00, got {value!r}")


def _partition(name: str, limits, where: str) -> Partition:
    if not isinstance(limits, dict):
        raise InputError(f"{where}: expected a mapping of the partition's limits, got {limits!r}")
    unknown = sorted(set(limits) - PARTITION_LIMITS)
    if unknown:
        raise InputError(
            f"{where}: unknown key(s) {unknown}; the executor plugin knows "
            f"{sorted(PARTITION_LIMITS)}"
        )
    models = limits.get("available_gpu_models")
    if models is not None and not (
        isinstance(models, list) and all(isinstance(m, str) for m in models)
    ):
        raise InputError(f"{where}.available_gpu_models: expected a list of names, got {models!r}")
    max_gpu = limits.get("max_gpu", 0)
    if not isinstance(max_gpu, int) or isinstance(max_gpu, bool) or max_gpu < 0:
        raise InputError(f"{where}.max_gpu: expected a whole number >= 0, got {max_gpu!r}")
    numbers = {}
    for key in ("max_mem_mb", "max_cpus_per_task"):
        value = limits.get(key, math.inf)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
            raise InputError(f"{where}.{key}: expected a positive number, got {value!r}")
        numbers[key] = value
    runtime = limits.get("max_runtime")
    return Partition(
        name=str(name),
        max_runtime_min=math.inf if runtime is None else _minutes(runtime, f"{where}.max_runtime"),
        max_mem_mb=numbers["max_mem_mb"],
        max_cpus=numbers["max_cpus_per_task"],
        max_gpu=max_gpu,
        gpu_models=None if models is None else tuple(models),
    )


def _optional_name(data: dict, key: str, where: str) -> str | None:
    value = data.get(key)
    if value is not None and not (isinstance(value, str) and value.strip()):
        raise InputError(f"{where}, {key}: expected a name or null, got {value!r}")
    return value


def read_site(path: str | Path) -> Site:
    """The site block at ``path``, checked; every error names the file and the field."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise InputError(f"{path}: the SLURM site block is missing") from None
    except yaml.YAMLError as error:
        raise InputError(f"{path}: not valid YAML ({error})") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a mapping with {sorted(SITE_KEYS)}")
    unknown = sorted(set(data) - SITE_KEYS)
    if unknown:
        raise InputError(f"{path}: unknown key(s) {unknown}; expected {sorted(SITE_KEYS)}")
    gpu_model = _optional_name(data, "gpu_model", str(path))
    if gpu_model is not None and not GPU_MODEL_PATTERN.match(gpu_model):
        raise InputError(
            f"{path}, gpu_model: {gpu_model!r} is not a GRES type name (letters, digits, _ and .)"
        )
    partitions = data.get("partitions")
    if not isinstance(partitions, dict) or not partitions:
        raise InputError(f"{path}, partitions: expected a mapping of partition names to limits")
    site = Site(
        path=str(path),
        account=_optional_name(data, "account", str(path)),
        qos=_optional_name(data, "qos", str(path)),
        gpu_model=gpu_model,
        partitions=tuple(
            _partition(name, limits, f"{path}, partitions.{name}")
            for name, limits in partitions.items()
        ),
    )
    _check_gpu_partition(site)
    return site


def _check_gpu_partition(site: Site) -> None:
    """A GPU job must have somewhere to go, and its model must be one a GPU partition lists."""
    gpu_partitions = [p for p in site.partitions if p.max_gpu >= 1]
    if not gpu_partitions:
        raise InputError(
            f"{site.path}, partitions: no partition has max_gpu >= 1, so no GPU job could be "
            "placed (set max_gpu on the GPU partition)"
        )
    if site.gpu_model is None:
        return
    listed = [p for p in gpu_partitions if p.gpu_models is None or site.gpu_model in p.gpu_models]
    if not listed:
        raise InputError(
            f"{site.path}, gpu_model: {site.gpu_model!r} is in no GPU partition's "
            "available_gpu_models "
            f"({ {p.name: list(p.gpu_models or []) for p in gpu_partitions} })"
        )


def check_runtime_fits(site: Site, runtime_min: float, key: str) -> None:
    """A GPU job asking for more than any GPU partition allows would never start."""
    limit = site.gpu_runtime_limit_min()
    if runtime_min > limit:
        raise InputError(
            f"config {key}: {runtime_min:g} minutes, over the {limit:g}-minute limit of the GPU "
            f"partitions in {site.path}; ask for at most {limit:g} (a training job that reaches "
            "its limit checkpoints and is resubmitted)"
        )
