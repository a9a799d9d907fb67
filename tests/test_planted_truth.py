"""On the demo, the analysis recovers what the simulator planted (data/demo/truth/)."""

from __future__ import annotations

import numpy as np
import pytest

from audiobrain.io import load_npz, read_tsv

pytestmark = pytest.mark.workflow


@pytest.fixture(scope="module")
def recovered(demo_run):
    group = load_npz(demo_run / "results" / "stats" / "net-untrained_group.npz")
    truth = read_tsv(demo_run / "data" / "demo" / "truth" / "vertex_truth.tsv")
    kind = truth.set_index("vertex").loc[group["vertices"], "signal"].to_numpy()
    contrasts = [str(c) for c in group["contrasts"]]
    summary = read_tsv(demo_run / "results" / "stats" / "roi_summary.tsv").set_index(
        ["contrast", "roi"]
    )
    return group, kind, contrasts, summary


def significant_share(recovered, contrast, signal):
    group, kind, contrasts, _ = recovered
    return group["significant"][contrasts.index(contrast)][kind == signal].mean()


def test_acoustic_vertices_get_significant_positive_scores(recovered):
    group, kind, contrasts, _ = recovered
    assert significant_share(recovered, "R L0", "acoustic") > 0.9
    assert np.all(group["mean"][contrasts.index("R L0")][kind == "acoustic"] > 0.3)


def test_null_vertices_are_not_significant(recovered):
    for contrast in ("R L0", "R L5", "dR L5-L0"):
        assert significant_share(recovered, contrast, "null") <= 0.05


def test_the_planted_roi_by_level_pattern_comes_back(recovered):
    """A1 follows mel-band energies, so layers add nothing; TPJ follows deep features that the
    mel filterbank cannot explain, so mel scores are low and the layers add a significant gain."""
    summary = recovered[3]
    a1_mel, tpj_mel = (
        summary.loc[("untrained: R L0", "A1")],
        summary.loc[("untrained: R L0", "TPJ")],
    )
    a1_gain = summary.loc[("untrained: dR L5-L0", "A1")]
    tpj_gain = summary.loc[("untrained: dR L5-L0", "TPJ")]
    assert a1_mel["q"] < 0.05 and a1_mel["mean"] > 1.5 * tpj_mel["mean"]
    assert tpj_gain["q"] < 0.05 and tpj_gain["mean"] > 0.03
    assert a1_gain["q"] > 0.05
    group, kind, contrasts, _ = recovered
    gains = group["mean"][contrasts.index("dR L5-L0")]
    assert np.median(gains[kind == "deep"]) > 0.03 > np.median(gains[kind == "acoustic"])
