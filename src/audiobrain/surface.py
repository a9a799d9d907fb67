"""fsaverage5 surface: vertex counts, decimation and Desikan-Killiany ROIs.

Vertex indices in this project address the two hemispheres concatenated, left first
(``0 .. 10241`` left, ``10242 .. 20483`` right), as nilearn's fsaverage5 meshes are ordered.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import nibabel as nib
import numpy as np

from audiobrain.io import InputError

FSAVERAGE5_VERTICES_PER_HEMI = 10_242
HEMISPHERES = ("L", "R")

# The demo's ROIs (Millet & King 2021, section 2.2, approximated with Desikan-Killiany labels).
DEFAULT_ROIS: dict[str, list[str]] = {
    "A1": ["transversetemporal"],
    "Belt": ["superiortemporal"],
    "TPJ": ["supramarginal", "bankssts"],
}


def nilearn_desikan_annotation() -> Path:
    """The fsaverage5 Desikan-Killiany annotation (one hemisphere) that nilearn ships."""
    import nilearn.surface

    path = Path(nilearn.surface.__file__).parent / "tests" / "data" / "test.annot"
    if not path.exists():
        raise InputError(
            f"{path}: the fsaverage5 Desikan-Killiany annotation that nilearn ships was not found; "
            "set `rois.annotation` in the config to a FreeSurfer .annot file"
        )
    return path


def read_annotation(
    path: str | os.PathLike, expected_vertices: int
) -> tuple[np.ndarray, list[str]]:
    """Vertex labels and label names of a FreeSurfer ``.annot`` file, checked against the mesh."""
    try:
        labels, _, names = nib.freesurfer.read_annot(str(path))
    except (OSError, ValueError) as error:
        raise InputError(f"{path}: cannot read FreeSurfer annotation ({error})") from error
    if labels.shape[0] != expected_vertices:
        raise InputError(
            f"{path}: annotation has {labels.shape[0]} vertices, "
            f"the surface has {expected_vertices}"
        )
    return labels, [n.decode() if isinstance(n, bytes) else str(n) for n in names]


def decimated_vertices(factor: int, n_per_hemi: int = FSAVERAGE5_VERTICES_PER_HEMI) -> np.ndarray:
    """Every ``factor``-th vertex of each hemisphere, as indices into both hemispheres concatenated.

    Icosahedral meshes list the coarse vertices first and add each subdivision's vertices edge by
    edge, so a fixed stride keeps a spatially spread, deterministic subset (section 2.2: by 10).
    """
    if factor < 1:
        raise ValueError(f"surface decimation factor must be >= 1, got {factor}")
    per_hemi = np.arange(0, n_per_hemi, factor)
    return np.concatenate([per_hemi, per_hemi + n_per_hemi])


def fsaverage5_sphere(hemi: str) -> np.ndarray:
    """Sphere coordinates ``(10242, 3)`` of one fsaverage5 hemisphere, from nilearn's meshes."""
    from nilearn import datasets, surface

    mesh = datasets.fetch_surf_fsaverage("fsaverage5")[
        "sphere_left" if hemi == "L" else "sphere_right"
    ]
    return np.asarray(surface.load_surf_mesh(mesh)[0])


def mirrored_labels(left_labels: np.ndarray) -> np.ndarray:
    """Left-hemisphere labels carried to the right hemisphere through the mid-sagittal mirror.

    fsaverage's hemispheres share one icosahedron, so vertex ``i`` sits at the same point of both
    spheres: copying labels by index would put a lateral left region on the medial right side.
    Each right vertex instead takes the label of the left vertex nearest its mirror image.
    """
    from scipy.spatial import cKDTree

    right = fsaverage5_sphere("R") * np.array([-1.0, 1.0, 1.0])
    _, nearest = cKDTree(fsaverage5_sphere("L")).query(right)
    return np.asarray(left_labels)[nearest]


def roi_masks(
    annotation_path: str | os.PathLike,
    vertices: np.ndarray,
    rois: Mapping[str, Sequence[str]] = DEFAULT_ROIS,
    n_per_hemi: int = FSAVERAGE5_VERTICES_PER_HEMI,
) -> dict[str, np.ndarray]:
    """Boolean masks over ``vertices`` per ROI; the (left) annotation is mirrored onto the right.

    ``annotation_path`` is one hemisphere's ``.annot`` (nilearn ships only one for fsaverage5).
    """
    labels, names = read_annotation(annotation_path, n_per_hemi)
    both = np.concatenate([labels, mirrored_labels(labels)])[np.asarray(vertices)]
    masks = {}
    for roi, label_names in rois.items():
        unknown = [name for name in label_names if name not in names]
        if unknown:
            raise InputError(
                f"{annotation_path}: ROI {roi!r} names label(s) {unknown} that the annotation "
                f"does not have (it has {names})"
            )
        masks[roi] = np.isin(both, [names.index(name) for name in label_names])
    return masks
