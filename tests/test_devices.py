"""The device a torch job computes on: auto, cpu and cuda, and a GPU job without CUDA."""

from __future__ import annotations

import logging

import pytest
import torch

from audiobrain import devices
from audiobrain.devices import resolve_device
from audiobrain.io import InputError


@pytest.fixture
def no_gpu_allocated(monkeypatch):
    for name in devices.GPU_ALLOCATION_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def test_auto_without_a_gpu_computes_on_the_cpu_and_says_so(no_gpu_allocated, caplog):
    with caplog.at_level(logging.INFO, logger="audiobrain"):
        assert resolve_device("auto", key="networks.training.device") == torch.device("cpu")
    assert "device: cpu (config networks.training.device = auto)" in caplog.text


def test_cuda_without_a_cuda_device_is_an_error_naming_the_key(no_gpu_allocated):
    with pytest.raises(InputError, match="config recon.device: cuda, but this job sees no CUDA"):
        resolve_device("cuda")


@pytest.mark.parametrize("variable", devices.GPU_ALLOCATION_VARIABLES)
def test_a_gpu_job_with_a_cpu_build_of_torch_stops(no_gpu_allocated, monkeypatch, variable):
    monkeypatch.setenv(variable, "0")
    with pytest.raises(InputError, match="the scheduler gave this job a GPU, but torch"):
        resolve_device("auto")
    assert resolve_device("cpu") == torch.device("cpu")  # the config says CPU: no error


def test_an_unknown_device_names_the_key():
    with pytest.raises(InputError, match="config recon.device: expected one of"):
        resolve_device("gpu")


def test_cuda_jobs_run_deterministically(monkeypatch, caplog):
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index=0: "NVIDIA A100-SXM4-80GB")
    calls = []
    monkeypatch.setattr(torch, "use_deterministic_algorithms", lambda *a, **k: calls.append(k))
    before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("high")
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", True)
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", True)
    monkeypatch.setattr(torch.backends.cudnn, "deterministic", False)
    with caplog.at_level(logging.INFO, logger="audiobrain"):
        assert resolve_device("auto") == torch.device("cuda")
    assert calls == [{"warn_only": True}]
    precision = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision(before)
    assert precision == "highest" and not torch.backends.cudnn.allow_tf32
    assert not torch.backends.cudnn.benchmark
    assert devices.os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    assert "device: cuda (NVIDIA A100-SXM4-80GB" in caplog.text and "TF32 off" in caplog.text
