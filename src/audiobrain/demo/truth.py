"""What the brain-score demo plants and where it writes it: the planted ROIs and their loadings
per vertex (or voxel), the stimulus features they load on, and the demo tree's layout. Shared by
the surface demo (:mod:`audiobrain.demo.simulate`) and the volumetric one
(:mod:`audiobrain.demo.simulate_volume`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audiobrain import surface
from audiobrain.io import save_arrays

SURFACE_SPACE = "fsaverage5"
N_ACOUSTIC_BANDS = 4
N_DEEP_FEATURES = 8
VERTEX_AMPLITUDE_JITTER = (0.75, 1.25)


@dataclass(frozen=True)
class Planted:
    """What one ROI carries: its feature family, amplitude (units) and acoustic share of it."""

    kind: str  # "acoustic", "deep" or "mixed"
    amplitude: float
    acoustic_share: float


PLANTED: dict[str, Planted] = {
    "A1": Planted("acoustic", 1.0, 1.0),
    "Belt": Planted("mixed", 0.7, 0.5),
    "TPJ": Planted("deep", 1.0, 0.0),
}

# Independent random streams, so adding a subject never changes another one's data.
_STREAMS = {"encoder": 1, "loadings": 2, "design": 3, "confounds": 4, "bold": 5}


def stream_rng(seed: int, stream: str, *keys: int) -> np.random.Generator:
    return np.random.default_rng([seed, _STREAMS[stream], *keys])


@dataclass(frozen=True)
class DemoLayout:
    """Paths of the demo tree under ``root`` (BIDS, fMRIPrep derivatives, truth)."""

    root: Path
    task: str

    def __post_init__(self):
        object.__setattr__(self, "root", Path(self.root))

    @property
    def bids(self) -> Path:
        return self.root / "bids"

    @property
    def stimuli(self) -> Path:
        return self.bids / "stimuli"

    @property
    def fmriprep(self) -> Path:
        return self.root / "derivatives" / "fmriprep"

    @property
    def truth(self) -> Path:
        return self.root / "truth"

    def events(self, subject: str) -> Path:
        return self.bids / f"sub-{subject}" / "func" / f"sub-{subject}_task-{self.task}_events.tsv"

    def trials(self, subject: str) -> Path:
        """The design as a stimulus table (truth: what reading the events must give back)."""
        return self.truth / f"sub-{subject}" / f"sub-{subject}_task-{self.task}_trials.tsv"

    def bold_sidecar(self, subject: str) -> Path:
        return self.bids / f"sub-{subject}" / "func" / f"sub-{subject}_task-{self.task}_bold.json"

    def surface_bold(self, subject: str, hemi: str) -> Path:
        name = f"sub-{subject}_task-{self.task}_hemi-{hemi}_space-{SURFACE_SPACE}_bold.func.gii"
        return self.fmriprep / f"sub-{subject}" / "func" / name

    def confounds(self, subject: str, extension: str = "tsv") -> Path:
        name = f"sub-{subject}_task-{self.task}_desc-confounds_timeseries.{extension}"
        return self.fmriprep / f"sub-{subject}" / "func" / name

    def regressors(self, subject: str) -> Path:
        return self.truth / f"sub-{subject}" / f"sub-{subject}_task-{self.task}_regressors.npz"


@dataclass(frozen=True)
class StimulusFeatures:
    """Frame-level (100 Hz) features per stimulus, each scaled to [0, 1] over the pool."""

    acoustic: dict[str, np.ndarray]  # stim_id -> (n_frames, N_ACOUSTIC_BANDS)
    deep: dict[str, np.ndarray]  # stim_id -> (n_frames, N_DEEP_FEATURES)
    deep_channels: np.ndarray  # which encoder outputs were kept (largest variance over the pool)


@dataclass(frozen=True)
class VertexTruth:
    """Per vertex of both fsaverage5 hemispheres (left first), or per voxel of the volumetric
    demo (:mod:`audiobrain.demo.simulate_volume`): ROI, signal kind, loadings."""

    roi: np.ndarray  # (n_vertices,) "A1", "Belt", "TPJ" or "none"
    label: np.ndarray  # (n_vertices,) Desikan-Killiany label name
    kind: np.ndarray  # (n_vertices,) "acoustic", "deep", "mixed" or "null"
    amplitude: np.ndarray  # (n_vertices,) signal standard deviation in units (0 for null)
    acoustic_share: np.ndarray  # (n_vertices,) fraction of signal variance that is acoustic
    acoustic_weights: np.ndarray  # (n_vertices, N_ACOUSTIC_BANDS), zero where unused
    deep_weights: np.ndarray  # (n_vertices, N_DEEP_FEATURES), zero where unused

    @property
    def signal_vertices(self) -> np.ndarray:
        return np.flatnonzero(self.amplitude > 0)


def truth_from_labels(
    label_names: np.ndarray, seed: int, planted: Mapping[str, Planted] = PLANTED
) -> VertexTruth:
    """Signal kind, amplitude and loadings of units (vertices or voxels) from their labels.

    The units of a planted ROI are those whose Desikan-Killiany label is one of
    ``surface.DEFAULT_ROIS[roi]``. Acoustic loadings are positive (louder sound, more BOLD);
    deep loadings are signed, since the deep features are zero-mean residuals (a unit prefers
    some of them over others).
    """
    n_units = label_names.size
    masks = {name: np.isin(label_names, surface.DEFAULT_ROIS[name]) for name in planted}
    rng = stream_rng(seed, "loadings")
    roi = np.full(n_units, "none", dtype=object)
    kind = np.full(n_units, "null", dtype=object)
    amplitude, share = np.zeros(n_units), np.zeros(n_units)
    acoustic_weights = np.zeros((n_units, N_ACOUSTIC_BANDS))
    deep_weights = np.zeros((n_units, N_DEEP_FEATURES))
    for name, spec in planted.items():
        where = np.flatnonzero(masks[name])
        roi[where], kind[where], share[where] = name, spec.kind, spec.acoustic_share
        amplitude[where] = spec.amplitude * rng.uniform(*VERTEX_AMPLITUDE_JITTER, where.size)
        if spec.acoustic_share > 0:  # louder sound, more BOLD; tuning varies across bands
            acoustic_weights[where] = rng.uniform(0.2, 1.0, (where.size, N_ACOUSTIC_BANDS))
        if spec.acoustic_share < 1:
            deep_weights[where] = rng.normal(size=(where.size, N_DEEP_FEATURES))
    return VertexTruth(
        roi.astype(str), np.asarray(label_names, dtype=str), kind.astype(str), amplitude, share,
        acoustic_weights, deep_weights,
    )  # fmt: skip


def save_loadings(layout: DemoLayout, truth: VertexTruth, description: str) -> None:
    """``truth/loadings.npz``: the per-unit inputs of the planted signal."""
    save_arrays(
        layout.truth / "loadings.npz",
        {
            "amplitude": truth.amplitude,
            "acoustic_share": truth.acoustic_share,
            "acoustic_weights": truth.acoustic_weights,
            "deep_weights": truth.deep_weights,
        },
        {"description": description},
    )
