"""Cheap checks that run before the long jobs of the real datasets (rules ``recon_vae_check`` and
``recon_lag_scan``): each catches a wrong input that would otherwise show only in the results.

- :func:`vae_check`: the configured pretrained VAE (``recon.sources.<dataset>.ldm
  .pretrained_vae``) must reconstruct the training stimuli's mels, the mels G will learn, with a
  mean PCC of at least ``recon.ldm.vae_min_pcc``. AudioLDM2's VAE passes on AudioLDM2's front end
  (:mod:`audiobrain.recon.audioldm2`); mels of another front end, or another folder, fail here
  rather than after days of fine-tuning. Every fine-tuning job (D_aco, G) waits for it.
- :func:`brain2music_lag_scan`: D_sem's test PCC on one subject for each hemodynamic lag of the
  Brain2Music pairing (0-4 TRs), written to the log and a table, since neither the dataset nor
  the paper states the lag (:data:`audiobrain.recon.datasets.BRAIN2MUSIC_LAG_TRS`).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from audiobrain.io import InputError, load_npy, load_npz, write_tsv
from audiobrain.recon import datasets
from audiobrain.recon.selection import stimulus_rows

log = logging.getLogger("audiobrain")
PathLike = str | os.PathLike
LAG_SCAN_TRS = (0, 1, 2, 3, 4)  # TRs of 1.5 s: 0-6 s, around the hemodynamic peak at 4-6 s


def check_clips(ids: np.ndarray, n_clips: int) -> np.ndarray:
    """Positions of ``n_clips`` clips spread evenly over ``ids`` (all if fewer)."""
    if len(ids) <= n_clips:
        return np.arange(len(ids))
    return np.unique(np.linspace(0, len(ids) - 1, n_clips).round().astype(int))


def round_trip_pccs(mels: np.ndarray, round_trip: Callable[[np.ndarray], np.ndarray]):
    """Mel PCC of each ``(n_frames, n_mels)`` mel with ``round_trip(mels)``'s row."""
    from audiobrain.recon.metrics import mel_pcc

    again = round_trip(mels)
    if again.shape != mels.shape:
        raise InputError(f"VAE check: round trip gave {again.shape}, expected {mels.shape}")
    return np.asarray([mel_pcc(b, a) for a, b in zip(mels, again, strict=True)])


def require_min_pcc(
    pccs: np.ndarray, min_pcc: float, vae: PathLike, vae_key: str, threshold_key: str
) -> float:
    """The mean PCC; an InputError naming the VAE folder and both keys when below ``min_pcc``."""
    mean = float(np.mean(pccs))
    if not mean >= min_pcc:
        raise InputError(
            f"{vae}: the VAE of config {vae_key} reconstructs the training mels with mean PCC "
            f"{mean:.3f} (min {np.min(pccs):.3f}, {len(pccs)} clips), below {min_pcc} "
            f"({threshold_key}): it was not trained on these mels. Check that the folder is "
            "AudioLDM2's vae and recon.models.vocoder AudioLDM2's 64-mel vocoder (the mels' "
            "front end)"
        )
    return mean


def check_front_end(mels: Mapping[str, np.ndarray], path: PathLike) -> None:
    """The mels of ``path`` must be AudioLDM2's front end, that of a pretrained AudioLDM2 VAE."""
    from audiobrain.recon.vocoder import AUDIOLDM2_MEL

    expected = json.dumps(asdict(AUDIOLDM2_MEL), sort_keys=True)
    found = str(mels["front_end"]) if "front_end" in mels else "not recorded (rerun the rule)"
    if found != expected:
        raise InputError(
            f"{path}: a pretrained AudioLDM2 VAE needs AudioLDM2's mel front end "
            f"({expected}), but these mels are {found}: set recon.models.vocoder to AudioLDM2's "
            "vocoder folder (16 kHz, 64 mels)"
        )


def vae_check(
    stimuli_dir: PathLike,
    vocoder_mels: PathLike,
    vae_path: PathLike,
    output: PathLike,
    *,
    settings: Mapping,
    vae_key: str,
    threshold_key: str = "recon.ldm.vae_min_pcc",
    device: str = "auto",
    threads: int = 1,
) -> None:
    """Rule recon_vae_check: round-trip PCC of training mels through the configured VAE.

    Writes one row per checked clip (``stimulus_id``, ``pcc``) and raises InputError when the
    mean is below ``settings["vae_min_pcc"]`` (module docstring). A VAE folder (pretrained) is
    AudioLDM2's, so its mels must come from AudioLDM2's front end (:func:`check_front_end`).
    """
    import torch

    from audiobrain.devices import resolve_device
    from audiobrain.recon import ldm

    torch.set_num_threads(threads)
    ldm_settings = ldm.LDMSettings.from_mapping(settings)
    mels = load_npz(vocoder_mels)
    if Path(vae_path).is_dir():
        check_front_end(mels, vocoder_mels)
    table = datasets.read_stimuli(stimuli_dir).table
    train = table.loc[table["split"] == "train", "stimulus_id"].to_numpy(str)
    ids = train[check_clips(train, ldm_settings.vae_check_clips)]
    chosen = mels["mel"][stimulus_rows(mels["stimulus_id"], ids, vocoder_mels)]
    vae = ldm.load_vae(vae_path, key=vae_key).to(resolve_device(device))
    with torch.no_grad():
        pccs = round_trip_pccs(
            chosen, lambda mel: ldm.vae_round_trip(vae, mel, ldm_settings.mel_pad_value)
        )
    log.info(
        "VAE %s: round-trip mel PCC %.3f (min %.3f) on %d training clips; threshold %s",
        vae_path, pccs.mean(), pccs.min(), len(pccs), ldm_settings.vae_min_pcc,
    )  # fmt: skip
    require_min_pcc(pccs, ldm_settings.vae_min_pcc, vae_path, vae_key, threshold_key)
    write_tsv(pd.DataFrame({"stimulus_id": ids, "pcc": pccs}), output)


def brain2music_lag_scan(
    clap: PathLike,
    output: PathLike,
    *,
    settings: Mapping,
    semantic: Mapping,
    subject: str,
    where: str,
    lags: Sequence[int] = LAG_SCAN_TRS,
) -> pd.DataFrame:
    """Rule recon_lag_scan: D_sem's test PCC with ``s_gt`` for each lag, on one subject.

    D_sem is fitted once per lag on all training samples (no out-of-fold predictions: only the
    test PCC is wanted), with ``recon.semantic``'s ``alpha`` and ``n_feat``; samples whose clip has
    no CLAP embedding (a clip only a lag pairs) are left out. Returns and writes ``lag_trs``,
    ``lag_s``, ``pcc_test``, ``n_train``, ``n_test``, ``configured``; logs each row and whether
    the configured lag (``<where>.lag_trs``) is the best.
    """
    from audiobrain.recon.analysis import feature_pcc
    from audiobrain.recon.semantic import semantic_estimator

    configured = int(settings.get("lag_trs", datasets.BRAIN2MUSIC_LAG_TRS))
    root = settings["root"]
    features = load_npz(clap)
    row_of = {str(i): k for k, i in enumerate(features["stimulus_id"])}
    pairs = datasets.brain2music_pairs(
        root, subject, lags[0], f"{where}.root", f"{where}.lag_trs"
    )  # the response files, loaded once for every lag
    responses = {
        split: np.asarray(load_npy(path, "a response matrix (.npy)"), dtype=np.float32)
        for split, (path, _, _) in pairs.items()
    }
    records = []
    for lag in lags:
        pairs = datasets.brain2music_pairs(root, subject, lag, f"{where}.root", f"{where}.lag_trs")
        known = {split: np.isin(ids, list(row_of)) for split, (_, ids, _) in pairs.items()}
        train_ids = pairs["train"][1][known["train"]]
        test_ids = pairs["test"][1][known["test"]]
        order = list(dict.fromkeys(test_ids))
        x_test = datasets._average_by(responses["test"][known["test"]], test_ids, order)
        estimator = semantic_estimator(semantic["alpha"], semantic["n_feat"]).fit(
            responses["train"][known["train"]].astype(np.float64),
            features["clap"][[row_of[i] for i in train_ids]].astype(np.float64),
        )
        pcc = feature_pcc(estimator.predict(x_test), features["clap"][[row_of[i] for i in order]])
        record = {
            "subject": subject,
            "lag_trs": int(lag),
            "lag_s": lag * datasets.BRAIN2MUSIC_TR_S,
            "pcc_test": pcc,
            "n_train": len(train_ids),
            "n_test": len(order),
            "configured": int(lag) == configured,
        }
        log.info("Brain2Music sub-%s, lag %d TR (%.1f s): D_sem test PCC %.4f", subject,
                 lag, record["lag_s"], pcc)  # fmt: skip
        records.append(record)
    table = pd.DataFrame(records)
    best = int(table.loc[table["pcc_test"].idxmax(), "lag_trs"])
    if best != configured:
        log.warning(
            "Brain2Music sub-%s: D_sem's test PCC is highest at a lag of %d TR, but %s.lag_trs "
            "is %d", subject, best, where, configured,
        )  # fmt: skip
    else:
        log.info("Brain2Music sub-%s: the configured lag of %d TR is the best", subject, best)
    write_tsv(table, output)
    return table
