"""Volumetric BOLD onto the cortical surface (Millet & King 2021, section 2.2).

The paper does not read fMRIPrep's surface outputs: the cleaned volumetric BOLD "is projected onto
the surface, after subselecting voxels along a 3mm 'line' orthogonal to the mid-thickness", then
decimated by 10. Here, for each hemisphere:

1. **Meshes.** An inner (white) and an outer (pial) mesh whose vertices correspond one to one,
   in the BOLD's world coordinates (mm) and in fsaverage5's vertex order, so that every subject
   lands on the same vertices: for MNI-space BOLD the fsaverage5 template meshes nilearn ships
   (:func:`template_meshes`); for T1w-space BOLD the subject's FreeSurfer ``white`` and ``pial``
   surfaces resampled onto fsaverage5 through ``sphere.reg`` and moved into scanner coordinates
   (:func:`freesurfer_meshes`).
2. **Mid-thickness.** The vertex-wise mean of the two meshes, ``(white + pial) / 2`` (the
   mid-thickness surface of HCP's ``wb_command -surface-average``), with the template's faces.
3. **Line.** ``nilearn.surface.vol_to_surf(kind="line", radius=line_mm / 2, n_samples=n)`` on
   the mid-thickness: ``n`` points evenly spaced from ``+line_mm / 2`` to ``-line_mm / 2`` along
   each vertex's unit normal to the mid-thickness (the normalised mean of the unit normals of
   the triangles around it), each value trilinearly interpolated, then averaged; samples that
   fall outside the image or the brain mask are dropped. So the depth range is 3 mm centred on
   the mid-thickness whatever the local thickness (the median thickness of fsaverage5 is
   2.5 mm); the inner and outer meshes fix where the mid-thickness lies. nilearn's
   ``kind="line"`` ignores ``inner_mesh``, which is why the mid-thickness is built here.
4. **Decimation.** :func:`audiobrain.surface.decimated_vertices`.

fsaverage's coordinates are MNI305; using them on MNI152NLin2009cAsym images (as nilearn's own
examples do) misplaces the cortex by a few millimetres, as the two MNI templates differ a little
in size and position; a lab that needs better uses the T1w-space BOLD with the subject's
surfaces.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
from nilearn import masking
from nilearn.surface import InMemoryMesh, vol_to_surf

from audiobrain import surface
from audiobrain.brainscores import confounds
from audiobrain.io import InputError, load_image

LINE_MM = 3.0  # section 2.2: voxels along a 3 mm line orthogonal to the mid-thickness
LINE_SAMPLES = 10  # points along the line: nilearn's default for kind="line"
VOLUME_SPACES = ("MNI152NLin2009cAsym", "T1w")  # fMRIPrep volumetric outputs this stage reads
TEMPLATE_SPACE = "MNI152NLin2009cAsym"  # projected with the fsaverage5 template meshes
# Below this share of vertices with samples inside the brain mask, the BOLD and the meshes are
# almost surely in different spaces (a partial field of view loses far less).
MIN_SAMPLED_FRACTION = 0.5
_AFFINE_ATOL_MM = 1e-3
_FREESURFER_HEMI = {"L": "lh", "R": "rh"}


@dataclass(frozen=True)
class CorticalMesh:
    """One hemisphere's white and pial surfaces, vertex for vertex, in world coordinates (mm).

    ``inner`` and ``outer`` are ``(n_vertices, 3)``; ``faces`` ``(n_faces, 3)`` indexes both;
    ``source`` says where they came from (for messages and sidecars).
    """

    hemi: str
    inner: np.ndarray
    outer: np.ndarray
    faces: np.ndarray
    source: str

    def __post_init__(self):
        if self.inner.shape != self.outer.shape or self.inner.ndim != 2:
            raise InputError(
                f"{self.source}: white and pial meshes must have the same (n_vertices, 3) "
                f"shape, found {self.inner.shape} and {self.outer.shape}"
            )

    @property
    def n_vertices(self) -> int:
        return self.inner.shape[0]

    @property
    def midthickness(self) -> InMemoryMesh:
        """The vertex-wise mean of the white and pial surfaces, with their faces."""
        return InMemoryMesh(coordinates=(self.inner + self.outer) / 2.0, faces=self.faces)

    @property
    def thickness(self) -> np.ndarray:
        """Distance (mm) between corresponding white and pial vertices, ``(n_vertices,)``."""
        return np.linalg.norm(self.outer - self.inner, axis=1)


def template_meshes() -> dict[str, CorticalMesh]:
    """fsaverage5's white and pial meshes (nilearn ships them), per hemisphere ``L``/``R``."""
    from nilearn.datasets import load_fsaverage

    fsaverage = load_fsaverage("fsaverage5")
    meshes = {}
    for hemi, part in zip(surface.HEMISPHERES, ("left", "right"), strict=True):
        white, pial = fsaverage["white_matter"].parts[part], fsaverage["pial"].parts[part]
        meshes[hemi] = CorticalMesh(
            hemi,
            np.asarray(white.coordinates),
            np.asarray(pial.coordinates),
            np.asarray(pial.faces),
            "fsaverage5 (nilearn)",
        )
    return meshes


def freesurfer_meshes(subject_dir: str | os.PathLike) -> dict[str, CorticalMesh]:
    """A subject's FreeSurfer white and pial surfaces resampled onto fsaverage5's vertices.

    Each fsaverage5 vertex takes the coordinates of the subject vertex nearest to it on the
    registered sphere (``surf/?h.sphere.reg`` against fsaverage5's sphere), as FreeSurfer's
    ``mri_surf2surf`` maps by default, so every subject's vertex ``i`` is the same place of
    the template and group statistics can run per vertex. FreeSurfer stores surfaces in
    "tkregister" coordinates; adding the volume's centre (``cras`` in the surface files) gives
    the scanner coordinates of the T1w image, in which fMRIPrep's ``space-T1w`` BOLD lies.

    Parameters
    ----------
    subject_dir : the subject's folder in FreeSurfer's SUBJECTS_DIR (fMRIPrep writes it to
        ``<fmriprep_dir>/sourcedata/freesurfer/sub-<label>``).
    """
    from scipy.spatial import cKDTree

    subject_dir = Path(subject_dir)
    template = template_meshes()
    meshes = {}
    for hemi in surface.HEMISPHERES:
        files = {
            kind: subject_dir / "surf" / f"{_FREESURFER_HEMI[hemi]}.{kind}"
            for kind in ("white", "pial", "sphere.reg")
        }
        missing = [str(path) for path in files.values() if not path.is_file()]
        if missing:
            raise InputError(
                f"{missing[0]}: FreeSurfer surface not found (config surface.freesurfer_dir; "
                f"fMRIPrep writes FreeSurfer's subjects to <fmriprep_dir>/sourcedata/freesurfer)"
            )
        white, _, meta = _read_geometry(files["white"], metadata=True)
        pial, _, _ = _read_geometry(files["pial"])
        sphere, _, _ = _read_geometry(files["sphere.reg"])
        counts = {kind: len(xyz) for kind, xyz in zip(files, (white, pial, sphere), strict=True)}
        if len(set(counts.values())) != 1:
            raise InputError(
                f"{subject_dir / 'surf'}: {_FREESURFER_HEMI[hemi]} surfaces differ in vertex "
                f"count {counts}; they must come from the same recon-all"
            )
        template_sphere = surface.fsaverage5_sphere(hemi)
        _, nearest = cKDTree(_unit(sphere)).query(_unit(template_sphere))
        centre = np.asarray(meta.get("cras", np.zeros(3)), dtype=np.float64)
        meshes[hemi] = CorticalMesh(
            hemi,
            white[nearest] + centre,
            pial[nearest] + centre,
            template[hemi].faces,
            f"{subject_dir} (FreeSurfer, resampled to fsaverage5)",
        )
    return meshes


def _read_geometry(path: Path, metadata: bool = False):
    try:
        if metadata:
            coordinates, faces, meta = nib.freesurfer.read_geometry(path, read_metadata=True)
        else:
            (coordinates, faces), meta = nib.freesurfer.read_geometry(path), {}
    except (OSError, ValueError) as error:
        raise InputError(f"{path}: cannot read FreeSurfer surface ({error})") from error
    return np.asarray(coordinates, dtype=np.float64), np.asarray(faces), meta


def _unit(coordinates: np.ndarray) -> np.ndarray:
    return coordinates / np.linalg.norm(coordinates, axis=1, keepdims=True)


def meshes_for(
    volume_space: str, freesurfer_subject_dir: str | os.PathLike | None
) -> dict[str, CorticalMesh]:
    """The meshes a BOLD in ``volume_space`` is projected with (see the module docstring).

    ``volume_space`` is fMRIPrep's output space, e.g. ``MNI152NLin2009cAsym:res-2`` or ``T1w``.
    """
    name = volume_space.split(":")[0]
    if name not in VOLUME_SPACES:
        raise InputError(
            f"config surface.volume_space: expected one of {VOLUME_SPACES} (fMRIPrep output "
            f"space), found {volume_space!r}"
        )
    if name == TEMPLATE_SPACE:
        if freesurfer_subject_dir is not None:
            raise InputError(
                f"config surface.freesurfer_dir: the subject's surfaces ({freesurfer_subject_dir})"
                f" are in T1w space, the BOLD in {name}; use surface.volume_space T1w with them,"
                " or no freesurfer_dir (fsaverage5 template meshes)"
            )
        return template_meshes()
    if freesurfer_subject_dir is None:
        raise InputError(
            "config surface.freesurfer_dir: T1w-space BOLD is projected with the subject's "
            "FreeSurfer surfaces; set it (fMRIPrep: <fmriprep_dir>/sourcedata/freesurfer)"
        )
    return freesurfer_meshes(freesurfer_subject_dir)


def vertex_normals(coordinates: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Unit normal of each vertex: the normalised mean of its triangles' unit normals.

    The direction nilearn's ``kind="line"`` samples along (outwards for FreeSurfer's face
    order); a vertex whose triangles are all degenerate gets a zero vector.
    """
    corners = coordinates[faces]
    face_normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    face_normals = _normalised(face_normals)
    normals = np.zeros_like(coordinates)
    for corner in range(3):
        np.add.at(normals, faces[:, corner], face_normals)
    return _normalised(normals)


def _normalised(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


def line_sample_points(
    mesh: CorticalMesh, line_mm: float = LINE_MM, n_samples: int = LINE_SAMPLES
) -> np.ndarray:
    """World coordinates (mm) of the samples of each vertex: ``(n_vertices, n_samples, 3)``.

    The points :func:`project_to_surface` interpolates, from ``+line_mm / 2`` (outwards) to
    ``-line_mm / 2`` along the mid-thickness normal (used to build the demo's brain mask).
    """
    mid = mesh.midthickness
    normals = vertex_normals(np.asarray(mid.coordinates), np.asarray(mid.faces))
    offsets = np.linspace(line_mm / 2.0, -line_mm / 2.0, n_samples)
    return mid.coordinates[:, None, :] + offsets[None, :, None] * normals[:, None, :]


def project_to_surface(
    image: nib.Nifti1Image,
    meshes: Mapping[str, CorticalMesh],
    mask: nib.Nifti1Image | None = None,
    line_mm: float = LINE_MM,
    n_samples: int = LINE_SAMPLES,
) -> np.ndarray:
    """Both hemispheres' projection of a 3D or 4D image, left first.

    Parameters
    ----------
    image : 3D or 4D (x, y, z[, t]) in the meshes' world coordinates.
    meshes : ``{"L": ..., "R": ...}``, e.g. :func:`template_meshes`.
    mask : brain mask; samples outside it are dropped (nilearn resamples it to ``image``).
    line_mm, n_samples : the sampling line's length (section 2.2: 3 mm) and its point count.

    Returns
    -------
    ``(n_frames, n_vertices_L + n_vertices_R)`` for a 4D image, ``(n_vertices,)`` for a 3D one;
    NaN where every sample of a vertex falls outside the mask or the image.
    """
    if line_mm <= 0 or n_samples < 1:
        raise ValueError(f"need line_mm > 0 and n_samples >= 1, got {line_mm} and {n_samples}")
    with warnings.catch_warnings():
        # a vertex with no sample in the mask is NaN by design (nilearn warns "Mean of empty slice")
        warnings.filterwarnings("ignore", message="Mean of empty slice", category=RuntimeWarning)
        textures = [
            vol_to_surf(
                image,
                meshes[hemi].midthickness,
                radius=line_mm / 2.0,
                kind="line",
                n_samples=n_samples,
                mask_img=mask,
                interpolation="linear",
            )
            for hemi in surface.HEMISPHERES
        ]
    return np.concatenate(textures, axis=0).T


# --- the volumetric BOLD of one run --------------------------------------------------------------


def brain_mask_path(bold_path: str | os.PathLike) -> Path:
    """fMRIPrep's brain mask beside a ``desc-preproc_bold.nii.gz`` (same space entities)."""
    bold_path = Path(bold_path)
    if "_desc-preproc_bold.nii" not in bold_path.name:
        raise InputError(f"{bold_path}: expected an fMRIPrep '*_desc-preproc_bold.nii.gz' name")
    return bold_path.with_name(bold_path.name.replace("_desc-preproc_bold", "_desc-brain_mask"))


def load_bold_volume(
    bold_path: str | os.PathLike, mask_path: str | os.PathLike
) -> tuple[nib.Nifti1Image, nib.Nifti1Image]:
    """A run's 4D BOLD and 3D brain mask, checked to share one voxel grid.

    Raises
    ------
    InputError
        A file is missing or unreadable, the BOLD is not 4D or the mask not 3D, they differ in
        grid (shape or affine), or the mask is empty.
    """
    bold, mask = _load_nifti(bold_path), _load_nifti(mask_path)
    if len(bold.shape) != 4:
        raise InputError(f"{bold_path}: expected a 4D (x, y, z, time) BOLD, found {bold.shape}")
    if len(mask.shape) != 3:
        raise InputError(f"{mask_path}: expected a 3D brain mask, found shape {mask.shape}")
    check_same_grid({str(bold_path): bold, str(mask_path): mask})
    if not np.asarray(mask.dataobj).any():
        raise InputError(f"{mask_path}: the brain mask selects no voxel")
    return bold, mask


def _load_nifti(path: str | os.PathLike) -> nib.Nifti1Image:
    if not Path(path).is_file():
        raise InputError(f"{path}: file not found")
    return load_image(path, "a NIfTI image")


def check_same_grid(images: Mapping[str, nib.Nifti1Image]) -> None:
    """All ``images`` (named by file) share their voxel grid: shape of x, y, z and affine.

    Projection, masking and any pooling of runs assume it; a BOLD and a mask from different
    spaces or resolutions would otherwise be silently resampled or misaligned.
    """
    (first_name, first), *others = images.items()
    for name, image in others:
        if image.shape[:3] != first.shape[:3]:
            raise InputError(
                f"{name}: voxel grid {image.shape[:3]} differs from {first_name}'s "
                f"{first.shape[:3]}; both must come from the same fMRIPrep output space"
            )
        if not np.allclose(image.affine, first.affine, rtol=0, atol=_AFFINE_ATOL_MM):
            raise InputError(
                f"{name}: affine differs from {first_name}'s (largest difference "
                f"{np.abs(image.affine - first.affine).max():.3g} mm); both must come from the "
                f"same fMRIPrep output space\n{np.round(image.affine, 3)}\nvs\n"
                f"{np.round(first.affine, 3)}"
            )


def clean_volume(
    bold: nib.Nifti1Image, mask: nib.Nifti1Image, regressors: np.ndarray | pd.DataFrame
) -> nib.Nifti1Image:
    """Every voxel of the mask cleaned as section 2.2 says (nilearn's ``clean_img`` with the
    confounds and its defaults: :func:`audiobrain.brainscores.confounds.regress_out_confounds`),
    zero outside it; float32."""
    series = masking.apply_mask(bold, mask)
    regressors = np.asarray(regressors, dtype=np.float64)
    if regressors.shape[0] != series.shape[0]:
        raise InputError(
            f"confounds have {regressors.shape[0]} rows but the BOLD has {series.shape[0]} scans"
        )
    if not np.isfinite(series).all():
        raise InputError(
            f"BOLD: {int((~np.isfinite(series)).sum())} NaN/inf value(s) inside the brain mask"
        )
    cleaned = confounds.regress_out_confounds(series, regressors)
    return masking.unmask(cleaned.astype(np.float32), mask)


def sampled_vertices(projected: np.ndarray, source: str) -> np.ndarray:
    """Vertices with at least one sample in the mask (finite at every scan), checked.

    Raises InputError when fewer than ``MIN_SAMPLED_FRACTION`` of them have: the BOLD and the
    meshes are then in different spaces.
    """
    sampled = np.isfinite(projected).all(axis=0)
    if sampled.mean() < MIN_SAMPLED_FRACTION:
        raise InputError(
            f"{source}: only {sampled.sum()} of {sampled.size} vertices have samples inside the "
            f"brain mask (at least {MIN_SAMPLED_FRACTION:.0%} expected); are the BOLD and the "
            f"meshes in the same space (config surface.volume_space, surface.freesurfer_dir)?"
        )
    return sampled
