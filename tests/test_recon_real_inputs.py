"""Real-data inputs of the reconstruction study, on tiny files laid out as each release: AudioLDM2's
front end and the pre-flight VAE check, x' standardisation, Brain2Speech's pycortex voxel sets,
Brain2Music's lag and lag scan, Brain2Sound's clips, and Table 1's "not reproduced" row."""

from __future__ import annotations

import json
import logging

import librosa
import nibabel
import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch
from diffusers import AutoencoderKL
from test_recon_datasets import PIECES, ROIS, write_bdata, write_ramp
from transformers import SpeechT5HifiGan, SpeechT5HifiGanConfig

from audiobrain.io import InputError, load_npz, read_tsv, save_npz, write_tsv
from audiobrain.recon import analysis, audioldm2, datasets, ldm, pipeline, preflight
from audiobrain.recon.acoustic import (
    AcousticSettings,
    load_acoustic,
    predict_acoustic,
    save_acoustic,
    train_acoustic,
)
from audiobrain.recon.audiomae import AudioMAE, AudioMAEConfig
from audiobrain.recon.pycortex_rois import (
    brain2speech_voxel_masks,
    read_roi_masks,
    roi_voxel_masks,
)
from audiobrain.recon.stimulus_clips import clip_aliases, cut_stimulus_clips, read_release_table
from audiobrain.recon.vocoder import (
    AUDIOLDM2_MEL,
    UNIVERSAL_HIFIGAN_MEL,
    load_hifigan,
    vocoder_mel,
)

h5py = pytest.importorskip("h5py")
pytestmark = pytest.mark.usefixtures("one_torch_thread")
SR = 16_000


# --------------------------------------------------------------------------------------------
# 1. AudioLDM2's mel front end, its vocoder, the pre-flight VAE check


def audioldm2_reference_mel(waveform: np.ndarray) -> np.ndarray:
    """AudioLDM2's wav_to_fbank written out: normalize_wav, reflect pad 512, |STFT|, mel, log."""
    y = waveform - waveform.mean()
    y = y / (np.max(np.abs(y)) + 1e-8) * 0.5
    y = torch.from_numpy(y.astype(np.float32))[None, None]
    y = torch.nn.functional.pad(y, (512, 512), mode="reflect")[0]
    spec = torch.stft(
        y, 1024, hop_length=160, win_length=1024, window=torch.hann_window(1024),
        center=False, return_complex=True,
    )  # fmt: skip
    basis = librosa.filters.mel(sr=16000, n_fft=1024, n_mels=64, fmin=0, fmax=8000)
    mel = torch.from_numpy(basis) @ spec.abs()
    return torch.log(torch.clamp(mel, min=1e-5))[0].T.numpy()


def test_audioldm2_front_end_normalises_the_waveform_and_frames_as_audioldm2():
    rng = np.random.default_rng(0)
    t = np.arange(SR) / SR
    waveform = 0.05 * np.sin(2 * np.pi * 440 * t) + 0.01 * rng.standard_normal(SR) + 0.2
    normalised = audioldm2.normalize_waveform(waveform)
    assert abs(normalised.mean()) < 1e-12 and np.max(np.abs(normalised)) == pytest.approx(0.5)
    assert not audioldm2.normalize_waveform(np.zeros(10)).any()  # silence stays silent
    found = vocoder_mel(waveform, SR, AUDIOLDM2_MEL)
    expected = audioldm2_reference_mel(waveform)
    assert found.shape == expected.shape == (1 + SR // 160, 64)  # centred frames
    np.testing.assert_allclose(found, expected, atol=2e-3)
    # the pretrained model sees the same mel whatever the clip's level and offset ...
    np.testing.assert_allclose(
        vocoder_mel(7.0 * waveform - 0.3, SR, AUDIOLDM2_MEL), found, atol=1e-4
    )
    # ... while the universal HiFi-GAN keeps its own front end (the waveform as given)
    universal = vocoder_mel(waveform, SR, UNIVERSAL_HIFIGAN_MEL)
    assert not np.allclose(vocoder_mel(0.5 * waveform, SR, UNIVERSAL_HIFIGAN_MEL), universal)
    assert UNIVERSAL_HIFIGAN_MEL.waveform_peak is None and AUDIOLDM2_MEL.waveform_peak == 0.5


def tiny_audioldm2_vocoder(folder, normalize_before=False):
    config = SpeechT5HifiGanConfig(
        model_in_dim=64, sampling_rate=16_000, upsample_initial_channel=64,
        upsample_rates=[5, 4, 2, 2, 2], upsample_kernel_sizes=[16, 16, 8, 4, 4],
        resblock_kernel_sizes=[3], resblock_dilation_sizes=[[1, 3, 5]],
        normalize_before=normalize_before,
    )  # fmt: skip
    torch.manual_seed(0)
    SpeechT5HifiGan(config).eval().save_pretrained(folder)
    return folder


def test_an_audioldm2_vocoder_must_take_the_mel_unnormalised(tmp_path):
    good = load_hifigan(
        tiny_audioldm2_vocoder(tmp_path / "good"), config_key="recon.models.vocoder"
    )
    assert good.mel == AUDIOLDM2_MEL and good.model.config.normalize_before is False
    bad = tiny_audioldm2_vocoder(tmp_path / "bad", normalize_before=True)
    with pytest.raises(InputError, match=r"recon\.models\.vocoder: .*bad.*normalize_before True"):
        load_hifigan(bad, config_key="recon.models.vocoder")


@pytest.fixture
def mel_dataset(tmp_path):
    """A dataset folder of 8 training and 2 test clips, and its vocoder mels (AudioLDM2's)."""
    rng = np.random.default_rng(1)
    n = 10
    t = np.arange(round(0.5 * SR)) / SR
    waveforms = np.stack(
        [np.sin(2 * np.pi * (200 + 150 * k) * t) * (1 + rng.random()) for k in range(n)]
    ).astype(np.float32)
    table = pd.DataFrame({
        "stimulus_id": [f"clip{k}" for k in range(n)],
        "split": ["train"] * 8 + ["test"] * 2, "source": "synthetic", "start_s": 0.0,
        "duration_s": 0.5, "label": "n/a", "kind": "sound",
    })  # fmt: skip
    folder = tmp_path / "dataset"
    datasets.write_stimuli(folder, datasets.StimulusSet(table, waveforms), "demo")
    vocoder = tiny_audioldm2_vocoder(tmp_path / "vocoder")
    pipeline.vocoder_mels(folder / "stimuli.npz", folder / "vocoder_mel.npz", vocoder_path=vocoder)
    return folder


def tiny_vae_folder(folder):
    torch.manual_seed(0)
    vae = AutoencoderKL(
        in_channels=1, out_channels=1, down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2, block_out_channels=(8, 16),
        layers_per_block=1, latent_channels=4, norm_num_groups=4,
    )  # fmt: skip
    vae.save_pretrained(folder)
    return folder


VAE_KEY = "recon.sources.brain2sound.ldm.pretrained_vae"


def test_a_random_pretrained_vae_fails_the_pre_flight_check(mel_dataset, tmp_path):
    mels = load_npz(mel_dataset / "vocoder_mel.npz")
    assert json.loads(str(mels["front_end"]))["waveform_peak"] == 0.5  # recorded with the mels
    vae = tiny_vae_folder(tmp_path / "vae")
    with pytest.raises(
        InputError, match=rf"vae: the VAE of config {VAE_KEY} .*recon\.ldm\.vae_min"
    ):
        preflight.vae_check(
            mel_dataset, mel_dataset / "vocoder_mel.npz", vae, tmp_path / "check.tsv",
            settings={"vae_check_clips": 4}, vae_key=VAE_KEY, device="cpu",
        )  # fmt: skip
    assert not (tmp_path / "check.tsv").exists()


def test_the_vae_check_passes_a_faithful_round_trip_and_applies_its_threshold(
    mel_dataset, tmp_path, monkeypatch
):
    monkeypatch.setattr(ldm, "vae_round_trip", lambda vae, mel, pad: mel)  # identity-like VAE
    vae = tiny_vae_folder(tmp_path / "vae")
    output = tmp_path / "check.tsv"
    preflight.vae_check(
        mel_dataset, mel_dataset / "vocoder_mel.npz", vae, output,
        settings={"vae_check_clips": 4, "vae_min_pcc": 0.99}, vae_key=VAE_KEY, device="cpu",
    )  # fmt: skip
    table = read_tsv(output)
    assert len(table) == 4 and np.allclose(table["pcc"], 1.0)
    assert set(table["stimulus_id"]) <= {f"clip{k}" for k in range(8)}  # training clips only
    # the threshold: a round trip that keeps about 90 % of the mel's variance
    rng = np.random.default_rng(0)
    mels = load_npz(mel_dataset / "vocoder_mel.npz")["mel"]
    noisy = preflight.round_trip_pccs(
        mels, lambda m: m + 0.3 * m.std() * rng.standard_normal(m.shape)
    )
    assert 0.8 < noisy.mean() < 0.99
    assert preflight.require_min_pcc(noisy, 0.8, vae, VAE_KEY, "k") == pytest.approx(noisy.mean())
    with pytest.raises(InputError, match=r"below 0\.99 \(k\)"):
        preflight.require_min_pcc(noisy, 0.99, vae, VAE_KEY, "k")
    np.testing.assert_array_equal(preflight.check_clips(np.arange(100), 5), [0, 25, 50, 74, 99])


def test_a_pretrained_vae_is_refused_mels_of_another_front_end(mel_dataset, tmp_path):
    mels = load_npz(mel_dataset / "vocoder_mel.npz")
    preflight.check_front_end(mels, "mels.npz")  # AudioLDM2's: fine
    from dataclasses import asdict

    other = {**mels, "front_end": np.asarray(json.dumps(asdict(UNIVERSAL_HIFIGAN_MEL)))}
    with pytest.raises(InputError, match=r"mels\.npz: .*recon\.models\.vocoder"):
        preflight.check_front_end(other, "mels.npz")


def test_vae_round_trip_keeps_the_mel_shape():
    torch.manual_seed(0)
    vae = AutoencoderKL(
        in_channels=1, out_channels=1, down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2, block_out_channels=(8, 16),
        layers_per_block=1, latent_channels=4, norm_num_groups=4,
    ).eval()  # fmt: skip
    mel = np.random.default_rng(0).standard_normal((3, 21, 13)).astype(np.float32)
    with torch.no_grad():
        again = ldm.vae_round_trip(vae, mel)
    assert again.shape == mel.shape and again.dtype == np.float32


# --------------------------------------------------------------------------------------------
# 2. x' standardised with the training statistics stored in D_aco

CONFIG = AudioMAEConfig(
    embed_dim=16, depth=1, num_heads=2, decoder_embed_dim=16, decoder_depth=2,
    decoder_num_heads=2, meta_hidden_dim=8, n_mels=32, n_frames=128,
)  # fmt: skip


def test_test_time_tokens_use_the_stored_training_mean_and_std(tmp_path):
    audiomae = AudioMAE(CONFIG, seed=1).eval()
    rng = np.random.default_rng(0)
    n = 8
    mel = rng.standard_normal((n, 1, CONFIG.n_mels, CONFIG.n_frames)).astype(np.float32)
    with torch.no_grad():
        c_gt = audiomae.encode(torch.from_numpy(mel))[:, :8].numpy()
    offset, scale = rng.normal(500, 100, 16), rng.uniform(10, 100, 16)
    voxels = (offset + scale * rng.standard_normal((n, 16))).astype(np.float32)  # raw BOLD
    fast = AcousticSettings(n_layers=1, n_heads=2, mlp_ratio=2.0, batch_size=4, epochs=1)
    model, _ = train_acoustic(
        None, None, voxels, c_gt, mel, audiomae, fast, seed=0, checkpoint=None, progress=False
    )
    decoder = model.decoder
    np.testing.assert_allclose(decoder.token_mean.numpy(), voxels.mean(0), rtol=1e-5)
    np.testing.assert_allclose(decoder.token_scale.numpy(), voxels.std(0), rtol=1e-4)
    test = (offset + 3 * scale * rng.standard_normal((5, 16))).astype(np.float32)
    c = predict_acoustic(model, test)
    # exactly the network on (x' - training mean) / training std ...
    with torch.no_grad():
        standardised = (torch.from_numpy(test) - decoder.token_mean) / decoder.token_scale
        tokens = standardised[:, None, :] + decoder.token_type
        expected = decoder.decoder(decoder.queries.expand(5, -1, -1), decoder.encoder(tokens))
    np.testing.assert_allclose(c, expected.numpy(), atol=1e-5)
    # ... whatever the test batch (no test statistics), and after saving and loading
    np.testing.assert_allclose(predict_acoustic(model, test[2:3]), c[2:3], atol=1e-5)
    save_acoustic(tmp_path / "d_aco.pt", model)
    loaded = load_acoustic(tmp_path / "d_aco.pt", audiomae)
    np.testing.assert_array_equal(loaded.decoder.token_mean, decoder.token_mean)
    np.testing.assert_allclose(predict_acoustic(loaded, test), c, atol=1e-6)


# --------------------------------------------------------------------------------------------
# 3. Brain2Speech: Table 4's voxel sets from ds003020's pycortex database

XYZ = (5, 4, 3)  # nibabel's (x, y, z) of the reference volume; pycortex's arrays are (z, y, x)


def write_speech_release(root, subject="UTS01", n_rows=8):
    """ds003020 as released: subject_xfms.json, mask_thick, preprocessed hf5, story audio."""
    (root / "derivative").mkdir(parents=True)
    (root / "derivative" / "subject_xfms.json").write_text(json.dumps({subject: f"{subject}_auto"}))
    xfm = root / "derivative" / "pycortex-db" / subject / "transforms" / f"{subject}_auto"
    xfm.mkdir(parents=True)
    thick = np.zeros(XYZ, dtype=np.uint8)
    thick[1:4, 1:3, :] = 1  # 3 x 2 x 3 = 18 voxels
    nibabel.save(nibabel.Nifti1Image(thick, np.eye(4)), xfm / "mask_thick.nii.gz")
    zyx = np.transpose(thick, (2, 1, 0)).astype(bool)
    columns = np.flatnonzero(zyx.ravel())  # each response column holds its (z, y, x) index
    folder = root / "derivative" / "preprocessed_data" / subject
    folder.mkdir(parents=True)
    for story in ("storya", "hangtime", "wheretheressmoke"):
        with h5py.File(folder / f"{story}.hf5", "w") as handle:
            handle["data"] = np.tile(columns.astype(np.float64), (n_rows, 1))
        write_ramp(root / "stimuli" / f"{story}.wav", 22.0)
    return zyx, columns


def speech_settings(root, masks, **extra):
    return {"source": "brain2speech", "root": str(root), "subjects": ["UTS01"],
            "rois": ["AC"], "roi_masks": str(masks), **extra}  # fmt: skip


def test_brain2speech_voxels_are_the_roi_voxels_of_mask_thick_in_pycortex_order(tmp_path):
    root = tmp_path / "ds003020"
    zyx, columns = write_speech_release(root)
    ac = np.zeros_like(zyx)
    ac[0, 1, 1:3] = ac[2, 2, 3] = True  # 3 voxels in mask_thick
    ac[0, 0, 0] = True  # outside mask_thick: not a response column
    ffa = np.zeros_like(zyx)
    ffa[1, 1, 1] = True
    masks = tmp_path / "roi_masks"
    masks.mkdir()
    left = np.arange(zyx.shape[2]) < 2  # pycortex's split_lr: one mask per hemisphere
    np.savez(masks / "UTS01_roi_masks.npz", AC_L=ac & left, AC_R=ac & ~left, FFA=ffa)
    selected = roi_voxel_masks(root, ["UTS01"], masks, ["AC"], config_key="r", masks_key="m")
    np.testing.assert_array_equal(columns[selected["UTS01"]], np.flatnonzero((ac & zyx).ravel()))

    def prepare(out, **settings):
        """The pipeline's voxel sets into the loader (one training story, not the paper's 25)."""
        settings = speech_settings(root, masks, **settings)
        datasets.prepare_brain2speech(
            root, out, subjects=["UTS01"], train_stories=["storya"], n_prompt=2,
            voxel_masks=brain2speech_voxel_masks(settings, "recon.sources.s"),
            allow_voxel_count_mismatch=settings.get("allow_voxel_count_mismatch", False),
        )  # fmt: skip
        return datasets.read_subject_fmri(out / "sub-UTS01_fmri.npz")

    with pytest.raises(InputError, match=r"UTS01: 3 \(Table 4: 836\).*allow_voxel_count_mismatch"):
        prepare(tmp_path / "out")
    fmri = prepare(tmp_path / "out", allow_voxel_count_mismatch=True)
    np.testing.assert_array_equal(fmri.train_voxels[0], np.flatnonzero((ac & zyx).ravel()))
    both = prepare(tmp_path / "out2", rois=["AC", "FFA"], allow_voxel_count_mismatch=True)
    assert both.train_voxels.shape[1] == 4


def test_roi_masks_in_pycortex_index_layout_and_their_errors(tmp_path):
    shape = XYZ[::-1]
    index = np.zeros(shape, dtype=np.int64)
    index[0, 0, :2], index[1, 2, 4] = -1, 1  # AC left (negative) and right
    index[2, 3, 0] = 2
    path = tmp_path / "UTS01_roi_masks.npz"
    np.savez(path, index_volume=index, index_labels=json.dumps({"AC": 1, "PPA": 2}))
    masks = read_roi_masks(path, ["AC", "PPA"], shape, "key")
    assert masks["AC"].sum() == 3 and masks["PPA"].sum() == 1
    with pytest.raises(InputError, match=r"no ROI 'FFA' \(check key\); found \['AC', 'PPA'\]"):
        read_roi_masks(path, ["FFA"], shape, "key")
    with pytest.raises(InputError, match=r"shape \(3, 4, 5\), but mask_thick is \(5, 4, 3\)"):
        read_roi_masks(path, ["AC"], (5, 4, 3), "key")
    np.savez(path, AC=np.full(shape, 0.4))
    with pytest.raises(InputError, match="fractional values.*threshold="):
        read_roi_masks(path, ["AC"], shape, "key")
    with pytest.raises(InputError, match=r"nowhere\.npz: file not found .*check key"):
        read_roi_masks(tmp_path / "nowhere.npz", ["AC"], shape, "key")


def test_brain2speech_without_voxel_sets_is_an_error_naming_the_keys(tmp_path):
    root = tmp_path / "ds003020"
    write_speech_release(root)
    settings = {"source": "brain2speech", "root": str(root), "subjects": ["UTS01"]}
    with pytest.raises(InputError, match=r"recon\.sources\.s: .*rois and roi_masks .*voxel_masks"):
        pipeline.prepare_dataset(tmp_path / "out", settings=settings, where="recon.sources.s")
    with pytest.raises(InputError, match="not both"):
        brain2speech_voxel_masks({**settings, "roi_masks": "m", "voxel_masks": "v"}, "w")


# --------------------------------------------------------------------------------------------
# 4. Brain2Music: the hemodynamic lag of the pairing, and the pre-flight lag scan


def write_music_release(root, gtzan, pieces, responses):
    func = root / "sub-001" / "func"
    func.mkdir(parents=True)
    for (task, run), events in pieces.items():
        rows = [(15 * i, 15, g, t, s, s + 15) for i, (g, t, s) in enumerate(events)]
        table = pd.DataFrame(rows, columns=["onset", "duration", "genre", "track", "start", "end"])
        table.to_csv(func / f"sub-001_task-{task}_run-{run:02d}_events.tsv", sep="\t", index=False)
    for genre, track in {(g.strip("'"), t) for e in pieces.values() for g, t, _ in e}:
        write_ramp(gtzan / genre / f"{genre}.{track:05d}.wav", 20.0, sr_hz=8_000)
    preprocessed = root / "derivative" / "preprocessed_data" / "sub-001"
    preprocessed.mkdir(parents=True)
    for task, array in responses.items():
        np.save(preprocessed / f"sub-001_Resp_{task}.npy", array.astype(np.float32))


def test_brain2music_lag_pairs_row_r_with_the_clip_lag_trs_earlier(tmp_path):
    rows = np.repeat(np.arange(40, dtype=np.float32)[:, None], 3, axis=1)
    root, gtzan = tmp_path / "ds003720", tmp_path / "gtzan"
    write_music_release(root, gtzan, PIECES, {"Training": rows, "Test": rows})
    out = tmp_path / "out"
    datasets.prepare_brain2music(root, gtzan, out, subjects=["001"], lag_trs=2)
    fmri = datasets.read_subject_fmri(out / "sub-001_fmri.npz")
    # run 1: rows 0-1 hear the last clips of its first piece (jazz 1), row 2 metal 2's first
    assert list(fmri.train_stimulus[:3]) == [
        "jazz.00001_000500ms_clip08", "jazz.00001_000500ms_clip09", "metal.00002_001000ms_clip00",
    ]  # fmt: skip
    assert fmri.train_stimulus[20] == "jazz.00003_002000ms_clip08"  # run 2 starts with jazz 3
    assert len(fmri.train_stimulus) == 40
    stimuli = datasets.read_stimuli(out).table.set_index("stimulus_id")
    assert "jazz.00001_000500ms_clip08" in stimuli.index  # only the paired clips of jazz 1
    assert "jazz.00001_000500ms_clip07" not in stimuli.index
    assert json.loads((out / "sub-001_fmri.json").read_text())["lag_s"] == 3.0
    with pytest.raises(InputError, match=r"config recon\.sources\.m\.lag_trs: expected 0\.\.10"):
        datasets.brain2music_pairs(root, "001", 11, "r", "recon.sources.m.lag_trs")


def test_the_lag_scan_finds_a_planted_lag_and_logs_it(tmp_path, caplog):
    rng = np.random.default_rng(0)
    genres = ["'blues'", "'jazz'", "'rock'", "'pop'"]
    pieces = {("Training", run): [(genres[(run + i) % 4], 10 * run + i, 0.0) for i in range(6)]
              for run in (1, 2, 3)}  # fmt: skip
    for run in (1, 2):
        first = (genres[run % 4], 90 + run, 0.0)
        pieces["Test", run] = [first, (genres[(run + 1) % 4], 95 + run, 0.0), first]
    root, gtzan = tmp_path / "ds003720", tmp_path / "gtzan"
    empty = {"Training": np.zeros((150, 1)), "Test": np.zeros((40, 1))}
    write_music_release(root, gtzan, pieces, empty)
    clips = {}
    for events in pieces.values():
        for genre, track, start in events:
            for k in range(10):
                clips[datasets._clip_id((genre.strip("'"), track, start), k)] = None
    ids = np.asarray(sorted(clips))
    clap = rng.standard_normal((len(ids), 6))
    save_npz(tmp_path / "clap.npz", {"stimulus_id": ids, "clap": clap})
    weights = rng.standard_normal((6, 40))
    row_of = {i: k for k, i in enumerate(ids)}
    for task, split in (("Training", "train"), ("Test", "test")):
        paired = datasets.brain2music_pairs(root, "001", 2)[split][1]  # the planted lag: 3 s
        bold = clap[[row_of[i] for i in paired]] @ weights + 0.1 * rng.standard_normal(
            (len(paired), 40)
        )
        np.save(root / f"derivative/preprocessed_data/sub-001/sub-001_Resp_{task}.npy", bold)
    settings = {"root": str(root), "lag_trs": 0}
    with caplog.at_level(logging.INFO):
        table = preflight.brain2music_lag_scan(
            tmp_path / "clap.npz", tmp_path / "scan.tsv", settings=settings,
            semantic={"alpha": 1.0, "n_feat": 0}, subject="001", where="recon.sources.m",
        )  # fmt: skip
    assert list(table["lag_trs"]) == [0, 1, 2, 3, 4]
    assert table.loc[table["pcc_test"].idxmax(), "lag_trs"] == 2
    assert table.set_index("lag_trs").loc[2, "pcc_test"] > 0.9
    assert "lag 2 TR (3.0 s): D_sem test PCC" in caplog.text
    assert "highest at a lag of 2 TR, but recon.sources.m.lag_trs is 0" in caplog.text
    assert read_tsv(tmp_path / "scan.tsv")["configured"].tolist() == [True] + [False] * 4


# --------------------------------------------------------------------------------------------
# 5. Brain2Sound: clips cut from downloaded audio by the release's table (ms, repeated IDs)


def write_release_table(path, rows):
    columns = ["YouTube ID", "start seconds", "end seconds", "label", "split"]
    pd.DataFrame(rows, columns=columns).to_csv(path, index=False)


RELEASE = [
    ("-dup_id1", 164000, 172000, "playing cornet", "decoder_train"),
    ("-dup_id1", 93000, 101000, "playing cornet", "decoder_train"),
    ("one_B", 2000, 10000, "rain", "decoder_train"),
    ("gone", 0, 8000, "dog barking", "decoder_train"),
    ("short", 5000, 13000, "siren", "decoder_train"),
    ("testT", 30000, 38000, "crow cawing", "decoder_test"),
]


@pytest.fixture
def sound_release(tmp_path):
    root = tmp_path / "data"
    (root / "fmri_data").mkdir(parents=True)
    write_release_table(root / "SoundReconstruction_stimulus.csv", RELEASE)
    downloads = tmp_path / "youtube"
    write_ramp(downloads / "-dup_id1.wav", 180.0, sr_hz=8_000, slope=0.001)
    write_ramp(downloads / "one_B.wav", 12.0, sr_hz=44_100, slope=0.01)
    write_ramp(downloads / "short.wav", 9.0, slope=0.01)  # ends inside its window
    sf.write(downloads / "testT.flac", np.full(40 * 8000, 0.25, np.float32), 8000)
    (downloads / "testT.info.json").write_text("{}")  # a downloader's side file: not audio
    return root, downloads


def test_clips_are_cut_by_id_and_start_in_ms_and_missing_ones_are_listed(sound_release, tmp_path):
    root, downloads = sound_release
    clips = tmp_path / "clips"
    table = cut_stimulus_clips(root / "SoundReconstruction_stimulus.csv", downloads, clips,
                               tmp_path / "clips.tsv")  # fmt: skip
    status = dict(zip(table["clip"], table["status"], strict=True))
    assert status == {"-dup_id1_164000": "ok", "-dup_id1_93000": "ok", "one_B_2000": "ok",
                      "gone_0": "missing", "short_5000": "short", "testT_30000": "ok"}  # fmt: skip
    for name, start_s, slope in (("-dup_id1_164000", 164, 0.001), ("-dup_id1_93000", 93, 0.001),
                                 ("one_B_2000", 2, 0.01)):  # fmt: skip
        waveform, sr_hz = sf.read(clips / f"{name}.wav")
        assert sr_hz == SR and waveform.shape == (8 * SR,)
        assert waveform[SR] == pytest.approx(slope * (start_s + 1), abs=2e-4)  # 1 s into it
    assert sorted(p.name for p in clips.iterdir()) == sorted(
        f"{c}.wav" for c, s in status.items() if s == "ok"
    )
    listed = read_tsv(tmp_path / "clips.tsv")
    assert list(listed["status"]) == list(table["status"]) and listed["start_ms"].iloc[1] == 93000


def test_the_release_table_is_checked_and_its_aliases_never_guess(tmp_path):
    table = read_release_table(_table(tmp_path, RELEASE))
    assert list(table["split"]) == ["train"] * 5 + ["test"]
    aliases = clip_aliases(table)
    assert aliases["-dup_id1_93000"] == "-dup_id1_93000" and aliases["one_B_train"] == "one_B_2000"
    assert aliases["one_B"] == "one_B_2000" and aliases["testT_test"] == "testT_30000"
    assert aliases["-dup_id1_train"] is None and aliases["-dup_id1"] is None  # two windows
    with pytest.raises(InputError, match=r"row 3 spans 8 ms; .*milliseconds"):
        read_release_table(_table(tmp_path, [RELEASE[0], ("x", 2, 10, "rain", "decoder_train")]))
    with pytest.raises(InputError, match="'-dup_id1_164000' is listed twice"):
        read_release_table(_table(tmp_path, [RELEASE[0], RELEASE[0]]))


def _table(tmp_path, rows):
    path = tmp_path / "table.csv"
    write_release_table(path, rows)
    return path


def write_sound_fmri(root, subject, train_clips, test_clips, repetitions=2):
    for split, clips in (("Train", train_clips), ("Test", test_clips)):
        names = [f"{clip}_slide{k}" for _ in range(repetitions) for clip in clips for k in range(3)]
        values = np.arange(len(names) * 6, dtype=float).reshape(len(names), 6)
        write_bdata(
            root / f"fmri_data/{subject}_VGGishish{split}_volume_native.h5", names, values, ROIS
        )


def test_brain2sound_pairs_samples_with_unique_clips_and_stops_when_audio_is_short(
    sound_release, tmp_path
):
    root, downloads = sound_release
    clips = tmp_path / "clips"
    cut_stimulus_clips(
        root / "SoundReconstruction_stimulus.csv", downloads, clips, tmp_path / "c.tsv"
    )
    train = ["-dup_id1_164000", "-dup_id1_93000", "one_B_train", "gone_0", "short_train"]
    write_sound_fmri(root, "S9", train, ["testT_test"])
    with pytest.raises(
        InputError, match=r"clips: too few brain2sound samples .*S9 train: 18 of 30 .*my\.key"
    ):
        datasets.prepare_brain2sound(root, tmp_path / "out", subjects=["S9"], audio_dir=clips,
                                     missing_key="my.key")  # fmt: skip
    out = tmp_path / "out"
    datasets.prepare_brain2sound(root, out, subjects=["S9"], audio_dir=clips, max_missing_audio=0.5)
    stimuli = datasets.read_stimuli(out)
    table = stimuli.table.set_index("stimulus_id")
    assert table.loc["-dup_id1_93000_slide1", "label"] == "playing cornet"
    assert table.loc["one_B_train_slide0", "label"] == "rain"  # <id>_<split>: an unambiguous alias
    assert table.loc["testT_test_slide2", "split"] == "test"
    first = stimuli.waveforms[list(table.index).index("-dup_id1_164000_slide1")]
    second = stimuli.waveforms[list(table.index).index("-dup_id1_93000_slide1")]
    assert first[0] == pytest.approx(0.001 * (164 + 2), abs=2e-4)  # window 1 starts 2 s in
    assert second[0] == pytest.approx(0.001 * (93 + 2), abs=2e-4)
    # A Table 4 subject is judged against Table 4's counts (13,872 training samples for S1)
    write_sound_fmri(root, "S1", train, ["testT_test"])
    with pytest.raises(InputError, match="S1 train: 18 of 13872"):
        datasets.prepare_brain2sound(root, tmp_path / "o1", subjects=["S1"], audio_dir=clips)


# --------------------------------------------------------------------------------------------
# 6. Table 1's Park et al. row: "not reproduced", never blank


def test_park_et_al_is_listed_as_not_reproduced_in_the_tsv_and_markdown(tmp_path):
    rows = [
        {"subject": s, "method": m, "prompt": "none", "p_gt": p, "pcc": v, "psnr": 15.0,
         "fd": 40.0 + v, "fad": 9.0, "kl": 2.0, "clap": 0.2}
        for s in ("S1", "S2")
        for m, p, v in (("LiR", np.nan, 0.6), ("Transformer", np.nan, 0.5),
                        ("Fine-LDM", np.nan, 0.3), ("C2F-LDM", 0.25, 0.4))
    ]  # fmt: skip
    metrics = pd.DataFrame(rows)
    table = analysis.reconstruction_table(
        metrics, not_reproduced=analysis.NOT_REPRODUCED_METHODS["brain2sound"]
    )
    assert list(table["method"]) == ["LiR", "Transformer", "Park et al.", "Fine-LDM", "C2F-LDM"]
    park = table.set_index("method").loc["Park et al."]
    assert park["note"] == "not reproduced" and park["n_subjects"] == 0
    assert park[["pcc", "fd"]].isna().all() and not park["best_fd"]
    assert table.set_index("method").loc["LiR", "best_pcc"]
    markdown = analysis.table_markdown(table)
    line = next(row for row in markdown.splitlines() if row.startswith("| Park et al."))
    assert line.count("not reproduced") == 6 and "| - |" not in line
    write_tsv(table, tmp_path / "table.tsv")
    written = (tmp_path / "table.tsv").read_text().splitlines()
    header, park_row = written[0].split("\t"), next(r for r in written if r.startswith("Park"))
    cells = dict(zip(header, park_row.split("\t"), strict=True))
    assert cells["note"] == "not reproduced"
    assert all(cells[m] == "n/a" for m in ("pcc", "psnr", "fd", "fad", "kl", "clap"))  # not blank
    # other datasets' tables have no such row (Table 2 lists none)
    assert "Park et al." not in set(analysis.reconstruction_table(metrics)["method"])
