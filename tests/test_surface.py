"""fsaverage5 decimation and the Desikan-Killiany ROIs of the demo."""

from __future__ import annotations

import numpy as np
import pytest

from audiobrain import surface
from audiobrain.io import InputError


def test_decimation_is_a_fixed_stride_in_both_hemispheres():
    vertices = surface.decimated_vertices(10)
    assert vertices.size == 2 * 1025
    assert vertices[0] == 0 and vertices[1025] == 10_242
    np.testing.assert_array_equal(vertices, surface.decimated_vertices(10))


def test_roi_masks_have_the_annotation_sizes():
    annotation = surface.nilearn_desikan_annotation()
    all_vertices = np.arange(2 * surface.FSAVERAGE5_VERTICES_PER_HEMI)
    masks = surface.roi_masks(annotation, all_vertices)
    # transversetemporal has 68 vertices in nilearn's (left) fsaverage5 annotation; its mirror
    # image on the right hemisphere is about as large
    left, right = np.split(masks["A1"], 2)
    assert left.sum() == 68
    assert abs(int(right.sum()) - 68) <= 7
    assert not (masks["A1"] & masks["TPJ"]).any()


def test_right_hemisphere_rois_are_the_mirror_image_of_the_left():
    annotation = surface.nilearn_desikan_annotation()
    masks = surface.roi_masks(annotation, np.arange(2 * surface.FSAVERAGE5_VERTICES_PER_HEMI))
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
        surface.roi_masks(annotation, np.arange(10), {"A1": ["Heschl"]})


def test_annotation_on_another_mesh_is_rejected():
    with pytest.raises(InputError, match="10242 vertices, the surface has 40962"):
        surface.read_annotation(surface.nilearn_desikan_annotation(), 40_962)
