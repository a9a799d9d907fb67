"""The DeepSpeech2 network of section 2.3: size, shapes, determinism, masking and CTC training."""

from __future__ import annotations

import math

import pytest
import torch

from audiobrain.brainscores.networks import (
    CTC_BLANK_INDEX,
    LAYER_NAMES,
    OUTPUT_FRAME_RATE_HZ,
    VOCABULARY_SIZES,
    DeepSpeech2,
    build_untrained,
    count_parameters,
    ctc_output_size,
)

SMALL = {"conv_channels": (4, 6, 8), "gru_hidden": 12}


def small_model(seed: int = 0, n_outputs: int = 29) -> DeepSpeech2:
    return build_untrained(seed, n_outputs, **SMALL)


def spectrograms(batch: int, n_frames: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch, n_frames, 160, generator=torch.Generator().manual_seed(seed))


def test_paper_size_parameter_count_matches_closed_form():
    # Section 2.3 by hand: conv weights (no bias: batch norm follows) + batch-norm scale and shift,
    # a bidirectional GRU on 96 channels x 20 frequency bins, a linear layer to 28 chars + blank.
    conv = 11 * 41 * 1 * 32 + 11 * 21 * 32 * 64 + 11 * 21 * 64 * 96
    batch_norm = 2 * (32 + 64 + 96)
    gru_input, hidden = 96 * 20, 256
    gru = 2 * 3 * (hidden * gru_input + hidden * hidden + 2 * hidden)
    linear = 2 * hidden * 29 + 29
    expected = conv + batch_norm + gru + linear
    assert expected == 5_267_453  # "about 5.3 M"
    model = build_untrained(0, ctc_output_size("english"))
    assert count_parameters(model) == expected


def test_frequency_is_halved_by_each_convolution():
    model = DeepSpeech2(29)
    assert model.conv_freq_bins == (80, 40, 20)
    assert model.layer_dims() == {
        "conv1": 32 * 80,
        "conv2": 64 * 40,
        "conv3": 96 * 20,
        "gru": 512,
        "fc": 29,
    }


@pytest.mark.parametrize("n_frames", [1, 2, 11, 100, 101])
def test_time_is_halved_once_to_50_hz(n_frames):
    model = small_model().eval()
    with torch.no_grad():
        activations = model.activations(spectrograms(2, n_frames))
        output = model(spectrograms(2, n_frames))
    expected_frames = math.ceil(n_frames / 2)
    assert list(activations) == list(LAYER_NAMES)
    for name, dim in model.layer_dims().items():
        assert activations[name].shape == (2, expected_frames, dim)
    assert output.lengths.tolist() == [expected_frames] * 2
    assert output.logits.shape == (2, expected_frames, 29)
    assert OUTPUT_FRAME_RATE_HZ == 50.0


def test_layer_outputs_follow_the_architecture():
    model = small_model().eval()
    with torch.no_grad():
        activations = model.activations(spectrograms(1, 60))
        output = model(spectrograms(1, 60))
    for name in ("conv1", "conv2", "conv3", "gru"):  # ReLU between layers
        assert activations[name].min() >= 0
        assert activations[name].max() > 0
    torch.testing.assert_close(output.logits, activations["fc"])
    torch.testing.assert_close(output.log_probs.exp().sum(-1), torch.ones(1, 30))


def test_gru_backward_direction_reads_the_future_and_convolutions_do_not():
    model = small_model().eval()
    hidden = SMALL["gru_hidden"]
    inputs = spectrograms(1, 100)
    changed = inputs.clone()
    changed[:, 90:] += 5.0  # the last 100 ms
    with torch.no_grad():
        before, after = model.activations(inputs), model.activations(changed)
    # conv3 frame j sees input frames up to 2 j + 5 + 2 * 10: frames 0..32 cannot see frame 90
    for name in ("conv1", "conv2", "conv3"):
        torch.testing.assert_close(before[name][:, :33], after[name][:, :33], rtol=0, atol=0)
    forward, backward = slice(0, hidden), slice(hidden, 2 * hidden)
    torch.testing.assert_close(
        before["gru"][:, :33, forward], after["gru"][:, :33, forward], rtol=0, atol=0
    )
    assert (before["gru"][:, 25:33, backward] - after["gru"][:, 25:33, backward]).abs().max() > 1e-4


def test_same_seed_same_weights_and_global_rng_untouched():
    rng_state = torch.get_rng_state()
    first, second = small_model(seed=3).state_dict(), small_model(seed=3).state_dict()
    assert torch.equal(torch.get_rng_state(), rng_state)
    assert first.keys() == second.keys()
    for name in first:
        assert torch.equal(first[name], second[name]), name


def test_different_seeds_give_different_weights():
    first, second = small_model(seed=0).state_dict(), small_model(seed=1).state_dict()
    for name, value in first.items():
        if name.endswith("weight") and value.ndim > 1:
            assert not torch.equal(value, second[name]), name


def test_padded_batch_gives_each_sequence_its_own_activations():
    model = small_model().eval()
    long, short = spectrograms(1, 80, seed=1), spectrograms(1, 47, seed=2)
    batch = torch.zeros(2, 80, 160)
    batch[0], batch[1, :47] = long[0], short[0]
    with torch.no_grad():
        together = model.activations(batch, torch.tensor([80, 47]))
        alone = [model.activations(long), model.activations(short)]
    for name in LAYER_NAMES:
        torch.testing.assert_close(together[name][:1], alone[0][name], rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(together[name][1:, :24], alone[1][name], rtol=1e-5, atol=1e-6)


def test_ctc_loss_backward_reaches_every_parameter_and_training_lowers_it():
    model = small_model(n_outputs=ctc_output_size("english")).train()
    inputs, lengths = spectrograms(2, 90), torch.tensor([90, 70])
    targets = torch.tensor([[3, 5, 5, 7, 9], [2, 4, 6, 0, 0]])
    target_lengths = torch.tensor([5, 3])
    ctc = torch.nn.CTCLoss(blank=CTC_BLANK_INDEX)
    optimiser = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)  # section 2.4

    def loss_value() -> torch.Tensor:
        output = model(inputs, lengths)
        return ctc(output.ctc_log_probs(), targets, output.lengths, target_lengths)

    first = loss_value()
    first.backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), name
        assert parameter.grad.abs().sum() > 0, name
    optimiser.step()
    for _ in range(19):
        optimiser.zero_grad()
        loss = loss_value()
        loss.backward()
        optimiser.step()
    assert torch.isfinite(first) and loss_value().item() < 0.8 * first.item()


def test_vocabularies_and_ctc_output_sizes():
    assert VOCABULARY_SIZES == {"dutch": 37, "english": 28, "bengali": 28, "scenes": 80}
    assert ctc_output_size("dutch") == 38
    with pytest.raises(ValueError, match="unknown task"):
        ctc_output_size("french")


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="conv_channels"):
        DeepSpeech2(29, conv_channels=(4, 6))
    with pytest.raises(ValueError, match=r"expected \(batch, time, 160\)"):
        small_model().activations(torch.zeros(1, 20, 161))
