"""Speech synthesis with eSpeak NG through ctypes (the demo's stimuli and training corpora).

The PyPI package ``espeakng_loader`` ships the eSpeak NG shared library and its voice data, so
synthesis needs no system install and no network.

Determinism. eSpeak NG keeps waveform-generator state in C statics (glottal phase, pitch flutter,
echo buffer) that survive ``espeak_Terminate``/``espeak_Initialize``, so in one process the same
text comes out a few samples different on every call (measured: lengths 92,169 to 92,401 samples
for one Dutch sentence). Each utterance is therefore spoken in a forked child of a process that
has initialised the library once and never spoken: every child starts from the same pristine
state, and the same text gives the same samples whatever was spoken before.
"""

from __future__ import annotations

import ctypes
import os
import struct
import threading

import espeakng_loader
import numpy as np

ESPEAK_SAMPLE_RATE_HZ = 22_050  # eSpeak NG's native output rate
DEFAULT_RATE_WPM = 145  # MOUS pace: 9-15 words in 4.28 s on average (section 2.1); measured 4.3 s
DEFAULT_PITCH = 50  # eSpeak's 0-100 scale; 50 is the voice's own pitch
SILENCE_THRESHOLD = 10 ** (-50 / 20)  # -50 dBFS: below this a sample counts as silence
EDGE_PAD_S = 0.05  # silence kept before the first and after the last sound when trimming
_RAND_SEED = 0  # eSpeak's noise generator is seeded from the clock at initialisation

# speak_lib.h
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_PARAM_RATE = 1
_PARAM_PITCH = 3
_EE_OK = 0
_SYNTH_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)

_library: ctypes.CDLL | None = None
_library_lock = threading.Lock()


def synthesize(
    text: str,
    voice: str = "nl",
    rate_wpm: int = DEFAULT_RATE_WPM,
    pitch: int = DEFAULT_PITCH,
    trim: bool = True,
) -> tuple[np.ndarray, int]:
    """Speak ``text`` with an eSpeak NG voice; the same arguments always give the same samples.

    Parameters
    ----------
    text : the utterance (UTF-8; any script the voice reads, e.g. Bengali for ``"bn"``).
    voice : an eSpeak NG voice name such as ``"nl"``, ``"en"``, ``"bn"`` (``"nl+f3"`` adds a
        variant).
    rate_wpm : speaking rate in words per minute (eSpeak accepts 80-450).
    pitch : base pitch on eSpeak's 0-100 scale.
    trim : cut leading and trailing silence down to ``EDGE_PAD_S``.

    Returns
    -------
    waveform : ``(n_samples,)`` float32 in [-1, 1], at the native rate (not resampled).
    sr_hz : ``ESPEAK_SAMPLE_RATE_HZ``.
    """
    if not text.strip():
        raise ValueError("synthesize: text is empty")
    if not 80 <= rate_wpm <= 450:
        raise ValueError(f"synthesize: rate_wpm must be within 80-450, got {rate_wpm}")
    if not 0 <= pitch <= 100:
        raise ValueError(f"synthesize: pitch must be within 0-100, got {pitch}")
    samples = _in_pristine_child(text, voice, int(rate_wpm), int(pitch))
    waveform = samples.astype(np.float32) / 32768.0
    if trim:
        waveform = trim_silence(waveform, ESPEAK_SAMPLE_RATE_HZ)
    return waveform, ESPEAK_SAMPLE_RATE_HZ


def trim_silence(waveform: np.ndarray, sr_hz: int, pad_s: float = EDGE_PAD_S) -> np.ndarray:
    """Drop leading and trailing samples below ``SILENCE_THRESHOLD``, keeping ``pad_s`` of each."""
    loud = np.flatnonzero(np.abs(waveform) > SILENCE_THRESHOLD)
    if loud.size == 0:
        return waveform[:0]
    pad = round(pad_s * sr_hz)
    return waveform[max(loud[0] - pad, 0) : loud[-1] + pad + 1]


def _initialised_library() -> ctypes.CDLL:
    """Load and initialise eSpeak NG once per process (the parent never speaks with it)."""
    global _library
    with _library_lock:
        if _library is None:
            library = ctypes.CDLL(espeakng_loader.get_library_path())
            library.espeak_Initialize.argtypes = [
                ctypes.c_int,
                ctypes.c_int,
                ctypes.c_char_p,
                ctypes.c_int,
            ]
            library.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
            library.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
            library.espeak_SetSynthCallback.argtypes = [_SYNTH_CALLBACK]
            library.espeak_Synth.argtypes = [
                ctypes.c_char_p,
                ctypes.c_size_t,
                ctypes.c_uint,
                ctypes.c_int,
                ctypes.c_uint,
                ctypes.c_uint,
                ctypes.c_void_p,
                ctypes.c_void_p,
            ]
            data_path = espeakng_loader.get_data_path().encode()
            sr_hz = library.espeak_Initialize(
                _AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path, _INITIALIZE_DONT_EXIT
            )
            if sr_hz != ESPEAK_SAMPLE_RATE_HZ:
                raise RuntimeError(
                    f"eSpeak NG at {espeakng_loader.get_library_path()} failed to initialise "
                    f"with data {data_path.decode()} (returned {sr_hz}, expected "
                    f"{ESPEAK_SAMPLE_RATE_HZ} Hz)"
                )
            _library = library
        return _library


def _in_pristine_child(text: str, voice: str, rate_wpm: int, pitch: int) -> np.ndarray:
    """Run :func:`_speak` in a forked child and return its int16 samples (see module docstring)."""
    if not hasattr(os, "fork"):
        raise RuntimeError("synthesize needs os.fork (Linux or macOS) to give repeatable audio")
    library = _initialised_library()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: speak, send, exit without running the parent's cleanup
        os.close(read_end)
        status = 1
        try:
            payload, status = _speak(library, text, voice, rate_wpm, pitch), 0
        except Exception as error:  # reported to the parent as text
            payload = str(error).encode()
        try:
            _write_all(write_end, struct.pack("<BQ", status, len(payload)) + payload)
        finally:
            os._exit(status)
    os.close(write_end)
    try:
        message = _read_all(read_end)
    finally:
        os.close(read_end)
        os.waitpid(pid, 0)
    return _decode_child_message(message, voice)


def _speak(library: ctypes.CDLL, text: str, voice: str, rate_wpm: int, pitch: int) -> bytes:
    """Synthesise in this (child) process; int16 little-endian samples as bytes."""
    if hasattr(library, "espeak_ng_SetRandSeed"):
        library.espeak_ng_SetRandSeed(ctypes.c_long(_RAND_SEED))
    if library.espeak_SetVoiceByName(voice.encode()) != _EE_OK:
        raise ValueError(f"eSpeak NG has no voice named {voice!r}")
    library.espeak_SetParameter(_PARAM_RATE, rate_wpm, 0)
    library.espeak_SetParameter(_PARAM_PITCH, pitch, 0)
    chunks: list[bytes] = []

    def collect(wav, n_samples, _events):
        if n_samples > 0 and wav:
            chunks.append(ctypes.string_at(wav, n_samples * 2))
        return 0

    callback = _SYNTH_CALLBACK(collect)
    library.espeak_SetSynthCallback(callback)
    encoded = text.encode("utf-8")
    error = library.espeak_Synth(
        encoded, len(encoded) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None
    )
    if error != _EE_OK:
        raise RuntimeError(f"espeak_Synth failed with code {error} for text {text[:40]!r}")
    return np.frombuffer(b"".join(chunks), dtype=np.int16).astype("<i2").tobytes()


def _decode_child_message(message: bytes, voice: str) -> np.ndarray:
    header = struct.calcsize("<BQ")
    if len(message) < header:
        raise RuntimeError(f"eSpeak NG child process for voice {voice!r} died without answering")
    status, length = struct.unpack("<BQ", message[:header])
    payload = message[header : header + length]
    if status != 0:
        raise ValueError(f"eSpeak NG synthesis failed: {payload.decode(errors='replace')}")
    samples = np.frombuffer(payload, dtype="<i2")
    if samples.size == 0:
        raise ValueError(f"eSpeak NG produced no audio with voice {voice!r}")
    return samples


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _read_all(fd: int) -> bytes:
    parts = []
    while chunk := os.read(fd, 1 << 16):
        parts.append(chunk)
    return b"".join(parts)
