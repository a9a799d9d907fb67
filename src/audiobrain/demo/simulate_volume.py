"""The demo's volumetric variant: MNI-space BOLD with the signal planted in known voxels.

``simulate.simulate_demo(..., volume=True)`` (config ``surface.source: volume``) writes, instead of
the surface GIfTI, one NIfTI per subject with fMRIPrep's names and its brain mask:
``sub-01_task-auditory_space-MNI152NLin2009cAsym_desc-preproc_bold.nii.gz`` and
``..._desc-brain_mask.nii.gz`` (no ``res`` entity: fMRIPrep's name for a template space at the
BOLD's own resolution). Design, stimuli, confounds and signal model are the surface demo's.

* **Grid.** Axis-aligned voxels of ``DEMO_VOXEL_MM`` (6 mm, coarse so that a subject's run is a
  few megabytes), covering fsaverage5's meshes, which stand for the MNI brain.
* **Brain mask.** Every voxel that the projection (3 mm line, trilinear interpolation) reads for
  some vertex of fsaverage5's mid-thickness: the cortical ribbon, so every vertex is sampled
  and every voxel in the mask matters. The BOLD is zero outside it.
* **Known voxels.** Each voxel takes the Desikan-Killiany label of the mid-thickness vertex
  nearest its centre; the planted ROIs' voxels (``transversetemporal`` for A1 and so on) carry
  the signal, with per-voxel loadings (:func:`audiobrain.demo.truth_from_labels`); the others
  carry only noise and artefacts.
* **Expected vertices.** The projection is linear, so projecting the indicator image of an ROI's
  voxels gives, exactly, the share of each vertex's value that comes from them
  (``truth/vertex_truth.tsv``: ``share_A1`` ...); a vertex with no share carries no signal.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd

from audiobrain import surface
from audiobrain.brainscores import projection
from audiobrain.brainscores.fmriprep import fmriprep_outputs
from audiobrain.demo.truth import PLANTED, DemoLayout, VertexTruth, save_loadings, truth_from_labels
from audiobrain.io import atomic_path, save_json, write_tsv

DEMO_VOXEL_MM = 6.0
DEMO_SPACE = "MNI152NLin2009cAsym"
DOMINANT_SHARE = 0.5  # a vertex is "of" an ROI when over half its projection comes from it
_EDGE_TOLERANCE = 1e-6  # voxels; samples this close to a voxel face count on both sides


def volume_bold_path(layout: DemoLayout, subject: str) -> Path:
    """The demo's ``desc-preproc_bold.nii.gz`` of a subject (fMRIPrep naming)."""
    files = fmriprep_outputs(layout.fmriprep, subject, layout.task, [DEMO_SPACE])
    return files.volume_bold[DEMO_SPACE]


def brain_mask_path(layout: DemoLayout, subject: str) -> Path:
    return projection.brain_mask_path(volume_bold_path(layout, subject))


def write_nifti(path: str | os.PathLike, image: nib.Nifti1Image) -> None:
    """A ``.nii.gz`` written atomically, with no time stamp or name in the gzip header, so the
    same image gives the same bytes."""
    with (
        atomic_path(path) as tmp,
        open(tmp, "wb") as raw,
        gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1, mtime=0, filename="") as out,
    ):
        out.write(image.to_bytes())


def ribbon_grid(
    meshes: Mapping[str, projection.CorticalMesh],
    voxel_mm: float = DEMO_VOXEL_MM,
    line_mm: float = projection.LINE_MM,
    n_samples: int = projection.LINE_SAMPLES,
) -> tuple[np.ndarray, np.ndarray]:
    """An axis-aligned grid around ``meshes`` and the voxels the projection reads.

    Returns
    -------
    affine : (4, 4), voxel centres on multiples of ``voxel_mm``
    mask : (x, y, z) bool, the corners of the trilinear interpolation of every line sample
    """
    points = np.concatenate(
        [
            projection.line_sample_points(meshes[hemi], line_mm, n_samples).reshape(-1, 3)
            for hemi in surface.HEMISPHERES
        ]
    )
    origin = (np.floor(points.min(axis=0) / voxel_mm) - 1.0) * voxel_mm
    index = (points - origin) / voxel_mm
    shape = tuple(int(n) for n in np.floor(index.max(axis=0)) + 3)
    mask = np.zeros(shape, dtype=bool)
    for base in (np.floor(index - _EDGE_TOLERANCE), np.floor(index + _EDGE_TOLERANCE)):
        for corner in np.ndindex(2, 2, 2):
            mask[tuple((base.astype(int) + corner).T)] = True
    affine = np.diag([voxel_mm, voxel_mm, voxel_mm, 1.0])
    affine[:3, 3] = origin
    return affine, mask


def nearest_vertex_labels(
    meshes: Mapping[str, projection.CorticalMesh],
    vertex_labels: np.ndarray,
    points_mm: np.ndarray,
) -> np.ndarray:
    """The label of the mid-thickness vertex (either hemisphere) nearest each point."""
    from scipy.spatial import cKDTree

    mid = np.concatenate(
        [np.asarray(meshes[hemi].midthickness.coordinates) for hemi in surface.HEMISPHERES]
    )
    _, nearest = cKDTree(mid).query(points_mm)
    return np.asarray(vertex_labels)[nearest]


def desikan_vertex_labels() -> np.ndarray:
    """Desikan-Killiany label name of every fsaverage5 vertex (left, then mirrored right)."""
    labels, names = surface.read_annotation(
        surface.nilearn_desikan_annotation(), surface.FSAVERAGE5_VERTICES_PER_HEMI
    )
    both = np.concatenate([labels, surface.mirrored_labels(labels)])
    return np.asarray(names, dtype=object)[both].astype(str)


@dataclass(frozen=True)
class DemoVolume:
    """The volumetric demo's grid, brain mask, voxel truth and the vertices it should reach.

    ``truth`` has one row per mask voxel, in C order of the grid (``np.argwhere(mask)``);
    ``vertex_shares`` maps each planted ROI to ``(2 * 10242,)`` shares of each fsaverage5
    vertex's projected value that come from that ROI's voxels.
    """

    affine: np.ndarray
    mask: np.ndarray
    truth: VertexTruth
    vertex_labels: np.ndarray
    vertex_shares: dict[str, np.ndarray]
    line_mm: float
    n_samples: int

    @classmethod
    def from_seed(
        cls,
        seed: int,
        voxel_mm: float = DEMO_VOXEL_MM,
        line_mm: float = projection.LINE_MM,
        n_samples: int = projection.LINE_SAMPLES,
    ) -> DemoVolume:
        meshes = projection.template_meshes()
        affine, mask = ribbon_grid(meshes, voxel_mm, line_mm, n_samples)
        vertex_labels = desikan_vertex_labels()
        centres = nib.affines.apply_affine(affine, np.argwhere(mask))
        voxel_labels = nearest_vertex_labels(meshes, vertex_labels, centres)
        truth = truth_from_labels(voxel_labels, seed)
        volume = cls(affine, mask, truth, vertex_labels, {}, line_mm, n_samples)
        indicators = np.stack([truth.roi == roi for roi in PLANTED]).astype(np.float32)
        shares = projection.project_to_surface(
            volume.image(indicators), meshes, volume.mask_image(), line_mm, n_samples
        )
        volume.vertex_shares.update(zip(PLANTED, shares, strict=True))
        return volume

    @property
    def n_voxels(self) -> int:
        return int(self.mask.sum())

    def image(self, values: np.ndarray, tr_s: float | None = None) -> nib.Nifti1Image:
        """``(n_frames, n_voxels)`` mask-voxel values as a 4D float32 image, zero outside."""
        values = np.asarray(values, dtype=np.float32)
        data = np.zeros((*self.mask.shape, values.shape[0]), dtype=np.float32)
        data[self.mask] = values.T
        image = nib.Nifti1Image(data, self.affine)
        image.set_sform(self.affine, code="mni")
        image.set_qform(self.affine, code="mni")
        image.header.set_xyzt_units("mm", "sec")
        if tr_s is not None:
            image.header.set_zooms((*image.header.get_zooms()[:3], tr_s))
        return image

    def mask_image(self) -> nib.Nifti1Image:
        image = nib.Nifti1Image(self.mask.astype(np.uint8), self.affine)
        image.set_sform(self.affine, code="mni")
        image.set_qform(self.affine, code="mni")
        image.header.set_xyzt_units("mm")
        return image

    def write_bold(self, layout: DemoLayout, subject: str, bold: np.ndarray, tr_s: float) -> Path:
        """A subject's ``(n_scans, n_voxels)`` BOLD and the brain mask, in fMRIPrep's names;
        returns the BOLD's path."""
        path = volume_bold_path(layout, subject)
        write_nifti(path, self.image(bold, tr_s))
        write_nifti(brain_mask_path(layout, subject), self.mask_image())
        return path

    def vertex_truth(self) -> pd.DataFrame:
        """Per fsaverage5 vertex: its label, the planted ROI that dominates its projection.

        ``roi`` is the planted ROI whose voxels give over ``DOMINANT_SHARE`` of the vertex's
        value (else ``none``); ``signal`` is that ROI's kind, ``null`` where no planted voxel
        reaches the vertex at all, ``partial`` in between.
        """
        n_vertices = self.vertex_labels.size
        shares = np.stack([self.vertex_shares[roi] for roi in PLANTED])
        names = np.array(list(PLANTED))
        dominant = shares.argmax(axis=0)
        is_dominant = shares.max(axis=0) > DOMINANT_SHARE
        kinds = np.array([spec.kind for spec in PLANTED.values()])
        signal = np.where(shares.sum(axis=0) > 0, "partial", "null").astype(object)
        signal[is_dominant] = kinds[dominant[is_dominant]]
        vertices = np.arange(n_vertices)
        return pd.DataFrame(
            {
                "vertex": vertices,
                "hemi": np.where(vertices < n_vertices // 2, "L", "R"),
                "roi": np.where(is_dominant, names[dominant], "none"),
                "label": self.vertex_labels,
                "signal": signal.astype(str),
                **{f"share_{roi}": self.vertex_shares[roi] for roi in PLANTED},
            }
        )

    def write_truth(self, layout: DemoLayout, description: dict) -> None:
        """``truth/``: voxel and vertex tables, per-voxel loadings, and the surface demo's truth
        description (``description``) completed with the volume."""
        ijk = np.argwhere(self.mask)
        xyz = nib.affines.apply_affine(self.affine, ijk)
        truth = self.truth
        voxels = pd.DataFrame(
            {
                "voxel": np.arange(ijk.shape[0]),
                **{axis: ijk[:, n] for n, axis in enumerate("ijk")},
                **{axis: xyz[:, n] for n, axis in enumerate("xyz")},
                "roi": truth.roi,
                "label": truth.label,
                "signal": truth.kind,
                "amplitude": truth.amplitude,
            }
        )
        write_tsv(voxels, layout.truth / "voxel_truth.tsv")
        write_tsv(self.vertex_truth(), layout.truth / "vertex_truth.tsv")
        save_loadings(
            layout, truth, "per-voxel inputs of simulate.planted_signal (voxel_truth.tsv rows)"
        )
        for roi, entry in description["rois"].items():
            entry["n_voxels"] = entry.pop("n_vertices")
            entry["n_dominated_vertices"] = int((self.vertex_shares[roi] > DOMINANT_SHARE).sum())
        description["volume"] = {
            "space": DEMO_SPACE,
            "voxel_mm": float(self.affine[0, 0]),
            "shape": list(self.mask.shape),
            "affine": self.affine.tolist(),
            "n_mask_voxels": self.n_voxels,
            "projection": {"line_mm": self.line_mm, "n_samples": self.n_samples},
            "description": (
                "signal planted in voxels (voxel_truth.tsv): each mask voxel takes the "
                "Desikan-Killiany label of the nearest fsaverage5 mid-thickness vertex, and the "
                "units of the surface demo become voxels; vertex_truth.tsv gives, for every "
                "fsaverage5 vertex, the share of its projected value (3 mm line on the "
                "mid-thickness, trilinear) that comes from each planted ROI's voxels"
            ),
        }
        save_json(layout.truth / "truth.json", description)
