"""The DeepSpeech2-style network of Millet & King (2021), section 2.3, in PyTorch.

Spectrogram ``U`` (time x 160 frequency bins at 100 Hz) -> three 2D convolutions over time and
frequency -> one bidirectional GRU -> one linear layer sized by the task, ReLU between layers and
a (log-)softmax on the linear layer's outputs for CTC training (section 2.4).

Details the paper leaves open follow the encoder the authors trained with, OpenSeq2Seq's
``DeepSpeech2Encoder`` with its DS2 example configs: "SAME" padding (half the kernel on each side,
so only the first layer's time stride changes the frame rate: 100 Hz -> 50 Hz), each convolution
followed by batch normalisation (convolutions then carry no bias) and ReLU, Xavier/Glorot-uniform
initial weights. Padded batches give the same activations as one stimulus at a time: frames past a
sequence's end are zeroed after every convolution and the GRU runs on packed sequences.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

# The paper's numbers live in audiobrain.brainscores.architecture, importable without torch; the
# names only other modules use are re-exported here too ("X as X").
from audiobrain.brainscores.architecture import (
    BATCH_NORM_EPS,
    BATCH_NORM_MOMENTUM,
    CONV_CHANNELS,
    CONV_KERNELS,
    CONV_NAMES,
    CONV_PADDING,
    CONV_STRIDES,
    GRU_HIDDEN,
    N_FREQ,
    VOCABULARY_SIZES,
)
from audiobrain.brainscores.architecture import CTC_BLANK_INDEX as CTC_BLANK_INDEX
from audiobrain.brainscores.architecture import INPUT_FRAME_RATE_HZ as INPUT_FRAME_RATE_HZ
from audiobrain.brainscores.architecture import LAYER_NAMES as LAYER_NAMES
from audiobrain.brainscores.architecture import OUTPUT_FRAME_RATE_HZ as OUTPUT_FRAME_RATE_HZ


class NetworkOutput(NamedTuple):
    """What :meth:`DeepSpeech2.forward` returns (batch first, frames at 50 Hz)."""

    logits: torch.Tensor  # (batch, time, n_outputs): the linear layer's outputs
    log_probs: torch.Tensor  # (batch, time, n_outputs): log-softmax of the logits
    lengths: torch.Tensor  # (batch,) int64: valid output frames per sequence

    def ctc_log_probs(self) -> torch.Tensor:
        """``log_probs`` as ``torch.nn.CTCLoss`` takes them: ``(time, batch, n_outputs)``."""
        return self.log_probs.transpose(0, 1)


def ctc_output_size(task: str) -> int:
    """Outputs of the linear layer for ``task``: its d_v symbols plus the CTC blank."""
    if task not in VOCABULARY_SIZES:
        raise ValueError(f"unknown task {task!r}; expected one of {sorted(VOCABULARY_SIZES)}")
    return VOCABULARY_SIZES[task] + 1


def _conv_output_size(size: torch.Tensor | int, axis: int, layer: int):
    """Frames (axis 0) or frequency bins (axis 1) after convolution ``layer`` (torch arithmetic)."""
    kernel, stride, pad = (
        CONV_KERNELS[layer][axis],
        CONV_STRIDES[layer][axis],
        CONV_PADDING[layer][axis],
    )
    return (size + 2 * pad - kernel) // stride + 1


class DeepSpeech2(nn.Module):
    """Section 2.3's network; widths are parameters so the demo can train a narrower copy.

    Parameters
    ----------
    n_outputs : int
        Size of the final linear layer (the task's symbols plus the CTC blank).
    conv_channels : (int, int, int)
        Channels of conv1..conv3; the paper's ``(32, 64, 96)`` by default.
    gru_hidden : int
        Hidden units per GRU direction; the paper's 256 by default.
    n_freq : int
        Frequency bins of the input spectrogram (160 in the paper).
    """

    def __init__(
        self,
        n_outputs: int,
        conv_channels: Sequence[int] = CONV_CHANNELS,
        gru_hidden: int = GRU_HIDDEN,
        n_freq: int = N_FREQ,
    ):
        super().__init__()
        conv_channels = tuple(int(c) for c in conv_channels)
        if len(conv_channels) != len(CONV_NAMES) or min(conv_channels) < 1:
            raise ValueError(f"conv_channels must be 3 positive ints, got {conv_channels}")
        if n_outputs < 1 or gru_hidden < 1:
            raise ValueError(
                f"n_outputs and gru_hidden must be >= 1, got {n_outputs}, {gru_hidden}"
            )
        self.n_outputs, self.conv_channels = int(n_outputs), conv_channels
        self.gru_hidden, self.n_freq = int(gru_hidden), int(n_freq)
        self.convs = nn.ModuleList(
            _conv_block(c_in, c_out, layer)
            for layer, (c_in, c_out) in enumerate(
                zip((1, *conv_channels[:-1]), conv_channels, strict=True)
            )
        )
        self.conv_freq_bins = self._conv_freq_bins(self.n_freq)
        self.gru = nn.GRU(
            conv_channels[-1] * self.conv_freq_bins[-1],
            self.gru_hidden,
            num_layers=1,
            batch_first=True,
            bidirectional=True,
        )
        self.fc = nn.Linear(2 * self.gru_hidden, self.n_outputs)

    @staticmethod
    def _conv_freq_bins(n_freq: int) -> tuple[int, ...]:
        bins = [n_freq]
        for layer in range(len(CONV_NAMES)):
            bins.append(_conv_output_size(bins[-1], axis=1, layer=layer))
        if bins[-1] < 1:
            raise ValueError(f"n_freq={n_freq} leaves no frequency bins after the convolutions")
        return tuple(bins[1:])

    def layer_dims(self) -> dict[str, int]:
        """Features per frame of each layer's activations (conv: channels x frequency bins)."""
        conv = {
            name: channels * bins
            for name, channels, bins in zip(
                CONV_NAMES, self.conv_channels, self.conv_freq_bins, strict=True
            )
        }
        return {**conv, "gru": 2 * self.gru_hidden, "fc": self.n_outputs}

    @staticmethod
    def output_lengths(lengths: torch.Tensor) -> torch.Tensor:
        """Output frames (50 Hz) for input spectrograms of ``lengths`` frames (100 Hz)."""
        for layer in range(len(CONV_NAMES)):
            lengths = _conv_output_size(lengths, axis=0, layer=layer)
        return lengths

    def activations(
        self, spectrograms: torch.Tensor, lengths: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """Every layer's activations, ``{name: (batch, time_50hz, dim)}``, in ``LAYER_NAMES`` order.

        Parameters
        ----------
        spectrograms : (batch, time_100hz, n_freq) tensor
            Zero-padded past each sequence's end when ``lengths`` is given.
        lengths : (batch,) int tensor, optional
            Valid input frames per sequence; all ``time_100hz`` when omitted.

        Conv features are flattened as channels x frequency (channel-major) after batch norm and
        ReLU; ``gru`` is both directions concatenated (forward first) after ReLU; ``fc`` is the
        linear layer's outputs (logits). Frames past a sequence's output length are undefined
        for ``fc``; use :meth:`output_lengths`.
        """
        if spectrograms.ndim != 3 or spectrograms.shape[2] != self.n_freq:
            raise ValueError(
                f"spectrograms: expected (batch, time, {self.n_freq}), "
                f"found {tuple(spectrograms.shape)}"
            )
        batch, n_frames = spectrograms.shape[:2]
        if lengths is None:
            lengths = torch.full((batch,), n_frames, dtype=torch.int64)
        lengths = lengths.to(device="cpu", dtype=torch.int64)
        hidden = spectrograms.unsqueeze(1)  # (batch, 1 channel, time, freq)
        outputs = {}
        for layer, (name, block) in enumerate(zip(CONV_NAMES, self.convs, strict=True)):
            hidden = block(hidden)
            lengths = _conv_output_size(lengths, axis=0, layer=layer)
            hidden = hidden * _frame_mask(lengths, hidden.shape[2], hidden.device)[:, None, :, None]
            outputs[name] = hidden.permute(0, 2, 1, 3).flatten(start_dim=2)
        outputs["gru"] = torch.relu(self._bidirectional_gru(outputs["conv3"], lengths))
        outputs["fc"] = self.fc(outputs["gru"])
        return outputs

    def _bidirectional_gru(self, features: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Run the GRU on packed sequences so the backward direction starts at each true end."""
        packed = pack_padded_sequence(features, lengths, batch_first=True, enforce_sorted=False)
        output, _ = self.gru(packed)
        output, _ = pad_packed_sequence(output, batch_first=True, total_length=features.shape[1])
        return output

    def forward(
        self, spectrograms: torch.Tensor, lengths: torch.Tensor | None = None
    ) -> NetworkOutput:
        """Logits, log-probabilities (section 2.3's softmax, in log space for CTC) and lengths."""
        logits = self.activations(spectrograms, lengths)["fc"]
        if lengths is None:
            lengths = torch.full((spectrograms.shape[0],), spectrograms.shape[1])
        out_lengths = self.output_lengths(lengths.to(device="cpu", dtype=torch.int64))
        return NetworkOutput(logits, torch.log_softmax(logits, dim=-1), out_lengths)


def _conv_block(c_in: int, c_out: int, layer: int) -> nn.Sequential:
    """Convolution -> batch norm -> ReLU, as OpenSeq2Seq's ``conv_bn_actv``."""
    return nn.Sequential(
        nn.Conv2d(
            c_in,
            c_out,
            kernel_size=CONV_KERNELS[layer],
            stride=CONV_STRIDES[layer],
            padding=CONV_PADDING[layer],
            bias=False,
        ),
        nn.BatchNorm2d(c_out, eps=BATCH_NORM_EPS, momentum=BATCH_NORM_MOMENTUM),
        nn.ReLU(),
    )


def _frame_mask(lengths: torch.Tensor, n_frames: int, device: torch.device) -> torch.Tensor:
    """(batch, n_frames) float mask: 1 on valid frames, 0 on padding."""
    return (torch.arange(n_frames)[None, :] < lengths[:, None]).to(
        device=device, dtype=torch.float32
    )


def initialise(model: DeepSpeech2, seed: int) -> DeepSpeech2:
    """Draw the initial weights from ``seed`` alone (a private ``torch.Generator``).

    Xavier/Glorot-uniform weights as OpenSeq2Seq's DS2 configs (each GRU gate matrix on its
    own), zero biases, batch norm at scale 1 and shift 0 with fresh running statistics.
    """
    generator = torch.Generator().manual_seed(int(seed))
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Conv2d | nn.Linear):
                nn.init.xavier_uniform_(module.weight, generator=generator)
                if module.bias is not None:
                    module.bias.zero_()
            elif isinstance(module, nn.BatchNorm2d):
                module.reset_parameters()
            elif isinstance(module, nn.GRU):
                _initialise_gru(module, generator)
    return model


def _initialise_gru(gru: nn.GRU, generator: torch.Generator) -> None:
    for name, parameter in gru.named_parameters():
        if name.startswith("weight"):
            for gate in parameter.chunk(3, dim=0):  # reset, update, new: one matrix each
                nn.init.xavier_uniform_(gate, generator=generator)
        else:
            parameter.zero_()


def build_untrained(
    seed: int,
    n_outputs: int,
    conv_channels: Sequence[int] = CONV_CHANNELS,
    gru_hidden: int = GRU_HIDDEN,
    n_freq: int = N_FREQ,
) -> DeepSpeech2:
    """A randomly initialised network (the paper's "untrained" type, and every run's start).

    The weights depend on ``seed`` only, and torch's global random state is left as it was
    (building the layers draws torch's default initial weights, which are then overwritten).
    """
    with torch.random.fork_rng(devices=[]):
        model = DeepSpeech2(n_outputs, conv_channels, gru_hidden, n_freq)
    return initialise(model, seed)


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters (batch-norm running statistics are buffers and not counted)."""
    return sum(parameter.numel() for parameter in model.parameters() if parameter.requires_grad)
