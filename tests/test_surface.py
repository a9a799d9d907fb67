"""fsaverage5 decimation and the Desikan-Killiany ROIs of the demo."""

from __future__ import annotations

import numpy as np
import pytest

from audiobrain import surface
from audiobrain.brainscores import atlas
from audiobrain.io import InputError


def test_decimation_is_a_fixed_stride_in_both_hemispheres():
    vertices = surface.decimated_vertices(10)
    assert vertices.size == 2 * 1025
    assert vertices[0] == 0 and vertices[1025] == 10_242
    np.testing.assert_array_equal(vertices, surface.decimated_vertices(10))


def test_roi_masks_have_the_annotation_sizes():
    annotation = surface.nilearn_desikan_annotation()
    all_vertices = np.arange(2 * surface.FSAVERAGE5_VERTICES_PER_HEMI)
    masks = atlas.annotation_roi_masks(annotation, all_vertices)
    # transversetemporal has 68 vertices in nilearn's (left) fsaverage5 annotation; its mirror
    # image on the right hemisphere is about as large
    left, right = np.split(masks["A1"], 2)
    assert left.sum() == 68
    assert abs(int(right.sum()) - 68) <= 7
    assert not (masks["A1"] & masks["TPJ"]).any()


def test_right_hemisphere_rois_are_the_mirror_image_of_the_left():
    annotation = surface.nilearn_desikan_annotation()
    masks = atlas.annotation_roi_masks(
        annotation, np.arange(2 * surface.FSAVERAGE5_VERTICES_PER_HEMI)
    )
    from nilearn import datasets
    from nilearn import surface as nilearn_surface

    meshes = datasets.fetch_surf_fsaverage("fsaverage5")
    left_xyz = nilearn_surface.load_surf_mesh(meshes["pial_left"])[0]
    right_xyz = nilearn_surface.load_surf_mesh(meshes["pial_right"])[0]
    left, right = np.split(masks["A1"], 2)
    # Heschl's gyrus: lateral (|x| ~ 40-50 mm), posterior (y ~ -20 mm) in both hemispheres
    assert left_xyz[left].mean(axis=0)[0] < -30 and right_xyz[right].mean(axis=0)[0] > 30
    np.testing.assert_allclose(
        left_xyz[left].mean(axis=0)[1], right_xyz[right].mean(axis=0)[1], atol=5
    )


def test_unknown_roi_label_names_file_and_label():
    annotation = surface.nilearn_desikan_annotation()
    with pytest.raises(InputError, match=r"test.annot.*'Heschl'"):
        atlas.annotation_roi_masks(annotation, np.arange(10), {"A1": ["Heschl"]})


def test_annotation_on_another_mesh_is_rejected():
    with pytest.raises(InputError, match="10242 vertices, the surface has 40962"):
        surface.read_annotation(surface.nilearn_desikan_annotation(), 40_962)


def _fsaverage5_unit_sphere(hemi: str) -> np.ndarray:
    sphere = surface.fsaverage5_sphere(hemi)
    return sphere / np.linalg.norm(sphere, axis=1, keepdims=True)


@pytest.mark.parametrize("hemi", ["L", "R"])
def test_fsaverage5_vertices_are_nested_icosahedra(hemi):
    """Each vertex of fsaverage<k> past the first 10 * 4**(k-1) + 2 is the midpoint of two of
    them (on the sphere): what icosahedral decimation and reading fsaverage atlases rely on."""
    from scipy.spatial import cKDTree

    sphere = _fsaverage5_unit_sphere(hemi)
    for order in range(1, 6):
        coarse, fine = 10 * 4 ** (order - 1) + 2, 10 * 4**order + 2
        _, parents = cKDTree(sphere[:coarse]).query(sphere[coarse:fine], k=2)
        midpoints = sphere[parents[:, 0]] + sphere[parents[:, 1]]
        midpoints /= np.linalg.norm(midpoints, axis=1, keepdims=True)
        # 100 mm sphere: within 0.02 mm, against ~1.7 mm between neighbours at fsaverage5
        assert np.abs(midpoints - sphere[coarse:fine]).max() * 100 < 0.02


def test_icosahedron_order_of_fsaverage_meshes():
    assert [surface.icosahedron_order(n) for n in (12, 642, 2562, 10242, 163_842)] == [
        0, 3, 4, 5, 7,
    ]  # fmt: skip
    assert surface.icosahedron_order(10_000) is None


def test_icosahedral_decimation_keeps_the_coarser_fsaverage_meshes():
    by_4 = surface.decimated_vertices(4, method="icosahedron")
    by_16 = surface.decimated_vertices(16, method="icosahedron")
    assert by_4.size == 2 * 2562 and by_16.size == 2 * 642
    np.testing.assert_array_equal(by_4[:2562], np.arange(2562))
    np.testing.assert_array_equal(by_4[2562:], np.arange(2562) + 10_242)
    np.testing.assert_array_equal(by_16, surface.decimated_vertices(16, method="icosahedron"))


def _gaps_mm(kept: np.ndarray) -> np.ndarray:
    """Distance (100 mm sphere) from each kept vertex to its nearest kept neighbour."""
    from scipy.spatial import cKDTree

    sphere = _fsaverage5_unit_sphere("L")[kept]
    distances, _ = cKDTree(sphere).query(sphere, k=2)
    return distances[:, 1] * 100


def test_icosahedral_decimation_spreads_vertices_more_evenly_than_the_stride():
    """The documented trade-off: the stride keeps the paper's count, the icosahedral subset an
    even spread (coefficient of variation of neighbour gaps 0.40 against 0.05)."""
    per_hemi = surface.FSAVERAGE5_VERTICES_PER_HEMI
    stride = surface.decimated_vertices(10)[: (per_hemi + 9) // 10]
    ico = surface.decimated_vertices(4, method="icosahedron")[:2562]
    stride_gaps, ico_gaps = _gaps_mm(stride), _gaps_mm(ico)
    assert stride_gaps.std() / stride_gaps.mean() > 0.3
    assert ico_gaps.std() / ico_gaps.mean() < 0.1


def test_decimation_is_stable_across_calls_and_methods_keep_their_own_subset():
    for method, factor in (("stride", 10), ("icosahedron", 16)):
        first = surface.decimated_vertices(factor, method=method)
        np.testing.assert_array_equal(first, surface.decimated_vertices(factor, method=method))
        assert np.all(np.diff(first) > 0)


@pytest.mark.parametrize(
    ("factor", "method", "message"),
    [
        (10, "icosahedron", "power of 4"),
        (4**6, "icosahedron", "power of 4 up to 1024"),
        (10, "random", "one of"),
        (0, "stride", ">= 1"),
    ],
)
def test_bad_decimation_settings_are_clear_errors(factor, method, message):
    with pytest.raises(ValueError, match=message):
        surface.decimated_vertices(factor, method=method)
