"""Figures of the brain-score study: surface maps, ROI bars and the level profile (Figures 2-3).

Figures are built on :class:`matplotlib.figure.Figure` objects (rendered by Agg for PNG) without
pyplot, so no global state or backend switch is involved, and saved by
:func:`audiobrain.figures.save_figure` without the software/date stamps that would change the bytes
between reruns.

Surface maps follow section 2.7: only vertices significant after FDR correction are coloured, the
rest show the grey sulcal background. Statistics live on a decimated subset of fsaverage5
vertices; :func:`upsample_to_mesh` spreads them to the full mesh by nearest neighbour on the
sphere, which keeps the values unchanged (no smoothing) and paints each analysed vertex's patch.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from functools import cache

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from scipy.spatial import cKDTree

from audiobrain import stats
from audiobrain.figures import save_figure
from audiobrain.io import InputError
from audiobrain.stats import significance_stars
from audiobrain.surface import FSAVERAGE5_VERTICES_PER_HEMI, HEMISPHERES, fsaverage5_sphere

SIGNIFICANCE_Q = 0.05
SURFACE_CMAP = "cold_hot"  # nilearn's diverging map: positive values hot, negative cold
# (hemisphere, view) panels of one surface map row: lateral views first, then medial ones.
SURFACE_PANELS = (
    ("left", "lateral"),
    ("right", "lateral"),
    ("left", "medial"),
    ("right", "medial"),
)
_NILEARN_HEMI = {"L": "left", "R": "right"}


# --------------------------------------------------------------------------- surface
@cache
def _inflated_hemisphere(hemi: str):
    """nilearn's shipped fsaverage5 inflated mesh and sulcal depth of one hemisphere."""
    from nilearn import datasets, surface

    files = datasets.fetch_surf_fsaverage("fsaverage5")
    name = _NILEARN_HEMI[hemi]
    return surface.load_surf_mesh(files[f"infl_{name}"]), surface.load_surf_data(
        files[f"sulc_{name}"]
    )


def _check_vertex_map(values, vertices, significant, n_per_hemi: int):
    values = np.asarray(values, dtype=np.float64)
    vertices = np.asarray(vertices)
    significant = np.asarray(significant)
    if not values.shape == vertices.shape == significant.shape or values.ndim != 1:
        raise InputError(
            f"values {values.shape}, vertices {vertices.shape} and significant "
            f"{significant.shape} must be 1-D and have the same shape (one entry per voxel)"
        )
    if significant.dtype != bool:
        raise InputError(f"significant: expected a boolean mask, found dtype {significant.dtype}")
    if not np.issubdtype(vertices.dtype, np.integer):
        raise InputError(f"vertices: expected integer vertex indices, found {vertices.dtype}")
    if vertices.size and (vertices.min() < 0 or vertices.max() >= 2 * n_per_hemi):
        raise InputError(
            f"vertices: expected indices in [0, {2 * n_per_hemi}) (both hemispheres), "
            f"found [{vertices.min()}, {vertices.max()}]"
        )
    if np.unique(vertices).size != vertices.size:
        raise InputError("vertices: expected each vertex index once, found duplicates")
    return values, vertices, significant


def upsample_to_mesh(
    values: np.ndarray,
    vertices: np.ndarray,
    significant: np.ndarray,
    n_per_hemi: int = FSAVERAGE5_VERTICES_PER_HEMI,
) -> np.ndarray:
    """Values on analysed vertices spread to the full fsaverage5 mesh, significant ones only.

    Every mesh vertex takes the value of the nearest analysed vertex of its hemisphere on the
    sphere; where that vertex is not significant (or the hemisphere has no analysed vertex) the
    result is NaN, which nilearn leaves uncoloured.

    Parameters
    ----------
    values, significant : (n_voxels,)
    vertices : (n_voxels,) int, indices into both hemispheres concatenated (left first)

    Returns
    -------
    (2 * n_per_hemi,) float
    """
    values, vertices, significant = _check_vertex_map(values, vertices, significant, n_per_hemi)
    shown = np.where(significant, values, np.nan)
    full = np.full(2 * n_per_hemi, np.nan)
    for h, hemi in enumerate(HEMISPHERES):
        offset = h * n_per_hemi
        in_hemi = (vertices >= offset) & (vertices < offset + n_per_hemi)
        if not in_hemi.any():
            continue
        sphere = fsaverage5_sphere(hemi)
        _, nearest = cKDTree(sphere[vertices[in_hemi] - offset]).query(sphere)
        full[offset : offset + n_per_hemi] = shown[in_hemi][nearest]
    return full


def _colour_limit(full: np.ndarray, vmax: float | None) -> float:
    if vmax is not None:
        if not vmax > 0:
            raise ValueError(f"vmax must be positive, got {vmax}")
        return float(vmax)
    shown = np.abs(full[np.isfinite(full)])
    return float(shown.max()) if shown.size and shown.max() > 0 else 1.0


def _draw_surface_row(fig: Figure, axes: Sequence, full: np.ndarray, vmax: float) -> None:
    """The four views of one full-mesh map (NaN = not significant = background only)."""
    from nilearn import plotting

    for ax, (hemi_name, view) in zip(axes, SURFACE_PANELS, strict=True):
        hemi = "L" if hemi_name == "left" else "R"
        mesh, sulcal = _inflated_hemisphere(hemi)
        offset = HEMISPHERES.index(hemi) * FSAVERAGE5_VERTICES_PER_HEMI
        with warnings.catch_warnings():
            # nilearn takes nanmin of the map even when vmin/vmax are given; a hemisphere with
            # no significant vertex is all NaN, which is expected here, not a problem.
            warnings.filterwarnings("ignore", "All-NaN slice encountered", RuntimeWarning)
            plotting.plot_surf_stat_map(
                mesh,
                full[offset : offset + FSAVERAGE5_VERTICES_PER_HEMI],
                bg_map=sulcal,
                hemi=hemi_name,
                view=view,
                cmap=SURFACE_CMAP,
                vmin=-vmax,
                vmax=vmax,
                colorbar=False,
                axes=ax,
                figure=fig,
            )


def _surface_grid(n_rows: int) -> tuple[Figure, np.ndarray]:
    """A figure with ``n_rows`` rows of 3-D axes, one per panel of :data:`SURFACE_PANELS`."""
    n_cols = len(SURFACE_PANELS)
    fig = Figure(figsize=(2.2 * n_cols + 0.8, 2.0 * n_rows + 0.5))
    axes = fig.subplots(n_rows, n_cols, squeeze=False, subplot_kw={"projection": "3d"})
    top = 1 - 0.5 / fig.get_figheight()  # room for the title
    fig.subplots_adjust(left=0.0, right=0.88, bottom=0.0, top=top, wspace=0.0, hspace=0.1)
    return fig, axes


def _add_colourbar(fig: Figure, vmax: float, label: str) -> None:
    axis = fig.add_axes((0.9, 0.25, 0.015, 0.5))
    mappable = ScalarMappable(Normalize(-vmax, vmax), mpl.colormaps[SURFACE_CMAP])
    fig.colorbar(mappable, cax=axis, label=label)


def surface_map(
    values: np.ndarray,
    vertices: np.ndarray,
    significant: np.ndarray,
    path: str | os.PathLike,
    title: str,
    vmax: float | None = None,
    label: str = "brain score (r)",
) -> None:
    """One map on nilearn's fsaverage5 inflated mesh, lateral and medial views of both hemispheres.

    Only FDR-significant vertices are coloured (section 2.7); ``vmax`` fixes the symmetric colour
    range (default: the largest significant magnitude).
    """
    full = upsample_to_mesh(values, vertices, significant)
    limit = _colour_limit(full, vmax)
    fig, axes = _surface_grid(1)
    _draw_surface_row(fig, axes[0], full, limit)
    fig.suptitle(f"{title} ({int(np.sum(significant))} significant vertices)")
    _add_colourbar(fig, limit, label)
    save_figure(fig, path)


def contrast_maps_figure(
    group: Mapping[str, np.ndarray],
    contrasts: Sequence[str],
    selected: Sequence[str],
    path: str | os.PathLike,
    title: str,
) -> None:
    """One surface row per selected contrast (those present), one shared colour range.

    ``group`` holds ``mean`` and ``significant`` ``(n_contrasts, n_voxels)`` and ``vertices``
    ``(n_voxels,)``, rows in the order of ``contrasts`` (the arrays of a group-statistics file).
    """
    contrasts = list(contrasts)
    rows = [c for c in selected if c in contrasts]
    if not rows:
        raise InputError(f"none of the contrasts {list(selected)} is among {contrasts}")
    fulls = [
        upsample_to_mesh(
            group["mean"][contrasts.index(c)],
            group["vertices"],
            np.asarray(group["significant"][contrasts.index(c)], dtype=bool),
        )
        for c in rows
    ]
    limit = _colour_limit(np.concatenate(fulls), None)
    fig, axes = _surface_grid(len(rows))
    for row_axes, contrast, full in zip(axes, rows, fulls, strict=True):
        _draw_surface_row(fig, row_axes, full, limit)
        n_significant = int(np.sum(group["significant"][contrasts.index(contrast)]))
        row_axes[0].set_title(f"{contrast} ({n_significant} sig.)", fontsize=9, loc="left")
    fig.suptitle(title)
    _add_colourbar(fig, limit, "r or gain in r")
    save_figure(fig, path)


# --------------------------------------------------------------------------- bars and profile
ROI_BARS_COLUMNS = ("contrast", "roi", "mean", "sem", "q")


def roi_bars(
    summary: pd.DataFrame,
    contrasts: Sequence[str],
    path: str | os.PathLike,
    title: str,
    ylabel: str = "brain score (r), mean ± SEM",
) -> None:
    """Mean across subjects (bars) and SEM (error bars) per ROI and contrast; stars from ``q``.

    ``summary`` is a :func:`audiobrain.stats.roi_summary` table (one network's rows).
    """
    missing = [column for column in ROI_BARS_COLUMNS if column not in summary.columns]
    if missing:
        raise InputError(f"ROI summary: missing column(s) {missing}; has {list(summary.columns)}")
    shown = [c for c in contrasts if c in set(summary["contrast"])]
    if not shown:
        raise InputError(
            f"ROI summary: none of the contrasts {list(contrasts)} is in the table "
            f"(it has {sorted(set(summary['contrast']))})"
        )
    rows = summary[summary["contrast"].isin(shown)]
    rois = list(dict.fromkeys(rows["roi"]))
    width = 0.8 / len(shown)
    fig = Figure(figsize=(max(5.0, 1.6 * len(rois) + 2), 3.5))
    ax = fig.add_subplot()
    for k, contrast in enumerate(shown):
        part = rows[rows["contrast"] == contrast].set_index("roi").reindex(rois)
        x = np.arange(len(rois)) + (k - (len(shown) - 1) / 2) * width
        ax.bar(x, part["mean"], width, yerr=part["sem"], capsize=2, label=contrast)
        for xi, (mean, sem, q) in zip(x, part[["mean", "sem", "q"]].to_numpy(), strict=True):
            top = mean + sem if mean >= 0 else mean - sem
            ax.text(
                xi,
                top,
                significance_stars(q),
                ha="center",
                va="bottom" if mean >= 0 else "top",
                fontsize=7,
            )
    ax.set_xticks(np.arange(len(rois)), rois)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_title(title)
    fig.tight_layout()
    save_figure(fig, path)


def _level_scores(group: Mapping[str, np.ndarray], contrasts: Sequence[str]) -> dict:
    """The ``"R L<k>"`` rows of ``subject_maps``, keyed ``"L<k>"`` as stats.level_summary wants."""
    contrasts = list(contrasts)
    return {
        name.removeprefix("R "): group["subject_maps"][contrasts.index(name)]
        for name in contrasts
        if name.startswith("R ") and stats.level_index(name.removeprefix("R ")) is not None
    }


def level_profile(
    group: Mapping[str, np.ndarray],
    contrasts: Sequence[str],
    path: str | os.PathLike,
    title: str,
    q: float = stats.DEFAULT_Q,
    alternative: str = stats.DEFAULT_ALTERNATIVE,
) -> None:
    """Mean brain score over vertices per cumulative level, SEM across subjects (Figure 2D).

    ``group["subject_maps"]`` is ``(n_contrasts, n_subjects, n_voxels)`` in the order of
    ``contrasts``; the ``"R L<k>"`` rows are used. Brackets with stars mark levels whose gain over
    the previous level is significant across subjects (:func:`audiobrain.stats.level_summary`).
    """
    table = stats.level_summary(_level_scores(group, contrasts), q=q, alternative=alternative)
    x = np.arange(len(table))
    fig = Figure(figsize=(5, 3.2))
    ax = fig.add_subplot()
    ax.errorbar(x, table["mean"], yerr=table["sem"], marker="o", capsize=3, color="black")
    top = float((table["mean"] + table["sem"]).max())
    span = top - float((table["mean"] - table["sem"]).min()) or 1.0
    for i in np.flatnonzero(table["gain_q"].fillna(1.0).to_numpy() < SIGNIFICANCE_Q):
        height = top + 0.08 * span
        ax.plot(
            [i - 1, i - 1, i, i],
            [height - 0.02 * span, height, height, height - 0.02 * span],
            color="grey",
            linewidth=0.8,
        )
        ax.text(
            i - 0.5,
            height,
            significance_stars(table["gain_q"].iloc[i]),
            ha="center",
            va="bottom",
            fontsize=8,
        )
    ax.set_ylim(top=top + 0.2 * span)
    ax.set_xticks(x, table["feature_set"])
    ax.set_xlabel("cumulative level (L0 = mel filterbank)")
    ax.set_ylabel("mean brain score (r)")
    ax.set_title(title)
    fig.tight_layout()
    save_figure(fig, path)


# --------------------------------------------------------------------------- networks (Figure 3)
# Which rows of a comparison table each Figure 3 panel shows: (feature sets, regions, between
# trained and untrained or between trained types), and the column that spreads along x.
_COMPARISON_PANELS = {
    "types": ("L5", "whole brain", True, "region"),  # Fig. 3C
    "layers": ("layer-", "whole brain", True, "feature_set"),  # Fig. 3B
    "rois": ("L5", None, False, "region"),  # Fig. 3D (and the whole-brain mean beside it)
}


def comparison_bars(table: pd.DataFrame, panel: str, path: str | os.PathLike) -> None:
    """One Figure 3 panel from :func:`audiobrain.brainscores.comparisons.comparison_table`'s
    rows."""
    feature_set, region, versus_untrained, x_column = _COMPARISON_PANELS[panel]
    rows = table[table["feature_set"].str.startswith(feature_set)]
    if region is not None:
        rows = rows[rows["region"] == region]
    rows = rows[rows["comparison"].str.endswith(" - untrained") == versus_untrained]
    if rows.empty:  # e.g. a single trained type: nothing to compare between types
        fig = Figure(figsize=(5, 1.5))
        fig.text(0.5, 0.5, f"no {panel} comparison: it needs more network types", ha="center")
        save_figure(fig, path)
        return
    summary = rows.rename(columns={"comparison": "contrast", x_column: "roi"})
    title = {
        "types": "gain of training over the untrained network (all levels)",
        "layers": "gain of training over the untrained network, per layer",
        "rois": "between trained types, by region (all levels)",
    }[panel]
    roi_bars(
        summary,
        list(dict.fromkeys(summary["contrast"])),
        path,
        title,
        ylabel="difference in brain score (r), mean ± SEM",
    )


def training_effect_maps(maps: Mapping[str, np.ndarray], path: str | os.PathLike) -> None:
    """Figure 3A for every trained type: voxelwise gain over untrained, FDR-significant only."""
    contrasts = [str(c) for c in maps["contrasts"]]
    if not contrasts:
        raise InputError("training-effect maps: no trained network type to compare")
    contrast_maps_figure(maps, contrasts, contrasts, path, "trained minus untrained (all levels)")


def learning_curves(curves: Mapping[str, pd.DataFrame], path: str | os.PathLike) -> None:
    """Training loss (per step) and validation metric of each network; one row per network."""
    fig = Figure(figsize=(8, 2.2 * len(curves)))
    axes = fig.subplots(len(curves), 2, squeeze=False)
    for (label, curve), (loss_ax, metric_ax) in zip(curves.items(), axes, strict=True):
        loss_ax.plot(curve["step"], curve["loss"], linewidth=0.6)
        loss_ax.set_ylabel("CTC loss")
        loss_ax.set_title(label, fontsize=9, loc="left")
        validated = curve.dropna(subset=["validation_metric"])
        metric_ax.plot(validated["step"], validated["validation_metric"], marker="o")
        metric_ax.set_ylabel("validation error")
        metric_ax.set_ylim(bottom=0)
    for ax in axes[-1]:
        ax.set_xlabel("step")
    fig.tight_layout()
    save_figure(fig, path)
