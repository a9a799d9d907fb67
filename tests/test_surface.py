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
    # transversetemporal has 68 vertices per hemisphere in nilearn's fsaverage5 annotation
    assert masks["A1"].sum() == 2 * 68
    assert not (masks["A1"] & masks["TPJ"]).any()


def test_unknown_roi_label_names_file_and_label():
    annotation = surface.nilearn_desikan_annotation()
    with pytest.raises(InputError, match=r"test.annot.*'Heschl'"):
        surface.roi_masks(annotation, np.arange(10), {"A1": ["Heschl"]})


def test_annotation_on_another_mesh_is_rejected():
    with pytest.raises(InputError, match="10242 vertices, the surface has 40962"):
        surface.read_annotation(surface.nilearn_desikan_annotation(), 40_962)
