"""Readers and atomic, byte-deterministic writers for arrays, tables, JSON, audio and GIfTI.

Every writer goes through :func:`atomic_path`, so a killed job never leaves a truncated file that
Snakemake (or a reader) could mistake for a finished output.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import pickle
import tempfile
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from xml.parsers.expat import ExpatError

import nibabel as nib
import numpy as np
import pandas as pd
import soundfile as sf

# Fixed zip timestamp: numpy's savez stamps the current time, which breaks byte-identical reruns.
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


@contextlib.contextmanager
def logging_to(path: str | os.PathLike) -> Iterator[None]:
    """Send the library's log, and the traceback of any failure, to a rule's log file."""
    handler = logging.FileHandler(path, mode="w")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield
    except Exception:
        logging.getLogger("audiobrain").exception("failed")
        raise
    finally:
        root.removeHandler(handler)
        handler.close()


class InputError(ValueError):
    """Bad input data; the message names the file, the field, what was expected and what came."""


# What the parsers raise on a truncated download or another file saved under the name (an HTML
# error page, say): turned into an InputError that names the file and what was expected.
PARSER_ERRORS = (
    OSError,
    EOFError,
    RuntimeError,  # torch's "PytorchStreamReader failed reading zip archive"
    pickle.UnpicklingError,
    ValueError,
    KeyError,
    zipfile.BadZipFile,
    ExpatError,
    UnicodeDecodeError,
    pd.errors.ParserError,
    nib.filebasedimages.ImageFileError,
)


@contextlib.contextmanager
def reading(path: str | os.PathLike, expected: str) -> Iterator[None]:
    """Parse ``path`` inside this block: a parser's failure becomes an error naming the file."""
    if not Path(path).exists():
        raise InputError(f"{path}: file not found (expected {expected})")
    try:
        yield
    except InputError:
        raise
    except PARSER_ERRORS as error:
        raise InputError(
            f"{path}: cannot be read as {expected} ({type(error).__name__}: {error}); a "
            "truncated download or another file saved under this name?"
        ) from error


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; moved onto ``path`` if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    tmp.chmod(0o666 & ~_current_umask())  # mkstemp makes 0600; outputs are shared in a lab
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def sidecar_path(path: str | os.PathLike) -> Path:
    """The JSON sidecar that accompanies an array file (BIDS convention)."""
    path = Path(path)
    return path.with_name(path.name.split(".")[0] + ".json")


def is_local_path(path: str | os.PathLike) -> bool:
    """Absolute, ``./``/``../``-relative or home paths are never Hugging Face repository ids."""
    raw = os.fspath(path)
    return os.path.isabs(raw) or raw.startswith((".", "~")) or raw.count("/") > 1


def save_npz(path: str | os.PathLike, arrays: Mapping[str, np.ndarray]) -> None:
    """An uncompressed ``.npz`` with fixed zip timestamps: same arrays, same bytes."""
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as archive:
        for name, value in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.asarray(value), allow_pickle=False)
            archive.writestr(
                zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_EPOCH), buffer.getvalue()
            )


def save_torch(path: str | os.PathLike, payload) -> None:
    """``torch.save`` atomically and byte-reproducibly.

    torch names the records inside its zip after the file it writes to; saving to a buffer first
    keeps that name fixed, so the same tensors give the same bytes whatever the temporary name.
    """
    import torch

    buffer = io.BytesIO()
    torch.save(payload, buffer)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getvalue())


def require_finite(values: np.ndarray, path: str | os.PathLike, what: str) -> np.ndarray:
    """``values`` read from ``path``, or an error saying how many entries of ``what`` are NaN/inf,
    in how many columns (vertices, voxels, channels) and how many of those at every row."""
    bad = ~np.isfinite(values)
    if bad.any():
        columns = bad.reshape(len(bad), -1) if bad.ndim > 1 else bad[:, None]
        whole = int(columns.all(axis=0).sum())
        raise InputError(
            f"{path}: {what}: {int(bad.sum())} NaN/inf value(s) in {int(columns.any(axis=0).sum())}"
            f" column(s), {whole} of them NaN/inf in every row (README, 'Bad input': NaN policy)"
        )
    return values


def load_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    with reading(path, "a numpy .npz archive"), np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def load_torch(
    path: str | os.PathLike, expected: str, safe_globals: tuple = (), trusted: bool = False
):
    """A torch file loaded on the CPU: tensors only (``weights_only``) and ``safe_globals``;
    ``trusted`` unpickles anything, for a local file the user named in the config."""
    import torch  # here: the CPU rules' env has no torch

    with reading(path, expected), torch.serialization.safe_globals(list(safe_globals)):
        return torch.load(path, map_location="cpu", weights_only=not trusted)


def load_npy(path: str | os.PathLike, expected: str) -> np.ndarray:
    """A ``.npy`` array memory-mapped (read as needed), e.g. a release's response matrix."""
    with reading(path, expected):
        return np.load(path, mmap_mode="r", allow_pickle=False)


def load_image(path: str | os.PathLike, expected: str):
    """A NIfTI (or other nibabel) image, its data read lazily."""
    with reading(path, expected):
        return nib.load(path)


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def save_json(path: str | os.PathLike, payload: Mapping) -> None:
    write_text(path, json.dumps(payload, indent=2, sort_keys=True, default=_json_default) + "\n")


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def load_json(path: str | os.PathLike) -> dict:
    with reading(path, "JSON"):
        return json.loads(Path(path).read_text())


def save_arrays(
    path: str | os.PathLike, arrays: Mapping[str, np.ndarray], meta: Mapping | None = None
) -> None:
    """An ``.npz`` plus its JSON sidecar holding shapes and whatever ``meta`` the caller adds."""
    shapes = {name: list(np.shape(value)) for name, value in arrays.items()}
    save_json(sidecar_path(path), {"shapes": shapes, **(meta or {})})
    save_npz(path, arrays)


def write_tsv(table: pd.DataFrame, path: str | os.PathLike, float_format: str = "%.10g") -> None:
    with atomic_path(path) as tmp:
        table.to_csv(tmp, sep="\t", index=False, na_rep="n/a", float_format=float_format)


def read_tsv(
    path: str | os.PathLike, required: tuple[str, ...] = (), dtype: Mapping | None = None
) -> pd.DataFrame:
    """Read a BIDS TSV (``n/a`` is missing) and check that the ``required`` columns are there.

    ``dtype`` keeps labels such as subject ``01`` as text.
    """
    path = Path(path)
    with reading(path, "a tab-separated table"):
        table = pd.read_csv(path, sep="\t", na_values=["n/a"], keep_default_na=False, dtype=dtype)
    missing = [column for column in required if column not in table.columns]
    if missing:
        raise InputError(
            f"{path}: missing column(s) {missing}; found columns {list(table.columns)}"
        )
    return table


def write_wav(path: str | os.PathLike, waveform: np.ndarray, sr_hz: int) -> None:
    """16-bit PCM WAV (what stimulus folders usually hold)."""
    with atomic_path(path) as tmp:
        sf.write(tmp, np.clip(waveform, -1.0, 1.0), sr_hz, subtype="PCM_16", format="WAV")


def _load_gifti(path: Path) -> nib.gifti.GiftiImage:
    expected = "a GIfTI time series (.func.gii)"
    with reading(path, expected):
        image = nib.load(path)
    if not isinstance(image, nib.gifti.GiftiImage):  # nibabel's answer to other XML or HTML
        raise InputError(f"{path}: cannot be read as {expected}: no GIfTI document in it")
    return image


def read_gifti_timeseries(
    path: str | os.PathLike, expected_vertices: int | None = None
) -> np.ndarray:
    """Surface BOLD from a ``.func.gii``: ``(n_trs, n_vertices)`` float64."""
    path = Path(path)
    image = _load_gifti(path)
    if not image.darrays:
        raise InputError(f"{path}: GIfTI has no data arrays")
    data = np.stack([np.asarray(d.data, dtype=np.float64).ravel() for d in image.darrays])
    if expected_vertices is not None and data.shape[1] != expected_vertices:
        raise InputError(
            f"{path}: expected {expected_vertices} vertices per time point (surface space), "
            f"found {data.shape[1]}"
        )
    return data


def gifti_repetition_time(path: str | os.PathLike) -> float | None:
    """The TR (seconds) stored in a GIfTI's first data array, as fMRIPrep writes it, if any."""
    image = _load_gifti(Path(path))
    meta = image.darrays[0].meta if image.darrays else {}
    value = meta.get("TimeStep") if meta else None
    return None if value is None else float(value) / 1000.0


def write_gifti_timeseries(path: str | os.PathLike, data: np.ndarray, tr_s: float) -> None:
    """Write ``(n_trs, n_vertices)`` as one GIfTI time-series array per TR, TR in ms metadata."""
    darrays = [
        nib.gifti.GiftiDataArray(
            np.asarray(frame, dtype=np.float32),
            intent="NIFTI_INTENT_TIME_SERIES",
            datatype="NIFTI_TYPE_FLOAT32",
            meta=nib.gifti.GiftiMetaData({"TimeStep": f"{tr_s * 1000:g}"}),
        )
        for frame in np.asarray(data)
    ]
    with atomic_path(path) as tmp:
        nib.save(nib.gifti.GiftiImage(darrays=darrays), tmp)


def paths_inside(paths: list[str], folder: str | os.PathLike) -> list[str]:
    """The ``paths`` (files or patterns) that lie inside ``folder``, both resolved from here."""
    root = Path(folder).resolve()
    return [path for path in paths if Path(path).resolve().is_relative_to(root)]
