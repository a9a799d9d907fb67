"""Figures of the reconstruction study: mel panels (Fig. 4), Figure 5's accuracy bars, Figure 8's
feature PCC bars and the t-SNE of semantic features (Figs. 9-10).

Built on :class:`matplotlib.figure.Figure` without pyplot and written by
:func:`audiobrain.figures.save_figure` (atomic, no date stamps), like the brain-score figures.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.manifold import TSNE

from audiobrain.figures import save_figure
from audiobrain.io import InputError
from audiobrain.recon.analysis import C2F, FINE, design_matrix

TSNE_PERPLEXITY = 30.0  # scikit-learn's default; the paper gives none
# Test sets hold 150-600 clips: exact t-SNE (O(n^2)) takes seconds there and, unlike Barnes-Hut,
# runs no OpenMP loop (which crawls on a busy shared machine); larger sets use Barnes-Hut.
TSNE_EXACT_MAX_SAMPLES = 1000
MEL_CMAP = "magma"
REFERENCE_LINE = {"color": "grey", "linestyle": "--", "linewidth": 1.0}  # Figure 5's dashed lines


# --------------------------------------------------------------------------- Figure 4
def mel_spectrogram_panels(
    mels: Mapping[str, Sequence[np.ndarray]],
    path: str | os.PathLike,
    clip_titles: Sequence[str] | None = None,
    title: str | None = None,
) -> None:
    """Rows of mel-spectrograms, one row per entry (stimulus first), one column per clip.

    Parameters
    ----------
    mels : row name -> per clip ``(n_frames, n_mels)`` mel (e.g. ``{"Stimulus": [...], "LiR":
        [...], "C2F-LDM": [...]}``); every row has the same number of clips. One colour range is
        shared by all panels so that rows compare.
    clip_titles : a title per column (e.g. the clip names)
    """
    if not mels:
        raise InputError("mel panels: no rows given")
    counts = {name: len(row) for name, row in mels.items()}
    n_clips = next(iter(counts.values()))
    if n_clips == 0 or any(count != n_clips for count in counts.values()):
        raise InputError(
            f"mel panels: every row needs the same, non-zero number of clips: {counts}"
        )
    if clip_titles is not None and len(clip_titles) != n_clips:
        raise InputError(f"mel panels: {len(clip_titles)} clip titles for {n_clips} clips")
    arrays = {}
    for name, row in mels.items():
        arrays[name] = [np.asarray(mel, dtype=np.float64) for mel in row]
        for k, mel in enumerate(arrays[name]):
            if mel.ndim != 2 or mel.size == 0:
                raise InputError(
                    f"mel panels: {name!r} clip {k}: expected a (n_frames, n_mels) array, got "
                    f"shape {mel.shape}"
                )
    finite = np.concatenate([m[np.isfinite(m)] for row in arrays.values() for m in row])
    vmin, vmax = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    fig = Figure(figsize=(2.2 * n_clips + 0.6, 1.5 * len(arrays) + 0.6))
    axes = fig.subplots(len(arrays), n_clips, squeeze=False)
    for r, (name, row) in enumerate(arrays.items()):
        for k, mel in enumerate(row):
            ax = axes[r, k]
            ax.imshow(mel.T, origin="lower", aspect="auto", cmap=MEL_CMAP, vmin=vmin, vmax=vmax)
            ax.set_xticks([])
            ax.set_yticks([])
            if k == 0:
                ax.set_ylabel(name, fontsize=8)
            if r == 0 and clip_titles is not None:
                ax.set_title(str(clip_titles[k]), fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    save_figure(fig, path)


# --------------------------------------------------------------------------- Figures 9-10
def tsne_embedding(
    features: np.ndarray, perplexity: float = TSNE_PERPLEXITY, seed: int = 0
) -> np.ndarray:
    """2-D t-SNE of ``(n_samples, ...)`` features: ``(n_samples, 2)``.

    The perplexity is clipped to ``n_samples - 1`` (t-SNE needs it below the sample count); PCA
    initialisation and a fixed ``random_state`` make the picture the same on every rerun. Exact
    gradients up to :data:`TSNE_EXACT_MAX_SAMPLES` samples, Barnes-Hut above.
    """
    matrix = design_matrix(features, what="t-SNE features")
    if len(matrix) < 3:
        raise InputError(f"t-SNE: needs at least 3 samples, got {len(matrix)}")
    model = TSNE(
        n_components=2,
        perplexity=min(float(perplexity), len(matrix) - 1.0),
        init="pca",
        method="exact" if len(matrix) <= TSNE_EXACT_MAX_SAMPLES else "barnes_hut",
        random_state=seed,
    )
    return model.fit_transform(np.asarray(matrix, dtype=np.float64))


def semantic_tsne(
    ground_truth: np.ndarray,
    decoded: np.ndarray,
    labels: Sequence,
    path: str | os.PathLike,
    prompt_indices: Sequence[int] | None = None,
    perplexity: float = TSNE_PERPLEXITY,
    seed: int = 0,
    title: str | None = None,
) -> None:
    """t-SNE of ground-truth (left) and decoded (right) semantic features, coloured by label.

    Each space gets its own embedding, as in Figures 9-10. ``prompt_indices`` marks the clips used
    as audio prompts (crosses, Fig. 10).

    Parameters
    ----------
    ground_truth, decoded : (n_samples, d) CLAP features of the same test clips
    labels : (n_samples,) genre or speaker gender
    """
    labels = np.asarray(labels)
    if len(ground_truth) != len(decoded) or labels.shape != (len(decoded),):
        raise InputError(
            f"t-SNE: {len(ground_truth)} ground-truth and {len(decoded)} decoded features need "
            f"one label each, got labels of shape {labels.shape}"
        )
    prompt = np.zeros(len(labels), dtype=bool)
    if prompt_indices is not None:
        indices = np.asarray(prompt_indices, dtype=int)
        if indices.size and (indices.min() < 0 or indices.max() >= len(labels)):
            raise InputError(
                f"t-SNE: prompt indices must lie in [0, {len(labels)}), got "
                f"[{indices.min()}, {indices.max()}]"
            )
        prompt[indices] = True
    classes = list(dict.fromkeys(labels.tolist()))
    colours = [f"C{k % 10}" for k in range(len(classes))]
    fig = Figure(figsize=(9, 4.2))
    axes = fig.subplots(1, 2)
    for ax, (name, features) in zip(
        axes, (("ground truth", ground_truth), ("decoded", decoded)), strict=True
    ):
        points = tsne_embedding(features, perplexity, seed)
        for label, colour in zip(classes, colours, strict=True):
            member = labels == label
            ax.scatter(*points[member & ~prompt].T, s=8, color=colour, label=str(label))
            if prompt.any():
                ax.scatter(*points[member & prompt].T, s=30, color=colour, marker="x")
        if prompt.any():
            ax.scatter([], [], s=30, color="black", marker="x", label="audio prompt")
        ax.set_title(f"{name} semantic features", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[1].legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    save_figure(fig, path)


# --------------------------------------------------------------------------- Figure 5
def semantic_accuracy_bars(
    per_subject: pd.DataFrame,
    summary: pd.DataFrame,
    path: str | os.PathLike,
    features: Sequence[str] = (FINE, C2F),
    names: Mapping[str, str] | None = None,
    title: str | None = None,
) -> None:
    """Accuracy per subject and feature set, the mean across subjects, chance and upper bound.

    ``per_subject`` and ``summary`` are :func:`~audiobrain.recon.analysis.semantic_analysis`'s
    tables. The last group is the mean across subjects (error bars: SEM); a bracket over it
    carries the stars of each summary comparison between two of the shown feature sets. Grey
    dashed lines mark the chance level and the upper bound (Figure 5).
    """
    needed = {"subject", "features", "accuracy"}
    if not needed <= set(per_subject.columns):
        raise InputError(
            f"accuracy bars: per-subject table needs {sorted(needed)}, has "
            f"{list(per_subject.columns)}"
        )
    shown = [f for f in features if f in set(per_subject["features"])]
    if not shown:
        raise InputError(
            f"accuracy bars: none of {list(features)} in the table (it has "
            f"{sorted(set(per_subject['features']))})"
        )
    names = dict(names or {})
    wide = per_subject.pivot(index="subject", columns="features", values="accuracy")
    subjects = list(dict.fromkeys(per_subject["subject"]))
    wide = wide.reindex(subjects)[shown]
    n_groups = len(subjects) + 1
    width = 0.8 / len(shown)
    fig = Figure(figsize=(max(4.5, 0.9 * n_groups + 2.0), 3.4))
    ax = fig.add_subplot()
    offsets = {}
    for k, name in enumerate(shown):
        offset = (k - (len(shown) - 1) / 2) * width
        offsets[name] = offset
        values = wide[name].to_numpy(dtype=float)
        n = np.sum(np.isfinite(values))
        sem = np.nanstd(values, ddof=1) / np.sqrt(n) if n > 1 else np.nan
        heights = np.append(values, np.nanmean(values))
        errors = np.append(np.full(len(values), np.nan), sem)
        ax.bar(
            np.arange(n_groups) + offset,
            heights,
            width,
            yerr=errors,
            capsize=2,
            label=names.get(name, name),
        )
    top = float(np.nanmax(wide.to_numpy(dtype=float)))
    for label, column in (("chance", "chance"), ("upper bound", "upper_bound")):
        if column in summary.columns and summary[column].notna().any():
            level = float(summary[column].dropna().iloc[0])
            ax.axhline(level, **REFERENCE_LINE)
            ax.text(-0.45, level, label, va="bottom", fontsize=7, color="grey")
            top = max(top, level)
    step = 0.06 * (top if top > 0 else 1.0)
    height = top + step
    for _, row in summary.iterrows():
        if {row.get("features"), row.get("baseline")} <= set(shown):
            x = [n_groups - 1 + offsets[row["baseline"]], n_groups - 1 + offsets[row["features"]]]
            ax.plot(
                [x[0], x[0], x[1], x[1]],
                [height - step / 3, height, height, height - step / 3],
                color="black",
                linewidth=0.8,
            )
            stars = row.get("stars")
            stars = stars if isinstance(stars, str) and stars else "n.s."
            ax.text(np.mean(x), height, stars, ha="center", va="bottom", fontsize=8)
            height += 1.5 * step
    ax.set_ylim(0, height + step)
    ax.set_xticks(np.arange(n_groups), [*subjects, "mean"])
    ax.set_ylabel("classification accuracy")
    _save_with_legend_outside(fig, ax, title, path)


# --------------------------------------------------------------------------- Figure 8
def feature_pcc_bars(
    table: pd.DataFrame,
    path: str | os.PathLike,
    methods: Sequence[str] | None = None,
    title: str | None = None,
) -> None:
    """PCC between decoded and ground-truth acoustic features per subject, bars by method.

    ``table`` is :func:`~audiobrain.recon.analysis.feature_pcc_table`'s (``subject``,
    ``method``, ``pcc``); ``methods`` orders the bars (default: order of appearance).
    """
    needed = {"subject", "method", "pcc"}
    if not needed <= set(table.columns):
        raise InputError(
            f"feature PCC bars: table needs {sorted(needed)}, has {list(table.columns)}"
        )
    present = list(dict.fromkeys(table["method"]))
    shown = present if methods is None else [m for m in methods if m in present]
    if not shown:
        raise InputError(f"feature PCC bars: none of {list(methods)} in the table ({present})")
    subjects = list(dict.fromkeys(table["subject"]))
    wide = table.pivot(index="subject", columns="method", values="pcc").reindex(subjects)
    width = 0.8 / len(shown)
    fig = Figure(figsize=(max(4.5, 0.8 * len(subjects) + 2.0), 3.2))
    ax = fig.add_subplot()
    for k, method in enumerate(shown):
        x = np.arange(len(subjects)) + (k - (len(shown) - 1) / 2) * width
        ax.bar(x, wide[method].to_numpy(dtype=float), width, label=method)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(np.arange(len(subjects)), subjects)
    ax.set_ylabel("PCC (decoded vs ground-truth features)")
    _save_with_legend_outside(fig, ax, title, path)


# --------------------------------------------------------------------------- learning curves
LEARNING_CURVE_COLUMNS = 3


def training_curves(curves: Mapping[str, Mapping[str, pd.DataFrame]], path: str | os.PathLike):
    """One panel per training (VAE, T-UNet pretraining, each D_aco and G variant), one line per
    subject: the training loss per step (log scale where it stays positive), as the trainers log.
    """
    if not curves:
        raise InputError(f"{path}: no training metrics to plot")
    n_rows = -(-len(curves) // LEARNING_CURVE_COLUMNS)
    fig = Figure(figsize=(4.0 * LEARNING_CURVE_COLUMNS, 2.6 * n_rows))
    axes = fig.subplots(n_rows, LEARNING_CURVE_COLUMNS, squeeze=False).ravel()
    for ax, (panel, by_subject) in zip(axes, curves.items(), strict=False):
        for subject, table in by_subject.items():
            for column in ("step", "loss"):
                if column not in table:
                    raise InputError(f"{panel}, {subject}: training metrics have no {column!r}")
            ax.plot(table["step"], table["loss"], linewidth=0.8, label=subject)
        if all((table["loss"] > 0).all() for table in by_subject.values()):
            ax.set_yscale("log")
        ax.set_title(panel, fontsize=9, loc="left")
        ax.set_xlabel("step")
        ax.set_ylabel("training loss")
        if len(by_subject) > 1:
            ax.legend(fontsize=7)
    for ax in axes[len(curves) :]:
        ax.set_axis_off()
    fig.tight_layout()
    save_figure(fig, path)


def _save_with_legend_outside(fig: Figure, ax, title: str | None, path: str | os.PathLike) -> None:
    """Bar panels keep their legend right of the axes, where it hides no bar."""
    ax.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    if title:
        ax.set_title(title)
    fig.tight_layout()
    save_figure(fig, path)
