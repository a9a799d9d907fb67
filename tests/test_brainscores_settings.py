"""The brain-score rules' settings from the config, and the demo-folder check."""

from pathlib import Path

import numpy as np
import pytest
import yaml

from audiobrain.brainscores import settings
from audiobrain.io import InputError
from conftest import merged

DEMO = yaml.safe_load(Path("config.yaml").read_text())


def test_the_paper_penalties_are_20_log_spaced_from_10_to_1e8():
    alphas = settings.ridge_alphas({"alpha_min": 10, "alpha_max": 1e8, "n_alphas": 20})
    assert len(alphas) == 20 and alphas[0] == pytest.approx(10) and alphas[-1] == pytest.approx(1e8)
    assert np.allclose(np.diff(np.log10(alphas)), 7 / 19)


def test_training_settings_leave_out_what_sizes_the_job():
    training = {"learning_rate": 1e-3, "max_steps": 10, "threads": 4, "mem_mb": 1, "device": "cpu"}
    assert settings.training_settings(training) == {"learning_rate": 1e-3, "max_steps": 10}


def test_a_corpus_gets_its_own_and_the_shared_settings():
    corpora = {
        "dutch": {"source": "swc", "root": "x", "total_duration_h": 66.333,
                  "unknown_characters": "map", "character_map": {"é": "e"}, "multilabel": "drop"},
        "split_fractions": [0.8, 0.1, 0.1], "seed": 3, "max_duration_s": 20,
    }  # fmt: skip
    assert settings.corpus_settings(corpora, "dutch") == {
        "source": "swc", "max_duration_s": 20, "total_duration_h": 66.333,
        "split_fractions": [0.8, 0.1, 0.1], "seed": 3, "unknown": "map",
        "mapping": {"é": "e"}, "multilabel": "drop",
    }  # fmt: skip


def test_atlas_files_are_every_file_the_rois_read():
    rois = {
        "annotation": "lh.a.annot",
        "atlases": {
            "hcp": {"left": "l.annot", "right": "r.annot"},
            "b": {"image": "i", "labels": "t"},
        },
    }
    assert settings.atlas_files(rois) == ["lh.a.annot", "l.annot", "r.annot", "i", "t"]


def test_a_demo_pointing_elsewhere_than_its_own_folders_is_named():
    settings.check_demo_folders(DEMO)
    moved = merged(DEMO, {"dataset": {"bids_dir": "data/mine/bids"}})
    with pytest.raises(InputError, match="config dataset.bids_dir: dataset.source is 'demo'"):
        settings.check_demo_folders(moved)
