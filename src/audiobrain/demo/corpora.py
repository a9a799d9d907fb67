"""The demo's training corpora: eSpeak NG speech for the three languages and procedural acoustic
scenes, written as :func:`audiobrain.brainscores.corpora.prepare_corpus` reads its ``demo`` source.
"""

from __future__ import annotations

import os
from pathlib import Path

import librosa
import numpy as np
import pandas as pd
from scipy import signal

from audiobrain.audio import SAMPLE_RATE_HZ
from audiobrain.brainscores import text as texts
from audiobrain.brainscores.corpora import DEMO_LISTING, SPLIT_STREAM, TASKS
from audiobrain.demo.demo_sentences import PHRASE_BUILDERS
from audiobrain.demo.speech import synthesize
from audiobrain.io import write_tsv, write_wav

DEMO_VOICES = {"dutch": "nl", "english": "en", "bengali": "bn"}
# eSpeak NG voice variants (male, female and other timbres), rates and pitches for variety.
DEMO_VARIANTS = ("", "+m1", "+m2", "+m3", "+m4", "+m7", "+f1", "+f2", "+f3", "+f4")
DEMO_RATE_WPM = (150, 195)
DEMO_PITCH = (30, 70)
DEMO_SCENE_DURATION_S = (0.6, 1.2)  # short clips keep the demo's CPU training to about a minute


def generate_demo_corpus(
    task: str,
    folder: str | os.PathLike,
    *,
    n_clips: int,
    seed: int,
    max_words: int | None = None,
) -> None:
    """Write a small synthetic corpus for ``task`` into ``folder``: WAVs and ``clips.tsv``.

    Speech: distinct short phrases (:mod:`audiobrain.demo.demo_sentences`; Bengali in Bengali
    script) spoken by eSpeak NG with a voice variant, rate and pitch drawn per clip from the seed,
    16 kHz mono. Scenes: procedurally generated sounds of :data:`DEMO_SCENE_CLASSES` classes,
    balanced, with random parameters within each class. Every clip is its own group. The same
    arguments give the same bytes. ``prepare_corpus(task, "demo", folder, ...)`` makes the manifest.

    ``max_words`` keeps a seeded run of at most that many consecutive words of each phrase: one-
    or two-word clips (about half a second) let a narrow network get past CTC's all-blank stage
    in a few hundred CPU steps, where whole phrases need thousands.
    """
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; expected one of {list(TASKS)}")
    if n_clips < 1:
        raise ValueError(f"n_clips must be >= 1, got {n_clips}")
    folder = Path(folder)
    rngs = [np.random.default_rng(child) for child in np.random.SeedSequence(seed).spawn(n_clips)]
    files = [f"clips/{index:04d}.wav" for index in range(n_clips)]
    if task == texts.SCENE_TASK:
        labels = _balanced_labels(n_clips, np.random.default_rng([seed, SPLIT_STREAM]))
        for file, label, rng in zip(files, labels, rngs, strict=True):
            write_wav(folder / file, synthesize_scene(label, rng), SAMPLE_RATE_HZ)
        table = pd.DataFrame({"file": files, "label": labels})
    else:
        phrases = PHRASE_BUILDERS[task](n_clips, seed)
        if max_words is not None:
            phrases = [_word_run(p, max_words, rng) for p, rng in zip(phrases, rngs, strict=True)]
        voices, rates, pitches = [], [], []
        for file, phrase, rng in zip(files, phrases, rngs, strict=True):
            voice = DEMO_VOICES[task] + DEMO_VARIANTS[int(rng.integers(len(DEMO_VARIANTS)))]
            rate = int(rng.integers(DEMO_RATE_WPM[0], DEMO_RATE_WPM[1] + 1))
            pitch = int(rng.integers(DEMO_PITCH[0], DEMO_PITCH[1] + 1))
            waveform, sr_hz = synthesize(phrase, voice=voice, rate_wpm=rate, pitch=pitch)
            waveform = librosa.resample(
                waveform, orig_sr=sr_hz, target_sr=SAMPLE_RATE_HZ, res_type="soxr_hq"
            )
            write_wav(folder / file, waveform, SAMPLE_RATE_HZ)
            voices.append(voice)
            rates.append(rate)
            pitches.append(pitch)
        table = pd.DataFrame(
            {"file": files, "text": phrases, "voice": voices, "rate_wpm": rates, "pitch": pitches}
        )
    table.insert(2, "group", [f"clip:{index:04d}" for index in range(n_clips)])
    write_tsv(table, folder / DEMO_LISTING)


def _word_run(phrase: str, max_words: int, rng: np.random.Generator) -> str:
    """1 to ``max_words`` consecutive words of ``phrase``, at a seeded position."""
    words = phrase.split()
    length = int(rng.integers(1, min(max_words, len(words)) + 1))
    start = int(rng.integers(0, len(words) - length + 1))
    return " ".join(words[start : start + length])


def _balanced_labels(n_clips: int, rng: np.random.Generator) -> list[str]:
    labels = [DEMO_SCENE_CLASSES[index % len(DEMO_SCENE_CLASSES)] for index in range(n_clips)]
    return [labels[index] for index in rng.permutation(n_clips)]


# ---- procedurally generated acoustic scenes


def synthesize_scene(label: str, rng: np.random.Generator, sr_hz: int = SAMPLE_RATE_HZ):
    """One clip of scene class ``label``: float32 ``(n_samples,)`` at ``sr_hz`` (0.6-1.2 s).

    Parameters within the class (frequencies, rates, timing) come from ``rng``; the clip is
    peak-normalised to a random level and has faint white background noise (30-40 dB below).
    """
    if label not in _SCENE_MAKERS:
        raise ValueError(f"unknown demo scene class {label!r}; expected {DEMO_SCENE_CLASSES}")
    duration_s = rng.uniform(*DEMO_SCENE_DURATION_S)
    t = np.arange(round(duration_s * sr_hz)) / sr_hz
    sound = _SCENE_MAKERS[label](t, sr_hz, rng)
    sound = sound / (np.max(np.abs(sound)) + 1e-12)
    background = rng.standard_normal(t.size) * 10 ** (-rng.uniform(30, 40) / 20) * np.std(sound)
    sound = sound + background
    return (rng.uniform(0.3, 0.9) * sound / np.max(np.abs(sound))).astype(np.float32)


def _ramp(n: int, sr_hz: int, ramp_s: float = 0.005) -> np.ndarray:
    """Raised-cosine on/off ramps of ``ramp_s`` so tones start and stop without clicks."""
    envelope = np.ones(n)
    k = min(round(ramp_s * sr_hz), n // 2)
    if k > 0:
        rise = 0.5 - 0.5 * np.cos(np.pi * np.arange(k) / k)
        envelope[:k], envelope[n - k :] = rise, rise[::-1]
    return envelope


def _place(sound: np.ndarray, event: np.ndarray, start: int) -> None:
    end = min(start + event.size, sound.size)
    sound[start:end] += event[: end - start]


def _beeps(t, sr_hz, rng):
    """Pure-tone beeps: 2-5 identical beeps of one frequency with gaps."""
    sound = np.zeros(t.size)
    frequency = rng.uniform(500, 2500)
    length = round(rng.uniform(0.06, 0.18) * sr_hz)
    n_beeps = int(rng.integers(2, 6))
    starts = np.linspace(0, t.size - length - 1, n_beeps).astype(int)
    beep = np.sin(2 * np.pi * frequency * np.arange(length) / sr_hz) * _ramp(length, sr_hz)
    for start in starts:
        _place(sound, beep, int(start))
    return sound


def _chirps(t, sr_hz, rng):
    """Frequency sweeps (up or down, logarithmic), 1-3 of them."""
    sound = np.zeros(t.size)
    n_chirps = int(rng.integers(1, 4))
    length = round(min(rng.uniform(0.25, 0.6), t[-1] / n_chirps) * sr_hz)
    low, high = rng.uniform(200, 700), rng.uniform(2000, 5000)
    f0, f1 = (low, high) if rng.random() < 0.5 else (high, low)
    tt = np.arange(length) / sr_hz
    sweep = signal.chirp(tt, f0=f0, t1=tt[-1], f1=f1, method="logarithmic") * _ramp(length, sr_hz)
    for start in np.linspace(0, t.size - length - 1, n_chirps).astype(int):
        _place(sound, sweep, int(start))
    return sound


def _clicks(t, sr_hz, rng):
    """A train of sharp clicks (2-4 ms decaying noise) at 4-20 per second, slightly jittered."""
    sound = np.zeros(t.size)
    rate = rng.uniform(4, 20)
    times = np.arange(rng.uniform(0, 1 / rate), t[-1], 1 / rate)
    times = times + rng.normal(0, 0.1 / rate, times.size)
    length = round(rng.uniform(0.002, 0.004) * sr_hz)
    for time in times[(times >= 0) & (times < t[-1])]:
        click = rng.standard_normal(length) * np.exp(-np.arange(length) / (length / 4))
        _place(sound, click, round(time * sr_hz))
    return sound


def _engine(t, sr_hz, rng):
    """A low engine hum: 25-70 Hz fundamental with harmonics, wavering rpm, rumbling noise."""
    f0 = rng.uniform(25, 70) * (1 + 0.05 * np.sin(2 * np.pi * rng.uniform(0.3, 1.5) * t))
    phase = 2 * np.pi * np.cumsum(f0) / sr_hz
    hum = sum(np.sin(k * phase + rng.uniform(0, 2 * np.pi)) / k for k in range(1, 13))
    b, a = signal.butter(4, 400, fs=sr_hz)
    rumble = signal.lfilter(b, a, rng.standard_normal(t.size))
    return hum / np.std(hum) + 0.5 * rumble / np.std(rumble)


def _harmonic_tone(t, sr_hz, rng):
    """A sustained harmonic complex (120-500 Hz, 6-12 harmonics) with gentle vibrato."""
    f0 = rng.uniform(120, 500) * (1 + 0.01 * np.sin(2 * np.pi * rng.uniform(4, 6) * t))
    phase = 2 * np.pi * np.cumsum(f0) / sr_hz
    n_harmonics = int(rng.integers(6, 13))
    amplitudes = rng.uniform(0.3, 1.0, n_harmonics) / np.arange(1, n_harmonics + 1)
    tone = sum(a * np.sin((k + 1) * phase) for k, a in enumerate(amplitudes))
    attack = np.minimum(t / rng.uniform(0.02, 0.15), 1.0)
    return tone * attack * _ramp(t.size, sr_hz, 0.05)


def _modulated_noise(t, sr_hz, rng):
    """Band-limited noise whose loudness swells at 2-8 Hz (deep amplitude modulation)."""
    low = rng.uniform(300, 1000)
    b, a = signal.butter(2, [low, low * rng.uniform(3, 6)], btype="band", fs=sr_hz)
    noise = signal.lfilter(b, a, rng.standard_normal(t.size))
    depth = rng.uniform(0.8, 1.0)
    modulation = 1 + depth * np.sin(2 * np.pi * rng.uniform(2, 8) * t + rng.uniform(0, 2 * np.pi))
    return noise * modulation


def _noise_bursts(t, sr_hz, rng):
    """2-6 bursts of broadband white noise, 50-250 ms each, at random times."""
    sound = np.zeros(t.size)
    for _ in range(int(rng.integers(2, 7))):
        length = round(rng.uniform(0.05, 0.25) * sr_hz)
        start = int(rng.integers(0, max(t.size - length, 1)))
        _place(sound, rng.standard_normal(length) * _ramp(length, sr_hz), start)
    return sound


def _rain(t, sr_hz, rng):
    """Rain-like crackle: many short, high, decaying droplets (Poisson, 150-500 per second)."""
    sound = 0.05 * signal.lfilter(
        *signal.butter(2, 2000, "high", fs=sr_hz), rng.standard_normal(t.size)
    )
    n_drops = rng.poisson(rng.uniform(150, 500) * t[-1])
    for _ in range(n_drops):
        length = round(rng.uniform(0.002, 0.01) * sr_hz)
        tt = np.arange(length) / sr_hz
        drop = np.sin(2 * np.pi * rng.uniform(2000, 6000) * tt) * np.exp(-tt / (tt[-1] / 4 + 1e-9))
        _place(sound, rng.uniform(0.2, 1.0) * drop, int(rng.integers(0, t.size)))
    return sound


def _siren(t, sr_hz, rng):
    """A siren: a tone whose pitch glides up and down (600-1200 Hz +- 150-450 Hz, 0.5-3 Hz)."""
    centre, depth, rate = rng.uniform(600, 1200), rng.uniform(150, 450), rng.uniform(0.5, 3)
    frequency = centre + depth * np.sin(2 * np.pi * rate * t + rng.uniform(0, 2 * np.pi))
    phase = 2 * np.pi * np.cumsum(frequency) / sr_hz
    return (np.sin(phase) + 0.3 * np.sin(2 * phase)) * _ramp(t.size, sr_hz, 0.02)


def _wind(t, sr_hz, rng):
    """Wind: low-passed noise (cut-off 200-700 Hz) whose strength drifts slowly."""
    b, a = signal.butter(2, rng.uniform(200, 700), fs=sr_hz)
    noise = signal.lfilter(b, a, rng.standard_normal(t.size))
    knots = rng.uniform(0.2, 1.0, 6)
    gust = np.interp(t, np.linspace(0, t[-1], knots.size), knots)
    return noise * gust


_SCENE_MAKERS = {
    "beeps": _beeps,
    "chirps": _chirps,
    "clicks": _clicks,
    "engine": _engine,
    "harmonic_tone": _harmonic_tone,
    "modulated_noise": _modulated_noise,
    "noise_bursts": _noise_bursts,
    "rain": _rain,
    "siren": _siren,
    "wind": _wind,
}
DEMO_SCENE_CLASSES = tuple(sorted(_SCENE_MAKERS))
