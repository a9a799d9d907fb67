"""Confound cleaning of BOLD time series (Millet & King 2021, section 2.2).

The BOLD signal is de-confounded from 18 fMRIPrep regressors (6 head-motion parameters, the first
6 anatomical CompCor components and 6 DCT cosine drifts) with nilearn's ``clean_img`` defaults
over the whole run; then only the scans of the sentence blocks are kept, each block of 5
sentences is linearly detrended on its own, and every vertex is z-scored. Loading goes through
nilearn's fMRIPrep interface; the regression, detrending and scaling through
``nilearn.signal.clean``.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from nilearn import signal
from nilearn.interfaces.fmriprep import load_confounds

from audiobrain.brainscores.fmriprep import confounds_files_for
from audiobrain.io import (
    InputError,
    gifti_repetition_time,
    load_image,
    load_json,
    read_tsv,
    sidecar_path,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PaperConfounds:
    """How many regressors of each family section 2.2 removes (18 in all)."""

    n_motion: int = 6
    n_compcor: int = 6
    n_cosine: int = 6


PAPER_CONFOUNDS = PaperConfounds()
MOTION_COLUMNS = ("trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z")
COMPCOR_MASK = "combined"  # anatomical CompCor over the combined WM+CSF mask
MIN_BLOCK_SCANS = 3  # a linear trend fitted on fewer scans removes everything or nothing
_TR_ATOL_S = 1e-3


def cosine_columns(n_cosine: int) -> list[str]:
    return [f"cosine{index:02d}" for index in range(n_cosine)]


def load_paper_confounds(
    bold_paths: Sequence[str | os.PathLike] | str | os.PathLike,
    n_compcor: int = PAPER_CONFOUNDS.n_compcor,
    n_cosine: int = PAPER_CONFOUNDS.n_cosine,
) -> pd.DataFrame:
    """The 18 confounds of section 2.2 for one run, ``(n_scans, 6 + n_compcor + n_cosine)``.

    Parameters
    ----------
    bold_paths : the two hemisphere ``.func.gii`` files of the run, or its ``desc-preproc``
        NIfTI; the ``desc-confounds_timeseries.tsv/.json`` pair must sit beside them
        (fMRIPrep naming).

    Returns
    -------
    Columns ``trans_x .. rot_z``, the first ``n_compcor`` ``a_comp_cor_*`` of the combined mask,
    then ``cosine00 ..``, float64, raw (not demeaned: the cleaning regression has an intercept).
    All scans are kept, non-steady-state ones included, so rows stay aligned with the events.
    """
    images = [
        str(p) for p in ([bold_paths] if isinstance(bold_paths, str | os.PathLike) else bold_paths)
    ]
    missing_images = [p for p in images if not Path(p).is_file()]
    if missing_images:
        raise InputError(f"BOLD file(s) not found: {missing_images}")
    tsv, sidecar = confounds_files_for(images[0])
    table = read_tsv(tsv)
    if not sidecar.is_file():
        raise InputError(f"{sidecar}: not found; its CompCor 'Mask' entries are needed")
    compcor = _compcor_columns(load_json(sidecar), table, sidecar, tsv, n_compcor)
    _require_columns(table, tsv, [*MOTION_COLUMNS, *cosine_columns(n_cosine)])
    loaded = _nilearn_confounds(images, tsv, n_compcor)
    selected = loaded[[*MOTION_COLUMNS, *compcor, *cosine_columns(n_cosine)]].astype(np.float64)
    _require_finite(selected, tsv)
    return selected.reset_index(drop=True)


def _compcor_columns(
    meta: dict, table: pd.DataFrame, sidecar: Path, tsv: Path, n: int
) -> list[str]:
    """The first ``n`` anatomical CompCor columns whose sidecar entry says the combined mask."""
    combined = sorted(
        (
            name
            for name, info in meta.items()
            if name.startswith("a_comp_cor_")
            and isinstance(info, dict)
            and info.get("Mask") == COMPCOR_MASK
        ),
        key=lambda name: int(name.rsplit("_", 1)[1]),  # a_comp_cor_100 comes after _99
    )
    if len(combined) < n:
        raise InputError(
            f"{sidecar}: expected at least {n} anatomical CompCor components of the "
            f'\'{COMPCOR_MASK}\' mask (a_comp_cor_* with "Mask": "{COMPCOR_MASK}"), '
            f"found {len(combined)}: {combined}"
        )
    _require_columns(table, tsv, combined[:n])
    return combined[:n]


def _require_columns(table: pd.DataFrame, path: Path, columns: Sequence[str]) -> None:
    missing = [column for column in columns if column not in table.columns]
    if missing:
        raise InputError(f"{path}: missing confound column(s) {missing}")


def _nilearn_confounds(images: list[str], tsv: Path, n_compcor: int) -> pd.DataFrame:
    """nilearn's reader with the paper's choices; its defaults would give 24 motion regressors
    and every CompCor component. ``n/a`` in the first row (derivatives) it fills from the
    second; the selected columns have none in fMRIPrep's output."""
    try:
        loaded, sample_mask = load_confounds(
            images if len(images) == 2 else images[0],
            strategy=("motion", "high_pass", "compcor"),
            motion="basic",
            compcor="anat_combined",
            n_compcor=n_compcor,
            demean=False,
        )
    except (ValueError, KeyError) as error:
        raise InputError(f"{tsv}: nilearn could not load the confounds ({error})") from error
    if sample_mask is not None:
        n_dropped = len(loaded) - len(sample_mask)
        logger.warning(
            "%s: %d non-steady-state scan(s) flagged by fMRIPrep; kept (the confounds model "
            "them), so events and scans stay aligned", tsv, n_dropped,
        )  # fmt: skip
    return loaded


def _require_finite(table: pd.DataFrame, path: Path) -> None:
    bad = ~np.isfinite(table.to_numpy())
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise InputError(
            f"{path}: {int(bad.sum())} missing or infinite confound value(s), first in column "
            f"{table.columns[col]!r} at scan {row}"
        )


def clean_bold(
    bold: np.ndarray,
    confounds: np.ndarray | pd.DataFrame,
    blocks: np.ndarray,
    standardize: bool = True,
) -> np.ndarray:
    """The BOLD that the encoders see: the analysed scans, cleaned as section 2.2 says.

    Parameters
    ----------
    bold : (n_scans, n_vertices), the whole run.
    confounds : (n_scans, n_confounds), removed over the whole run by
        :func:`regress_out_confounds` (nilearn's ``clean_img`` with its default parameters).
    blocks : (n_scans,) the analysed block of each scan, 0 for scans no block keeps
        (:func:`audiobrain.brainscores.events.analysed_scans`). Only the kept scans are returned,
        each contiguous block linearly detrended on its own (section 2.2), so cross-validation
        across blocks leaks no trend.
    standardize : z-score every vertex over the kept scans (sample std); constant ones become 0.

    Returns
    -------
    (n_kept, n_vertices) float64, the scans with ``blocks > 0`` in time order.
    """
    bold, confounds, blocks = _checked_inputs(bold, confounds, blocks)
    kept = blocks > 0
    cleaned = detrend_blocks(regress_out_confounds(bold, confounds)[kept], blocks[kept])
    if standardize:
        cleaned = signal.clean(cleaned, detrend=False, standardize="zscore_sample", filter=False)
    return cleaned


def regress_out_confounds(bold: np.ndarray, confounds: np.ndarray) -> np.ndarray:
    """nilearn's ``clean_img(bold, confounds=confounds)`` with its defaults, as the paper says.

    Section 2.2 de-confounds "using nilearn's clean_img ... with otherwise default parameters":
    nilearn then detrends the signal and the confounds linearly, projects the signal onto the
    orthogonal of the confounds, and z-scores it over the run. The per-block detrending that
    follows removes any linear trend within each block anyway; the run-wide detrending adds the
    run's trend to the regressors, and the z-scoring scales each vertex, which the brain score's
    own standardisation undoes. ``standardize="zscore_sample"`` is what nilearn's default
    ``True`` means from nilearn 0.14 on (0.13 still divides by the population std: a constant
    factor).
    """
    with warnings.catch_warnings():
        # Confound scaling (population vs sample std) does not change the projection.
        warnings.filterwarnings(
            "ignore", message="From release 0.14.0", category=DeprecationWarning
        )
        return signal.clean(bold, confounds=confounds, filter=False, **CLEAN_IMG_DEFAULTS)


#: ``nilearn.image.clean_img``'s defaults as nilearn passes them to ``nilearn.signal.clean``.
CLEAN_IMG_DEFAULTS = {"detrend": True, "standardize": "zscore_sample"}


def detrend_blocks(bold: np.ndarray, blocks: np.ndarray) -> np.ndarray:
    """Remove a separate linear trend (and mean) from each contiguous block of scans."""
    segments = contiguous_segments(blocks)
    return signal.clean(bold, runs=segments, detrend=True, standardize=None, filter=False)


def contiguous_segments(blocks: np.ndarray) -> np.ndarray:
    """Number contiguous runs of equal labels 0, 1, 2, ... in time order.

    nilearn stacks per-run results in sorted label order, so labels must increase with time;
    a label that comes back later starts a new segment.
    """
    blocks = np.asarray(blocks)
    return np.concatenate([[0], np.cumsum(blocks[1:] != blocks[:-1])])


def _checked_inputs(bold, confounds, blocks) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    bold = np.asarray(bold, dtype=np.float64)
    confounds = np.asarray(confounds, dtype=np.float64)
    blocks = np.asarray(blocks)
    if bold.ndim != 2:
        raise ValueError(f"bold must be (n_scans, n_vertices), got shape {bold.shape}")
    if confounds.ndim == 1:
        confounds = confounds[:, None]
    n_scans = bold.shape[0]
    if confounds.shape[0] != n_scans:
        raise InputError(
            f"confounds have {confounds.shape[0]} rows but the BOLD has {n_scans} scans"
        )
    if blocks.shape != (n_scans,):
        raise InputError(
            f"blocks must have one label per scan ({n_scans}), got shape {blocks.shape}"
        )
    for name, values in (("bold", bold), ("confounds", confounds)):
        if not np.isfinite(values).all():
            raise InputError(f"{name}: {int((~np.isfinite(values)).sum())} NaN/inf value(s)")
    if not (blocks > 0).any():
        raise InputError("blocks: no scan lies in an analysed block")
    lengths = np.bincount(contiguous_segments(blocks[blocks > 0]))
    if lengths.min() < MIN_BLOCK_SCANS:
        raise InputError(
            f"blocks: every block needs at least {MIN_BLOCK_SCANS} scans for a linear detrend; "
            f"shortest has {lengths.min()}"
        )
    return bold, confounds, blocks


def bold_repetition_time(path: str | os.PathLike) -> float | None:
    """TR in seconds from a GIfTI's TimeStep (or its JSON sidecar) or a NIfTI's 4th zoom."""
    path = Path(path)
    if path.name.endswith(".gii"):
        tr_s = gifti_repetition_time(path)
        sidecar = path.with_name(path.name.split(".")[0] + ".json")
        if tr_s is None and sidecar.is_file():
            tr_s = load_json(sidecar).get("RepetitionTime")
        return None if tr_s is None else float(tr_s)
    header = load_image(path, "a NIfTI BOLD image").header
    if len(header.get_zooms()) < 4:
        raise InputError(f"{path}: not a 4D image (zooms {header.get_zooms()})")
    time_unit = header.get_xyzt_units()[1]
    scale = {"msec": 1e-3, "usec": 1e-6}.get(time_unit, 1.0)
    return float(header.get_zooms()[3]) * scale


def check_repetition_time(
    path: str | os.PathLike, tr_s_found: float | None, tr_s_config: float
) -> float:
    """Check the BOLD's TR against the configured one; ``tr_s_found=None`` reads it from ``path``.

    Returns the TR to use. Files that carry no TR are accepted with a warning.
    """
    if tr_s_found is None:
        tr_s_found = bold_repetition_time(path)
    if tr_s_found is None:
        logger.warning(
            "%s: no repetition time stored; using the configured %g s", path, tr_s_config
        )
        return float(tr_s_config)
    if not np.isclose(tr_s_found, tr_s_config, rtol=0, atol=_TR_ATOL_S):
        raise InputError(
            f"{path}: repetition time {tr_s_found:g} s in the file, {tr_s_config:g} s in the config"
        )
    return float(tr_s_config)


def bold_start_time(path: str | os.PathLike, configured_s: float | None = None) -> float:
    """The time (s after each volume's onset) that the preprocessed BOLD samples represent.

    fMRIPrep slice-time corrects to the middle of the acquisition by default and writes the
    reference as ``StartTime`` (with ``SliceTimingCorrected: true``) in the JSON sidecar of each
    BOLD output; without slice-timing correction the samples are taken at the volume's onset
    (0). ``configured_s`` (config ``dataset.start_time_s``) overrides the sidecar.
    """
    if configured_s is not None:
        return float(configured_s)
    sidecar = sidecar_path(path)
    if not sidecar.is_file():
        raise InputError(
            f"{sidecar}: not found; fMRIPrep writes the BOLD's timing (SliceTimingCorrected, "
            f"StartTime) there. Set config dataset.start_time_s to give it instead"
        )
    meta = load_json(sidecar)
    if not meta.get("SliceTimingCorrected", False):
        return 0.0
    if not isinstance(meta.get("StartTime"), int | float):
        raise InputError(
            f"{sidecar}: SliceTimingCorrected is true but StartTime is missing or not a number "
            f"(found {meta.get('StartTime')!r})"
        )
    return float(meta["StartTime"])
