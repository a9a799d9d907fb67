"""Figures: only significant vertices are coloured, files are valid, reruns give the same bytes."""

from __future__ import annotations

import matplotlib.image
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from scipy.spatial import cKDTree

from audiobrain import stats, surface
from audiobrain.brainscores import plots
from audiobrain.io import InputError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
N_MESH = 2 * surface.FSAVERAGE5_VERTICES_PER_HEMI


def group_arrays(n_subjects=6, factor=40):
    """The arrays of a group-statistics file, with levels rising by 0.02 per level."""
    vertices = surface.decimated_vertices(factor)
    contrasts = list(stats.LEVEL_CONTRASTS) + list(stats.GAIN_CONTRASTS)
    rng = np.random.default_rng(0)
    rise = 0.02 * np.array([k if c.startswith("R L") else 0 for k, c in enumerate(contrasts)])
    subject_maps = rng.normal(0.1, 0.05, (len(contrasts), n_subjects, vertices.size))
    subject_maps += rise[:, None, None]
    return {
        "contrasts": np.asarray(contrasts),
        "vertices": vertices,
        "mean": subject_maps.mean(axis=1),
        "significant": rng.random((len(contrasts), vertices.size)) < 0.3,
        "subject_maps": subject_maps,
    }


def roi_table():
    return pd.DataFrame(
        {
            "contrast": ["R L0", "R L0", "R L1", "R L1"],
            "roi": ["A1", "TPJ", "A1", "TPJ"],
            "mean": [0.3, 0.1, 0.35, -0.02],
            "sem": [0.02, 0.03, 0.02, 0.03],
            "q": [0.001, 0.2, 0.0005, 0.04],
        }
    )


def test_upsampling_colours_only_significant_vertices_and_keeps_their_values():
    vertices = surface.decimated_vertices(10)
    values = np.linspace(0.1, 1.0, vertices.size)
    significant = np.zeros(vertices.size, dtype=bool)
    significant[::3] = True
    full = plots.upsample_to_mesh(values, vertices, significant)
    assert full.shape == (N_MESH,)
    np.testing.assert_array_equal(full[vertices[significant]], values[significant])
    assert np.isnan(full[vertices[~significant]]).all()
    assert set(full[np.isfinite(full)]) <= set(values[significant])
    # Each mesh vertex carries its nearest analysed vertex (on the same hemisphere's sphere).
    left = vertices < surface.FSAVERAGE5_VERTICES_PER_HEMI
    sphere = surface.fsaverage5_sphere("L")
    _, nearest = cKDTree(sphere[vertices[left]]).query(sphere)
    expected = np.where(significant[left], values[left], np.nan)[nearest]
    np.testing.assert_array_equal(full[: surface.FSAVERAGE5_VERTICES_PER_HEMI], expected)


def test_upsampling_leaves_a_hemisphere_without_analysed_vertices_empty():
    vertices = np.arange(0, surface.FSAVERAGE5_VERTICES_PER_HEMI, 50)
    full = plots.upsample_to_mesh(np.ones(vertices.size), vertices, np.ones(vertices.size, bool))
    assert np.isfinite(full[: surface.FSAVERAGE5_VERTICES_PER_HEMI]).all()
    assert np.isnan(full[surface.FSAVERAGE5_VERTICES_PER_HEMI :]).all()


@pytest.mark.parametrize(
    ("values", "vertices", "significant", "message"),
    [
        (np.ones(3), np.arange(4), np.ones(3, bool), "same shape"),
        (np.ones(3), np.arange(3), np.ones(3), "boolean mask"),
        (np.ones(2), np.array([0, N_MESH]), np.ones(2, bool), r"indices in \[0, 20484\)"),
        (np.ones(2), np.array([5, 5]), np.ones(2, bool), "duplicates"),
        (np.ones(2), np.array([0.0, 1.0]), np.ones(2, bool), "integer vertex indices"),
    ],
)
def test_upsampling_rejects_bad_inputs(values, vertices, significant, message):
    with pytest.raises(InputError, match=message):
        plots.upsample_to_mesh(values, vertices, significant)


def test_surface_map_is_a_png_with_identical_bytes_on_rerun(tmp_path):
    vertices = surface.decimated_vertices(40)
    rng = np.random.default_rng(1)
    values, significant = rng.uniform(0.05, 0.4, vertices.size), rng.random(vertices.size) < 0.3
    for name in ("a.png", "b.png"):
        plots.surface_map(values, vertices, significant, tmp_path / name, "R L5")
    data = (tmp_path / "a.png").read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    assert b"Software" not in data
    assert data == (tmp_path / "b.png").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "b.png"]  # no temp files left


def colour_saturation(path) -> float:
    """Largest channel spread of the brain panels (left 85 % of the figure): 0 where all grey."""
    image = matplotlib.image.imread(path)[..., :3]
    brains = image[:, : int(0.85 * image.shape[1])]
    return float((brains.max(axis=-1) - brains.min(axis=-1)).max())


@pytest.mark.filterwarnings("error")
def test_surface_map_without_significant_vertices_shows_only_the_grey_background(tmp_path):
    vertices = surface.decimated_vertices(40)
    values = np.full(vertices.size, 0.3)
    plots.surface_map(values, vertices, np.zeros(vertices.size, bool), tmp_path / "none.png", "t")
    plots.surface_map(
        values, vertices, np.ones(vertices.size, bool), tmp_path / "all.png", "t", vmax=1.0
    )
    assert colour_saturation(tmp_path / "none.png") < 0.02
    assert colour_saturation(tmp_path / "all.png") > 0.5


def test_surface_map_rejects_mismatched_lengths(tmp_path):
    with pytest.raises(InputError, match="same shape"):
        plots.surface_map(np.ones(3), np.arange(4), np.ones(3, bool), tmp_path / "m.png", "t")
    assert not (tmp_path / "m.png").exists()


def test_contrast_maps_figure_is_deterministic(tmp_path):
    group = group_arrays()
    contrasts = [str(c) for c in group["contrasts"]]
    for name in ("a.png", "b.png"):
        plots.contrast_maps_figure(group, contrasts, ["R L0", "dR L5-L0"], tmp_path / name, "t")
    data = (tmp_path / "a.png").read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    assert data == (tmp_path / "b.png").read_bytes()
    with pytest.raises(InputError, match="none of the contrasts"):
        plots.contrast_maps_figure(group, contrasts, ["R L9"], tmp_path / "c.png", "t")


@pytest.mark.parametrize("suffix", [".svg", ".pdf"])
def test_save_figure_vector_formats_have_no_date_and_identical_bytes(tmp_path, suffix):
    def draw(path):
        fig = Figure(figsize=(2, 2))
        fig.add_subplot().plot([0, 1], [1, 0])
        plots.save_figure(fig, path)

    draw(tmp_path / f"a{suffix}")
    draw(tmp_path / f"b{suffix}")
    data = (tmp_path / f"a{suffix}").read_bytes()
    assert data == (tmp_path / f"b{suffix}").read_bytes()
    assert b"CreationDate" not in data and b"<dc:date>" not in data


def test_save_figure_rejects_unknown_formats(tmp_path):
    with pytest.raises(ValueError, match="figure format must be one of"):
        plots.save_figure(Figure(), tmp_path / "figure.jpg")


def test_roi_bars_and_level_profile_are_pngs_with_identical_bytes(tmp_path):
    group = group_arrays()
    contrasts = [str(c) for c in group["contrasts"]]
    for name in ("a", "b"):
        plots.roi_bars(roi_table(), ["R L0", "R L1"], tmp_path / f"bars_{name}.png", "bars")
        plots.level_profile(group, contrasts, tmp_path / f"profile_{name}.png", "profile")
    for figure in ("bars", "profile"):
        data = (tmp_path / f"{figure}_a.png").read_bytes()
        assert data.startswith(PNG_SIGNATURE)
        assert data == (tmp_path / f"{figure}_b.png").read_bytes()


def test_roi_bars_name_the_missing_column_and_contrasts(tmp_path):
    with pytest.raises(InputError, match=r"missing column\(s\) \['sem'\]"):
        plots.roi_bars(roi_table().drop(columns="sem"), ["R L0"], tmp_path / "b.png", "t")
    with pytest.raises(InputError, match="none of the contrasts"):
        plots.roi_bars(roi_table(), ["dR L5-L0"], tmp_path / "b.png", "t")


@pytest.mark.parametrize(
    ("q", "stars"), [(0.0001, "***"), (0.005, "**"), (0.03, "*"), (0.05, ""), (0.2, "")]
)
def test_significance_stars(q, stars):
    assert plots.significance_stars(q) == stars
