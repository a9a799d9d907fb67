"""Rule functions of the latent diffusion part (C2F-LDM, Fine-LDM, prompts, the P_gt study).

Like :mod:`audiobrain.recon.pipeline`, one function per rule. G generates the vocoder's own
log-mel (64 bins at 16 kHz for AudioLDM2's HiFi-GAN, 80 at 22.05 kHz for the demo's universal
one), so its samples go to the vocoder as they are.

Prompts (section 2.3) replace D_sem's ``s`` as D_aco's semantic input: a text prompt is the CLAP
text embedding of the sentence the dataset config gives the clip's label (``text_prompts``);
an audio prompt is the CLAP audio embedding of a held-out prompt clip (split ``prompt``) with the
clip's label. A label with several prompt clips uses them in turn over its test clips, so every
prompt clip counts in the averaged metrics (the paper averages over its prompts). Fine-LDM has
no semantic input, hence no prompts.

Every generation of a subject starts from the same noise per clip (the seed and the clip's
position), so conditions differ only in ``c``. ``c_gt`` and a derangement of it across the clips
(``shuffled``) are generated too: the mel PCC of the first must beat the second if G uses its
condition at all.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from audiobrain.io import InputError, load_npz, save_npz, write_tsv
from audiobrain.recon import datasets
from audiobrain.recon.selection import (
    UNCONDITIONAL,
    derangement,
    evaluation_clips,
    evaluation_ids,
    stimulus_rows,
)

log = logging.getLogger("audiobrain")
PathLike = str | os.PathLike
PROMPTS = ("text", "audio")
SANITY_CONDITIONS = ("c_gt", "shuffled")


def _device(device: str, threads: int):
    import torch

    from audiobrain.devices import resolve_device

    torch.set_num_threads(threads)
    return resolve_device(device)


def _training_stimuli(table: pd.DataFrame) -> np.ndarray:
    return table.loc[table["split"] == "train", "stimulus_id"].to_numpy(str)


def train_mel_vae(
    stimuli_dir: PathLike,
    vocoder_mels: PathLike,
    outputs: Mapping[str, PathLike],
    *,
    settings: Mapping,
    seed: int,
    checkpoint: PathLike,
    device: str = "auto",
    threads: int = 1,
) -> None:
    """The demo's VAE (no pretrained one): fit to the training stimuli's vocoder mels."""
    from audiobrain.recon.ldm import LDMSettings, save_vae, train_vae

    where = _device(device, threads)
    table = datasets.read_stimuli(stimuli_dir).table
    mels = load_npz(vocoder_mels)
    rows = stimulus_rows(mels["stimulus_id"], _training_stimuli(table), vocoder_mels)
    vae, metrics = train_vae(
        mels["mel"][rows],
        LDMSettings.from_mapping(settings),
        seed=seed,
        checkpoint=checkpoint,
        device=where,
    )
    save_vae(outputs["model"], vae)
    write_tsv(metrics, outputs["metrics"])
    Path(checkpoint).unlink(missing_ok=True)


def pretrain_latent_diffusion(
    inputs: Mapping[str, PathLike],
    outputs: Mapping[str, PathLike],
    *,
    settings: Mapping,
    seed: int,
    checkpoint: PathLike,
    device: str = "auto",
    threads: int = 1,
) -> None:
    """G trained from scratch on the training stimuli's ``(c_gt, mel)``: the initial T-UNet of
    every subject's G where no pretrained one is given (the demo).

    ``inputs``: stimuli (folder), audiomae (``c_gt``), mels, vae. ``outputs``: model, metrics.
    """
    from audiobrain.recon import ldm

    where = _device(device, threads)
    ldm_settings = ldm.LDMSettings.from_mapping(settings)
    ldm_settings = ldm.LDMSettings(
        **{**asdict(ldm_settings), "epochs": ldm_settings.pretrain_epochs}
    )
    ids = _training_stimuli(datasets.read_stimuli(inputs["stimuli"]).table)
    features, mels = load_npz(inputs["audiomae"]), load_npz(inputs["mels"])
    c_gt = features["c_gt"][_rows(features, ids, inputs["audiomae"])]
    model, _, metrics = ldm.train_ldm(
        ldm.build_unet(ldm_settings, c_gt.shape[2], seed).to(where),
        ldm.load_vae(inputs["vae"]).to(where),
        mels["mel"][_rows(mels, ids, inputs["mels"])],
        c_gt,
        ldm_settings,
        seed=seed,
        checkpoint=checkpoint,
    )
    ldm.save_ldm(outputs["model"], model)
    write_tsv(metrics, outputs["metrics"])
    Path(checkpoint).unlink(missing_ok=True)


def _initial_unet(path: PathLike | None, settings, d_model: int, seed: int):
    """The T-UNet a subject's G starts from: a pretrained folder, a pretrained G, or random."""
    from audiobrain.recon import ldm

    if path is None:
        return ldm.build_unet(settings, d_model, seed)
    if Path(path).is_dir():
        return ldm.load_pretrained_unet(path, d_model)
    return ldm.load_ldm(path).unet


def _acoustic_model(path: PathLike, audiomae_settings: Mapping, where):
    from audiobrain.recon.acoustic import load_acoustic
    from audiobrain.recon.audiomae import load_audiomae_from

    return load_acoustic(path, load_audiomae_from(audiomae_settings).to(where))


def _rows(features: Mapping[str, np.ndarray], ids: np.ndarray, path: PathLike) -> np.ndarray:
    return stimulus_rows(features["stimulus_id"], ids, path)


def latent_diffusion(
    inputs: Mapping[str, PathLike],
    outputs: Mapping[str, PathLike],
    *,
    settings: Mapping,
    p_gt: float,
    audiomae_settings: Mapping,
    seed: int,
    checkpoint: PathLike,
    device: str = "auto",
    threads: int = 1,
) -> None:
    """G and D_aco fine-tuned together with equation 4 (section 2.2) for one subject.

    ``inputs``: fmri, semantic (D_sem's file: token voxels, out-of-fold ``s``), clap (C2F only),
    audiomae (``c_gt``), mels (vocoder mels), acoustic (the trained D_aco), vae (a trained VAE
    file or a pretrained folder), unet (optional: a pretrained folder or G from
    :func:`pretrain_latent_diffusion`; absent: a random T-UNet). ``outputs``: model (G),
    acoustic (the fine-tuned D_aco), metrics (learning curve). ``p_gt`` mixes ``s_gt`` into
    D_aco's input (section 2.1.2).
    """
    from audiobrain.recon import acoustic, ldm

    where = _device(device, threads)
    ldm_settings = ldm.LDMSettings.from_mapping({**settings, "p_gt": p_gt})
    fmri = datasets.read_subject_fmri(inputs["fmri"])
    semantic = load_npz(inputs["semantic"])
    decoder = _acoustic_model(inputs["acoustic"], audiomae_settings, where)
    d_model = decoder.decoder.architecture["d_model"]
    features, mels = load_npz(inputs["audiomae"]), load_npz(inputs["mels"])
    s_train = s_gt_train = None
    if decoder.decoder.semantic:
        clap = load_npz(inputs["clap"])
        s_gt_train = clap["clap"][_rows(clap, fmri.train_stimulus, inputs["clap"])]
        s_train = semantic["train_oof"]
    vae = ldm.load_vae(inputs["vae"]).to(where)
    unet = _initial_unet(inputs.get("unet"), ldm_settings, d_model, seed).to(where)
    model, tuned, metrics = ldm.train_ldm(
        unet,
        vae,
        mels["mel"][_rows(mels, fmri.train_stimulus, inputs["mels"])],
        features["c_gt"][_rows(features, fmri.train_stimulus, inputs["audiomae"])],
        ldm_settings,
        acoustic=decoder,
        voxels_train=acoustic.fmri_token(fmri.train_voxels, semantic["token_voxels"], d_model),
        s_train=s_train,
        s_gt_train=s_gt_train,
        seed=seed,
        checkpoint=checkpoint,
    )
    ldm.save_ldm(outputs["model"], model)
    acoustic.save_acoustic(outputs["acoustic"], tuned)
    write_tsv(metrics, outputs["metrics"])
    Path(checkpoint).unlink(missing_ok=True)


def text_prompt_embeddings(
    output: PathLike, *, text_prompts: Mapping[str, str], clap_path: str
) -> None:
    """CLAP text embeddings of the dataset's text prompts, one row per label."""
    from audiobrain.recon.clap import clap_text_embeddings, load_clap

    if not text_prompts:
        raise InputError("text prompts: the dataset's text_prompts mapping is empty")
    labels = sorted(text_prompts)
    model, processor = load_clap(clap_path, config_key="recon.models.clap")
    embeddings = clap_text_embeddings(model, processor, [text_prompts[k] for k in labels])
    save_npz(
        output,
        {
            "label": np.asarray(labels),
            "text": np.asarray([text_prompts[k] for k in labels]),
            "clap": embeddings,
        },
    )


def audio_prompts_for(
    labels: Sequence[str], prompt_ids: Sequence[str], prompt_labels: Sequence[str]
) -> np.ndarray:
    """The prompt clip of each test clip: one with its label, taken in turn; "" where none."""
    by_label: dict[str, list[str]] = {}
    for stimulus_id, label in zip(prompt_ids, prompt_labels, strict=True):
        by_label.setdefault(str(label), []).append(str(stimulus_id))
    seen: dict[str, int] = {}
    chosen = []
    for label in map(str, labels):
        candidates = by_label.get(label, [])
        turn = seen.get(label, 0)
        seen[label] = turn + 1
        chosen.append(candidates[turn % len(candidates)] if candidates else "")
    return np.asarray(chosen, dtype=str)


def prompt_conditions(
    test_ids: np.ndarray,
    table: pd.DataFrame,
    clap: Mapping[str, np.ndarray],
    text: Mapping[str, np.ndarray] | None,
    n_prompted: int | None = None,
) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Prompt -> (positions among ``test_ids``, its ``s`` per clip, the prompt per clip).

    A prompt goes to the test clips whose label has one, at most ``n_prompted`` of them (None:
    all) chosen round-robin over labels like the evaluation clips (:func:`evaluation_clips`).
    """
    labels = table.set_index("stimulus_id").loc[test_ids, "label"].to_numpy(str)

    def chosen(eligible: np.ndarray) -> np.ndarray:
        positions = np.flatnonzero(eligible)
        return positions[evaluation_clips(table, test_ids[positions], n_prompted)]

    conditions = {}
    if text is not None:
        rows = {label: row for row, label in enumerate(text["label"].astype(str))}
        keep = chosen(np.isin(labels, list(rows)))
        picked = [rows[label] for label in labels[keep]]
        conditions["text"] = (keep, text["clap"][picked], text["text"][picked].astype(str))
    prompts = table[table["split"] == "prompt"]
    clips = audio_prompts_for(labels, prompts["stimulus_id"], prompts["label"])
    keep = chosen(clips != "")
    if len(keep):
        rows = stimulus_rows(clap["stimulus_id"], clips[keep], "features/clap.npz")
        conditions["audio"] = (keep, clap["clap"][rows], clips[keep])
    return conditions


def latent_diffusion_samples(
    inputs: Mapping[str, PathLike],
    output: PathLike,
    *,
    audiomae_settings: Mapping,
    n_clips: int | None,
    prompt_clips: int | None,
    seed: int,
    device: str = "auto",
    threads: int = 1,
) -> None:
    """Mels generated by G for one subject's test clips under every condition.

    Without prompt (and from ``c_gt``, shuffled) on the evaluation clips of both parts
    (``n_clips`` for Tables 1-2, ``prompt_clips`` for Table 3); with a prompt on at most
    ``prompt_clips`` test clips that have one (:func:`prompt_conditions`).
    A clip starts from the same noise in every condition (seeded by its test position).

    ``inputs``: model, acoustic (fine-tuned D_aco), fmri, semantic, stimuli (folder), clap,
    audiomae (``c_gt``), mels (vocoder mels: the clip length in frames), text (optional CLAP
    text prompts). Writes, per condition, ``<prefix>test_stimulus``, ``<prefix>mel`` and
    ``<prefix>prompt`` (prefix ``""`` for no prompt, else ``"<condition>_"``).
    """
    from audiobrain.recon import acoustic, ldm

    where = _device(device, threads)
    model = ldm.load_ldm(inputs["model"], where)
    decoder = _acoustic_model(inputs["acoustic"], audiomae_settings, where)
    d_model = decoder.decoder.architecture["d_model"]
    table = datasets.read_stimuli(inputs["stimuli"]).table
    fmri = datasets.read_subject_fmri(inputs["fmri"])
    semantic = load_npz(inputs["semantic"])
    test_ids = fmri.test_stimulus.astype(str)
    if list(semantic["test_stimulus"]) != list(test_ids):
        raise InputError(f"{inputs['semantic']}: test samples differ from {inputs['fmri']}")
    voxels = acoustic.fmri_token(fmri.test_voxels, semantic["token_voxels"], d_model)
    s_test = semantic["test"] if decoder.decoder.semantic else None
    # the clips of both parts (Tables 1-2, Table 3): the round-robin choice nests
    n_plain = None if None in (n_clips, prompt_clips) else max(n_clips, prompt_clips)
    evaluated = stimulus_rows(test_ids, evaluation_ids(table, test_ids, n_plain), inputs["fmri"])
    conditions = {
        UNCONDITIONAL: (
            evaluated,
            None if s_test is None else s_test[evaluated],
            np.full(len(evaluated), ""),
        )
    }
    if decoder.decoder.semantic:
        text = load_npz(inputs["text"]) if inputs.get("text") else None
        clap = load_npz(inputs["clap"])
        conditions.update(prompt_conditions(test_ids, table, clap, text, prompt_clips))
    n_frames = load_npz(inputs["mels"])["mel"].shape[1]
    arrays = {}
    for name, (keep, s, prompt) in conditions.items():
        c = acoustic.predict_acoustic(decoder, voxels[keep], s)
        prefix = "" if name == UNCONDITIONAL else f"{name}_"
        log.info("generating %d clips (%s)", len(keep), name)
        arrays[f"{prefix}test_stimulus"] = test_ids[keep]
        arrays[f"{prefix}mel"] = model.sample(c, n_frames, seed=seed, noise_indices=keep)
        arrays[f"{prefix}prompt"] = prompt
    features = load_npz(inputs["audiomae"])
    c_gt = features["c_gt"][_rows(features, test_ids[evaluated], inputs["audiomae"])]
    shuffled = c_gt[derangement(len(c_gt), seed)]
    for name, c in zip(SANITY_CONDITIONS, (c_gt, shuffled), strict=True):
        arrays[f"{name}_test_stimulus"] = test_ids[evaluated]
        arrays[f"{name}_mel"] = model.sample(c, n_frames, seed=seed, noise_indices=evaluated)
    save_npz(output, arrays)


def conditioning_check(
    samples: Mapping[str, PathLike], vocoder_mels: PathLike, stimuli_dir: PathLike, output: PathLike
) -> None:
    """Mel PCC with the stimulus of G's samples from ``c_gt`` and from shuffled ``c_gt``, and
    of the training stimuli's mean mel (the gate: G from ``c_gt`` must beat it).

    ``samples``: ``"<subject>/<model>"`` -> that model's samples file. One row per subject and
    model; ``pcc_gain`` is c_gt's PCC minus the shuffled one's, ``passes_gate`` whether c_gt's
    PCC beats ``pcc_mean_mel``.
    """
    from audiobrain.recon.metrics import mel_pcc

    mels = load_npz(vocoder_mels)
    table = datasets.read_stimuli(stimuli_dir).table
    train_ids = table.loc[table["split"] == "train", "stimulus_id"].to_numpy(str)
    mean_mel = mels["mel"][_rows(mels, train_ids, vocoder_mels)].mean(axis=0)
    records = []
    for key, path in samples.items():
        subject, model = key.split("/", 1)
        arrays = load_npz(path)
        ids = arrays["c_gt_test_stimulus"]
        truth = mels["mel"][_rows(mels, ids, vocoder_mels)]
        pccs = {
            name: float(
                np.mean([mel_pcc(a, b) for a, b in zip(arrays[f"{name}_mel"], truth, strict=True)])
            )
            for name in SANITY_CONDITIONS
        }
        floor = float(np.mean([mel_pcc(mean_mel, b) for b in truth]))
        records.append(
            {
                "subject": subject,
                "model": model,
                **{f"pcc_{name}": value for name, value in pccs.items()},
                "pcc_gain": pccs["c_gt"] - pccs["shuffled"],
                "pcc_mean_mel": floor,
                "passes_gate": pccs["c_gt"] > floor,
                "n_clips": len(ids),
            }
        )
    write_tsv(pd.DataFrame(records), output)
