"""Figures: only significant vertices are coloured, and reruns give the same bytes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from audiobrain import plots, stats, surface


def group_arrays(n_subjects=5):
    vertices = surface.decimated_vertices(40)
    contrasts = list(stats.LEVEL_CONTRASTS) + list(stats.GAIN_CONTRASTS)
    rng = np.random.default_rng(0)
    mean = rng.uniform(0.05, 0.5, size=(len(contrasts), vertices.size))
    return {
        "contrasts": np.asarray(contrasts),
        "vertices": vertices,
        "mean": mean,
        "significant": rng.random(mean.shape) < 0.3,
        "subject_maps": rng.normal(0.2, 0.1, size=(len(contrasts), n_subjects, vertices.size)),
    }


def test_upsampling_colours_only_significant_vertices_and_keeps_their_values():
    vertices = surface.decimated_vertices(10)
    values = np.linspace(0.1, 1.0, vertices.size)
    significant = np.zeros(vertices.size, dtype=bool)
    significant[::3] = True
    full = plots.upsample_to_mesh(values, vertices, significant)
    assert full.shape == (2 * surface.FSAVERAGE5_VERTICES_PER_HEMI,)
    np.testing.assert_allclose(full[vertices[significant]], values[significant])
    np.testing.assert_array_equal(full[vertices[~significant]], 0.0)
    assert set(np.unique(full)) <= set(values[significant]) | {0.0}


def test_upsampling_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="same shape"):
        plots.upsample_to_mesh(np.ones(3), np.arange(4), np.ones(3, dtype=bool))


def test_surface_map_is_a_png_with_identical_bytes_on_rerun(tmp_path):
    group = group_arrays()
    contrasts = [str(c) for c in group["contrasts"]]
    for name in ("a.png", "b.png"):
        plots.contrast_maps_figure(group, contrasts, ["R L0", "dR L5-L0"], tmp_path / name, "t")
    data = (tmp_path / "a.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data == (tmp_path / "b.png").read_bytes()


def test_roi_bars_and_level_profile_are_written(tmp_path):
    summary = pd.DataFrame(
        {
            "contrast": ["R L0", "R L0", "R L1", "R L1"],
            "roi": ["A1", "TPJ", "A1", "TPJ"],
            "mean": [0.3, 0.1, 0.35, 0.2],
            "sem": [0.02, 0.03, 0.02, 0.03],
            "q": [0.001, 0.2, 0.0005, 0.04],
        }
    )
    plots.roi_bars(summary, ["R L0", "R L1"], tmp_path / "bars.png", "bars")
    group = group_arrays()
    plots.level_profile(group, [str(c) for c in group["contrasts"]], tmp_path / "p.png", "p")
    assert (tmp_path / "bars.png").stat().st_size > 1000
    assert (tmp_path / "p.png").stat().st_size > 1000


@pytest.mark.parametrize(("q", "stars"), [(0.0001, "***"), (0.005, "**"), (0.03, "*"), (0.2, "")])
def test_significance_stars(q, stars):
    assert plots.significance_stars(q) == stars
