"""Prompts and checks of the latent diffusion part (section 2.3): which prompt each test clip
gets, the shuffled-condition control."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from audiobrain.io import InputError
from audiobrain.recon.generation import audio_prompts_for, prompt_conditions
from audiobrain.recon.selection import derangement


def test_audio_prompts_match_the_label_and_take_turns():
    chosen = audio_prompts_for(
        ["male", "female", "male", "rain", "male"],
        prompt_ids=["p0", "p1", "p2"],
        prompt_labels=["male", "female", "male"],
    )
    assert list(chosen) == ["p0", "p1", "p2", "", "p0"]


@pytest.mark.parametrize("n", [2, 3, 10])
def test_the_shuffled_control_gives_every_clip_another_clips_condition(n):
    order = derangement(n, seed=0)
    assert sorted(order) == list(range(n)) and (order != np.arange(n)).all()
    np.testing.assert_array_equal(order, derangement(n, seed=0))
    with pytest.raises(InputError, match=">= 2 clips"):
        derangement(1, seed=0)


def test_prompts_go_to_the_clips_whose_label_has_one():
    table = pd.DataFrame(
        {
            "stimulus_id": ["a", "b", "c", "d", "p", "q"],
            "split": ["test", "test", "test", "test", "prompt", "prompt"],
            "label": ["male", "jazz", "rain", "male", "male", "female"],
        }
    )
    clap = {"stimulus_id": table["stimulus_id"].to_numpy(), "clap": np.eye(6, dtype=np.float32)}
    text = {
        "label": np.array(["jazz", "male"]),
        "text": np.array(["jazz music", "man speaking"]),
        "clap": np.array([[0, 0, 0, 0, 0, 2], [0, 0, 0, 0, 0, 3]], dtype=np.float32),
    }
    ids = np.array(["a", "b", "c", "d"])
    conditions = prompt_conditions(ids, table, clap, text)
    assert list(conditions) == ["text", "audio"]
    keep, s, prompt = conditions["text"]  # rain has no text prompt
    assert list(keep) == [0, 1, 3] and list(prompt) == [
        "man speaking",
        "jazz music",
        "man speaking",
    ]
    np.testing.assert_array_equal(s[:, 5], [3, 2, 3])
    keep, s, prompt = conditions["audio"]  # only male clips have a prompt clip (p)
    assert list(keep) == [0, 3] and list(prompt) == ["p", "p"]
    np.testing.assert_array_equal(s, clap["clap"][[4, 4]])
    assert list(prompt_conditions(ids, table, clap, None)) == ["audio"]
    limited = prompt_conditions(ids, table, clap, text, n_prompted=2)
    assert list(limited["text"][0]) == [0, 1]  # one per label, round-robin
    assert list(limited["audio"][0]) == [0, 3]
    assert list(prompt_conditions(ids, table, clap, text, n_prompted=1)["audio"][0]) == [0]
