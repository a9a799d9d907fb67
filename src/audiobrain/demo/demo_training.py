"""The demo's feature models, trained on its own training clips so that their spaces mean something.

No pretrained CLAP, AudioMAE, PANNs or VGGish can be downloaded here, and random weights make every
distance between clips a distance in a random space. Each model of the real class is therefore
trained, briefly and deterministically on the CPU, on the demo's training split (the test clips
stay unseen):

- **AudioMAE** (reduced width and depth): masked-autoencoder pretraining as the official code does
  it (80 % of the patches masked, the decoder reconstructing every patch, the loss on the masked
  patches of the per-patch standardised spectrogram, ``norm_pix_loss``);
- **ClapModel**: contrastive audio-text training, each clip against the captions of the demo's
  labels (the text prompts, e.g. "woman speaking"): InfoNCE over the captions, both towers
  trained;
- **PANNs CNN14 and VGGish** (their released architectures, convolutions kept at their seeded
  random weights): the layers that give the embeddings (CNN14's ``fc1``, VGGish's last
  embedding layer) and the class outputs are trained to classify the demo's labels, so that FD
  and FAD (the embeddings) and KL (CNN14's logits; the demo's labels are its first outputs, the
  other 517 silenced) compare clips in label-discriminative spaces.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import nn

from audiobrain.io import InputError

log = logging.getLogger(__name__)

MASK_RATIO = 0.8  # AudioMAE's pretraining mask ratio
SILENCED_BIAS = -20.0  # CNN14 outputs of no demo label: never the predicted class


def _batches(n: int, batch_size: int, generator: torch.Generator) -> list[torch.Tensor]:
    order = torch.randperm(n, generator=generator)
    return [order[start : start + batch_size] for start in range(0, n, batch_size)]


def _label_codes(labels: Sequence[str]) -> tuple[list[str], torch.Tensor]:
    names = sorted(set(map(str, labels)))
    if len(names) < 2:
        raise InputError(f"demo model training: need at least two labels, found {names}")
    index = {name: k for k, name in enumerate(names)}
    return names, torch.tensor([index[str(label)] for label in labels])


# --------------------------------------------------------------------------------------------
# AudioMAE: masked reconstruction


def mae_loss(model, mel: torch.Tensor, generator: torch.Generator, mask_ratio: float = MASK_RATIO):
    """The MAE pretraining loss of a batch of normalised spectrograms ``(batch, 1, mels, frames)``.

    The encoder sees a random ``1 - mask_ratio`` of each clip's patches (per-sample shuffle),
    the decoder gets mask tokens elsewhere, and the mean squared error of the standardised
    target patches is taken over the masked patches only.
    """
    from audiobrain.recon.audiomae import NORM_PIX_EPS, patchify

    encoder, decoder = model.encoder, model.decoder
    tokens = encoder.patch_embed(mel.transpose(-1, -2)).flatten(2).transpose(1, 2)
    tokens = tokens + encoder.pos_embed[:, 1:]
    batch, n_patches, dim = tokens.shape
    n_keep = max(1, int(round(n_patches * (1 - mask_ratio))))
    order = torch.argsort(torch.rand(batch, n_patches, generator=generator), dim=1)
    keep = order[:, :n_keep]
    visible = torch.gather(tokens, 1, keep[..., None].expand(-1, -1, dim))
    cls = (encoder.cls_token + encoder.pos_embed[:, :1]).expand(batch, -1, -1)
    x = torch.cat([cls, visible], dim=1)
    for block in encoder.blocks:
        x = block(x)
    encoded = decoder.embed(encoder.norm(x)[:, 1:])
    full = decoder.mask_token.expand(batch, n_patches, -1).clone()
    full.scatter_(1, keep[..., None].expand(-1, -1, full.shape[-1]), encoded)
    x = full + decoder.pos_embed[:, 1:]
    for block in decoder.blocks:
        x = block(x)
    predicted = decoder.pred(decoder.norm(x))
    target = patchify(mel, model.config.patch_size)
    target = (target - target.mean(-1, keepdim=True)) / (
        target.var(-1, keepdim=True) + NORM_PIX_EPS
    ).sqrt()
    masked = torch.ones(batch, n_patches)
    masked.scatter_(1, keep, 0.0)
    per_patch = ((predicted - target) ** 2).mean(-1)
    return (per_patch * masked).sum() / masked.sum()


def pretrain_audiomae(
    model,
    waveforms: np.ndarray,
    *,
    epochs: int,
    learning_rate: float = 1e-3,
    batch_size: int = 16,
    seed: int = 0,
) -> list[float]:
    """Masked-autoencoder pretraining of ``model`` (an :class:`AudioMAE`) on 16 kHz clips.

    Encoder and decoder are trained (the class freezes the encoder for the paper's fine-tuning;
    it is frozen again afterwards). Returns the mean loss of each epoch.
    """
    from audiobrain.recon.audiomae import audiomae_input

    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        mels = torch.cat(
            [audiomae_input(waveforms[k : k + 16]) for k in range(0, len(waveforms), 16)]
        )
    model.requires_grad_(True)
    nn.Module.train(model, True)
    optimiser = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=0.05)
    losses = []
    for _ in range(epochs):
        epoch = []
        for rows in _batches(len(mels), batch_size, generator):
            loss = mae_loss(model, mels[rows], generator)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            epoch.append(float(loss.detach()))
        losses.append(float(np.mean(epoch)))
    model.encoder.requires_grad_(False)
    model.eval()
    log.info("AudioMAE pretraining: loss %.3f -> %.3f", losses[0], losses[-1])
    return losses


# --------------------------------------------------------------------------------------------
# CLAP: contrastive audio-text


def train_clap(
    model,
    processor,
    waveforms: Sequence[np.ndarray],
    sr_hz: int,
    labels: Sequence[str],
    captions: Mapping[str, str],
    *,
    epochs: int,
    learning_rate: float = 1e-3,
    batch_size: int = 16,
    seed: int = 0,
) -> list[float]:
    """Train a ``ClapModel`` so that each clip's audio embedding is closest to its label's caption.

    InfoNCE over the captions (cross-entropy of the scaled cosine similarities between the
    batch's audio embeddings and the caption embeddings, plus that of the captions against each
    other), gradients through both towers. Returns the mean loss of each epoch.
    """
    from audiobrain.recon.clap import _prepared_clip

    names, targets = _label_codes(labels)
    missing = [name for name in names if name not in captions]
    if missing:
        raise InputError(f"demo CLAP training: no caption (text prompt) for label(s) {missing}")
    extractor = processor.feature_extractor
    rate = int(extractor.sampling_rate)
    clips = [
        _prepared_clip(w, sr_hz, rate, extractor.nb_max_samples, k) for k, w in enumerate(waveforms)
    ]
    features = extractor(clips, sampling_rate=rate, return_tensors="pt")["input_features"]
    tokens = processor.tokenizer(
        [captions[name] for name in names], padding=True, return_tensors="pt"
    )
    captions_index = torch.arange(len(names))
    generator = torch.Generator().manual_seed(seed)
    _calibrate_batch_norms(model, features)
    optimiser = torch.optim.AdamW(model.parameters(), lr=learning_rate)
    losses = []
    for _ in range(epochs):
        epoch = []
        for rows in _batches(len(clips), batch_size, generator):
            audio = _unit(model.get_audio_features(
                input_features=features[rows], is_longer=torch.zeros(len(rows), 1, dtype=torch.bool)
            ))  # fmt: skip
            text = _unit(model.get_text_features(**tokens))
            scale = model.logit_scale_a.exp()
            loss = nn.functional.cross_entropy(scale * audio @ text.T, targets[rows])
            # the captions against each other too: a small random text tower starts with all
            # captions at nearly one point, where no audio embedding can tell them apart
            loss = loss + nn.functional.cross_entropy(scale * text @ text.T, captions_index)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            epoch.append(float(loss.detach()))
        losses.append(float(np.mean(epoch)))
    log.info("CLAP training: loss %.3f -> %.3f", losses[0], losses[-1])
    return losses


def _calibrate_batch_norms(model, features: torch.Tensor) -> None:
    """Set the audio tower's batch-norm statistics to those of all the clips, then train in
    evaluation mode (those statistics fixed, no dropout): what is trained is what is used."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # a cumulative average over the calibration batches
    model.train()
    with torch.no_grad():
        for start in range(0, len(features), 16):
            batch = features[start : start + 16]
            model.get_audio_features(
                input_features=batch, is_longer=torch.zeros(len(batch), 1, dtype=torch.bool)
            )
    model.eval()


def _unit(output) -> torch.Tensor:
    features = output if isinstance(output, torch.Tensor) else output.pooler_output
    return nn.functional.normalize(features, dim=-1)


# --------------------------------------------------------------------------------------------
# PANNs CNN14 and VGGish: label-trained embedding and output layers


def _fit_layers(
    inputs: torch.Tensor,
    targets: torch.Tensor,
    layers: nn.Module,
    head: nn.Module,
    *,
    epochs: int,
    learning_rate: float,
    seed: int,
) -> list[float]:
    """Train ``layers`` then ``head`` on fixed ``inputs`` to classify ``targets``."""
    generator = torch.Generator().manual_seed(seed)
    parameters = [*layers.parameters(), *head.parameters()]
    optimiser = torch.optim.AdamW(parameters, lr=learning_rate, weight_decay=1e-4)
    losses = []
    for _ in range(epochs):
        epoch = []
        for rows in _batches(len(inputs), 32, generator):
            loss = nn.functional.cross_entropy(head(layers(inputs[rows])), targets[rows])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            epoch.append(float(loss.detach()))
        losses.append(float(np.mean(epoch)))
    return losses


def train_cnn14_head(
    model, waveforms: Sequence[np.ndarray], sr_hz: int, labels: Sequence[str], *, epochs: int,
    learning_rate: float = 1e-3, seed: int = 0,
) -> list[str]:  # fmt: skip
    """Train CNN14's ``fc1`` and the first ``n_labels`` rows of ``fc_audioset`` on the labels.

    The convolutions keep their weights; their pooled 2048-d output is computed once. The other
    ``fc_audioset`` rows are zeroed with a large negative bias, so that the softmax of the logits
    (KL) is over the demo's labels. Returns the label of each output row used, in order.
    """
    from audiobrain.recon.metrics import panns_outputs

    names, targets = _label_codes(labels)
    pooled = []
    hook = model.fc1.register_forward_hook(
        lambda module, args, out: pooled.append(args[0].detach())
    )
    try:
        panns_outputs(model, list(waveforms), sr_hz)
    finally:
        hook.remove()
    inputs = torch.cat(pooled)
    n = len(names)
    head = nn.Linear(model.fc_audioset.in_features, n)
    layers = nn.Sequential(model.fc1, nn.ReLU())
    losses = _fit_layers(
        inputs, targets, layers, head, epochs=epochs, learning_rate=learning_rate, seed=seed
    )
    with torch.no_grad():
        model.fc_audioset.weight.zero_()
        model.fc_audioset.bias.fill_(SILENCED_BIAS)
        model.fc_audioset.weight[:n] = head.weight
        model.fc_audioset.bias[:n] = head.bias
    model.eval()
    log.info("CNN14 head: loss %.3f -> %.3f over labels %s", losses[0], losses[-1], names)
    return names


def train_vggish_head(
    model, waveforms: Sequence[np.ndarray], sr_hz: int, labels: Sequence[str], *, epochs: int,
    learning_rate: float = 1e-3, seed: int = 0,
) -> None:  # fmt: skip
    """Train VGGish's last embedding layer (4096 -> 128, FAD's embedding) on the labels.

    Every 0.96 s example of a clip carries the clip's label; a linear classifier on the 128-d
    embedding (discarded afterwards) gives the loss. The earlier layers keep their weights.
    """
    from torchvggish.vggish_input import waveform_to_examples

    from audiobrain.recon.metrics import VGGISH_SR_HZ, _resampled

    names, targets = _label_codes(labels)
    frames, frame_targets = [], []
    for waveform, target in zip(waveforms, targets, strict=True):
        audio = _resampled(np.asarray(waveform, dtype=np.float64), sr_hz, VGGISH_SR_HZ)
        audio = np.pad(audio, (0, max(0, VGGISH_SR_HZ - audio.size)))
        examples = torch.from_numpy(
            np.asarray(waveform_to_examples(audio, VGGISH_SR_HZ, return_tensor=False), np.float32)
        )[:, None]
        with torch.no_grad():
            hidden = model.features(examples).permute(0, 2, 3, 1).reshape(len(examples), -1)
            frames.append(model.embeddings[:4](hidden))
        frame_targets.append(torch.full((len(examples),), int(target)))
    last = model.embeddings[4]
    head = nn.Linear(last.out_features, len(names))
    losses = _fit_layers(
        torch.cat(frames), torch.cat(frame_targets), last, head, epochs=epochs,
        learning_rate=learning_rate, seed=seed,
    )  # fmt: skip
    model.eval()
    log.info("VGGish embedding: loss %.3f -> %.3f", losses[0], losses[-1])
