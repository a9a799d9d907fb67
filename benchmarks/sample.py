"""Sampling throughput of G, the latent diffusion model of C2F-LDM (section 2.2).

    python benchmarks/sample.py                 # the demo's G (and the paper's on a GPU)
    python benchmarks/sample.py --paper         # the paper's G too, even on a CPU (slow)
    python benchmarks/sample.py --quick         # the demo's G, one batch

Each G is built at the size its config gives (config.yaml: the demo; configs/c2f-ldm.yaml: the
paper's, AudioLDM2's sizes) with random weights, which cost the same as trained ones, and
generates clips of the dataset's length with the config's DDIM steps, guidance and batch size
(bf16 autocast on CUDA unless the config says otherwise). Prints clips/s and seconds per clip;
the first batch is a warm-up and not timed.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from audiobrain.recon.ldm import LDM, LDMSettings, build_unet, build_vae

REPO = Path(__file__).resolve().parents[1]
# (config, what, clip frames and mel bins of its vocoder, N_patch and d of c)
CASES = {
    "demo": ("config.yaml", 129, 80, 80, 32),  # 1.5 s at 22.05 kHz, hop 256; demo AudioMAE
    "paper": ("configs/c2f-ldm.yaml", 201, 64, 80, 768),  # Brain2Music: 2 s at 16 kHz, hop 160
}


def _settings(config: str) -> LDMSettings:
    recon = yaml.safe_load((REPO / config).read_text())["recon"]
    return LDMSettings.from_mapping(recon.get("ldm", {}))


def clips_per_second(
    settings: LDMSettings, n_frames: int, n_mels: int, n_patch: int, d: int, n_clips: int, device
) -> float:
    model = LDM(
        build_unet(settings, d, seed=0).to(device),
        build_vae(settings, seed=0).to(device),
        settings,
        n_mels,
    )
    c = np.random.default_rng(0).standard_normal((n_clips, n_patch, d)).astype(np.float32)
    model.sample(c[: settings.sample_batch_size], n_frames, seed=0)  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    model.sample(c, n_frames, seed=0)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return n_clips / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the demo's G only, one batch")
    parser.add_argument("--paper", action="store_true", help="the paper's G even on a CPU")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.machine()
    print(
        f"{name}, torch {torch.__version__}, {args.threads} threads, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    paper = not args.quick and (args.paper or device.type == "cuda")
    cases = CASES if paper else {"demo": CASES["demo"]}
    print(
        f"{'G':6} {'params':>8} {'steps':>5} {'guid.':>5} {'batch':>5} {'clips/s':>8} {'s/clip':>7}"
    )
    for label, (config, n_frames, n_mels, n_patch, d) in cases.items():
        settings = _settings(config)
        n_clips = settings.sample_batch_size * (1 if args.quick else 2)
        unet = build_unet(settings, d, seed=0)
        params = sum(p.numel() for p in unet.parameters()) / 1e6
        rate = clips_per_second(settings, n_frames, n_mels, n_patch, d, n_clips, device)
        print(
            f"{label:6} {params:7.1f}M {settings.ddim_steps:5d} {settings.guidance_scale:5.1f} "
            f"{settings.sample_batch_size:5d} {rate:8.3f} {1 / rate:7.2f}"
        )


if __name__ == "__main__":
    main()
