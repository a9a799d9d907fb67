"""Figure 3 comparisons: planted differences between network types are found, in the right place."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from audiobrain.brainscores import comparisons
from audiobrain.io import InputError

N_SUBJECTS, N_VOXELS = 14, 60
LAYERS = ["layer-conv1", "layer-conv2", "layer-conv3", "layer-gru", "layer-fc"]
A1 = np.zeros(N_VOXELS, dtype=bool)
A1[:10] = True
TPJ = np.zeros(N_VOXELS, dtype=bool)
TPJ[40:50] = True


def _scores(rng, offsets_all_levels=0.0, offsets_layers=None):
    """Brain scores of one network type with planted offsets on top of shared subject effects."""
    base = 0.1 + 0.02 * rng.standard_normal((N_SUBJECTS, N_VOXELS))
    scores = {"L5": base + offsets_all_levels}
    for layer in LAYERS:
        offset = (offsets_layers or {}).get(layer, 0.0)
        scores[layer] = base + offset
    return scores


@pytest.fixture
def planted():
    """Dutch gains everywhere but in conv1; scenes gain in A1 only; English like Dutch."""
    rng = np.random.default_rng(0)
    noise = lambda: 0.002 * rng.standard_normal((N_SUBJECTS, N_VOXELS))  # noqa: E731
    untrained = _scores(np.random.default_rng(1))
    gain = {layer: 0.05 for layer in LAYERS[1:]}
    scores = {"untrained": untrained}
    for network, a1_extra, tpj_extra in (
        ("dutch", 0, 0.05),
        ("english", 0, 0.05),
        ("scenes", 0.1, 0),
    ):
        planted_all = np.full(N_VOXELS, 0.03)
        planted_all[A1] += a1_extra
        planted_all[TPJ] += tpj_extra
        scores[network] = {
            name: untrained[name] + noise() + (planted_all if name == "L5" else gain.get(name, 0))
            for name in untrained
        }
    return scores


def test_training_effects_and_type_differences_land_where_planted(planted):
    table = comparisons.comparison_table(
        planted, {"A1": A1, "TPJ": TPJ}, layer_sets=LAYERS, alternative="greater"
    )
    assert list(table.columns) == list(comparisons.COMPARISON_COLUMNS)
    row = table.set_index(["comparison", "feature_set", "region"])
    assert row.loc[("dutch - untrained", "L5", "whole brain"), "q"] < 0.01
    assert row.loc[("dutch - untrained", "layer-conv1", "whole brain"), "p"] > 0.05
    for layer in LAYERS[1:]:
        assert row.loc[("dutch - untrained", layer, "whole brain"), "q"] < 0.01
    assert row.loc[("scenes - dutch", "L5", "A1"), "mean"] > 0.05
    assert row.loc[("scenes - dutch", "L5", "A1"), "q"] < 0.01
    assert row.loc[("scenes - dutch", "L5", "TPJ"), "mean"] < -0.03  # Dutch higher in TPJ
    assert row.loc[("scenes - dutch", "L5", "TPJ"), "q"] < 0.01
    assert row.loc[("english - dutch", "L5", "whole brain"), "p"] > 0.05
    assert row.loc[("english - dutch", "L5", "whole brain"), "alternative"] == "two-sided"
    assert row.loc[("english - dutch", "L5", "whole brain"), "paper_p"] == "0.22"
    assert row.loc[("scenes - dutch", "L5", "TPJ"), "paper_p"].startswith("< 0.015")


def test_every_configured_pair_is_listed_and_pairs_need_both_types(planted):
    table = comparisons.comparison_table(planted, {"A1": A1}, layer_sets=LAYERS)
    assert list(dict.fromkeys(table["comparison"])) == [
        "dutch - untrained",
        "english - untrained",
        "scenes - untrained",
        "english - dutch",
        "scenes - dutch",
        "scenes - english",
    ]
    only_untrained = {"untrained": planted["untrained"]}
    with pytest.raises(InputError, match="need two network types"):
        comparisons.comparison_table(only_untrained, {}, layer_sets=LAYERS)


def test_q_is_benjamini_hochberg_over_the_rows(planted):
    from statsmodels.stats.multitest import multipletests

    table = comparisons.comparison_table(planted, {"A1": A1}, layer_sets=LAYERS)
    expected = multipletests(table["p"], method="fdr_bh")[1]
    np.testing.assert_allclose(table["q"], expected)


def test_training_effect_maps_mark_the_planted_voxels(planted):
    maps = comparisons.training_effect_maps(planted, alternative="greater")
    assert list(maps) == ["dutch - untrained", "english - untrained", "scenes - untrained"]
    scenes = maps["scenes - untrained"]
    assert isinstance(scenes, pd.DataFrame)
    assert scenes["significant"].all()  # +0.03 everywhere, tight noise
    assert scenes.loc[A1, "mean"].min() > scenes.loc[~A1, "mean"].max()
