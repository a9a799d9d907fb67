"""Figures of the brain-score study: surface maps, ROI bars and the level profile (Figure 2)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from functools import cache

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from audiobrain.io import atomic_path
from audiobrain.surface import FSAVERAGE5_VERTICES_PER_HEMI, HEMISPHERES

DPI = 100
STAR_THRESHOLDS = ((0.001, "***"), (0.01, "**"), (0.05, "*"))
# Colour only vertices above this value (non-significant ones are set to 0 before plotting).
_SHOW_ABOVE = 1e-9


def save_figure(fig: plt.Figure, path: str | os.PathLike) -> None:
    """PNG written atomically and without a software stamp, so reruns give the same bytes."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI, metadata={"Software": None})
    plt.close(fig)


@cache
def _fsaverage5():
    from nilearn import datasets

    return datasets.fetch_surf_fsaverage("fsaverage5")


def _sphere_coordinates(hemi: str) -> np.ndarray:
    from nilearn import surface

    mesh = _fsaverage5()["sphere_left" if hemi == "L" else "sphere_right"]
    return np.asarray(surface.load_surf_mesh(mesh)[0])


def upsample_to_mesh(
    values: np.ndarray,
    vertices: np.ndarray,
    significant: np.ndarray,
    n_per_hemi: int = FSAVERAGE5_VERTICES_PER_HEMI,
) -> np.ndarray:
    """Decimated vertex values spread to the full fsaverage5 mesh (both hemispheres concatenated).

    Every mesh vertex takes the value of its nearest analysed vertex of the same hemisphere on the
    sphere; non-significant analysed vertices give 0, so only significant regions are coloured.
    """
    values, vertices = np.asarray(values, dtype=float), np.asarray(vertices)
    significant = np.asarray(significant, dtype=bool)
    if not values.shape == vertices.shape == significant.shape:
        raise ValueError(
            f"values {values.shape}, vertices {vertices.shape} and significant "
            f"{significant.shape} must have the same shape"
        )
    shown = np.where(significant, values, 0.0)
    full = np.zeros(2 * n_per_hemi)
    for h, hemi in enumerate(HEMISPHERES):
        in_hemi = (vertices >= h * n_per_hemi) & (vertices < (h + 1) * n_per_hemi)
        if not in_hemi.any():
            continue
        sphere = _sphere_coordinates(hemi)
        _, nearest = cKDTree(sphere[vertices[in_hemi] - h * n_per_hemi]).query(sphere)
        full[h * n_per_hemi : (h + 1) * n_per_hemi] = shown[in_hemi][nearest]
    return full


def contrast_maps_figure(
    group: Mapping[str, np.ndarray],
    contrasts: Sequence[str],
    selected: Sequence[str],
    path: str | os.PathLike,
    title: str,
) -> None:
    """One row per selected contrast: mean across subjects on both hemispheres (lateral views)."""
    from nilearn import plotting

    rows = [c for c in selected if c in contrasts]
    fig, axes = plt.subplots(
        len(rows), 2, figsize=(7, 2.6 * len(rows)), subplot_kw={"projection": "3d"}, squeeze=False
    )
    mesh = _fsaverage5()
    for row, contrast in enumerate(rows):
        index = contrasts.index(contrast)
        full = upsample_to_mesh(
            group["mean"][index], group["vertices"], group["significant"][index]
        )
        vmax = max(float(np.abs(full).max()), 1e-3)
        for col, hemi in enumerate(("left", "right")):
            part = (
                full[:FSAVERAGE5_VERTICES_PER_HEMI]
                if col == 0
                else full[FSAVERAGE5_VERTICES_PER_HEMI:]
            )
            plotting.plot_surf_stat_map(
                mesh[f"infl_{hemi}"],
                part,
                hemi=hemi,
                view="lateral",
                bg_map=mesh[f"sulc_{hemi}"],
                threshold=_SHOW_ABOVE,
                vmax=vmax,
                colorbar=col == 1,
                cmap="cold_hot",
                axes=axes[row, col],
                figure=fig,
            )
        axes[row, 0].set_title(f"{contrast} ({int(group['significant'][index].sum())} sig.)")
    fig.suptitle(title)
    save_figure(fig, path)


def significance_stars(q: float) -> str:
    return next((stars for limit, stars in STAR_THRESHOLDS if q < limit), "")


def roi_bars(summary: pd.DataFrame, contrasts: Sequence[str], path: str | os.PathLike, title: str):
    """Mean (bars) and SEM across subjects (error bars) per ROI and contrast, stars from q."""
    rows = summary[summary["contrast"].isin(contrasts)]
    rois = list(dict.fromkeys(rows["roi"]))
    shown = [c for c in contrasts if c in set(rows["contrast"])]
    width = 0.8 / max(len(shown), 1)
    fig, ax = plt.subplots(figsize=(7, 3.5))
    for k, contrast in enumerate(shown):
        part = rows[rows["contrast"] == contrast].set_index("roi").loc[rois]
        x = np.arange(len(rois)) + (k - (len(shown) - 1) / 2) * width
        ax.bar(x, part["mean"], width, yerr=part["sem"], capsize=2, label=contrast)
        for xi, (mean, sem, q) in zip(x, part[["mean", "sem", "q"]].to_numpy(), strict=True):
            ax.text(xi, mean + sem, significance_stars(q), ha="center", va="bottom", fontsize=7)
    ax.set_xticks(np.arange(len(rois)), rois)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_ylabel("brain score (r)")
    ax.legend(fontsize=7, ncols=3)
    ax.set_title(title)
    fig.tight_layout()
    save_figure(fig, path)


def level_profile(
    group: Mapping[str, np.ndarray], contrasts: Sequence[str], path: str | os.PathLike, title: str
) -> None:
    """Each cumulative level's brain score averaged over vertices; SEM across subjects (Fig 2D)."""
    from audiobrain.stats import LEVEL_CONTRASTS

    levels = [c for c in LEVEL_CONTRASTS if c in contrasts]
    per_subject = np.stack(
        [group["subject_maps"][contrasts.index(c)].mean(axis=1) for c in levels]
    )  # (n_levels, n_subjects)
    sem = per_subject.std(axis=1, ddof=1) / np.sqrt(per_subject.shape[1])
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.errorbar(np.arange(len(levels)), per_subject.mean(axis=1), yerr=sem, marker="o", capsize=3)
    ax.set_xticks(np.arange(len(levels)), [c.removeprefix("R ") for c in levels])
    ax.set_xlabel("cumulative level (L0 = mel)")
    ax.set_ylabel("mean brain score (r)")
    ax.set_title(title)
    fig.tight_layout()
    save_figure(fig, path)
