"""Stimulus features and their fMRI regressors (Millet & King 2021, sections 2.5 and 2.6).

Per stimulus and layer, frame-level features (mel filterbanks at 100 Hz, network activations at
50 Hz) are normalised to [0, 1] across the stimulus pool, placed at a subject's sentence onsets,
convolved with the Glover HRF and sampled at every TR, exactly as nilearn's ``compute_regressor``
does for one feature, but for all features at once. The cumulative feature sets L0..L5 of the
results section (L0 = mel, L_k = mel plus network layers 1..k) are assembled from those regressors.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from audiobrain.audio import MEL_HOP_S, SAMPLE_RATE_HZ, log_spectrogram, mel_filterbank
from audiobrain.brainscores.architecture import LAYER_NAMES, OUTPUT_FRAME_RATE_HZ
from audiobrain.io import InputError, load_json, load_npz, save_arrays, sidecar_path

# torch (activations) and nilearn (the HRF) load in the functions that use them, so that a job
# that needs neither, or only one (brain scores: no torch), does not pay for their import.
if TYPE_CHECKING:
    import torch

    from audiobrain.brainscores.networks import DeepSpeech2

logger = logging.getLogger(__name__)

FEATURES_FORMAT = "audiobrain-features-1"
MEL_FRAME_RATE_HZ = 1.0 / MEL_HOP_S  # section 2.6: 10 ms strides
LEVEL_ORDER = ("mel", *LAYER_NAMES)  # section 3.1: L0 = mel, L1..L5 = conv1, ..., fc
# Section 2.5 uses nilearn's compute_regressor with the Glover HRF. nilearn convolves on a grid of
# TR / oversampling seconds; 200 at TR 2 s gives a 10 ms step, so each 100 Hz mel frame covers one
# grid cell and each 50 Hz network frame two. With nilearn's default (50: 40 ms), several frames
# would share one cell and each frame would last a whole cell, whatever its true duration.
HRF_OVERSAMPLING = 200
_NILEARN_MIN_ONSET_S = -24.0  # compute_regressor's default: where its high-resolution grid starts


@dataclass(frozen=True)
class Features:
    """Frame-level features of a stimulus pool.

    ``layers[name][i]`` is ``(n_frames_i, dim)`` for stimulus ``stim_ids[i]``; its frame ``j``
    starts ``j / frame_rate_hz[name]`` seconds after the stimulus onset.
    """

    stim_ids: list[str]
    layers: dict[str, list[np.ndarray]]
    frame_rate_hz: dict[str, float]
    meta: dict = field(default_factory=dict)


def save_features(
    path: str | os.PathLike,
    stim_ids: Sequence[str],
    layers: Mapping[str, Sequence[np.ndarray]],
    frame_rate_hz: Mapping[str, float],
    meta: Mapping | None = None,
) -> None:
    """Write features as one ``.npz`` (per layer: frames concatenated over stimuli + offsets).

    Arrays ``<layer>__frames`` ``(total_frames, dim)`` float32 and ``<layer>__offsets``
    ``(n_stimuli + 1,)`` int64 (stimulus ``i`` is rows ``offsets[i]:offsets[i + 1]``); the JSON
    sidecar holds ``stim_ids``, the layer order, ``frame_rate_hz`` and ``meta``. Same input,
    same bytes.
    """
    stim_ids = [str(stim_id) for stim_id in stim_ids]
    _check_features(stim_ids, layers, frame_rate_hz)
    arrays = {}
    for name, per_stimulus in layers.items():
        arrays[f"{name}__frames"] = _concatenate_frames(per_stimulus, name)
        arrays[f"{name}__offsets"] = _offsets(per_stimulus)
    sidecar = {
        "format": FEATURES_FORMAT,
        "stim_ids": stim_ids,
        "layers": list(layers),
        "frame_rate_hz": {name: float(frame_rate_hz[name]) for name in layers},
        "meta": dict(meta or {}),
    }
    save_arrays(path, arrays, sidecar)


def _check_features(stim_ids, layers, frame_rate_hz) -> None:
    if len(set(stim_ids)) != len(stim_ids):
        raise ValueError("stim_ids must be unique")
    for name, per_stimulus in layers.items():
        if "__" in name or not name:
            raise ValueError(f"layer name {name!r} must be non-empty and free of '__'")
        if len(per_stimulus) != len(stim_ids):
            raise ValueError(
                f"layer {name!r}: {len(per_stimulus)} stimuli, expected {len(stim_ids)} (stim_ids)"
            )
        if name not in frame_rate_hz or not frame_rate_hz[name] > 0:
            raise ValueError(f"layer {name!r}: frame_rate_hz needs a positive rate for it")


def _concatenate_frames(per_stimulus: Sequence[np.ndarray], name: str) -> np.ndarray:
    dims = {np.shape(frames)[1] if np.ndim(frames) == 2 else None for frames in per_stimulus}
    if None in dims or len(dims) > 1:
        raise ValueError(f"layer {name!r}: every stimulus must be (n_frames, dim) with one dim")
    return np.concatenate([np.asarray(frames, dtype=np.float32) for frames in per_stimulus])


def _offsets(per_stimulus: Sequence[np.ndarray]) -> np.ndarray:
    return np.concatenate([[0], np.cumsum([len(frames) for frames in per_stimulus])]).astype(
        np.int64
    )


def load_features(path: str | os.PathLike) -> Features:
    """Read what :func:`save_features` wrote, checking the sidecar against the arrays."""
    sidecar = load_json(sidecar_path(path))
    if sidecar.get("format") != FEATURES_FORMAT:
        raise InputError(
            f"{sidecar_path(path)}: field 'format' should be {FEATURES_FORMAT!r}, "
            f"found {sidecar.get('format')!r}"
        )
    arrays = load_npz(path)
    stim_ids = list(sidecar["stim_ids"])
    layers = {}
    for name in sidecar["layers"]:
        frames, offsets = arrays.get(f"{name}__frames"), arrays.get(f"{name}__offsets")
        if frames is None or offsets is None:
            raise InputError(f"{path}: layer {name!r} lacks '{name}__frames' or '{name}__offsets'")
        if len(offsets) != len(stim_ids) + 1 or offsets[-1] != len(frames):
            raise InputError(
                f"{path}: '{name}__offsets' should hold {len(stim_ids) + 1} offsets ending at "
                f"{len(frames)} frames, found {len(offsets)} ending at {offsets[-1]}"
            )
        layers[name] = [
            frames[start:stop] for start, stop in zip(offsets[:-1], offsets[1:], strict=True)
        ]
    frame_rate_hz = {name: float(sidecar["frame_rate_hz"][name]) for name in layers}
    return Features(stim_ids, layers, frame_rate_hz, dict(sidecar.get("meta", {})))


def network_activations(
    model: DeepSpeech2, spectrograms: Sequence[np.ndarray], batch_size: int = 1
) -> dict[str, list[np.ndarray]]:
    """Every layer's activations per stimulus, ``{layer: [(n_frames_i, dim) float32]}`` at 50 Hz.

    Runs in eval mode without gradients (the model's mode is restored afterwards). Stimuli go
    through ``batch_size`` at a time, zero-padded; the network masks padding, so batching changes
    results only by floating-point rounding.
    """
    import torch

    was_training = model.training
    device = next(model.parameters()).device
    activations: dict[str, list[np.ndarray]] = {name: [] for name in LAYER_NAMES}
    model.eval()
    try:
        with torch.inference_mode():
            for start in range(0, len(spectrograms), batch_size):
                batch = spectrograms[start : start + batch_size]
                inputs, lengths = _padded_batch(batch, model.n_freq, start)
                outputs = model.activations(inputs.to(device), lengths)
                for row, n_frames in enumerate(model.output_lengths(lengths).tolist()):
                    for name in LAYER_NAMES:
                        frames = outputs[name][row, :n_frames]
                        activations[name].append(frames.float().cpu().numpy())
    finally:
        model.train(was_training)
    return activations


def _padded_batch(
    spectrograms: Sequence[np.ndarray], n_freq: int, first_index: int
) -> tuple[torch.Tensor, torch.Tensor]:
    import torch

    for index, spectrogram in enumerate(spectrograms, start=first_index):
        if np.ndim(spectrogram) != 2 or np.shape(spectrogram)[1] != n_freq or not len(spectrogram):
            raise ValueError(
                f"spectrogram {index}: expected (n_frames > 0, {n_freq}), "
                f"found {np.shape(spectrogram)}"
            )
    lengths = torch.tensor([len(s) for s in spectrograms], dtype=torch.int64)
    inputs = torch.zeros((len(spectrograms), int(lengths.max()), n_freq), dtype=torch.float32)
    for row, spectrogram in enumerate(spectrograms):
        inputs[row, : len(spectrogram)] = torch.from_numpy(np.asarray(spectrogram, np.float32))
    return inputs, lengths


def mel_features(
    waveforms: Sequence[np.ndarray], sr_hz: int = SAMPLE_RATE_HZ, n_mels: int = 40
) -> dict[str, list[np.ndarray]]:
    """The L0 baseline (section 2.6): log mel filterbanks per stimulus, 100 Hz frames."""
    return {"mel": [mel_filterbank(waveform, sr_hz, n_mels) for waveform in waveforms]}


def stimulus_features(
    stim_ids: Sequence[str],
    waveforms: Sequence[np.ndarray],
    model: DeepSpeech2,
    sr_hz: int = SAMPLE_RATE_HZ,
    n_mels: int = 40,
    batch_size: int = 1,
) -> Features:
    """Mel baseline and every network layer for a pool of stimuli (see :func:`save_features`)."""
    spectrograms = [log_spectrogram(waveform, sr_hz) for waveform in waveforms]
    layers = {
        **mel_features(waveforms, sr_hz, n_mels),
        **network_activations(model, spectrograms, batch_size),
    }
    rates = {"mel": MEL_FRAME_RATE_HZ, **dict.fromkeys(LAYER_NAMES, OUTPUT_FRAME_RATE_HZ)}
    return Features([str(s) for s in stim_ids], layers, rates)


def minmax_normalise(per_stimulus: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Scale each feature to [0, 1] over all frames of all stimuli (section 2.5).

    A feature constant over the pool maps to 0, as in scikit-learn's ``minmax_scale``; computed
    stimulus by stimulus so the pool is never copied into one array. Keeps the input dtype.
    """
    non_empty = [frames for frames in per_stimulus if len(frames)]
    if not non_empty:
        raise ValueError("minmax_normalise: every stimulus has zero frames")
    low = np.min([frames.min(axis=0) for frames in non_empty], axis=0)
    span = np.max([frames.max(axis=0) for frames in non_empty], axis=0) - low
    span[span == 0] = 1.0
    return [(frames - low) / span for frames in per_stimulus]


def frame_events(
    per_stimulus_frames: Sequence[np.ndarray], frame_rate_hz: float, onsets_s: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every frame as an event: onsets (s), durations (s) and values ``(n_events, dim)``.

    Frame ``j`` of stimulus ``i`` starts at ``onsets_s[i] + j / frame_rate_hz`` and lasts one
    frame; these are the ``exp_condition`` triplets nilearn's ``compute_regressor`` takes.
    """
    onsets = np.concatenate(
        [
            onset + np.arange(len(frames)) / frame_rate_hz
            for onset, frames in zip(onsets_s, per_stimulus_frames, strict=True)
        ]
    )
    durations = np.full(onsets.shape, 1.0 / frame_rate_hz)
    return onsets, durations, np.concatenate(per_stimulus_frames).astype(np.float64)


def hrf_regressors(
    per_stimulus_frames: Sequence[np.ndarray],
    frame_rate_hz: float,
    onsets_s: Sequence[float] | np.ndarray,
    n_scans: int,
    tr_s: float,
    oversampling: int = HRF_OVERSAMPLING,
    start_time_s: float = 0.0,
) -> np.ndarray:
    """Each feature's time course convolved with the Glover HRF and sampled at every TR.

    Equals, column by column, ``nilearn.glm.first_level.compute_regressor(frame_events(...),
    "glover", frame_times=start_time_s + np.arange(n_scans) * tr_s, oversampling=oversampling)``
    (section 2.5),
    computed for all features at once: the regressor is linear in the frame values, so each
    stimulus contributes ``block @ frames`` where ``block`` (scans near the stimulus x its frames)
    holds the HRF integrated over each frame's grid cells and interpolated at the TRs.

    Parameters
    ----------
    per_stimulus_frames : list of (n_frames_i, dim) arrays
        Features of the stimuli in the order the subject heard them.
    frame_rate_hz : float
        Frames per second (50 for the networks, 100 for mel).
    onsets_s : (n_stimuli,) array
        Each stimulus's onset in the scan, seconds from the first TR.
    n_scans, tr_s : int, float
        Volumes in the run and repetition time (s).
    oversampling : int
        nilearn's temporal oversampling (grid step ``tr_s / oversampling``).
    start_time_s : float
        The time within each TR that its sample represents: TR ``k`` is sampled at
        ``start_time_s + k * tr_s`` (fMRIPrep's slice-timing reference, ``StartTime``).

    Returns
    -------
    (n_scans, dim) float64 array
    """
    onsets_s = np.asarray(onsets_s, dtype=np.float64)
    _check_hrf_inputs(per_stimulus_frames, frame_rate_hz, onsets_s, n_scans, tr_s, oversampling)
    if tr_s / oversampling > 1.0 / frame_rate_hz:
        logger.warning(
            "HRF grid step %.4g s exceeds a %.4g Hz frame: frames sharing a grid cell add up",
            tr_s / oversampling,
            frame_rate_hz,
        )
    frame_times = start_time_s + np.arange(n_scans) * tr_s
    grid = _high_res_grid(frame_times, oversampling)
    kernel_cumsum = _cumulative_glover_kernel(frame_times, oversampling)
    lower, upper, upper_weight = _linear_interpolation(grid, frame_times)
    dim = per_stimulus_frames[0].shape[1]
    regressors = np.zeros((n_scans, dim))
    for onset, frames in zip(onsets_s, per_stimulus_frames, strict=True):
        if len(frames):
            onsets, durations, values = frame_events([frames], frame_rate_hz, [onset])
            first_cell, stop_cell = _boxcar_cells(grid, onsets, durations)
            scans = _scans_reached(lower, upper, first_cell, stop_cell, len(kernel_cumsum))
            responses = [
                _boxcar_response(cells[scans], first_cell, stop_cell, kernel_cumsum)
                for cells in (lower, upper)
            ]
            weight = upper_weight[scans, None]
            regressors[scans] += ((1.0 - weight) * responses[0] + weight * responses[1]) @ values
    return regressors


def _check_hrf_inputs(per_stimulus_frames, frame_rate_hz, onsets_s, n_scans, tr_s, oversampling):
    if onsets_s.ndim != 1 or len(onsets_s) != len(per_stimulus_frames):
        raise InputError(
            f"onsets_s: expected one onset per stimulus ({len(per_stimulus_frames)}), "
            f"found shape {onsets_s.shape}"
        )
    if not len(per_stimulus_frames):
        raise InputError("per_stimulus_frames: no stimuli")
    dims = {np.shape(frames)[1] if np.ndim(frames) == 2 else None for frames in per_stimulus_frames}
    if None in dims or len(dims) != 1:
        raise InputError(
            f"per_stimulus_frames: expected (n_frames, dim) arrays with one dim, found dims {dims}"
        )
    if not (frame_rate_hz > 0 and tr_s > 0 and n_scans >= 2 and oversampling >= 1):
        raise ValueError(
            f"need frame_rate_hz > 0, tr_s > 0, n_scans >= 2, oversampling >= 1; got "
            f"{frame_rate_hz}, {tr_s}, {n_scans}, {oversampling}"
        )
    if not np.all(np.isfinite(onsets_s)) or (onsets_s < 0).any():
        raise InputError("onsets_s: onsets must be finite and >= 0 s (seconds from the first TR)")
    ends = onsets_s + np.array([len(f) for f in per_stimulus_frames]) / frame_rate_hz
    scan_end_s = n_scans * tr_s
    late = np.flatnonzero(ends > scan_end_s + 1e-9)
    if late.size:
        raise InputError(
            f"onsets_s: {late.size} stimulus/stimuli end after the scan ({n_scans} scans x "
            f"{tr_s} s = {scan_end_s:g} s); first: stimulus {late[0]} at {onsets_s[late[0]]:g} s "
            f"ends at {ends[late[0]]:g} s"
        )


def _high_res_grid(frame_times: np.ndarray, oversampling: int) -> np.ndarray:
    """nilearn's oversampled time grid (``_sample_condition``), same arithmetic, same points."""
    n_frames = frame_times.size
    first, last = frame_times.min(), frame_times.max()
    end = last * (1 + 1.0 / (n_frames - 1))
    n_high_res = (n_frames - 1) * 1.0 / (last - first)
    n_high_res *= (end - first - _NILEARN_MIN_ONSET_S) * oversampling
    return np.linspace(first + _NILEARN_MIN_ONSET_S, end, np.rint(n_high_res + 1).astype(int))


def _boxcar_cells(
    grid: np.ndarray, onsets: np.ndarray, durations: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Grid cells ``[first, stop)`` each event covers, by nilearn's rules.

    An event starts at the first grid point at or after its onset and stops at the first at or
    after its end; an event shorter than that gap still covers one cell.
    """
    last = len(grid) - 1
    first = np.minimum(np.searchsorted(grid, onsets), last)
    stop = np.minimum(np.searchsorted(grid, onsets + durations), last)
    stop[(stop < last) & (stop == first)] += 1
    return first, stop


def _scans_reached(
    lower: np.ndarray,
    upper: np.ndarray,
    first_cell: np.ndarray,
    stop_cell: np.ndarray,
    n_cumsum: int,
) -> slice:
    """The TRs whose interpolation points can see events in cells ``[first, stop)``.

    A grid point ``g`` responds when ``first <= g`` and ``g - stop + 1 < len(h)``.
    """
    start = np.searchsorted(upper, first_cell.min(), side="left")
    stop = np.searchsorted(lower, stop_cell.max() + n_cumsum - 2, side="right")
    return slice(int(start), int(stop))


def _cumulative_glover_kernel(frame_times: np.ndarray, oversampling: int) -> np.ndarray:
    """``C[m] = sum(h[:m])`` for nilearn's Glover kernel ``h`` at the grid step; ``C[0] = 0``."""
    from nilearn.glm.first_level import glover_hrf

    t_r = float(np.min(np.diff(frame_times)))  # what compute_regressor passes to the kernel
    return np.concatenate([[0.0], np.cumsum(glover_hrf(t_r, oversampling))])


def _boxcar_response(
    cells: np.ndarray, first_cell: np.ndarray, stop_cell: np.ndarray, kernel_cumsum: np.ndarray
) -> np.ndarray:
    """Causal convolution of each event's unit boxcar with ``h``, at grid ``cells``.

    ``sum_{j=first}^{stop-1} h[g - j] = C[g - first + 1] - C[g - stop + 1]`` with the indices
    clipped to the kernel: (n_cells, n_events).
    """
    top = len(kernel_cumsum) - 1
    after_first = np.clip(cells[:, None] - first_cell[None, :] + 1, 0, top)
    after_stop = np.clip(cells[:, None] - stop_cell[None, :] + 1, 0, top)
    return kernel_cumsum[after_first] - kernel_cumsum[after_stop]


def _linear_interpolation(
    grid: np.ndarray, times: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Neighbouring grid points and the upper one's weight, as ``scipy.interpolate.interp1d``."""
    upper = np.clip(np.searchsorted(grid, times), 1, len(grid) - 1)
    lower = upper - 1
    weight = (times - grid[lower]) / (grid[upper] - grid[lower])
    return lower, upper, weight


def layer_regressors(
    features: Features,
    stim_order: Sequence[str],
    onsets_s: Sequence[float] | np.ndarray,
    n_scans: int,
    tr_s: float,
    oversampling: int = HRF_OVERSAMPLING,
    start_time_s: float = 0.0,
) -> dict[str, np.ndarray]:
    """Per layer, the normalised, HRF-convolved features of one run: ``{layer: (n_scans, dim)}``.

    Features are scaled to [0, 1] over the whole pool in ``features`` (so every subject sees the
    same scaling), then the stimuli named by ``stim_order`` are placed at ``onsets_s``; the
    scans are sampled at ``start_time_s + k * tr_s`` (:func:`hrf_regressors`).
    """
    index = {stim_id: i for i, stim_id in enumerate(features.stim_ids)}
    missing = [stim_id for stim_id in stim_order if stim_id not in index]
    if missing:
        raise InputError(
            f"stimuli {missing[:5]} ({len(missing)} in all) have no features; the feature file "
            f"holds {len(index)} stimuli"
        )
    rows = [index[stim_id] for stim_id in stim_order]
    regressors = {}
    for name, per_stimulus in features.layers.items():
        normalised = minmax_normalise(per_stimulus)
        regressors[name] = hrf_regressors(
            [normalised[row] for row in rows],
            features.frame_rate_hz[name],
            onsets_s,
            n_scans,
            tr_s,
            oversampling,
            start_time_s,
        )
    return regressors


def feature_sets(
    hrf_by_layer: Mapping[str, np.ndarray], level_order: Sequence[str] = LEVEL_ORDER
) -> dict[str, np.ndarray]:
    """The design matrices that brain scores compare (section 3.1).

    ``"L<k>"`` concatenates the first ``k + 1`` layers of ``level_order`` column-wise (``L0`` is
    the mel baseline alone, ``L5`` everything); ``"layer-<name>"`` is each later layer alone.
    """
    missing = [name for name in level_order if name not in hrf_by_layer]
    if missing:
        raise ValueError(f"hrf_by_layer lacks {missing}; it has {sorted(hrf_by_layer)}")
    n_scans = {np.shape(hrf_by_layer[name])[0] for name in level_order}
    if len(n_scans) != 1:
        raise ValueError(f"layers disagree on the number of scans: {sorted(n_scans)}")
    sets = {
        f"L{k}": np.hstack([hrf_by_layer[name] for name in level_order[: k + 1]])
        for k in range(len(level_order))
    }
    sets.update({f"layer-{name}": np.asarray(hrf_by_layer[name]) for name in level_order[1:]})
    return sets
