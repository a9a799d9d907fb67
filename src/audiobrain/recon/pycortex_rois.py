"""Brain2Speech's voxel sets (Table 4) from ds003020's own pycortex ROI definitions.

ds003020 ships a pycortex database (``derivative/pycortex-db/<subject>/``): surfaces, the
hand-drawn ROIs of ``overlays.svg`` and, per functional transform (``derivative/subject_xfms.json``:
``UTS01 -> UTS01_auto``), ``transforms/<xfm>/mask_thick.nii.gz``. The columns of the preprocessed
responses (``preprocessed_data/<subject>/<story>.hf5``, ``data``: TRs x voxels) are the voxels of
``mask_thick`` in C order of pycortex's ``(z, y, x)`` array, i.e. nibabel's ``(x, y, z)`` data
transposed (the convention of pycortex's ``Volume`` and of the consumers of this dataset).

Turning the SVG's ROI outlines into voxels takes pycortex itself (surface geometry, the flatmap,
a grey-matter sampler). ``pip install pycortex`` works from PyPI but builds from source (Cython
extensions) and adds Cython, tornado, shapely, lxml, html5lib, numexpr, imageio and more, plus a
configured filestore, for one export per subject; so the workflow does not depend on it. The lab
exports each subject's masks once, where pycortex is installed, with the database as
``cortex.database.default_filestore``::

    import cortex, numpy as np
    masks = cortex.utils.get_roi_masks("UTS01", "UTS01_auto", roi_list=["AC"],
                                       gm_sampler="thick", return_dict=True)
    np.savez("roi_masks/UTS01_roi_masks.npz", **masks)

(``gm_sampler="thick"`` keeps every ROI voxel inside ``mask_thick``, i.e. among the response
columns; ROI voxels outside it are dropped here, whatever the sampler.)

:func:`read_roi_masks` reads that file: ROI name -> volume in the transform's reference space,
``(z, y, x)`` as pycortex returns it (boolean; a mapper-based ``gm_sampler`` needs ``threshold=``
so the values are boolean too); names split by hemisphere (``AC_L``/``AC_R``, ``split_lr=True``)
are merged. The index-volume form (``return_dict=False``) is read too, saved as
``np.savez(path, index_volume=volume, index_labels=json.dumps(labels))``: ROI ``name`` is
``abs(index_volume) == labels[name]``, left hemisphere negative, as pycortex documents.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from audiobrain.io import InputError, load_json, load_npz

PYCORTEX_DB = Path("derivative", "pycortex-db")
SUBJECT_XFMS = Path("derivative", "subject_xfms.json")
RESPONSE_MASK = "mask_thick.nii.gz"  # the voxels of the preprocessed responses
ROI_MASKS_FILE = "{subject}_roi_masks.npz"
HEMISPHERE_SUFFIXES = ("_L", "_R")  # pycortex's split_lr names


def transform_name(root: str | os.PathLike, subject: str) -> str:
    """The subject's functional transform: ``subject_xfms.json``, else ``<subject>_auto``."""
    path = Path(root) / SUBJECT_XFMS
    if not path.is_file():
        return f"{subject}_auto"
    transforms = load_json(path)
    if subject not in transforms:
        raise InputError(f"{path}: no transform for {subject}; found {sorted(transforms)}")
    return str(transforms[subject])


def response_voxel_mask(
    root: str | os.PathLike, subject: str, config_key: str
) -> tuple[np.ndarray, Path]:
    """``mask_thick`` of the subject's transform as a boolean ``(z, y, x)`` array, and its path.

    Its ``True`` voxels, in C order, are the columns of the subject's response files.
    """
    import nibabel

    xfm = transform_name(root, subject)
    path = Path(root) / PYCORTEX_DB / subject / "transforms" / xfm / RESPONSE_MASK
    if not path.is_file():
        raise InputError(
            f"{path}: file not found (the voxels of {subject}'s responses; check {config_key})"
        )
    data = np.asarray(nibabel.load(path).dataobj)
    if data.ndim != 3:
        raise InputError(f"{path}: expected a 3-D mask, found shape {data.shape}")
    return np.transpose(data, (2, 1, 0)) > 0, path


def read_roi_masks(
    path: str | os.PathLike, rois: Sequence[str], shape: tuple[int, ...], config_key: str
) -> dict[str, np.ndarray]:
    """ROI name -> boolean ``(z, y, x)`` volume from an exported file (module docstring).

    Raises InputError naming the file and ``config_key`` when a ROI is absent, a volume has
    another shape than ``mask_thick``'s ``shape``, or holds fractional values.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(
            f"{path}: file not found (the subject's pycortex ROI masks; check {config_key})"
        )
    arrays = load_npz(path)
    volumes = _index_layout(arrays, path) if "index_volume" in arrays else arrays
    masks = {}
    for roi in rois:
        parts = (
            [roi]
            if roi in volumes
            else [roi + s for s in HEMISPHERE_SUFFIXES if roi + s in volumes]
        )
        if not parts:
            found = sorted({k.removesuffix("_L").removesuffix("_R") for k in volumes})
            raise InputError(f"{path}: no ROI {roi!r} (check {config_key}); found {found}")
        masks[roi] = np.zeros(shape, dtype=bool)
        for name in parts:
            masks[roi] |= _boolean_volume(volumes[name], name, shape, path)
    return masks


def _index_layout(arrays: Mapping[str, np.ndarray], path: Path) -> dict[str, np.ndarray]:
    if "index_labels" not in arrays:
        raise InputError(f"{path}: index_volume without index_labels (JSON of name -> index)")
    try:
        labels = json.loads(str(arrays["index_labels"]))
    except json.JSONDecodeError as error:
        raise InputError(f"{path}: index_labels is not JSON ({error})") from error
    volume = np.abs(np.asarray(arrays["index_volume"]))
    return {str(name): volume == int(index) for name, index in labels.items()}


def _boolean_volume(volume: np.ndarray, name: str, shape: tuple, path: Path) -> np.ndarray:
    volume = np.asarray(volume)
    if volume.shape != tuple(shape):
        raise InputError(
            f"{path}: ROI {name!r} has shape {volume.shape}, but mask_thick is {tuple(shape)} "
            "(z, y, x): export the masks for the subject's functional transform"
        )
    if volume.dtype != bool and not np.isin(volume, (0, 1)).all():
        raise InputError(
            f"{path}: ROI {name!r} holds fractional values (a mapper-based gm_sampler); export "
            "it with threshold= so that the mask is boolean"
        )
    return volume.astype(bool)


def roi_voxel_masks(
    root: str | os.PathLike,
    subjects: Sequence[str],
    roi_masks_dir: str | os.PathLike,
    rois: Sequence[str],
    *,
    config_key: str,
    masks_key: str,
) -> dict[str, np.ndarray]:
    """Per subject, the response columns in the union of ``rois``: boolean ``(n_voxels,)``.

    Parameters
    ----------
    root : the ds003020 folder (``derivative/pycortex-db``, ``derivative/subject_xfms.json``).
    roi_masks_dir : folder of ``<subject>_roi_masks.npz`` exported with pycortex.
    rois : ROI names of ``overlays.svg`` (e.g. ``["AC"]``), united.
    config_key, masks_key : the config keys of ``root`` and of the masks, named in errors.
    """
    if not rois:
        raise InputError(f"config {masks_key}: no ROI names given")
    out = {}
    for subject in subjects:
        response, _ = response_voxel_mask(root, subject, config_key)
        path = Path(roi_masks_dir) / ROI_MASKS_FILE.format(subject=subject)
        masks = read_roi_masks(path, rois, response.shape, masks_key)
        union = np.logical_or.reduce(list(masks.values()))
        out[subject] = union[response]
    return out


def brain2speech_voxel_masks(settings: Mapping, where: str) -> dict[str, np.ndarray]:
    """The voxel sets a Brain2Speech config (``recon.sources.<dataset>``, ``where``) names.

    Either ``rois`` with ``roi_masks`` (the folder of exported pycortex masks, read with
    :func:`roi_voxel_masks`) or ``voxel_masks`` (an ``.npz`` of subject -> boolean mask over the
    response columns); one of them is required, since Table 4 uses ROI voxels, not all.
    """
    subjects = list(settings["subjects"])
    if settings.get("roi_masks") is not None:
        if settings.get("voxel_masks") is not None:
            raise InputError(f"config {where}: give roi_masks (with rois) or voxel_masks, not both")
        return roi_voxel_masks(
            settings["root"],
            subjects,
            settings["roi_masks"],
            list(settings.get("rois") or ()),
            config_key=f"{where}.root",
            masks_key=f"{where}.rois / {where}.roi_masks",
        )
    if settings.get("voxel_masks") is not None:
        path = Path(settings["voxel_masks"])
        if not path.is_file():
            raise InputError(f"{path}: file not found (config {where}.voxel_masks)")
        return {key: value.astype(bool) for key, value in load_npz(path).items()}
    raise InputError(
        f"config {where}: Brain2Speech needs its voxel sets (Table 4): rois and roi_masks "
        "(pycortex ROI masks exported per subject, see audiobrain.recon.pycortex_rois) or "
        "voxel_masks"
    )
