"""eSpeak NG synthesis (real audio, repeatable) and the Dutch sentence generator."""

from __future__ import annotations

import re

import librosa
import numpy as np
import pytest

from audiobrain.demo import sentences
from audiobrain.demo.sentences import MAX_WORDS, MIN_WORDS, distinct_sentences, dutch_sentences
from audiobrain.demo.speech import (
    EDGE_PAD_S,
    ESPEAK_SAMPLE_RATE_HZ,
    SILENCE_THRESHOLD,
    synthesize,
    trim_silence,
)

DUTCH = "De oude visser verkoopt elke ochtend verse vis op de drukke markt."
TEXTS = {
    "nl": DUTCH,
    "en": "The old fisherman sells fresh fish at the busy market every morning.",
    "bn": "বুড়ো জেলে প্রতিদিন সকালে বাজারে তাজা মাছ বিক্রি করে।",
}


def _median_f0_hz(waveform: np.ndarray, sr_hz: int) -> float:
    f0 = librosa.yin(waveform, fmin=60, fmax=400, sr=sr_hz, frame_length=2048)
    rms = librosa.feature.rms(y=waveform, frame_length=2048, hop_length=512)[0][: f0.size]
    return float(np.median(f0[rms > 0.5 * rms.max()]))


@pytest.mark.parametrize("voice", ["nl", "en", "bn"])
def test_each_voice_speaks_its_text_at_the_native_rate(voice):
    waveform, sr_hz = synthesize(TEXTS[voice], voice=voice)
    assert sr_hz == ESPEAK_SAMPLE_RATE_HZ == 22_050
    assert waveform.dtype == np.float32 and waveform.ndim == 1
    assert 1.5 < waveform.size / sr_hz < 8.0  # a spoken sentence, not a beep or a hang
    assert np.abs(waveform).max() <= 1.0
    assert np.sqrt(np.mean(waveform**2)) > 0.02  # audible speech
    assert 70 < _median_f0_hz(waveform, sr_hz) < 300  # a voice's pitch


def test_same_text_gives_the_same_samples_whatever_was_spoken_before():
    first, _ = synthesize(DUTCH)
    synthesize(TEXTS["en"], voice="en", rate_wpm=200, pitch=80)
    synthesize("Iets heel anders.", voice="nl")
    again, _ = synthesize(DUTCH)
    np.testing.assert_array_equal(first, again)


def test_rate_and_pitch_shape_the_speech():
    slow, sr_hz = synthesize(DUTCH, rate_wpm=120)
    fast, _ = synthesize(DUTCH, rate_wpm=240)
    assert 1.6 < slow.size / fast.size < 2.4
    low, _ = synthesize(DUTCH, pitch=20)
    high, _ = synthesize(DUTCH, pitch=90)
    assert _median_f0_hz(high, sr_hz) > 1.2 * _median_f0_hz(low, sr_hz)


def test_trimmed_speech_keeps_only_a_short_silent_margin():
    pauses = DUTCH + " . . . ."  # eSpeak pauses at each full stop: about 0.4 s of silence
    trimmed, sr_hz = synthesize(pauses)
    untrimmed, _ = synthesize(pauses, trim=False)
    assert untrimmed.size - trimmed.size > 0.3 * sr_hz
    loud = np.flatnonzero(np.abs(trimmed) > SILENCE_THRESHOLD)
    pad = round(EDGE_PAD_S * sr_hz)
    assert loud[0] <= pad and trimmed.size - 1 - loud[-1] <= pad


def test_trim_silence_cuts_to_the_pad():
    sr_hz = 1000
    waveform = np.zeros(3000, dtype=np.float32)
    waveform[1000:1500] = 0.5
    trimmed = trim_silence(waveform, sr_hz, pad_s=0.1)
    assert trimmed.size == 500 + 2 * 100
    assert trim_silence(np.zeros(10, dtype=np.float32), sr_hz).size == 0


def test_bad_requests_raise_clear_errors():
    with pytest.raises(ValueError, match="no voice named 'xx-none'"):
        synthesize("Hallo.", voice="xx-none")
    with pytest.raises(ValueError, match="text is empty"):
        synthesize("   ")
    with pytest.raises(ValueError, match="rate_wpm"):
        synthesize("Hallo.", rate_wpm=20)


# --------------------------------------------------------------------------------------------
# Sentences

_ARTICLE = {noun.singular: noun.article for noun in sentences._NOUNS.values()} | {
    noun: article for _, noun, article in sentences._PLACES
}
_PLURALS = {noun.plural for noun in sentences._NOUNS.values()}
_INFLECTED_TO_BASE = {
    inflected: base
    for group in (
        sentences._ADJECTIVES_PERSONS,
        sentences._ADJECTIVES_FOOD,
        sentences._ADJECTIVES_THINGS,
        sentences._ADJECTIVES_TEXTS,
        sentences._ADJECTIVES_ANIMALS,
        sentences._ADJECTIVES_PLACES,
    )
    for base, inflected in group
}
_BASE_ADJECTIVES = set(_INFLECTED_TO_BASE.values())
_VERB_FORMS = {form for verb in sentences._VERBS for form in (verb.singular, verb.plural)}


@pytest.fixture(scope="module")
def pool() -> list[str]:
    return dutch_sentences(360, seed=0)  # MOUS's pool size (section 2.1)


def _words(sentence: str) -> list[str]:
    return re.sub(r"[,.]", "", sentence).lower().split()


def test_sentences_are_distinct_and_9_to_15_words(pool):
    assert len(pool) == len(set(pool)) == 360
    lengths = [len(sentence.split()) for sentence in pool]
    assert min(lengths) >= MIN_WORDS == 9 and max(lengths) <= MAX_WORDS == 15
    assert len(set(lengths)) == 7  # the whole range is used
    assert all(s[0].isupper() and s.endswith(".") and "  " not in s for s in pool)


def test_sentences_depend_only_on_the_seed(pool):
    assert dutch_sentences(50, seed=0) == pool[:50]
    assert dutch_sentences(50, seed=1) != pool[:50]


def test_articles_and_adjectives_agree_with_the_noun(pool):
    """'het'/'dit' only before het-nouns, 'de'/'deze' never before a singular het-noun; an adjective
    stays uninflected only in 'een' + adjective + het-noun ('een oud paard')."""
    checked = 0
    for sentence in pool:
        words = _words(sentence)
        for i, word in enumerate(words[:-2]):
            noun = words[i + 2] if words[i + 1] in _INFLECTED_TO_BASE else words[i + 1]
            if noun not in _ARTICLE:
                continue
            checked += 1
            if word == "het":
                assert _ARTICLE[noun] == "het", sentence
            if word in ("de", "deze"):
                assert _ARTICLE[noun] == "de", sentence
            if word == "dit":
                assert _ARTICLE[noun] == "het", sentence
        for i, word in enumerate(words[1:-1], start=1):
            if word in _BASE_ADJECTIVES and word not in _INFLECTED_TO_BASE:
                assert words[i - 1] == "een" and _ARTICLE.get(words[i + 1]) == "het", sentence
    assert checked > 500


def test_finite_verb_agrees_and_comes_last_in_subordinate_clauses(pool):
    subordinate = 0
    for sentence in pool:
        words = _words(sentence)
        clauses = re.split(r",\s*", sentence.rstrip("."))
        for clause in clauses:
            clause_words = clause.lower().split()
            if clause_words[0] in sentences._CONJUNCTIONS:
                subordinate += 1
                assert clause_words[-1] in _VERB_FORMS, sentence
        assert any(word in _VERB_FORMS for word in words), sentence
    assert subordinate > 50
    plural_subject = [s for s in pool if s.split()[0] == "De" and s.split()[1].lower() in _PLURALS]
    for sentence in plural_subject:
        verb = sentence.split()[2]
        assert verb in {v.plural for v in sentences._VERBS}, sentence


def test_distinct_sentences_reports_an_impossible_request():
    with pytest.raises(ValueError, match="only build 1 distinct"):
        distinct_sentences(lambda rng: " ".join(["woord"] * 10), n=3, seed=0)
