"""The device a torch job computes on: chosen from the config, checked, made deterministic, logged.

``cpu`` computes on the CPU, ``cuda`` needs a CUDA device and ``auto`` takes the GPU when torch
sees one. What ``auto`` must not do is fall back to the CPU inside a job that the scheduler gave a
GPU (SLURM sets ``SLURM_JOB_GPUS``/``SLURM_STEP_GPUS``, and ``CUDA_VISIBLE_DEVICES``): that is a
CPU build of torch in a GPU job, hours of silent CPU work on an A100 node, so it is an error.

On CUDA every job runs with torch's deterministic algorithms (warn-only: an operation without a
deterministic kernel, such as the UNet's upsampling backward, is named in the log instead of
stopping the job), cuBLAS's fixed workspace (``CUBLAS_WORKSPACE_CONFIG=:4096:8``, which must be
set before cuBLAS starts), cuDNN without autotuning and TF32 off (float32 matrix products stay
float32). The first log line of a job says the device, the GPU's name and the precision.
"""

from __future__ import annotations

import logging
import os

import torch

from audiobrain.io import InputError

log = logging.getLogger("audiobrain")
DEVICES = ("auto", "cpu", "cuda")
GPU_ALLOCATION_VARIABLES = ("SLURM_JOB_GPUS", "SLURM_STEP_GPUS", "CUDA_VISIBLE_DEVICES")
CUBLAS_WORKSPACE = ":4096:8"


def scheduler_gave_gpu() -> bool:
    """Whether the job's environment says a GPU was allocated to it."""
    values = (os.environ.get(name, "").strip() for name in GPU_ALLOCATION_VARIABLES)
    return any(value not in ("", "-1", "none", "NoDevFiles") for value in values)


def deterministic_cuda() -> None:
    """torch's settings for repeatable CUDA results (module docstring)."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    torch.set_float32_matmul_precision("highest")  # no TF32 in float32 matrix products
    torch.backends.cudnn.allow_tf32 = False


def resolve_device(device: str = "auto", key: str = "recon.device") -> torch.device:
    """The torch device for the config value ``device`` (config key ``key``), logged."""
    if device not in DEVICES:
        raise InputError(f"config {key}: expected one of {DEVICES}, got {device!r}")
    available = torch.cuda.is_available()
    if device == "cuda" and not available:
        raise InputError(
            f"config {key}: cuda, but this job sees no CUDA device (torch {torch.__version__}, "
            f"built for CUDA {torch.version.cuda or 'none'}); run it on a GPU node with a CUDA "
            "build of torch, or set it to cpu"
        )
    if device == "auto" and not available and scheduler_gave_gpu():
        raise InputError(
            f"config {key}: auto, and the scheduler gave this job a GPU, but torch "
            f"{torch.__version__} (built for CUDA {torch.version.cuda or 'none'}) sees none: a "
            "CPU build of torch in a GPU job (README, conda environments); set it to cpu to "
            "compute on the CPU"
        )
    if device == "cpu" or not available:
        log.info(
            "device: cpu (config %s = %s), float32, %d threads",
            key,
            device,
            torch.get_num_threads(),
        )
        return torch.device("cpu")
    deterministic_cuda()
    log.info(
        "device: cuda (%s, config %s = %s), float32 matrix products with TF32 off, "
        "deterministic algorithms (warn only), CUBLAS_WORKSPACE_CONFIG=%s",
        torch.cuda.get_device_name(0),
        key,
        device,
        os.environ["CUBLAS_WORKSPACE_CONFIG"],
    )
    return torch.device("cuda")
