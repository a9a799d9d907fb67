"""One function per workflow rule: each composes the stage modules and writes its outputs.

The Snakemake scripts in ``workflow/scripts/`` only unpack ``snakemake.input/params`` and call one
of these, so every step can also be run (and tested) from Python without Snakemake.

Each function imports the stage modules it uses, so that a job loads only its own dependencies:
torch, matplotlib and most of nilearn cost ~2.5 s to import, several times the import a brain
score needs, and the demo runs 100 brain-score jobs.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from audiobrain.brainscores import events
from audiobrain.brainscores.architecture import OUTPUT_FRAME_RATE_HZ, VOCABULARY_SIZES
from audiobrain.io import (
    InputError,
    load_npz,
    load_torch,
    read_gifti_timeseries,
    read_tsv,
    require_finite,
    save_arrays,
    save_torch,
    write_tsv,
)

log = logging.getLogger("audiobrain")
PathLike = str | os.PathLike


# --- events and preprocessing --------------------------------------------------------------------


def derive_events(
    raw_events: PathLike,
    stimuli_dir: PathLike,
    output: PathLike,
    *,
    events_format: str,
    n_blocks: int,
    sentences_per_block: int,
) -> None:
    """A run's raw events -> the stimulus table every later rule reads (never the raw file)."""
    from audiobrain import audio

    table = events.derive_stimulus_table(raw_events, events_format, n_blocks, sentences_per_block)
    events.check_against_audio(
        raw_events, table, audio.durations_s(stimuli_dir, table["stim_file"].unique())
    )
    counts = table.groupby("trial_type").size().to_dict()
    log.info("%s: %s in %s", raw_events, counts, events_format)
    write_tsv(table, output)


def analysed_blocks(
    events_path: PathLike,
    scan_times_s: np.ndarray,
    *,
    tr_s: float,
    trial_type: str,
    n_blocks: int,
    tail_s: float,
    carryover_s: float,
) -> np.ndarray:
    """The analysed block of every scan (0: not analysed), with the block count checked."""
    table = events.read_events(events_path, len(scan_times_s), tr_s)
    blocks = events.analysed_scans(
        table, scan_times_s, trial_type, tail_s, carryover_s, source=events_path
    )
    kept = events.scans_per_block(blocks)
    if len(kept) != n_blocks:
        raise InputError(
            f"{events_path}: {len(kept)} {trial_type} blocks keep scans, config dataset.n_blocks "
            f"says {n_blocks}"
        )
    log.info(
        "%s: %d of %d scans in the %d %s blocks (from the first onset, or %g s after the last "
        "other stimulus, to %g s after the last stimulus or the next other one); scans per "
        "block %s",
        events_path, sum(kept.values()), len(blocks), n_blocks, trial_type, carryover_s, tail_s,
        kept,
    )  # fmt: skip
    return blocks


def _save_cleaned(
    output: PathLike,
    cleaned: np.ndarray,
    vertices: np.ndarray,
    blocks: np.ndarray,
    scan_times_s: np.ndarray,
    meta: Mapping,
    **arrays: np.ndarray,
) -> None:
    """The kept scans with where they sit in the run, and the scans each block kept."""
    kept = np.flatnonzero(blocks)
    save_arrays(
        output,
        {
            "bold": cleaned.astype(np.float32),
            "vertices": vertices,
            "blocks": blocks[kept],
            "scans": kept,
            "scan_times": scan_times_s[kept],
            "n_run_scans": np.asarray(len(blocks)),
            "start_time_s": np.asarray(scan_times_s[0]),
            **arrays,
        },
        meta={
            **meta,
            "start_time_s": float(scan_times_s[0]),
            "n_run_scans": len(blocks),
            "scans_per_block": events.scans_per_block(blocks),
        },
    )


def clean_subject_bold(
    bold_paths: Sequence[PathLike],
    events_path: PathLike,
    output: PathLike,
    *,
    tr_s: float,
    trial_type: str,
    n_blocks: int,
    decimation: int,
    n_compcor: int,
    n_cosine: int,
    decimation_method: str = "stride",
    start_time_s: float | None = None,
    block_tail_s: float = events.HRF_TAIL_S,
    block_carryover_s: float = events.HRF_CARRYOVER_S,
) -> None:
    """Surface BOLD of both hemispheres -> decimated, cleaned z-scores of the analysed scans.

    ``start_time_s`` (None: the BOLD's sidecar,
    :func:`audiobrain.brainscores.confounds.bold_start_time`) places the samples in time;
    ``block_tail_s`` and ``block_carryover_s`` bound the scans a block keeps
    (:func:`audiobrain.brainscores.events.analysed_scans`).
    """
    from audiobrain import surface
    from audiobrain.brainscores import confounds

    hemispheres = []
    for path in bold_paths:
        confounds.check_repetition_time(path, None, tr_s)
        hemisphere = read_gifti_timeseries(path, surface.FSAVERAGE5_VERTICES_PER_HEMI)
        hemispheres.append(require_finite(hemisphere, path, "BOLD (scans x vertices)"))
    n_scans = {h.shape[0] for h in hemispheres}
    if len(n_scans) != 1:
        raise InputError(
            f"{bold_paths}: the hemispheres differ in length ({sorted(n_scans)} scans)"
        )
    bold = np.hstack(hemispheres)
    scan_times = scan_times_s(bold_paths[0], bold.shape[0], tr_s, start_time_s)
    blocks = analysed_blocks(
        events_path, scan_times, tr_s=tr_s, trial_type=trial_type, n_blocks=n_blocks,
        tail_s=block_tail_s, carryover_s=block_carryover_s,
    )  # fmt: skip
    regressors = confounds.load_paper_confounds(
        list(bold_paths), n_compcor=n_compcor, n_cosine=n_cosine
    )
    if len(regressors) != bold.shape[0]:
        raise InputError(
            f"{confounds.confounds_files_for(bold_paths[0])[0]}: {len(regressors)} rows, but "
            f"{bold_paths[0]} has {bold.shape[0]} scans (one row per scan expected)"
        )
    vertices = surface.decimated_vertices(decimation, method=decimation_method)
    cleaned = confounds.clean_bold(bold[:, vertices], regressors.to_numpy(), blocks)
    log.info("cleaned %d scans x %d vertices with %s", *cleaned.shape, list(regressors.columns))
    meta = {"tr_s": tr_s, "confounds": list(regressors.columns), "decimation": decimation}
    if decimation_method != "stride":
        meta["decimation_method"] = decimation_method
    _save_cleaned(output, cleaned, vertices, blocks, scan_times, meta)


def scan_times_s(
    bold_path: PathLike, n_scans: int, tr_s: float, start_time_s: float | None
) -> np.ndarray:
    """The time (s from the first volume's onset) that each BOLD sample represents."""
    from audiobrain.brainscores import confounds

    start = confounds.bold_start_time(bold_path, start_time_s)
    log.info("%s: samples at %g s + k x %g s", bold_path, start, tr_s)
    return start + np.arange(n_scans) * tr_s


def clean_subject_volume(
    bold_path: PathLike,
    mask_path: PathLike,
    events_path: PathLike,
    output: PathLike,
    *,
    tr_s: float,
    trial_type: str,
    n_blocks: int,
    decimation: int,
    n_compcor: int,
    n_cosine: int,
    volume_space: str,
    freesurfer_subject_dir: PathLike | None = None,
    decimation_method: str = "stride",
    line_mm: float | None = None,
    n_samples: int | None = None,
    start_time_s: float | None = None,
    block_tail_s: float = events.HRF_TAIL_S,
    block_carryover_s: float = events.HRF_CARRYOVER_S,
) -> None:
    """Volumetric BOLD -> cleaned in the volume, projected, decimated, block-detrended z-scores.

    Section 2.2 in order: every brain-mask voxel of fMRIPrep's ``desc-preproc_bold`` is cleaned
    with the 18 confounds (nilearn's ``clean_img`` defaults); the result is projected onto
    fsaverage5 along a ``line_mm`` line around the mid-thickness
    (:mod:`audiobrain.brainscores.projection`; the subject's FreeSurfer surfaces for ``T1w`` BOLD,
    the template's for MNI), decimated, then the analysed scans are kept, every block detrended and
    every vertex z-scored by :func:`audiobrain.brainscores.confounds.clean_bold`, whose confound
    cleaning repeats the volume's and so changes nothing but the scale (projection is linear), and
    keeps one code path for both sources. ``start_time_s`` and the block bounds as in
    :func:`clean_subject_bold`. Vertices with no sample in the brain mask (outside the field of
    view) are constant zeros, so they score 0; ``sampled`` lists which are not.
    ``line_mm`` and ``n_samples`` default (None) to
    :data:`audiobrain.brainscores.projection.LINE_MM` and
    :data:`audiobrain.brainscores.projection.LINE_SAMPLES`.
    """
    from audiobrain import surface
    from audiobrain.brainscores import confounds, projection

    line_mm = projection.LINE_MM if line_mm is None else line_mm
    n_samples = projection.LINE_SAMPLES if n_samples is None else n_samples
    meshes = projection.meshes_for(volume_space, freesurfer_subject_dir)
    bold, mask = projection.load_bold_volume(bold_path, mask_path)
    confounds.check_repetition_time(bold_path, None, tr_s)
    scan_times = scan_times_s(bold_path, bold.shape[3], tr_s, start_time_s)
    blocks = analysed_blocks(
        events_path, scan_times, tr_s=tr_s, trial_type=trial_type, n_blocks=n_blocks,
        tail_s=block_tail_s, carryover_s=block_carryover_s,
    )  # fmt: skip
    regressors = confounds.load_paper_confounds(bold_path, n_compcor=n_compcor, n_cosine=n_cosine)
    cleaned_volume = projection.clean_volume(bold, mask, regressors.to_numpy())
    projected = projection.project_to_surface(cleaned_volume, meshes, mask, line_mm, n_samples)
    sampled = projection.sampled_vertices(projected, str(bold_path))
    vertices = surface.decimated_vertices(decimation, method=decimation_method)
    decimated = np.where(sampled[vertices], projected[:, vertices], 0.0)
    cleaned = confounds.clean_bold(decimated, regressors.to_numpy(), blocks)
    log.info(
        "cleaned %d voxels, projected onto %d of %d vertices (%s), kept %d; confounds %s",
        int(np.asarray(mask.dataobj).astype(bool).sum()), int(sampled.sum()), sampled.size,
        meshes["L"].source, vertices.size, list(regressors.columns),
    )  # fmt: skip
    _save_cleaned(
        output,
        cleaned,
        vertices,
        blocks,
        scan_times,
        {
            "tr_s": tr_s,
            "confounds": list(regressors.columns),
            "decimation": decimation,
            "decimation_method": decimation_method,
            "source": "volume",
            "volume_space": volume_space,
            "meshes": meshes["L"].source,
            "projection": {"kind": "line", "line_mm": line_mm, "n_samples": n_samples},
            "n_unsampled_vertices": int((~sampled[vertices]).sum()),
        },
        sampled=sampled[vertices],
    )


# --- stimulus features and activations -----------------------------------------------------------


def stimulus_pool(events_paths: Sequence[PathLike], trial_type: str) -> list[str]:
    """Every stimulus file that any subject heard, sorted (one feature file serves all subjects)."""
    files: set[str] = set()
    for path in events_paths:
        table = read_tsv(path, required=events.EVENT_COLUMNS)
        table = table[table["trial_type"] == trial_type]
        files.update(str(f) for f in table["stim_file"])
    pool = sorted(files)
    stems = [Path(f).stem for f in pool]
    if len(set(stems)) != len(stems):
        raise InputError(f"{events_paths[0]}...: two stimulus files share a name: {pool}")
    return pool


def compute_stimulus_features(
    events_paths: Sequence[PathLike],
    stimuli_dir: PathLike,
    spectrogram_output: PathLike,
    mel_output: PathLike,
    *,
    sample_rate_hz: int,
    n_mels: int,
    trial_type: str,
) -> None:
    """Spectrogram (the networks' input) and mel filterbank (L0) of every stimulus in the pool."""
    from audiobrain import audio
    from audiobrain.brainscores import features

    pool = stimulus_pool(events_paths, trial_type)
    stim_ids = [Path(f).stem for f in pool]
    waveforms = [audio.load_audio(Path(stimuli_dir) / f, sample_rate_hz) for f in pool]
    log.info("loaded %d stimuli from %s", len(pool), stimuli_dir)
    spectrograms = [audio.log_spectrogram(w, sample_rate_hz) for w in waveforms]
    mels = [audio.mel_filterbank(w, sample_rate_hz, n_mels) for w in waveforms]
    frame_rate = 1.0 / audio.SPECTROGRAM_HOP_S
    meta = {"stimuli_dir": str(stimuli_dir), "sample_rate_hz": sample_rate_hz}
    features.save_features(
        spectrogram_output,
        stim_ids,
        {"spectrogram": spectrograms},
        {"spectrogram": frame_rate},
        meta,
    )
    features.save_features(
        mel_output, stim_ids, {"mel": mels}, {"mel": 1.0 / audio.MEL_HOP_S}, meta
    )


def load_network(
    network: str,
    seed: int,
    *,
    conv_channels: Sequence[int],
    gru_hidden: int,
    untrained_outputs: int = VOCABULARY_SIZES["dutch"],
    checkpoint: PathLike | None = None,
):
    """The untrained network of a seed, or a trained one with its checkpoint's weights.

    A checkpoint whose weights do not fit the configured architecture (other widths, another
    task's output size) stops with both shapes named, rather than loading partially.
    """

    from audiobrain.brainscores import networks

    n_outputs = untrained_outputs if network == "untrained" else networks.ctc_output_size(network)
    model = networks.build_untrained(seed, n_outputs, tuple(conv_channels), gru_hidden)
    if checkpoint is not None:
        state = load_torch(checkpoint, "network weights (model.pt)")
        weights = state.get("model", state)
        expected = model.state_dict()
        mismatched = [
            f"{name}: checkpoint {tuple(weights[name].shape)}, expected {tuple(value.shape)}"
            for name, value in expected.items()
            if name in weights and weights[name].shape != value.shape
        ]
        missing = sorted(set(expected) - set(weights))
        if mismatched or missing:
            raise InputError(
                f"{checkpoint}: weights of a different architecture than config networks "
                f"(conv_channels {list(conv_channels)}, gru_hidden {gru_hidden}, {n_outputs} "
                f"outputs for {network!r}): {'; '.join(mismatched[:3] + missing[:3])}"
            )
        model.load_state_dict(weights)
    return model


def compute_activations(
    spectrogram_path: PathLike,
    output: PathLike,
    *,
    network: str,
    seed: int,
    checkpoint: PathLike | None = None,
    threads: int = 1,
    **architecture,
) -> None:
    """Every layer's activations on the stimulus pool (normalised later, per feature, to [0, 1]).

    ``architecture`` (conv_channels, gru_hidden, untrained_outputs) goes to :func:`load_network`.
    """
    import torch

    from audiobrain.brainscores import features, networks

    torch.set_num_threads(threads)
    model = load_network(network, seed, checkpoint=checkpoint, **architecture)
    spectrograms = features.load_features(spectrogram_path)
    activations = features.network_activations(model, spectrograms.layers["spectrogram"])
    features.save_features(
        output,
        spectrograms.stim_ids,
        activations,
        dict.fromkeys(activations, OUTPUT_FRAME_RATE_HZ),
        {"network": network, "seed": seed, "parameters": networks.count_parameters(model)},
    )


# --- brain scores --------------------------------------------------------------------------------


def subject_design(
    bold_path: PathLike,
    events_path: PathLike,
    feature_paths: Sequence[PathLike],
    *,
    tr_s: float,
    trial_type: str,
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """HRF-convolved feature sets at the cleaned scans, the cleaned BOLD and its blocks.

    The regressors are computed over the whole run, at the times its samples represent (the
    slice-timing reference stored with the cleaned BOLD), then taken at the kept scans.
    """
    from audiobrain.brainscores import features

    cleaned = load_npz(bold_path)
    n_scans, start_s = int(cleaned["n_run_scans"]), float(cleaned["start_time_s"])
    sentence_events = events.read_sentence_events(events_path, n_scans, tr_s, trial_type)
    onsets = sentence_events["onset"].to_numpy()
    regressors = {}
    for path in feature_paths:
        try:
            regressors |= features.layer_regressors(
                features.load_features(path), sentence_events["stim_id"], onsets, n_scans, tr_s,
                start_time_s=start_s,
            )  # fmt: skip
        except InputError as error:
            raise InputError(f"{path} with {events_path}: {error}") from error
    kept = {name: design[cleaned["scans"]] for name, design in regressors.items()}
    bold = require_finite(cleaned["bold"], bold_path, "cleaned BOLD (scans x vertices)")
    return features.feature_sets(kept), bold, cleaned["blocks"]


def subject_brain_scores(
    bold_path: PathLike,
    events_path: PathLike,
    mel_path: PathLike,
    activations_paths: Sequence[PathLike],
    outputs: Sequence[PathLike],
    *,
    tr_s: float,
    trial_type: str,
    alphas: Sequence[float],
    threads: int = 1,
    **ridge_settings,
) -> None:
    """Brain scores of every cumulative level and every single layer for one subject and network.

    ``activations_paths`` and ``outputs`` hold one file per seed of the network type. The seeds
    are scored in one process, which they share with their imports; a feature set whose design
    equals one already scored (L0, the mel baseline, is the same for every seed) reuses its
    scores, so each output holds the bytes that scoring its seed alone writes.
    ``ridge_settings`` (n_splits, backend, dtype, targets_batch_size) go to
    :func:`audiobrain.ridge.brain_score`. BLAS and torch are held to the job's ``threads``, so
    jobs sharing a node do not oversubscribe its cores (2-thread BLAS runs ~10x slower then);
    torch is loaded only for the torch back ends.
    """
    from threadpoolctl import threadpool_limits

    from audiobrain import ridge

    if len(activations_paths) != len(outputs):
        raise ValueError(
            f"one output per activations file: got {len(activations_paths)} activations files "
            f"and {len(outputs)} outputs"
        )
    if str(ridge_settings.get("backend", "numpy")).startswith("torch"):
        import torch

        torch.set_num_threads(threads)
    scored: dict[str, tuple[np.ndarray, ridge.BrainScore, str]] = {}  # set: design, scores, file
    finished: dict[PathLike, dict[str, np.ndarray]] = {}
    with threadpool_limits(limits=threads):
        for activations_path, output in zip(activations_paths, outputs, strict=True):
            feature_sets, bold, blocks = subject_design(
                bold_path,
                events_path,
                [mel_path, activations_path],
                tr_s=tr_s,
                trial_type=trial_type,
            )
            source = Path(activations_path).name
            names = list(feature_sets)
            scores, chosen = [], []
            for name in names:
                design = feature_sets[name]
                if name not in scored or not np.array_equal(scored[name][0], design):
                    result = ridge.brain_score(
                        design, bold, blocks, alphas=np.asarray(alphas), **ridge_settings
                    )
                    scored[name] = design, result, source
                _, result, scored_with = scored[name]
                log.info(
                    "%s %s: %d features, mean r = %.4f%s",
                    source, name, design.shape[1], result.r.mean(),
                    "" if scored_with == source else f" (same design as with {scored_with})",
                )  # fmt: skip
                scores.append(result.r)
                chosen.append(result.alphas)
            finished[output] = {
                "r": np.asarray(scores, dtype=np.float32),
                "alphas": np.asarray(chosen, dtype=np.float32),
                "feature_sets": np.asarray(names),
                "n_features": np.asarray([feature_sets[n].shape[1] for n in names]),
            }
    # Written only once every seed has scored: a failure leaves no file, sidecars included
    # (Snakemake removes the declared .npz files of a failed job, not their sidecars).
    for output, arrays in finished.items():
        save_arrays(output, arrays, meta={"alphas": list(alphas), **ridge_settings})


# --- statistics and figures ----------------------------------------------------------------------


def seed_averaged_scores(
    score_paths: Sequence[PathLike], n_subjects: int, n_seeds: int
) -> dict[str, np.ndarray]:
    """``{feature set: (n_subjects, n_vertices)}`` brain scores, averaged over seeds (section 2.4).

    ``score_paths`` lists subjects in the outer order and seeds in the inner one (``expand``).
    """
    loaded = [load_npz(path) for path in score_paths]
    if len(loaded) != n_subjects * n_seeds:
        raise InputError(
            f"expected {n_subjects} subjects x {n_seeds} seeds brain-score files, "
            f"found {len(loaded)}"
        )
    names = [str(n) for n in loaded[0]["feature_sets"]]
    for path, data in zip(score_paths, loaded, strict=True):
        if [str(n) for n in data["feature_sets"]] != names:
            raise InputError(f"{path}: feature sets differ from {score_paths[0]}")
    r = np.stack([d["r"] for d in loaded]).reshape(n_subjects, n_seeds, len(names), -1)
    per_subject = r.mean(axis=1)
    return {name: per_subject[:, i] for i, name in enumerate(names)}


def group_statistics(
    score_paths: Sequence[PathLike],
    bold_path: PathLike,
    group_output: PathLike,
    voxels_output: PathLike,
    *,
    n_subjects: int,
    n_seeds: int,
    q: float,
    alternative: str,
) -> None:
    """Seeds averaged within subject, then every contrast tested across subjects per vertex.

    ``score_paths`` lists subjects in the outer order and seeds in the inner one (``expand``).
    """
    from audiobrain import stats

    maps = stats.contrast_maps(seed_averaged_scores(score_paths, n_subjects, n_seeds))
    vertices = load_npz(bold_path)["vertices"]
    contrasts = list(maps)
    tests = {c: stats.group_test(maps[c], q=q, alternative=alternative) for c in contrasts}
    save_arrays(
        group_output,
        {
            "contrasts": np.asarray(contrasts),
            "subject_maps": np.stack([maps[c] for c in contrasts]).astype(np.float32),
            **{
                column: np.stack([tests[c][column].to_numpy() for c in contrasts])
                for column in ("mean", "statistic", "p", "q", "significant")
            },
            "vertices": vertices,
        },
        meta={"q": q, "alternative": alternative, "n_subjects": n_subjects, "n_seeds": n_seeds},
    )
    table = pd.concat(
        [tests[c].assign(contrast=c, vertex=vertices) for c in contrasts], ignore_index=True
    )
    table = table[["contrast", "vertex", "mean", "statistic", "p", "q", "significant"]]
    write_tsv(table, voxels_output)


def roi_summary_table(
    group_paths: Sequence[PathLike],
    output: PathLike,
    *,
    networks_: Sequence[str],
    annotation: PathLike | None,
    rois: Mapping[str, Sequence[str] | Mapping],
    q: float,
    alternative: str,
    atlases: Mapping[str, Mapping[str, str]] | None = None,
    line_mm: float | None = None,
    n_samples: int | None = None,
) -> None:
    """``results/stats/roi_summary.tsv``: every network's contrasts averaged within each ROI.

    ROIs come from config ``rois`` (:mod:`audiobrain.brainscores.atlas`): ``annotation`` is the
    default atlas (nilearn's Desikan-Killiany when None), ``atlases`` the named ones, ``rois`` the
    definitions; ``line_mm`` and ``n_samples`` sample volumetric label images as the BOLD is
    (None: :data:`audiobrain.brainscores.projection.LINE_MM` and
    :data:`audiobrain.brainscores.projection.LINE_SAMPLES`).
    """
    from audiobrain import stats
    from audiobrain.brainscores import atlas, projection

    line_mm = projection.LINE_MM if line_mm is None else line_mm
    n_samples = projection.LINE_SAMPLES if n_samples is None else n_samples
    definitions = atlas.roi_definitions(rois)
    loaded = atlas.load_atlases(definitions, annotation, atlases, line_mm, n_samples)
    tables = []
    for network, path in zip(networks_, group_paths, strict=True):
        group = load_npz(path)
        masks = atlas.roi_masks(loaded, definitions, group["vertices"])
        log.info("%s: ROI sizes %s", path, {roi: int(m.sum()) for roi, m in masks.items()})
        maps = {str(c): m for c, m in zip(group["contrasts"], group["subject_maps"], strict=True)}
        table = stats.roi_summary(maps, masks, q=q, alternative=alternative)
        table["contrast"] = network + ": " + table["contrast"]
        tables.append(table)
    write_tsv(pd.concat(tables, ignore_index=True), output)


def network_figures(
    group_path: PathLike,
    roi_summary_path: PathLike,
    network: str,
    *,
    levels_output: PathLike,
    gains_output: PathLike,
    bars_output: PathLike,
    profile_output: PathLike,
) -> None:
    """Figure 2 analogues for one network type: level maps, gain maps, ROI bars, level profile."""
    from audiobrain import stats
    from audiobrain.brainscores import plots

    group = load_npz(group_path)
    contrasts = [str(c) for c in group["contrasts"]]
    summary = read_tsv(roi_summary_path)
    prefix = f"{network}: "
    summary = summary[summary["contrast"].str.startswith(prefix)].copy()
    summary["contrast"] = summary["contrast"].str.removeprefix(prefix)
    plots.contrast_maps_figure(group, contrasts, stats.LEVEL_CONTRASTS, levels_output, network)
    plots.contrast_maps_figure(group, contrasts, stats.GAIN_CONTRASTS, gains_output, network)
    plots.roi_bars(summary, stats.LEVEL_CONTRASTS, bars_output, f"{network}: brain score by ROI")
    plots.level_profile(group, contrasts, profile_output, f"{network}: mean brain score by level")


# --- network training and comparisons (section 2.4, Figure 3) ----------------------------------


def prepare_training_corpus(root: PathLike, output: PathLike, *, task: str, **settings) -> None:
    """The manifest of one task's corpus; ``settings`` go to :func:`corpora.prepare_corpus`."""
    from audiobrain.brainscores import corpora

    corpora.prepare_corpus(task, root=root, output=output, **settings)


def _model_file(state_dict: Mapping, network: str, seed: int, architecture: Mapping, state):
    return {
        "model": {name: tensor.cpu() for name, tensor in state_dict.items()},
        "task": network,
        "seed": seed,
        "architecture": dict(architecture),
        "best_step": state.best_step,
        "best_validation_metric": state.best_metric,
    }


def train_network(
    manifest: PathLike,
    model_output: PathLike,
    metrics_output: PathLike,
    *,
    network: str,
    seed: int,
    checkpoint: PathLike,
    conv_channels: Sequence[int],
    gru_hidden: int,
    training_settings: Mapping,
    threads: int = 1,
    device: str = "auto",
) -> None:
    """Train one network (a type and a seed) with CTC; keep the best weights on validation.

    Resumes from ``checkpoint`` when it holds a checkpoint of this run; removes it once the
    outputs are written.
    """
    import torch

    from audiobrain.brainscores import networks, training
    from audiobrain.devices import resolve_device

    torch.set_num_threads(threads)
    settings = dict(training_settings)
    max_duration_s = settings.pop("max_duration_s", None)
    settings = training.TrainingSettings(
        **{**settings, "noise_level_db": tuple(settings.get("noise_level_db", (-90.0, -60.0)))}
    )
    corpus = training.read_corpus(manifest, network, max_duration_s)
    architecture = {"conv_channels": list(conv_channels), "gru_hidden": gru_hidden}
    model = networks.build_untrained(
        seed, networks.ctc_output_size(network), tuple(conv_channels), gru_hidden
    ).to(resolve_device(device, key="networks.training.device"))
    log.info("%s seed %d: %d parameters", network, seed, networks.count_parameters(model))
    state = training.train(model, corpus, settings, seed=seed, checkpoint=checkpoint)
    log.info("best validation %s %.4f at step %d", corpus.task, state.best_metric, state.best_step)
    save_torch(model_output, _model_file(state.best_model, network, seed, architecture, state))
    write_tsv(training.metrics_table(state), metrics_output)
    Path(checkpoint).unlink(missing_ok=True)


def evaluate_network(
    model_path: PathLike,
    manifest: PathLike,
    output: PathLike,
    *,
    network: str,
    seed: int,
    conv_channels: Sequence[int],
    gru_hidden: int,
    threads: int = 1,
) -> None:
    """Test-split error of a trained network: WER and CER (speech), class error (scenes)."""
    import torch

    from audiobrain.brainscores import training

    torch.set_num_threads(threads)
    model = load_network(
        network, seed, checkpoint=model_path, conv_channels=conv_channels, gru_hidden=gru_hidden
    )
    corpus = training.read_corpus(manifest, network)
    metrics = training.evaluate(model, corpus, "test")
    table = pd.DataFrame(
        {
            "network": network,
            "task": training.task_description(network),
            "seed": seed,
            "split": "test",
            "metric": list(metrics),
            "value": list(metrics.values()),
        }
    )
    log.info("%s seed %d: %s", network, seed, metrics)
    write_tsv(table, output)


def evaluation_table(paths: Sequence[PathLike], output: PathLike) -> None:
    """``results/networks/evaluation.tsv``: one row per network and metric."""
    write_tsv(pd.concat([read_tsv(p) for p in paths], ignore_index=True), output)


def learning_curves_figure(
    metrics_paths: Sequence[PathLike], labels: Sequence[str], output: PathLike
) -> None:
    """Training loss and validation metric of every network, one panel per network type."""
    from audiobrain.brainscores import plots

    curves = {label: read_tsv(path) for label, path in zip(labels, metrics_paths, strict=True)}
    plots.learning_curves(curves, output)


def roi_masks_for(vertices: np.ndarray, **roi_settings) -> dict[str, np.ndarray]:
    """The configured ROIs on ``vertices`` (config ``rois``; see
    :mod:`audiobrain.brainscores.atlas`)."""
    from audiobrain.brainscores import atlas, projection

    definitions = atlas.roi_definitions(roi_settings["rois"])
    loaded = atlas.load_atlases(
        definitions,
        roi_settings["annotation"],
        roi_settings.get("atlases"),
        roi_settings.get("line_mm", projection.LINE_MM),
        roi_settings.get("n_samples", projection.LINE_SAMPLES),
    )
    return atlas.roi_masks(loaded, definitions, vertices)


def network_comparisons(
    score_paths: Mapping[str, Sequence[PathLike]],
    bold_path: PathLike,
    table_output: PathLike,
    maps_output: PathLike,
    *,
    n_subjects: int,
    n_seeds: int,
    q: float,
    alternative: str,
    roi_settings: Mapping,
) -> None:
    """Figure 3's statistics: every trained type vs untrained and the types against each other.

    ``score_paths`` maps each network type to its brain-score files (subjects outer, seeds
    inner). Writes the comparison table and the voxelwise training-effect maps (Fig. 3A).
    """
    from audiobrain.brainscores import comparisons

    scores = {
        network: seed_averaged_scores(paths, n_subjects, n_seeds)
        for network, paths in score_paths.items()
    }
    vertices = load_npz(bold_path)["vertices"]
    masks = roi_masks_for(vertices, **roi_settings)
    any_scores = next(iter(scores.values()))
    layer_sets = [name for name in any_scores if name.startswith("layer-")]
    table = comparisons.comparison_table(
        scores, masks, layer_sets=layer_sets, alternative=alternative, q=q
    )
    write_tsv(table, table_output)
    maps = comparisons.training_effect_maps(scores, alternative=alternative, q=q)
    names = list(maps)
    save_arrays(
        maps_output,
        {
            "contrasts": np.asarray(names),
            **{
                column: np.stack([maps[n][column].to_numpy() for n in names])
                for column in ("mean", "statistic", "p", "q", "significant")
            },
            "vertices": vertices,
        },
        meta={"q": q, "alternative": alternative, "n_subjects": n_subjects, "n_seeds": n_seeds},
    )


def network_comparison_figures(
    table_path: PathLike,
    maps_path: PathLike,
    *,
    maps_output: PathLike,
    layers_output: PathLike,
    types_output: PathLike,
    rois_output: PathLike,
) -> None:
    """Figure 3 analogues: training-effect maps, per-layer gains, gains by type, ROI contrasts."""
    from audiobrain.brainscores import plots

    table = read_tsv(table_path)
    maps = load_npz(maps_path)
    plots.training_effect_maps(maps, maps_output)
    plots.comparison_bars(table, "layers", layers_output)
    plots.comparison_bars(table, "types", types_output)
    plots.comparison_bars(table, "rois", rois_output)


def interactive_brain_maps(
    group_paths: Mapping[str, PathLike],
    comparison_maps_path: PathLike | None,
    output: PathLike,
) -> None:
    """One interactive page of every significant-contrast map: the brain scores and gains of each
    network type (Figure 2) and each trained type over untrained (Figure 3A); FDR-significant
    vertices only."""
    from audiobrain import stats
    from audiobrain.brainscores import plots
    from audiobrain.brainscores.surface_views import SurfaceMap, write_bundle

    selected = (*stats.LEVEL_CONTRASTS, *stats.GAIN_CONTRASTS)
    sources = [(f"{network}: ", load_npz(path), selected) for network, path in group_paths.items()]
    if comparison_maps_path is not None:
        comparisons = load_npz(comparison_maps_path)
        sources.append(("all levels: ", comparisons, [str(c) for c in comparisons["contrasts"]]))
    maps, empty = [], []
    for prefix, group, selected in sources:
        contrasts = [str(c) for c in group["contrasts"]]
        for contrast in (c for c in selected if c in contrasts):
            row = contrasts.index(contrast)
            significant = np.asarray(group["significant"][row], dtype=bool)
            if not significant.any():
                empty.append(prefix + contrast)
                continue
            full = plots.upsample_to_mesh(group["mean"][row], group["vertices"], significant)
            label = f"{prefix}{contrast} ({int(significant.sum())} significant vertices)"
            maps.append(SurfaceMap(label, full))
    notes = ["Colour: mean brain score r, or gain in r, across subjects; FDR-significant only."]
    if empty:
        notes.append("No FDR-significant vertex, not shown: " + ", ".join(empty) + ".")
    write_bundle(maps, output, title="Significant contrasts, interactive", notes=notes)
