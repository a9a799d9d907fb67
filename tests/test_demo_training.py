"""The demo's feature models learn from the demo's clips: their spaces tell the labels apart."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from audiobrain.audio import SAMPLE_RATE_HZ
from audiobrain.demo import demo_models, demo_training
from audiobrain.demo.recon_dataset import generate_demo_stimuli
from audiobrain.recon.audiomae import AudioMAE, AudioMAEConfig, audiomae_input
from audiobrain.recon.clap import clap_audio_embeddings, clap_text_embeddings
from audiobrain.recon.metrics import panns_cnn14, panns_outputs, vggish_embeddings, vggish_model

LABELS = ("rain", "disco", "male")
CAPTIONS = {"rain": "rain", "disco": "disco music", "male": "man speaking"}
TINY_MAE = AudioMAEConfig(
    embed_dim=32, depth=2, num_heads=2, decoder_embed_dim=32, decoder_depth=2,
    decoder_num_heads=2, meta_hidden_dim=16,
)  # fmt: skip


@pytest.fixture(scope="module")
def clips():
    """Three very different labels of the demo's training clips, five clips each."""
    stimuli = generate_demo_stimuli(n_train_stimuli=50, n_test_stimuli=10, n_prompt=0, seed=2)
    table = stimuli.table
    keep = (table["split"] == "train") & table["label"].isin(LABELS)
    return stimuli.waveforms[keep.to_numpy()], table.loc[keep, "label"].to_list()


def test_clap_learns_the_captions_of_its_clips(clips, one_torch_thread):
    waveforms, labels = clips
    model, processor = demo_models.small_clap(projection_dim=16, seed=0)
    losses = demo_training.train_clap(
        model, processor, list(waveforms), SAMPLE_RATE_HZ, labels, CAPTIONS, epochs=15,
        learning_rate=3e-3, batch_size=5, seed=0,
    )  # fmt: skip
    assert losses[-1] < 0.5 * losses[0]
    audio = clap_audio_embeddings(model, processor, list(waveforms), SAMPLE_RATE_HZ)
    text = clap_text_embeddings(model, processor, [CAPTIONS[label] for label in LABELS])
    predicted = np.asarray(LABELS)[(audio @ text.T).argmax(axis=1)]
    assert np.mean(predicted == np.asarray(labels)) > 0.8


def test_audiomae_pretraining_reconstructs_masked_patches_better(clips, one_torch_thread):
    waveforms, _ = clips
    model = AudioMAE(TINY_MAE, seed=0)
    mel = audiomae_input(waveforms[:4])
    before = float(demo_training.mae_loss(model, mel, torch.Generator().manual_seed(1)))
    losses = demo_training.pretrain_audiomae(model, waveforms, epochs=6, learning_rate=3e-3)
    after = float(demo_training.mae_loss(model, mel, torch.Generator().manual_seed(1)))
    assert after < 0.8 * before and losses[-1] < losses[0]
    assert not any(p.requires_grad for p in model.encoder.parameters())  # frozen again


def test_evaluation_networks_become_label_classifiers(clips, one_torch_thread):
    waveforms, labels = clips
    torch.manual_seed(0)
    cnn14 = panns_cnn14().eval()
    names = demo_training.train_cnn14_head(
        cnn14, list(waveforms), SAMPLE_RATE_HZ, labels, epochs=30
    )
    assert names == sorted(LABELS)
    _, logits = panns_outputs(cnn14, list(waveforms), SAMPLE_RATE_HZ)
    assert np.mean(np.asarray(names)[logits.argmax(axis=1)] == np.asarray(labels)) > 0.9
    assert (logits[:, len(names) :] < -10).all()  # no demo label: silenced
    vggish = vggish_model().eval()
    before = vggish_embeddings(vggish, list(waveforms[:1]), SAMPLE_RATE_HZ)
    demo_training.train_vggish_head(vggish, list(waveforms), SAMPLE_RATE_HZ, labels, epochs=20)
    assert not np.allclose(before, vggish_embeddings(vggish, list(waveforms[:1]), SAMPLE_RATE_HZ))
