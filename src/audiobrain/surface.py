"""fsaverage5 surface: vertex counts, decimation and Desikan-Killiany ROIs.

Vertex indices in this project address the two hemispheres concatenated, left first
(``0 .. 10241`` left, ``10242 .. 20483`` right), as nilearn's fsaverage5 meshes are ordered.

fsaverage meshes are nested icosahedra: FreeSurfer builds ``fsaverage<k>`` by splitting every
edge of ``fsaverage<k-1>`` at its midpoint and appending the new vertices, so the first
``10 * 4**k + 2`` vertices of any finer fsaverage mesh are those of ``fsaverage<k>`` (12, 42, 162,
642, 2562, 10242, 40962, 163842). Decimation and the reading of atlases drawn on finer fsaverage
meshes both rest on that order (checked on nilearn's sphere in tests/test_surface.py).
"""

from __future__ import annotations

import os
from pathlib import Path

import nibabel as nib
import numpy as np

from audiobrain.io import InputError

FSAVERAGE5_VERTICES_PER_HEMI = 10_242
HEMISPHERES = ("L", "R")
DECIMATION_METHODS = ("stride", "icosahedron")

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


def icosahedron_order(n_vertices: int) -> int | None:
    """``k`` such that ``n_vertices == 10 * 4**k + 2`` (fsaverage<k>), or None."""
    k, count = 0, 12
    while count < n_vertices:
        k, count = k + 1, 10 * 4 ** (k + 1) + 2
    return k if count == n_vertices else None


def decimated_vertices(
    factor: int, n_per_hemi: int = FSAVERAGE5_VERTICES_PER_HEMI, method: str = "stride"
) -> np.ndarray:
    """The vertices kept by a surface decimation of ``factor`` (section 2.2: by 10).

    Indices address both hemispheres concatenated; each hemisphere keeps the same vertex numbers.

    Parameters
    ----------
    factor : about how many vertices are dropped for each one kept.
    method : ``"stride"`` keeps vertices ``0, factor, 2 * factor, ...`` of each hemisphere
        (``ceil(n / factor)`` of them: 1,025 of fsaverage5's 10,242 for a factor of 10, the
        paper's count). ``"icosahedron"`` keeps the first ``(n - 2) / factor + 2`` vertices, which
        are the vertices of a coarser fsaverage mesh (see the module docstring); it needs a factor
        that is a power of 4 (4: fsaverage4, 2,562 vertices; 16: fsaverage3, 642).

    Notes
    -----
    Both selections are fixed by the vertex order alone, so every subject, run and rerun keeps
    the same vertices. They differ in how evenly they cover the cortex. On fsaverage5's sphere
    (radius 100 mm), the distance from a kept vertex to its nearest kept neighbour varies with a
    coefficient of variation of 0.40 for the stride of 10 (3.5 to 15.4 mm; the farthest vertex
    lies 17.8 mm from a kept one, as for a random subset of the same size), against 0.05 for
    the icosahedral subset of 4 (largest gap 4.1 mm) and 0.04 for that of 16 (8.2 mm): new
    vertices are appended edge by edge, so a stride through them leaves clusters and holes. The
    icosahedral subset is therefore the better spatial sampling, and its vertices form a
    FreeSurfer mesh (fsaverage4 or fsaverage3) on which maps and atlases can be read directly,
    but it cannot decimate by 10: ``"stride"`` stays the default because it keeps the paper's
    vertex count.
    """
    if factor < 1:
        raise ValueError(f"surface decimation factor must be >= 1, got {factor}")
    if method == "stride":
        per_hemi = np.arange(0, n_per_hemi, factor)
    elif method == "icosahedron":
        per_hemi = np.arange(_icosahedral_subset_size(factor, n_per_hemi))
    else:
        raise ValueError(f"decimation method must be one of {DECIMATION_METHODS}, got {method!r}")
    return np.concatenate([per_hemi, per_hemi + n_per_hemi])


def _icosahedral_subset_size(factor: int, n_per_hemi: int) -> int:
    order = icosahedron_order(n_per_hemi)
    if order is None:
        raise ValueError(
            f"icosahedral decimation needs an fsaverage mesh (10 * 4**k + 2 vertices per "
            f"hemisphere), got {n_per_hemi} vertices"
        )
    levels = round(np.log(factor) / np.log(4)) if factor > 1 else 0
    if 4**levels != factor or levels > order:
        raise ValueError(
            f"icosahedral decimation keeps a coarser fsaverage mesh, so its factor must be a "
            f"power of 4 up to {4**order}; got {factor} (use method 'stride' for other factors)"
        )
    return 10 * 4 ** (order - levels) + 2


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
