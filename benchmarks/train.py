"""Training throughput of the DeepSpeech2 networks at the paper's batch size (section 2.4).

    python benchmarks/train.py            # paper-size and demo-size networks, 2 s and 4.3 s clips
    python benchmarks/train.py --quick    # demo size only, fewer steps

Each measurement runs real SGD steps of :func:`audiobrain.brainscores.training.train`'s inner loop
(eSpeak NG speech loaded, augmented, turned into spectrograms, forward, CTC loss, backward, update)
on a small synthesised English corpus whose clips are cut to a fixed length, and prints steps/s and
audio-seconds/s (batch x clip length x steps/s). The first step is a warm-up and not timed.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import torch

from audiobrain.brainscores import corpora, networks, training
from audiobrain.demo import corpora as demo_corpora

BATCH_SIZE = training.TrainingSettings().batch_size  # section 2.4: 8
PAPER = {"conv_channels": networks.CONV_CHANNELS, "gru_hidden": networks.GRU_HIDDEN}
DEMO = {"conv_channels": (4, 8, 12), "gru_hidden": 48}  # config.yaml's demo network
CLIP_SECONDS = (2.0, 4.3)  # a demo-scale clip and the average MOUS sentence (section 2.1)


def _corpus(folder: Path, clip_s: float) -> training.Corpus:
    """English demo clips, each read as exactly ``clip_s`` seconds (tiled where shorter)."""
    demo_corpora.generate_demo_corpus("english", folder, n_clips=24, seed=0)
    manifest = folder / "manifest.tsv"
    corpora.prepare_corpus("english", "demo", folder, manifest)
    corpus = training.read_corpus(manifest, "english")
    fixed = {
        split: [training.Clip(c.path, 0.0, clip_s, c.target, c.reference) for c in clips]
        for split, clips in corpus.splits.items()
    }
    return training.Corpus("english", fixed)


def _load_fixed(clip: training.Clip, sr_hz: int = 16_000):
    from audiobrain import audio

    samples = audio.load_audio(clip.path, sr_hz)
    n = round(clip.duration_s * sr_hz)
    return torch.from_numpy(samples).repeat(n // len(samples) + 1)[:n].numpy()


def steps_per_second(corpus: training.Corpus, architecture: dict, n_steps: int) -> float:
    settings = training.TrainingSettings(batch_size=BATCH_SIZE)
    model = networks.build_untrained(0, networks.ctc_output_size("english"), **architecture)
    optimiser = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    training.load_clip = _load_fixed  # clips of exactly the benchmarked length
    times = []
    for step in range(n_steps + 1):
        start = time.perf_counter()
        batch = training._training_batch(corpus, settings, seed=0, step=step)
        loss = training._ctc_loss(model, batch, settings)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        times.append(time.perf_counter() - start)
    return n_steps / sum(times[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="demo size only, 3 steps")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"{platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"{args.threads} threads, load average {os.getloadavg()[0]:.1f}"
    )
    sizes = {"demo": DEMO} if args.quick else {"paper": PAPER, "demo": DEMO}
    print(f"{'network':8} {'params':>10} {'clip s':>7} {'steps/s':>8} {'audio s/s':>10}")
    with tempfile.TemporaryDirectory() as folder:
        for clip_s in CLIP_SECONDS[:1] if args.quick else CLIP_SECONDS:
            corpus = _corpus(Path(folder) / f"clips-{clip_s}", clip_s)
            for name, architecture in sizes.items():
                n_steps = 3 if args.quick or name == "paper" else 10
                rate = steps_per_second(corpus, architecture, n_steps)
                params = networks.count_parameters(
                    networks.build_untrained(0, networks.ctc_output_size("english"), **architecture)
                )
                print(
                    f"{name:8} {params:>10,} {clip_s:>7.1f} {rate:>8.2f} "
                    f"{rate * BATCH_SIZE * clip_s:>10.1f}"
                )


if __name__ == "__main__":
    main()
