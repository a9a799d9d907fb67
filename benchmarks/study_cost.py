"""What each stage of the paper configurations costs, from FLOP counts and rates measured here.

    python benchmarks/study_cost.py                 # rates of paper-size steps (1-3 min, 2 cores)
    python benchmarks/study_cost.py --quick         # rates of small shapes (< 20 s), for tests
    python benchmarks/study_cost.py --device cuda   # the same measurements on the GPU

Before booking CPU nodes or A100s one needs each stage's cost and the settings that drive it:
brain scores and network training (configs/mous.yaml), reconstruction (configs/c2f-ldm.yaml).
FLOPs are counted in closed form from the configs: audiobrain.ridge.brain_score's products
(equal to torch's FlopCounterMode on its torch back end) and eigendecompositions, DeepSpeech2's
convolutions and GRU, the T-UNet, D_aco and the AudioMAE decoder (the default mode checks the
last four against FlopCounterMode). Rates are measured in the same run on the same code:
brain_score on random data, a real SGD step, single paper-size T-UNet and D_aco steps (--quick
uses the GEMM rate for these, to spare the diffusers import). Core-hours are FLOPs / rate x
threads; A100-hours are estimates, FLOPs / (assumed peak x --efficiency). Nothing is written.
"""

from __future__ import annotations

import argparse
import copy
import math
import os
import platform
import textwrap
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import ridge as ridge_benchmark  # benchmarks/ridge.py: GEMM rate, simulated data, timing
import threadpoolctl
import torch
import yaml

from audiobrain import surface
from audiobrain.audio import SAMPLE_RATE_HZ, SPECTROGRAM_HOP_S
from audiobrain.brainscores import features, networks, training
from audiobrain.brainscores.architecture import CONV_KERNELS, CONV_NAMES, N_FREQ
from audiobrain.brainscores.settings import ridge_alphas as workflow_alphas
from audiobrain.demo import demo_design
from audiobrain.recon import audioldm2, audiomae, datasets, plan
from audiobrain.recon.acoustic import AcousticDecoder, AcousticSettings
from audiobrain.recon.trainer import Schedule
from audiobrain.ridge import brain_score, grouped_folds

REPO = Path(__file__).resolve().parents[1]
BRAIN_CONFIG = "configs/mous.yaml"
RECON_CONFIG = "configs/c2f-ldm.yaml"
N_MOUS_SUBJECTS = 102  # configs/mous.yaml's `subjects: null`: the auditory cohort, 102 labels
MOUS_SENTENCE_S = 4.28  # section 2.1: the mean sentence (audiobrain.demo.speech's MOUS pace)
TRAINING_CLIP_S = 4.3  # assumed clip length of a batch: the README's average MOUS sentence
EIGH_FLOPS_PER_N3 = 9.0  # symmetric eigendecomposition with eigenvectors (Golub & Van Loan)
FORWARD_BACKWARD = 3.0  # a training step: the forward pass and a backward pass of twice its cost
CLAP_DIM = 512  # laion/clap-htsat-unfused's joint embedding: the size of D_aco's s
A100_PEAK = {"FP32": 19.5e12, "TF32": 156e12, "BF16": 312e12}  # dense, per A100 GPU
QUICK_CLIP_S = 0.3
QUICK_RIDGE_MAX = (1024, 256)  # --quick times brain_score on at most this many features, vertices
CUDA_GEMM_SIZE = 8192
LOO = "per-penalty leave-one-out residuals (2 A n_t r v)"
DECOMPOSITION = "Gram matrix, eigh and leave-one-out plan (float64)"
PROJECTIONS = "projections U^T Y, test maps and predictions"
ACOUSTIC, FINE_TUNING, SAMPLING = "D_aco + AudioMAE decoder", "LDM fine-tuning", "DDIM sampling"


@dataclass(frozen=True)
class Row:
    """One stage: its counted FLOPs, the wall seconds they take at the measured rate, and how.

    ``by_precision`` splits the FLOPs by the A100 precision the project's jobs would use
    (audiobrain.devices keeps TF32 off; G samples under bf16 autocast).
    """

    stage: str
    seconds: float
    by_precision: dict[str, float]
    source: str
    threads: int  # CPU threads the rate was measured with (1 on a GPU: GPU-hours)

    @property
    def flops(self) -> float:
        return sum(self.by_precision.values())


# --- configs ---------------------------------------------------------------------------------


def read_config(name: str) -> dict:
    """``name`` over config.yaml, merged as Snakemake merges ``--configfile``."""
    base = yaml.safe_load((REPO / "config.yaml").read_text())
    return _merged(base, yaml.safe_load((REPO / name).read_text()))


def _merged(base: dict, update: dict) -> dict:
    merged = dict(base)
    for key, value in update.items():
        both = isinstance(value, dict) and isinstance(merged.get(key), dict)
        merged[key] = _merged(merged[key], value) if both else value
    return merged


def changed(config: dict, dotted_key: str, value) -> dict:
    """A copy of ``config`` with one setting changed (for the what-if lines)."""
    config = copy.deepcopy(config)
    *parents, key = dotted_key.split(".")
    section = config
    for parent in parents:
        section = section[parent]
    section[key] = value
    return config


# --- brain scores ----------------------------------------------------------------------------


def kept_trs(dataset: dict) -> int:
    """TRs per subject that the sentence blocks keep (audiobrain.brainscores.events.analysed_scans).

    A block runs from its first sentence (MOUS's mean duration, the demo's mean gaps) to
    block_tail_s after its last, less what block_carryover_s takes after the word lists, which
    end the demo design's mean rest before it.
    """
    per_block = dataset["sentences_per_block"]
    sounds_s = per_block * MOUS_SENTENCE_S + (per_block - 1) * np.mean(demo_design.TRIAL_GAP_S)
    lost_s = max(0.0, dataset["block_carryover_s"] - np.mean(demo_design.BLOCK_REST_S))
    block_s = sounds_s + dataset["block_tail_s"] - lost_s
    return round(dataset["n_blocks"] * block_s / dataset["tr_s"])


def n_vertices(config: dict) -> int:
    method = config["surface"].get("decimation_method", "stride")
    return surface.decimated_vertices(config["surface"]["decimation"], method=method).size


def n_subjects(dataset: dict) -> int:
    subjects = dataset.get("subjects")
    count = N_MOUS_SUBJECTS if subjects is None else len(subjects)
    return count - len(dataset.get("exclude_subjects") or [])


def n_outputs(config: dict, network_type: str) -> int:
    """The final layer's size, as audiobrain.brainscores.pipeline.load_network builds it."""
    if network_type == "untrained":
        return config["networks"]["untrained_outputs"]
    return networks.ctc_output_size(network_type)


def feature_set_widths(config: dict, network_type: str) -> dict[str, int]:
    """Columns of every feature set (L0..L5 and each layer alone) that features builds."""
    net = config["networks"]
    with torch.device("meta"):
        model = networks.DeepSpeech2(
            n_outputs(config, network_type), net["conv_channels"], net["gru_hidden"]
        )
    widths = {"mel": config["features"]["n_mels"], **model.layer_dims()}
    layers = {name: np.zeros((1, width)) for name, width in widths.items()}
    return {name: design.shape[1] for name, design in features.feature_sets(layers).items()}


def scored_widths(config: dict) -> Counter:
    """Brain scores of each width: L0 once per subject and type (the seeds share it)."""
    seeds = len(config["networks"]["seeds"])
    counts = Counter()
    for network_type in config["networks"]["types"]:
        for name, width in feature_set_widths(config, network_type).items():
            counts[width] += 1 if name == "L0" else seeds
    subjects = n_subjects(config["dataset"])
    return Counter({width: count * subjects for width, count in counts.items()})


def equal_blocks(n_trs: int, n_blocks: int) -> np.ndarray:
    return np.arange(n_trs) * n_blocks // n_trs


def ridge_fold_terms(n_train: int, n_test: int, p: int, v: int, n_alphas: int) -> dict:
    """FLOPs of one fold of brain_score, as audiobrain.ridge computes it.

    rank r = min(n_train, p): with n_train <= p the eigenbasis of X X^T spans R^n; otherwise
    X^T X is decomposed and the residual outside its span is added at every penalty. The LOO term
    counts every penalty for every voxel; the engine skips those that cannot win (about half on
    this benchmark's random data), so on CPU the rate measured against these FLOPs is an
    effective one, and the A100 estimate an upper bound.
    """
    rank = min(n_train, p)
    outside = int(n_train > p)
    if outside:
        gram = 2 * n_train * p**2
        maps = 2 * n_train * p * rank + 2 * n_test * p * rank
    else:
        gram = 2 * n_train**2 * p
        maps = 2 * n_test * p * n_train + 2 * n_test * n_train * rank
    return {
        LOO: n_alphas * 2 * n_train * v * (rank + 1 + outside),
        DECOMPOSITION: gram + EIGH_FLOPS_PER_N3 * rank**3 + 4 * n_train * rank * n_alphas,
        PROJECTIONS: maps + 2 * n_train * rank * v * (1 + outside) + 2 * n_test * rank * v,
    }


def brain_score_terms(config: dict, n_trs: int, p: int, v: int) -> Counter:
    """FLOPs of one brain score (every fold of the config's grouped split), by term."""
    ridge = config["ridge"]
    groups = equal_blocks(n_trs, config["dataset"]["n_blocks"])
    total = Counter()
    for train, test in grouped_folds(groups, ridge["n_splits"]):
        total.update(ridge_fold_terms(train.size, test.size, p, v, ridge["n_alphas"]))
    return total


def brain_study_terms(config: dict, n_trs: int, v: int) -> Counter:
    total = Counter()
    for width, count in scored_widths(config).items():
        for term, flops in brain_score_terms(config, n_trs, width, v).items():
            total[term] += count * flops
    return total


def ridge_alphas(ridge: dict) -> np.ndarray:
    """The penalties the workflow passes (audiobrain.brainscores.settings.ridge_alphas)."""
    return np.asarray(workflow_alphas(ridge))


def brain_score_seconds(config: dict, shape: tuple[int, int, int], backend: str) -> float:
    """Best of two brain_score calls on random data of ``shape`` (n, p, v)."""
    ridge = config["ridge"]
    X, Y, _ = ridge_benchmark.simulated_recording(shape)
    groups = equal_blocks(shape[0], config["dataset"]["n_blocks"])
    seconds, _, _ = ridge_benchmark.best_of(
        2,
        brain_score,
        X,
        Y,
        groups,
        alphas=ridge_alphas(ridge),
        n_splits=ridge["n_splits"],
        backend=backend,
        dtype=ridge["dtype"],
        targets_batch_size=ridge["targets_batch_size"],
    )
    return seconds


def largest_training_fold(config: dict, n_trs: int) -> int:
    groups = equal_blocks(n_trs, config["dataset"]["n_blocks"])
    return max(train.size for train, _ in grouped_folds(groups, config["ridge"]["n_splits"]))


def ridge_threads(config: dict, args) -> int:
    """Threads of a brain-score job: ridge.threads, as audiobrain.brainscores.pipeline holds BLAS
    to it (on a busy machine a 2-thread BLAS runs about 10 times slower)."""
    return 1 if args.device == "cuda" else config["ridge"].get("threads", args.threads)


def brain_scores_row(config: dict, n_trs: int, v: int, args) -> Row:
    """Each width's FLOPs at the rate measured on its path (n_train <= p, or not)."""
    widths = scored_widths(config)
    n_train = largest_training_fold(config, n_trs)
    limit_p, limit_v = QUICK_RIDGE_MAX if args.quick else (max(widths), v)
    measured = {
        "wide": (n_trs, min(max(widths), max(limit_p, n_train)), min(v, limit_v)),
        "narrow": (n_trs, min(widths), min(v, limit_v)),
    }
    backend = "torch_cuda" if args.device == "cuda" else config["ridge"]["backend"]
    threads = ridge_threads(config, args)
    with threadpoolctl.threadpool_limits(threads):
        rates = {
            path: sum(brain_score_terms(config, *shape).values())
            / brain_score_seconds(config, shape, backend)
            for path, shape in measured.items()
        }
    seconds = sum(
        count
        * sum(brain_score_terms(config, n_trs, width, v).values())
        / rates["narrow" if width < n_train else "wide"]
        for width, count in widths.items()
    )
    shapes = " and ".join("x".join(str(size) for size in shape) for shape in measured.values())
    total = sum(brain_study_terms(config, n_trs, v).values())
    source = f"brain_score ({backend}, {threads} thread(s)) at {shapes}"
    return Row("brain scores", seconds, {"FP32": total}, source, threads)


# --- network training ------------------------------------------------------------------------


def spectrogram_frames(clip_s: float) -> int:
    """100 Hz frames of a clip (librosa's centred STFT in audiobrain.audio)."""
    return 1 + round(clip_s * SAMPLE_RATE_HZ) // round(SPECTROGRAM_HOP_S * SAMPLE_RATE_HZ)


def ds2_forward_terms(n_frames: int, conv_channels, gru_hidden: int, outputs: int) -> dict:
    """Forward FLOPs of one example per layer (2 per multiply-add; norms and activations not)."""
    terms, frames, bins, c_in = {}, n_frames, N_FREQ, 1
    for layer, (name, c_out) in enumerate(zip(CONV_NAMES, conv_channels, strict=True)):
        frames = networks._conv_output_size(frames, 0, layer)
        bins = networks._conv_output_size(bins, 1, layer)
        terms[name] = 2 * frames * bins * c_out * c_in * math.prod(CONV_KERNELS[layer])
        c_in = c_out
    terms["gru"] = 2 * 2 * frames * 3 * (c_in * bins + gru_hidden) * gru_hidden  # 2 directions
    terms["fc"] = 2 * frames * 2 * gru_hidden * outputs
    return terms


def validation_clips(config: dict, network_type: str, clip_s: float) -> float:
    """Clips of ``clip_s`` in a corpus's validation split, from its total_duration_h.

    A corpus without one (scenes: every clip of its source) is taken to be as long as the
    longest speech corpus, which the speech corpora are subsampled to (an upper bound).
    """
    corpora = config["corpora"]
    durations = [
        corpus["total_duration_h"]
        for corpus in corpora.values()
        if isinstance(corpus, dict) and "total_duration_h" in corpus
    ]
    hours = corpora[network_type].get("total_duration_h", max(durations))
    return hours * 3600 * corpora["split_fractions"][1] / clip_s


def training_terms(config: dict, clip_s: float) -> Counter:
    """Every trained network's max_steps of SGD by layer, and its validation passes.

    Validation (audiobrain.brainscores.training.train) is a forward pass over the whole val split
    every validation_interval steps and at the end. Untrained networks are not trained.
    """
    net, settings = config["networks"], config["networks"]["training"]
    steps = settings["max_steps"] * settings["batch_size"] * len(net["seeds"]) * FORWARD_BACKWARD
    validations = math.ceil(settings["max_steps"] / settings["validation_interval"])
    total = Counter()
    for network_type in net["types"]:
        if network_type != "untrained":
            terms = ds2_forward_terms(
                spectrogram_frames(clip_s),
                net["conv_channels"],
                net["gru_hidden"],
                n_outputs(config, network_type),
            )
            total.update({name: steps * flops for name, flops in terms.items()})
            clips = validations * len(net["seeds"]) * validation_clips(config, network_type, clip_s)
            total["validation passes"] += clips * sum(terms.values())
    return total


def step_flops(config: dict, clip_s: float, outputs: int) -> float:
    net, batch = config["networks"], config["networks"]["training"]["batch_size"]
    terms = ds2_forward_terms(
        spectrogram_frames(clip_s), net["conv_channels"], net["gru_hidden"], outputs
    )
    return FORWARD_BACKWARD * batch * sum(terms.values())


def synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def random_batch(batch_size: int, clip_s: float, outputs: int) -> tuple[torch.Tensor, ...]:
    """What audiobrain.brainscores.training._training_batch returns, random: the values cost
    nothing."""
    frames = spectrogram_frames(clip_s)
    n_symbols = max(1, int(networks.DeepSpeech2.output_lengths(torch.tensor([frames]))[0]) // 4)
    generator = torch.Generator().manual_seed(0)
    return (
        torch.randn((batch_size, frames, N_FREQ), generator=generator),
        torch.full((batch_size,), frames),
        torch.randint(1, outputs, (batch_size * n_symbols,), generator=generator),
        torch.full((batch_size,), n_symbols),
    )


def sgd_step_seconds(config: dict, clip_s: float, device: torch.device) -> float:
    """A real step of audiobrain.brainscores.training (CTC loss, backward, SGD) on random
    spectrograms.

    Loading and augmenting audio is not timed (benchmarks/train.py times it); the warm-up step
    runs on the short --quick batch, so that the default mode pays one full-size step only.
    """
    net, cfg = config["networks"], config["networks"]["training"]
    outputs = networks.ctc_output_size("dutch")
    model = networks.build_untrained(0, outputs, net["conv_channels"], net["gru_hidden"])
    model = model.to(device)
    optimiser = torch.optim.SGD(
        model.parameters(), lr=cfg["learning_rate"], momentum=cfg.get("momentum", 0.9)
    )
    settings = training.TrainingSettings(batch_size=cfg["batch_size"])

    def step(batch: tuple[torch.Tensor, ...]) -> None:
        loss = training._ctc_loss(model, batch, settings)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        synchronise(device)

    step(random_batch(cfg["batch_size"], QUICK_CLIP_S, outputs))  # warm-up
    return ridge_benchmark.timed(step, random_batch(cfg["batch_size"], clip_s, outputs))[0]


def training_row(config: dict, clip_s: float, args) -> Row:
    measured_s = QUICK_CLIP_S if args.quick else clip_s
    device = torch.device(args.device)
    outputs = networks.ctc_output_size("dutch")
    rate = step_flops(config, measured_s, outputs) / sgd_step_seconds(config, measured_s, device)
    total = sum(training_terms(config, clip_s).values())
    settings = config["networks"]["training"]
    precision = "BF16" if settings.get("mixed_precision", False) else "FP32"
    source = f"DeepSpeech2 SGD step, batch {settings['batch_size']} x {measured_s:g} s"
    threads = 1 if args.device == "cuda" else args.threads
    return Row("training", total / rate, {precision: total}, source, threads)


# --- reconstruction --------------------------------------------------------------------------


@dataclass(frozen=True)
class ReconSubject:
    """One subject's sizes (Table 4) and the settings of its dataset."""

    dataset: str
    n_train: int
    n_test: int
    n_patch: int
    n_frames: int  # vocoder mel frames of a clip (AudioLDM2's centred 100 Hz frames)
    acoustic_epochs: int
    ldm: dict
    text_prompts: bool
    study: bool  # a Table 3 subject: C2F-LDM for every study P_gt


def recon_subjects(recon: dict) -> list[ReconSubject]:
    subjects = []
    n_study = recon["study"].get("n_subjects")
    for name in recon["datasets"]:
        source = recon["sources"][name]
        samples = round(datasets.CLIP_S[name] * audioldm2.SR_HZ)
        for index, subject in enumerate(source["subjects"]):
            n_train, n_test, _ = datasets.EXPECTED_COUNTS[name][subject]
            subjects.append(
                ReconSubject(
                    dataset=name,
                    n_train=n_train,
                    n_test=n_test,
                    n_patch=source["n_patch"],
                    n_frames=1 + samples // audioldm2.HOP_LENGTH,
                    acoustic_epochs=source.get("acoustic_epochs", recon["acoustic"]["epochs"]),
                    ldm={**recon["ldm"], **source.get("ldm", {})},
                    text_prompts=bool(source.get("text_prompts")),
                    study=n_study is None or index < n_study,
                )
            )
    return subjects


def c2f_p_gts(recon: dict, subject: ReconSubject) -> set[float]:
    """The C2F variants a subject trains (audiobrain.recon.plan.ldm_models); Fine besides."""
    p_gt = float(recon["acoustic"]["p_gt"])
    models = plan.ldm_models(p_gt, recon["study"]["p_gt"], subject.study)
    return {plan.model_p_gt(model, p_gt) for model in models if model != "fine"}


def latent_shape(ldm: dict, n_frames: int) -> tuple[int, int, int]:
    """G's latent of a padded mel: VAE and UNet downsampling (audiobrain.recon.ldm.sample)."""
    vae = 2 ** (len(ldm["vae_block_out_channels"]) - 1)
    multiple = vae * 2 ** (len(ldm["unet_block_out_channels"]) - 1)
    frames, bins = (-(-size // multiple) * multiple for size in (n_frames, audioldm2.N_MELS))
    return ldm["vae_latent_channels"], frames // vae, bins // vae


def resnet_flops(c_in: int, c_out: int, pixels: int) -> float:
    shortcut = c_in * c_out if c_in != c_out else 0
    return 2 * pixels * (9 * c_in * c_out + 9 * c_out**2 + shortcut)


def transformer_flops(channels: int, pixels: int, n_context: int, d_context: int) -> float:
    """Transformer2DModel: 1x1 projections, self- and cross-attention, GEGLU feed-forward."""
    projections = 20 * channels**2 * pixels  # in/out 2, self 4, cross q/out 2, GEGLU 12
    attention = 2 * pixels**2 * channels + 2 * pixels * n_context * channels
    return 2 * (projections + attention + 2 * n_context * d_context * channels)


def unet_forward_flops(ldm: dict, latent: tuple[int, int, int], n_context: int, d: int) -> float:
    """One sample through build_unet's UNet2DConditionModel (time embedding not counted)."""
    blocks, layers = ldm["unet_block_out_channels"], ldm["unet_layers_per_block"]
    pixels = [latent[1] * latent[2] // 4**level for level in range(len(blocks))]

    def level(channels: int, index: int, c_in: int) -> float:
        attention = transformer_flops(channels, pixels[index], n_context, d) if index else 0
        return resnet_flops(c_in, channels, pixels[index]) + attention

    total = 2 * 2 * 9 * latent[0] * blocks[0] * pixels[0]  # conv_in and conv_out
    skips, previous = [blocks[0]], blocks[0]
    for index, channels in enumerate(blocks):
        for layer in range(layers):
            total += level(channels, index, previous if layer == 0 else channels)
            skips.append(channels)
        previous = channels
        if index < len(blocks) - 1:  # downsampler
            total += 2 * 9 * channels**2 * pixels[index + 1]
            skips.append(channels)
    total += 2 * resnet_flops(blocks[-1], blocks[-1], pixels[-1])  # middle block
    total += transformer_flops(blocks[-1], pixels[-1], n_context, d)
    for index in reversed(range(len(blocks))):
        for _ in range(layers + 1):
            total += level(blocks[index], index, previous + skips.pop())
            previous = blocks[index]
        if index:  # upsampler
            total += 2 * 9 * blocks[index] ** 2 * pixels[index - 1]
    return total


def audiomae_decoder_flops(mae: audiomae.AudioMAEConfig, n_tokens: int) -> float:
    """One pass of the Swin decoder over all patches (N_patch tokens, the rest mask tokens)."""
    dim, n, heads = mae.decoder_embed_dim, mae.num_patches, mae.decoder_num_heads
    window, _ = audiomae._window_and_shift(mae.grid, mae.window, mae.shift)
    area, hidden = math.prod(window), int(dim * mae.mlp_ratio)
    block = 2 * n * (4 * dim**2 + 2 * dim * hidden + 2 * area * dim + area * heads)
    position_bias = 2 * area**2 * (2 + heads) * mae.meta_hidden_dim
    embed, predict = 2 * n_tokens * mae.embed_dim * dim, 2 * n * dim * mae.patch_size**2
    return embed + mae.decoder_depth * (block + position_bias) + predict


def daco_forward_flops(settings: AcousticSettings, d: int, n_patch: int, semantic: bool) -> float:
    """D_aco's encoder over [s', x'] and decoder over N_patch queries (nn.Transformer layers)."""
    tokens, ff = 1 + int(semantic), int(round(settings.mlp_ratio * d))

    def attention(n_queries: int, n_keys: int) -> float:
        return 2 * (2 * n_queries * d**2 + 2 * n_keys * d**2 + 2 * n_queries * n_keys * d)

    encoder = attention(tokens, tokens) + 4 * tokens * d * ff
    decoder = attention(n_patch, n_patch) + attention(n_patch, tokens) + 4 * n_patch * d * ff
    return 2 * CLAP_DIM * d * semantic + settings.n_layers * (encoder + decoder)


def recon_subject_terms(recon: dict, subject: ReconSubject) -> Counter:
    """D_aco trainings, G fine-tunings and DDIM sampling of one subject, in FLOPs."""
    acoustic = AcousticSettings.from_mapping(recon["acoustic"])
    mae = audiomae.AudioMAEConfig.from_mapping(recon["models"]["audiomae"])
    ldm, d = subject.ldm, mae.embed_dim
    unet = unet_forward_flops(ldm, latent_shape(ldm, subject.n_frames), subject.n_patch, d)
    decoder = audiomae_decoder_flops(mae, subject.n_patch)
    acoustic_steps = Schedule(subject.acoustic_epochs, acoustic.batch_size, 1)
    ldm_steps = Schedule(ldm["epochs"], ldm["batch_size"], 1)
    guidance = 2 if ldm["guidance_scale"] != 1.0 else 1
    per_clip = ldm["ddim_steps"] * guidance * unet
    terms = Counter()
    for semantic in [False] + [True] * len(c2f_p_gts(recon, subject)):  # Fine, then C2F
        daco = daco_forward_flops(acoustic, d, subject.n_patch, semantic)
        examples = acoustic_steps.n_steps(subject.n_train) * acoustic.batch_size
        terms[ACOUSTIC] += FORWARD_BACKWARD * examples * (daco + 2 * decoder)
        examples = ldm_steps.n_steps(subject.n_train) * ldm["batch_size"]
        terms[FINE_TUNING] += FORWARD_BACKWARD * examples * (2 * unet + daco)
        conditions = 3 + (semantic * (1 + subject.text_prompts))  # none, c_gt, shuffled; prompts
        terms[SAMPLING] += conditions * subject.n_test * per_clip
    return terms


def recon_terms(recon: dict) -> Counter:
    total = Counter()
    for subject in recon_subjects(recon):
        total.update(recon_subject_terms(recon, subject))
    return total


def measured_subject(recon: dict) -> ReconSubject:
    """The cheapest clip's subject: its latent is the one the paper-size steps are timed at."""
    return min(recon_subjects(recon), key=lambda subject: subject.n_frames)


def unet_seconds(recon: dict, device: torch.device) -> dict[str, tuple[float, int]]:
    """Paper-size T-UNet (random weights): one sampling call and one training step, timed.

    Sampling runs under bf16 autocast on CUDA (ldm.sample_autocast), training in float32. On
    the CPU one latent; on CUDA the jobs' batches: guidance doubles the sampling batch, the two
    conditions of equation 4 the training batch. Returns {part: (seconds, batch)}.
    """
    from audiobrain.recon.ldm import LDMSettings, build_unet, denoise

    subject = measured_subject(recon)
    settings = LDMSettings.from_mapping(subject.ldm)
    d = recon["models"]["audiomae"]["embed_dim"]
    unet = build_unet(settings, d, seed=0).to(device)
    latent = latent_shape(subject.ldm, subject.n_frames)
    bf16 = torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda")

    def inputs(batch: int) -> tuple[torch.Tensor, ...]:
        z = torch.randn((batch, *latent), device=device)
        t = torch.full((batch,), settings.num_train_timesteps // 2, device=device)
        return z, t, torch.randn((batch, subject.n_patch, d), device=device)

    def sample_call(batch: tuple[torch.Tensor, ...]) -> None:
        with torch.no_grad(), bf16:
            denoise(unet, *batch)
        synchronise(device)

    def training_step(batch: tuple[torch.Tensor, ...]) -> None:
        denoise(unet.train(), *batch).float().square().mean().backward()
        synchronise(device)

    on_gpu = device.type == "cuda"
    sampling = 2 * settings.sample_batch_size if on_gpu else 1
    fine_tuning = 2 * settings.batch_size if on_gpu else 1
    sample_call(inputs(sampling))  # warm-up
    if on_gpu:  # the first backward pass also sets up cuBLAS and cuDNN
        training_step(inputs(fine_tuning))
    return {
        SAMPLING: (ridge_benchmark.timed(sample_call, inputs(sampling))[0], sampling),
        FINE_TUNING: (ridge_benchmark.timed(training_step, inputs(fine_tuning))[0], fine_tuning),
    }


def acoustic_step_seconds(recon: dict, device: torch.device) -> tuple[float, int]:
    """Paper-size D_aco and AudioMAE decoder (random weights): forward and backward, timed.

    One example on the CPU, a batch of acoustic.batch_size on CUDA.
    """
    from audiobrain.recon.acoustic import acoustic_losses

    subject = measured_subject(recon)
    mae_config = audiomae.AudioMAEConfig.from_mapping(recon["models"]["audiomae"])
    settings = AcousticSettings.from_mapping(recon["acoustic"])
    mae = audiomae.AudioMAE(mae_config).to(device)
    decoder = AcousticDecoder(mae_config.embed_dim, subject.n_patch, CLAP_DIM, settings)
    decoder = decoder.to(device)
    batch = 1 if device.type == "cpu" else settings.batch_size
    voxels = torch.randn((batch, mae_config.embed_dim), device=device)
    s = torch.randn((batch, CLAP_DIM), device=device)
    c_gt = torch.randn((batch, subject.n_patch, mae_config.embed_dim), device=device)
    mel = torch.randn((batch, 1, mae_config.n_mels, mae_config.n_frames), device=device)

    def step() -> None:
        losses = acoustic_losses(decoder(voxels, s), c_gt, mel, mae, None)
        losses["loss"].backward()
        synchronise(device)

    if device.type == "cuda":  # warm-up: cheap there; on the CPU it would double the time
        step()
    return ridge_benchmark.timed(step)[0], batch


def recon_precisions(recon: dict) -> dict[str, str]:
    """Training in float32 (TF32 off); sampling under ldm.sample_autocast (bf16 by default)."""
    autocast = recon["ldm"].get("sample_autocast", "bf16")
    return {
        ACOUSTIC: "FP32",
        FINE_TUNING: "FP32",
        SAMPLING: "FP32" if autocast == "none" else "BF16",
    }


def measured_recon_rates(recon: dict, device: torch.device) -> dict[str, tuple[float, str]]:
    """FLOP/s of the paper-size steps, timed at the cheapest dataset's shapes."""
    subject = measured_subject(recon)
    mae = audiomae.AudioMAEConfig.from_mapping(recon["models"]["audiomae"])
    settings = AcousticSettings.from_mapping(recon["acoustic"])
    latent = latent_shape(subject.ldm, subject.n_frames)
    unet = unet_forward_flops(subject.ldm, latent, subject.n_patch, mae.embed_dim)
    timed = unet_seconds(recon, device)
    acoustic_s, acoustic_batch = acoustic_step_seconds(recon, device)
    example = daco_forward_flops(settings, mae.embed_dim, subject.n_patch, True)
    example += 2 * audiomae_decoder_flops(mae, subject.n_patch)
    where = f"{subject.dataset} latent {'x'.join(map(str, latent))}"
    (training_s, training_batch), (sampling_s, sampling_batch) = timed[FINE_TUNING], timed[SAMPLING]
    return {
        ACOUSTIC: (
            FORWARD_BACKWARD * acoustic_batch * example / acoustic_s,
            f"paper-size D_aco + AudioMAE decoder step, batch {acoustic_batch}",
        ),
        FINE_TUNING: (
            FORWARD_BACKWARD * training_batch * unet / training_s,
            f"paper-size T-UNet training step, batch {training_batch}, {where}",
        ),
        SAMPLING: (
            sampling_batch * unet / sampling_s,
            f"paper-size T-UNet call, batch {sampling_batch}, {where}",
        ),
    }


def recon_rows(recon: dict, args, gemm: dict[str, float]) -> list[Row]:
    """The three parts, and their sum; in --quick at the GEMM rate (no diffusers import)."""
    precisions = recon_precisions(recon)
    if args.quick:
        rates = {
            part: (gemm_rate(gemm, precision), "GEMM rate (--quick times no step): optimistic")
            for part, precision in precisions.items()
        }
    else:
        rates = measured_recon_rates(recon, torch.device(args.device))
    threads = 1 if args.device == "cuda" else args.threads
    parts = [
        Row(f"  {part}", flops / rates[part][0], {precisions[part]: flops}, rates[part][1], threads)
        for part, flops in recon_terms(recon).items()
    ]
    by_precision = Counter()
    for part in parts:
        by_precision.update(part.by_precision)
    total_s = sum(part.seconds for part in parts)
    total = Row("reconstruction", total_s, dict(by_precision), "the rows below", threads)
    return [total, *parts]


# --- rates, checks, table --------------------------------------------------------------------


def cuda_gemm_rates(repeats: int = 5) -> dict[str, float]:
    """Best matmul rate on the GPU: float32 (TF32 off, as the jobs run), TF32 and bfloat16."""
    rates = {}
    for name, dtype, precision in (
        ("FP32", torch.float32, "highest"),
        ("TF32", torch.float32, "high"),
        ("BF16", torch.bfloat16, "highest"),
    ):
        torch.set_float32_matmul_precision(precision)
        a = torch.randn((CUDA_GEMM_SIZE, CUDA_GEMM_SIZE), device="cuda", dtype=dtype)
        b = torch.randn_like(a)
        seconds = []
        for _ in range(repeats + 1):
            start = time.perf_counter()
            a @ b
            torch.cuda.synchronize()
            seconds.append(time.perf_counter() - start)
        rates[name] = 2.0 * CUDA_GEMM_SIZE**3 / min(seconds[1:])
    torch.set_float32_matmul_precision("highest")
    return rates


def gemm_rates(args) -> dict[str, float]:
    """float32 GEMM FLOP/s of this machine (numpy and torch), or of the GPU per precision."""
    if args.device == "cuda":
        return cuda_gemm_rates()
    return ridge_benchmark.gemm_rates(repeats=2 if args.quick else 5)


def gemm_rate(gemm: dict[str, float], precision: str) -> float:
    return gemm.get(precision, max(gemm.values()))


def counted_flops(function, *inputs) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        function(*inputs)
    return counter.get_total_flops()


def closed_form_checks(config: dict, recon: dict, clip_s: float) -> dict[str, float]:
    """Closed-form forward FLOPs over torch's FlopCounterMode (1 = equal), at paper sizes."""
    from audiobrain.recon.ldm import LDMSettings, build_unet, denoise

    net, subject = config["networks"], measured_subject(recon)
    mae = audiomae.AudioMAEConfig.from_mapping(recon["models"]["audiomae"])
    settings = AcousticSettings.from_mapping(recon["acoustic"])
    frames, d, n_patch = spectrogram_frames(clip_s), mae.embed_dim, subject.n_patch
    latent, outputs = latent_shape(subject.ldm, subject.n_frames), n_outputs(config, "dutch")
    # DeepSpeech2 on a CPU tensor: its packed GRU cannot run on meta tensors
    ds2 = networks.DeepSpeech2(outputs, net["conv_channels"], net["gru_hidden"])
    spectrogram = torch.zeros((1, frames, N_FREQ))
    with torch.device("meta"):
        unet = build_unet(LDMSettings.from_mapping(subject.ldm), d, seed=0)
        daco = AcousticDecoder(d, n_patch, CLAP_DIM, settings)
        decoder = audiomae.AudioMAEDecoder(mae).to("meta")  # its position buffer is built on CPU
        z = torch.zeros((1, *latent))
        t, c = torch.zeros(1, dtype=torch.long), torch.zeros((1, n_patch, d))
        x, s = torch.zeros((1, d)), torch.zeros((1, CLAP_DIM))
    ds2_terms = ds2_forward_terms(frames, net["conv_channels"], net["gru_hidden"], outputs)
    acoustic = daco_forward_flops(settings, d, n_patch, True) + audiomae_decoder_flops(mae, n_patch)
    return {
        "DeepSpeech2": sum(ds2_terms.values()) / counted_flops(ds2, spectrogram),
        "T-UNet": unet_forward_flops(subject.ldm, latent, n_patch, d)
        / counted_flops(denoise, unet, z, t, c),
        ACOUSTIC: acoustic / (counted_flops(daco, x, s) + counted_flops(decoder, c)),
    }


def hours(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def a100_hours(by_precision: dict[str, float], efficiency: float) -> float:
    return sum(f / (A100_PEAK[p] * efficiency) for p, f in by_precision.items()) / 3600


def print_table(rows: list[Row], args) -> None:
    wall = "core-h" if args.device == "cpu" else "GPU-h"
    header = (
        f"{'stage':<28} {'FLOPs':>10} {'GFLOP/s':>8} {wall:>9} "
        + " ".join(f"{'A100 ' + name:>9}" for name in A100_PEAK)
        + f" {'A100 as run':>14}  rate measured on"
    )
    print("\n" + header + "\n" + "-" * len(header))
    for row in rows:
        columns = [hours(a100_hours({p: row.flops}, args.efficiency)) for p in A100_PEAK]
        precision = "/".join(row.by_precision) if len(row.by_precision) < 3 else "mixed"
        as_run = f"{hours(a100_hours(row.by_precision, args.efficiency))} {precision}"
        print(
            f"{row.stage:<28} {row.flops:>10.3e} {row.flops / row.seconds / 1e9:>8.1f} "
            f"{hours(row.seconds / 3600 * row.threads):>9} "
            + " ".join(f"{column:>9}" for column in columns)
            + f" {as_run:>14}  {row.source}"
        )


def shares(terms: Counter) -> str:
    total = sum(terms.values())
    ordered = sorted(terms.items(), key=lambda item: -item[1])
    return ", ".join(f"{name} {100 * flops / total:.1f} %" for name, flops in ordered)


def print_what_if(label: str, base: float, flops: float) -> None:
    print(f"    {label}: FLOPs x{flops / base:.3g}")


def print_brain_dominance(config: dict, n_trs: int, v: int, fixed_v: bool) -> None:
    def total(cfg: dict, n: int = n_trs) -> float:
        return sum(brain_study_terms(cfg, n, v if fixed_v else n_vertices(cfg)).values())

    base = total(config)
    say(f"brain scores: {shares(brain_study_terms(config, n_trs, v))}", indent=2)
    print("    cost ~ scores x n_splits x n_train x r x (n_alphas x v + p), r = min(n_train, p)")
    decimation, seeds = config["surface"]["decimation"], config["networks"]["seeds"]
    ridge = config["ridge"]
    if not fixed_v:
        print_what_if(
            f"surface.decimation {decimation} -> {max(1, decimation // 2)}",
            base,
            total(changed(config, "surface.decimation", max(1, decimation // 2))),
        )
    halved = max(1, ridge["n_alphas"] // 2)
    print_what_if(
        f"ridge.n_alphas {ridge['n_alphas']} -> {halved}",
        base,
        total(changed(config, "ridge.n_alphas", halved)),
    )
    print_what_if(
        f"networks.seeds {len(seeds)} -> {max(1, len(seeds) // 2)}",
        base,
        total(changed(config, "networks.seeds", seeds[: max(1, len(seeds) // 2)])),
    )
    splits = max(2, ridge["n_splits"] // 2)
    print_what_if(
        f"ridge.n_splits {ridge['n_splits']} -> {splits}",
        base,
        total(changed(config, "ridge.n_splits", splits)),
    )
    paper_trs = ridge_benchmark.PAPER_SHAPE[0]
    print_what_if(
        f"n {n_trs} -> {paper_trs} TRs (benchmarks/ridge.py's PAPER_SHAPE)",
        base,
        total(config, paper_trs),
    )


def print_training_dominance(config: dict, clip_s: float) -> None:
    base = sum(training_terms(config, clip_s).values())
    longest = config["corpora"].get("max_duration_s", clip_s)
    channels = config["networks"]["conv_channels"]
    say(f"training: {shares(training_terms(config, clip_s))}", indent=2)
    print(
        "    cost ~ networks x (3 max_steps x batch_size + validations x val clips) x clip length"
    )
    print_what_if(
        f"clip {clip_s:g} s -> {longest:g} s (corpora.max_duration_s: a batch pads to its longest)",
        base,
        sum(training_terms(config, longest).values()),
    )
    halved = [max(1, c // 2) for c in channels]
    print_what_if(
        f"networks.conv_channels {channels} -> {halved}",
        base,
        sum(training_terms(changed(config, "networks.conv_channels", halved), clip_s).values()),
    )


def print_recon_dominance(recon: dict) -> None:
    def total(cfg: dict) -> float:
        return sum(recon_terms(cfg).values())

    base, ldm = total(recon), recon["ldm"]
    say(f"reconstruction: {shares(recon_terms(recon))}", indent=2)
    print("    sampling ~ models x conditions x test clips x ddim_steps x 2 (guidance) x UNet")
    print("    fine-tuning ~ models x epochs x training samples x 2 conditions x 3 x UNet")
    print_what_if(
        f"ldm.ddim_steps {ldm['ddim_steps']} -> {ldm['ddim_steps'] // 4}",
        base,
        total(changed(recon, "ldm.ddim_steps", ldm["ddim_steps"] // 4)),
    )
    print_what_if(
        f"ldm.guidance_scale {ldm['guidance_scale']:g} -> 1 (no classifier-free guidance)",
        base,
        total(changed(recon, "ldm.guidance_scale", 1.0)),
    )
    print_what_if(
        f"study.p_gt {recon['study']['p_gt']} -> [] (no Table 3: Fine and C2F only)",
        base,
        total(changed(recon, "study.p_gt", [])),
    )


def say(text: str, indent: int = 0) -> None:
    """Print prose wrapped to 100 columns, continuation lines indented."""
    print(
        textwrap.fill(text, 100, initial_indent=" " * indent, subsequent_indent=" " * (indent + 4))
    )


def print_sizes(config: dict, recon: dict, n_trs: int, v: int, clip_s: float) -> None:
    """The shapes each stage's count rests on, and where they come from."""
    net, ridge, dataset = config["networks"], config["ridge"], config["dataset"]
    widths = scored_widths(config)
    per_seed = len(feature_set_widths(config, net["types"][0]))
    unshared = n_subjects(dataset) * len(net["types"]) * len(net["seeds"]) * per_seed
    say(
        f"brain scores ({BRAIN_CONFIG}): {n_subjects(dataset)} subjects x {len(net['types'])} "
        f"types x {len(net['seeds'])} seeds x {per_seed} feature sets = {unshared:,} scores, "
        f"{sum(widths.values()):,} as L0 is scored once per subject and type (were it scored "
        f"per seed: FLOPs x{unshared_factor(config, n_trs, v):.3f}); p = {min(widths)}.."
        f"{max(widths):,} features; n = {n_trs} TRs kept per subject ({dataset['n_blocks']} "
        f"blocks of {dataset['sentences_per_block']} sentences of {MOUS_SENTENCE_S} s; --n-trs); "
        f"v = {v:,} vertices (fsaverage5, surface.decimation {config['surface']['decimation']}); "
        f"{ridge['n_splits']} folds x {ridge['n_alphas']} penalties"
    )
    settings = net["training"]
    trained = [t for t in net["types"] if t != "untrained"]
    say(
        f"training: {len(trained)} types x {len(net['seeds'])} seeds x {settings['max_steps']:,} "
        f"steps, batch {settings['batch_size']} of {clip_s:g} s clips (assumed: --clip-s), "
        f"{step_flops(config, clip_s, n_outputs(config, 'dutch')):.3g} FLOPs per step; and a "
        f"forward pass over the val split ({config['corpora']['split_fractions'][1]:.0%} of each "
        f"corpus) every {settings['validation_interval']:,} steps"
    )
    subjects = recon_subjects(recon)
    models = sum(1 + len(c2f_p_gts(recon, subject)) for subject in subjects)
    ldm = recon["ldm"]
    say(
        f"reconstruction ({RECON_CONFIG}): {len(subjects)} subjects of {len(recon['datasets'])} "
        f"datasets (Table 4's samples), {models} D_aco trainings, {models} G fine-tunings and "
        f"{models} sampling jobs (Fine + C2F per P_gt); {ldm['ddim_steps']} DDIM steps with "
        f"guidance {ldm['guidance_scale']:g} on every test clip under every condition (with a "
        "prompt on every clip: an upper bound)"
    )


def unshared_factor(config: dict, n_trs: int, v: int) -> float:
    """How much more the brain scores would cost if every seed scored L0 again."""
    l0 = sum(brain_score_terms(config, n_trs, config["features"]["n_mels"], v).values())
    extra = l0 * n_subjects(config["dataset"]) * len(config["networks"]["types"])
    extra *= len(config["networks"]["seeds"]) - 1
    total = sum(brain_study_terms(config, n_trs, v).values())
    return (total + extra) / total


def print_assumptions(args) -> None:
    peaks = ", ".join(f"{name} {peak / 1e12:g}" for name, peak in A100_PEAK.items())
    print()
    say(
        f"A100 columns are estimates: FLOPs / (peak x {args.efficiency:.0%}); peaks {peaks} "
        "TFLOP/s (dense). 'as run': the precision the jobs use on a GPU (audiobrain.devices: "
        "float32 with TF32 off; G samples under bf16 autocast; the ridge's float64 Gram and eigh "
        "run at FP64 19.5 TFLOP/s on tensor cores, as FP32). "
        + (
            "core-h = wall hours at the measured rate x the threads it was measured with."
            if args.device == "cpu"
            else "GPU-h = wall hours at the rate measured on this GPU."
        )
        + " FLOPs are counted in closed form (2 per multiply-add; eigh 9 n^3; training step = 3 "
        "forward passes; the scenes corpus's validation split taken as long as a speech "
        "corpus's). Not counted: data loading and augmentation, AudioMAE/CLAP/VAE feature "
        "extraction, D_sem, the direct baselines, vocoding and metrics."
    )


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small measurement shapes (< 20 s)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument(
        "--threads",
        type=int,
        default=torch.get_num_threads(),
        help="CPU threads of the measurements (brain scores: ridge.threads, as their jobs run)",
    )
    parser.add_argument(
        "--efficiency", type=float, default=0.5, help="achieved fraction of A100 peak (0..1]"
    )
    parser.add_argument("--n-trs", type=int, help="TRs per subject (default: from the design)")
    parser.add_argument("--n-vertices", type=int, help="vertices (default: from surface.*)")
    parser.add_argument(
        "--clip-s", type=float, default=TRAINING_CLIP_S, help="training clip length in seconds"
    )
    args = parser.parse_args()
    if not 0 < args.efficiency <= 1:
        parser.error("--efficiency must be in (0, 1]")
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: torch sees no CUDA device")
    return args


def print_machine(args, gemm: dict[str, float]) -> None:
    if args.device == "cuda":
        name = torch.cuda.get_device_name(0)
    else:
        name = f"{platform.processor() or platform.machine()}, {args.threads} threads"
    rates = ", ".join(f"{key} {rate / 1e9:,.0f}" for key, rate in gemm.items())
    print(
        f"{name}; torch {torch.__version__}; load average {os.getloadavg()[0]:.2f}; "
        f"GEMM GFLOP/s: {rates}"
    )


def main() -> None:
    args = parse_arguments()
    start = time.perf_counter()
    torch.set_num_threads(args.threads)
    config, recon = read_config(BRAIN_CONFIG), read_config(RECON_CONFIG)["recon"]
    n_trs = args.n_trs or kept_trs(config["dataset"])
    v = args.n_vertices or n_vertices(config)
    with threadpoolctl.threadpool_limits(args.threads):
        if args.device == "cuda":  # the jobs' settings: TF32 off, deterministic algorithms
            from audiobrain.devices import deterministic_cuda

            deterministic_cuda()
        gemm = gemm_rates(args)
        print_machine(args, gemm)
        print_sizes(config, recon, n_trs, v, args.clip_s)
        rows = [
            brain_scores_row(config, n_trs, v, args),
            training_row(config, args.clip_s, args),
            *recon_rows(recon, args, gemm),
        ]
        if not args.quick:
            checks = closed_form_checks(config, recon, args.clip_s)
            print(
                "closed-form forward FLOPs / torch FlopCounterMode: "
                + ", ".join(f"{name} {ratio:.4f}" for name, ratio in checks.items())
            )
    print_table(rows, args)
    print_assumptions(args)
    print("\nWhat dominates (share of each stage's FLOPs) and what a setting changes:")
    print_brain_dominance(config, n_trs, v, fixed_v=args.n_vertices is not None)
    print_training_dominance(config, args.clip_s)
    print_recon_dominance(recon)
    print(f"\n{time.perf_counter() - start:.0f} s; load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
