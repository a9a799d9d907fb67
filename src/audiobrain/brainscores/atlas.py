"""ROIs from atlases on fsaverage5 (Millet & King 2021, section 2.2).

The paper's ROIs come from two atlases: A1 from the PALS-B12 Brodmann atlas (Van Essen 2005),
Belt (LBelt, MBelt, PBelt) and TPJ (STV, PFm, PGi) from parcels of the HCP multi-modal
parcellation (Glasser et al. 2016). The config names the atlas files and maps each ROI to atlas
labels (``rois`` in ``configs/mous.yaml``):

``annotation``
    The default atlas: one FreeSurfer ``.annot`` of the left hemisphere, mirrored onto the right
    (:func:`audiobrain.surface.mirrored_labels`); ``null`` is the fsaverage5 Desikan-Killiany
    annotation nilearn ships (the demo's).
``atlases``
    ``name -> {left: lh.X.annot, right: rh.X.annot}`` (FreeSurfer annotations on fsaverage5 or
    on a finer fsaverage mesh, whose first 10,242 vertices are fsaverage5's), or
    ``name -> {image: X.nii.gz, labels: X.tsv}`` (an MNI-space label image, sampled on
    fsaverage5's mid-thickness along the same 3 mm line as the BOLD, keeping the most frequent
    label; the TSV has BIDS ``dseg.tsv`` columns ``index`` and ``name``).
``definitions``
    ``ROI -> [labels]`` (labels of the default atlas) or ``ROI -> {atlas: name, labels: [...]}``.
    ``{hemi}`` in a label stands for ``L`` or ``R`` (HCP-MMP names its parcels ``L_LBelt_ROI``,
    ``R_LBelt_ROI``).

A missing atlas file, an annotation on another mesh, or a label that the atlas does not have is
an :class:`~audiobrain.io.InputError` naming the file and the label.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np

from audiobrain import surface
from audiobrain.brainscores import projection
from audiobrain.io import InputError, load_image, read_tsv

logger = logging.getLogger(__name__)

DEFAULT_ATLAS = "default"  # the atlas of `rois.annotation` (nilearn's Desikan-Killiany if null)
HEMI_PLACEHOLDER = "{hemi}"
_N_NAMES_SHOWN = 12


@dataclass(frozen=True)
class RoiDefinition:
    """One ROI: the atlas it is read from and the labels whose union it is."""

    atlas: str
    labels: tuple[str, ...]

    def labels_for(self, hemi: str) -> list[str]:
        return [label.replace(HEMI_PLACEHOLDER, hemi) for label in self.labels]


@dataclass(frozen=True)
class SurfaceAtlas:
    """Integer labels of every fsaverage5 vertex, per hemisphere, and their names.

    ``labels[hemi]`` is ``(n_per_hemi,)`` int (-1: no label); ``names[hemi]`` maps label values
    to names; ``files[hemi]`` is the file the labels came from (for messages).
    """

    name: str
    labels: dict[str, np.ndarray]
    names: dict[str, dict[int, str]]
    files: dict[str, str]

    def mask(self, roi: str, label_names: Sequence[str], hemi: str) -> np.ndarray:
        """Vertices of ``hemi`` whose label is one of ``label_names``, ``(n_per_hemi,)`` bool."""
        values = []
        for label in label_names:
            found = [value for value, name in self.names[hemi].items() if name == label]
            if not found:
                raise InputError(
                    f"{self.files[hemi]}: ROI {roi!r} names label {label!r}, which atlas "
                    f"{self.name!r} does not have ({_some_names(self.names[hemi])})"
                )
            values += found
        selected = np.isin(self.labels[hemi], values)
        if not selected.any():
            logger.warning(
                "%s: labels %s of ROI %r cover no fsaverage5 vertex", self.files[hemi],
                list(label_names), roi,
            )  # fmt: skip
        return selected


def _some_names(names: Mapping[int, str]) -> str:
    shown = sorted(set(names.values()))
    more = f", ... ({len(shown)} in all)" if len(shown) > _N_NAMES_SHOWN else ""
    return "it has " + ", ".join(repr(n) for n in shown[:_N_NAMES_SHOWN]) + more


def roi_definitions(definitions: Mapping[str, Sequence[str] | Mapping]) -> dict[str, RoiDefinition]:
    """Config ``rois.definitions`` as :class:`RoiDefinition` s (a list: the default atlas)."""
    parsed = {}
    for roi, entry in definitions.items():
        if isinstance(entry, Mapping):
            if "atlas" not in entry or not entry.get("labels"):
                raise InputError(
                    f"config rois.definitions.{roi}: expected {{atlas: NAME, labels: [...]}} "
                    f"or a list of labels, found {dict(entry)}"
                )
            parsed[roi] = RoiDefinition(str(entry["atlas"]), tuple(map(str, entry["labels"])))
        else:
            if isinstance(entry, str) or not entry:
                raise InputError(
                    f"config rois.definitions.{roi}: expected a non-empty list of labels, "
                    f"found {entry!r}"
                )
            parsed[roi] = RoiDefinition(DEFAULT_ATLAS, tuple(map(str, entry)))
    return parsed


# --- reading atlases ---------------------------------------------------------------------------


def read_hemisphere_annotation(
    path: str | os.PathLike, n_per_hemi: int = surface.FSAVERAGE5_VERTICES_PER_HEMI
) -> tuple[np.ndarray, dict[int, str]]:
    """A FreeSurfer ``.annot`` on fsaverage5 or a finer fsaverage mesh, read on fsaverage5.

    fsaverage meshes are nested (see :mod:`audiobrain.surface`), so an annotation of fsaverage6
    or fsaverage (163,842 vertices, as FreeSurfer ships PALS-B12) is read at its first
    ``n_per_hemi`` vertices. Any other vertex count (a subject's own surface, fsLR) is an error.

    Returns
    -------
    labels : (n_per_hemi,) int, -1 where the annotation has no label
    names : label value -> name
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: atlas annotation not found")
    try:
        labels, _, names = nib.freesurfer.read_annot(str(path))
    except (OSError, ValueError) as error:
        raise InputError(f"{path}: cannot read FreeSurfer annotation ({error})") from error
    n_found = labels.shape[0]
    order, target = surface.icosahedron_order(n_found), surface.icosahedron_order(n_per_hemi)
    if n_found != n_per_hemi and (order is None or target is None or order < target):
        raise InputError(
            f"{path}: annotation has {n_found} vertices; expected fsaverage5's {n_per_hemi} or "
            f"a finer fsaverage mesh (40962, 163842) whose first {n_per_hemi} vertices are "
            "fsaverage5's"
        )
    if n_found != n_per_hemi:
        logger.info("%s: fsaverage annotation of %d vertices read on its first %d", path,
                    n_found, n_per_hemi)  # fmt: skip
    decoded = [n.decode() if isinstance(n, bytes) else str(n) for n in names]
    return np.asarray(labels[:n_per_hemi], dtype=np.int64), dict(enumerate(decoded))


def mirrored_atlas(
    name: str, path: str | os.PathLike, n_per_hemi: int = surface.FSAVERAGE5_VERTICES_PER_HEMI
) -> SurfaceAtlas:
    """A left-hemisphere annotation, carried to the right through the mid-sagittal mirror."""
    labels, names = read_hemisphere_annotation(path, n_per_hemi)
    return SurfaceAtlas(
        name,
        {"L": labels, "R": surface.mirrored_labels(labels)},
        {"L": names, "R": names},
        {"L": str(path), "R": f"{path} (mirrored onto the right hemisphere)"},
    )


def annotation_atlas(
    name: str,
    left: str | os.PathLike,
    right: str | os.PathLike,
    n_per_hemi: int = surface.FSAVERAGE5_VERTICES_PER_HEMI,
) -> SurfaceAtlas:
    """One FreeSurfer annotation per hemisphere (``lh.*.annot``, ``rh.*.annot``)."""
    read = {
        hemi: read_hemisphere_annotation(p, n_per_hemi) for hemi, p in (("L", left), ("R", right))
    }
    return SurfaceAtlas(
        name,
        {hemi: labels for hemi, (labels, _) in read.items()},
        {hemi: names for hemi, (_, names) in read.items()},
        {"L": str(left), "R": str(right)},
    )


def read_label_table(path: str | os.PathLike) -> dict[int, str]:
    """A BIDS ``dseg.tsv`` look-up table: integer ``index`` -> ``name``."""
    if not Path(path).is_file():
        raise InputError(f"{path}: atlas label table not found")
    table = read_tsv(path, required=("index", "name"))
    if table["index"].duplicated().any():
        raise InputError(f"{path}: column 'index' repeats values")
    return {
        int(index): str(name) for index, name in zip(table["index"], table["name"], strict=True)
    }


def volume_atlas(
    name: str,
    image_path: str | os.PathLike,
    labels_path: str | os.PathLike,
    line_mm: float = projection.LINE_MM,
    n_samples: int = projection.LINE_SAMPLES,
) -> SurfaceAtlas:
    """An MNI-space label image sampled on fsaverage5 (template mid-thickness, 3 mm line).

    Each vertex takes the most frequent label among its ``n_samples`` line samples (nearest
    voxel; nilearn's ``interpolation="nearest_most_frequent"``), so labels are never averaged.
    """
    from nilearn.surface import vol_to_surf

    if not Path(image_path).is_file():
        raise InputError(f"{image_path}: atlas label image not found")
    names = read_label_table(labels_path)
    image = load_image(image_path, "a NIfTI atlas label image")
    if len(image.shape) != 3:
        raise InputError(f"{image_path}: expected a 3D label image, found shape {image.shape}")
    meshes = projection.template_meshes()
    labels = {}
    for hemi in surface.HEMISPHERES:
        try:
            sampled = vol_to_surf(
                image,
                meshes[hemi].midthickness,
                radius=line_mm / 2.0,
                kind="line",
                n_samples=n_samples,
                interpolation="nearest_most_frequent",
            )
        except ValueError as error:
            raise InputError(
                f"{image_path}: cannot sample the label image on fsaverage5 ({error}); it must "
                "cover the MNI brain"
            ) from error
        labels[hemi] = np.rint(sampled).astype(np.int64)
    files = {hemi: f"{image_path} (labels {labels_path})" for hemi in surface.HEMISPHERES}
    return SurfaceAtlas(name, labels, {"L": names, "R": names}, files)


def load_atlases(
    definitions: Mapping[str, RoiDefinition],
    annotation: str | os.PathLike | None = None,
    atlases: Mapping[str, Mapping[str, str]] | None = None,
    line_mm: float = projection.LINE_MM,
    n_samples: int = projection.LINE_SAMPLES,
) -> dict[str, SurfaceAtlas]:
    """Every atlas the ROI ``definitions`` use, from config ``rois.annotation`` and ``atlases``."""
    atlases = dict(atlases or {})
    loaded = {}
    for name in dict.fromkeys(d.atlas for d in definitions.values()):
        if name == DEFAULT_ATLAS:
            path = annotation or surface.nilearn_desikan_annotation()
            loaded[name] = mirrored_atlas(name, path)
        elif name not in atlases:
            users = [roi for roi, d in definitions.items() if d.atlas == name]
            raise InputError(
                f"config rois.definitions: ROI(s) {users} use atlas {name!r}, which "
                f"rois.atlases does not define (it defines {sorted(atlases)})"
            )
        else:
            loaded[name] = _load_configured(name, atlases[name], line_mm, n_samples)
    return loaded


def _load_configured(name: str, spec: Mapping[str, str], line_mm: float, n_samples: int):
    keys = set(spec)
    if keys == {"left", "right"}:
        return annotation_atlas(name, spec["left"], spec["right"])
    if keys == {"image", "labels"}:
        return volume_atlas(name, spec["image"], spec["labels"], line_mm, n_samples)
    raise InputError(
        f"config rois.atlases.{name}: expected {{left, right}} (.annot files) or "
        f"{{image, labels}} (label NIfTI and its TSV), found keys {sorted(keys)}"
    )


def roi_masks(
    atlases: Mapping[str, SurfaceAtlas],
    definitions: Mapping[str, RoiDefinition],
    vertices: np.ndarray,
    n_per_hemi: int = surface.FSAVERAGE5_VERTICES_PER_HEMI,
) -> dict[str, np.ndarray]:
    """Boolean masks over ``vertices`` (indices into both hemispheres, left first) per ROI."""
    masks = {}
    for roi, definition in definitions.items():
        atlas = atlases[definition.atlas]
        both = np.concatenate(
            [atlas.mask(roi, definition.labels_for(hemi), hemi) for hemi in surface.HEMISPHERES]
        )
        if both.size != 2 * n_per_hemi:
            raise InputError(
                f"{atlas.files['L']}: atlas {atlas.name!r} has {both.size} vertices, the surface "
                f"{2 * n_per_hemi}"
            )
        masks[roi] = both[np.asarray(vertices)]
    return masks


def annotation_roi_masks(
    annotation: str | os.PathLike,
    vertices: np.ndarray,
    rois: Mapping[str, Sequence[str]] = surface.DEFAULT_ROIS,
) -> dict[str, np.ndarray]:
    """Masks over ``vertices`` of ROIs given as label names of one left-hemisphere annotation,
    mirrored onto the right (the default atlas of :func:`load_atlases`)."""
    definitions = roi_definitions(rois)
    return roi_masks(
        {DEFAULT_ATLAS: mirrored_atlas(DEFAULT_ATLAS, annotation)}, definitions, vertices
    )
