"""Saving figures atomically and byte-for-byte the same on every rerun, for both studies.

Figures are :class:`matplotlib.figure.Figure` objects (no pyplot state); matplotlib would stamp
its version and the date into PNG, SVG and PDF metadata and salt SVG ids randomly.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import matplotlib as mpl
from matplotlib.figure import Figure

from audiobrain.io import atomic_path

DPI = 100
# Metadata keys matplotlib would fill with its version or the current date, per format.
_UNSTAMPED = {
    "png": {"Software": None},
    "svg": {"Creator": None, "Date": None},
    "pdf": {"Creator": None, "Producer": None, "CreationDate": None},
}
_SVG_HASH_SALT = "audiobrain"  # fixed ids inside SVG files (matplotlib salts them randomly)


def save_figure(fig: Figure, path: str | os.PathLike, dpi: int = DPI) -> None:
    """Write ``fig`` atomically as PNG, SVG or PDF (from the suffix), same bytes on every rerun.

    PNGs are stored with a palette of 256 colours (as many as a colour map has), chosen by
    octree: a third of the bytes of matplotlib's RGBA or less, so the report can be mailed.
    """
    path = Path(path)
    file_format = path.suffix.lstrip(".").lower()
    if file_format not in _UNSTAMPED:
        raise ValueError(
            f"{path}: figure format must be one of {sorted(_UNSTAMPED)}, got {path.suffix!r}"
        )
    with (
        mpl.rc_context({"svg.hashsalt": _SVG_HASH_SALT}),
        atomic_path(path) as tmp,
    ):
        if file_format == "png":
            _save_palette_png(fig, tmp, dpi)
        else:
            fig.savefig(tmp, format=file_format, dpi=dpi, metadata=_UNSTAMPED[file_format])


def _save_palette_png(fig: Figure, path: Path, dpi: int) -> None:
    from PIL import Image

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, metadata=_UNSTAMPED["png"])
    image = Image.open(buffer).convert("RGB")
    palette = image.quantize(256, method=Image.Quantize.FASTOCTREE)
    palette.save(path, format="PNG", optimize=True)
