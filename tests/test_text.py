"""Alphabets, transcript normalisation, romanisation and CTC target encoding."""

from __future__ import annotations

import re

import pytest

from audiobrain.brainscores import text
from audiobrain.brainscores.networks import CTC_BLANK_INDEX, VOCABULARY_SIZES
from audiobrain.io import InputError


def test_alphabet_sizes_match_the_networks_outputs():
    for task, alphabet in text.ALPHABETS.items():
        assert len(alphabet) == VOCABULARY_SIZES[task], task
        assert len(set(alphabet)) == len(alphabet), f"{task}: repeated symbol"
    assert text.ALPHABETS["dutch"].startswith(" '")
    assert set("áéèêëïóöü") <= set(text.ALPHABETS["dutch"])
    assert text.ALPHABETS["english"] == " 'abcdefghijklmnopqrstuvwxyz"
    assert text.ALPHABETS["bengali"] == text.ALPHABETS["english"]


@pytest.mark.parametrize(
    ("raw", "task", "expected"),
    [
        ("Hello,   World!\tDon\u2019t stop.", "english", "hello world don't stop"),
        ("\u2018Quoted\u2019 words -- fine", "english", "quoted words fine"),
        ("rock \u2019n\u2019 roll", "english", "rock n roll"),
        ("'s Avonds zo\u2019n radio's", "dutch", "'s avonds zo'n radio's"),
        ("Café, naïve façade", "english", "cafe naive facade"),
        ("Café à la carte; ĳs", "dutch", "café a la carte ijs"),
        ("Cafe\u0301 (decomposed)", "dutch", "café decomposed"),
        ("zee-egel\u00a0en\u00adzo", "dutch", "zee egel enzo"),
        ("In 1987 there were 1,250 people, 3.5 each; the 21st", "english",
         "in nineteen eighty seven there were one thousand two hundred and fifty people "
         "three point five each the twenty first"),
        ("Om 8 uur, 1.250 man, 3,5 graden, de 2e keer", "dutch",
         "om acht uur duizendtweehonderdvijftig man drie komma vijf graden de tweede keer"),
    ],
)  # fmt: skip
def test_normalise_transcript_writes_what_is_said(raw, task, expected):
    assert text.normalise_transcript(raw, task) == expected


def test_unknown_characters_error_names_character_code_point_place_and_option():
    with pytest.raises(InputError) as error:
        text.normalise_transcript("Straße & 5 % ø", "dutch", where="corpus/x.tsv line 12")
    message = str(error.value)
    for expected in ("'ß'", "U+00DF", "'&'", "U+0026", "'%'", "'ø'", "U+00F8"):
        assert expected in message
    assert "corpus/x.tsv line 12" in message
    assert "corpora.dutch.unknown_characters" in message
    assert "corpora.dutch.character_map" in message


def test_unknown_policies_drop_and_map():
    assert text.normalise_transcript("Straße & Co", "dutch", unknown="drop") == "strae co"
    mapped = text.normalise_transcript(
        "Straße & Co", "dutch", unknown="map", mapping={"ß": "ss", "&": " en "}
    )
    assert mapped == "strasse en co"
    with pytest.raises(InputError, match=r"'&' \(U\+0026.*line 3"):
        text.normalise_transcript("Straße & Co", "dutch", unknown="map", mapping={"ß": "ss"},
                                  where="line 3")  # fmt: skip
    with pytest.raises(InputError, match=r"keys \['ss'\] are not single characters"):
        text.normalise_transcript("a", "dutch", unknown="map", mapping={"ss": "s"})
    with pytest.raises(InputError, match="no mapping"):
        text.normalise_transcript("a", "dutch", unknown="map")
    with pytest.raises(InputError, match="set it to 'map'"):
        text.normalise_transcript("a", "dutch", unknown="drop", mapping={"ß": "ss"})


def test_empty_transcripts_are_errors_naming_where():
    for raw in ("", "  ...  ", "ß"):
        with pytest.raises(InputError, match=re.escape("list.tsv line 7")):
            text.normalise_transcript(raw, "english", unknown="drop", where="list.tsv line 7")


def test_batch_normalisation_reports_every_unknown_character_once():
    with pytest.raises(InputError) as error:
        text.normalise_transcripts(
            ["ß one", "fine", "two ß and ø"], "english", wheres=["a:1", "a:2", "a:3"]
        )
    message = str(error.value)
    assert "'ß' (U+00DF, LATIN SMALL LETTER SHARP S) x2 at a:1, a:3" in message
    assert "'ø' (U+00F8, LATIN SMALL LETTER O WITH STROKE) x1 at a:3" in message
    dropped = text.normalise_transcripts(["ß", "fine ø"], "english", unknown="drop")
    assert dropped == ["", "fine"]
    assert text.unknown_characters(["ß one", "two ß ø"], "english") == {"ß": 2, "ø": 1}


def test_uroman_romanises_bengali_into_ascii_letters():
    bengali = "আমি প্রতিদিন সকালে ভাত খাই।"
    [romanised] = text.romanise([bengali])
    assert romanised.isascii()
    normalised = text.normalise_transcript(romanised, "bengali")
    assert normalised == "aami pratidin sakaale bhaat khaai"
    assert set(normalised) <= set(text.ALPHABETS["bengali"])
    # Bengali digits are spelled out in Bengali ("বারো", twelve) before romanisation.
    assert text.normalise_transcript(text.romanise(["১২ টা"])[0], "bengali") == "baaro ttaa"


def test_encode_decode_round_trip_uses_one_based_indices():
    for task in text.SPEECH_TASKS:
        sample = text.ALPHABETS[task]
        indices = text.encode(sample, task)
        assert indices == list(range(1, len(sample) + 1))
        assert CTC_BLANK_INDEX not in indices
        assert text.decode(indices, task) == sample
    assert text.encode("ab c", "english") == [3, 4, 1, 5]
    with pytest.raises(InputError, match="U\\+00DF"):
        text.encode("straße", "dutch")
    with pytest.raises(ValueError, match="blank"):
        text.decode([0, 3], "english")


def test_collapse_ctc_merges_repeats_then_removes_blanks():
    assert text.collapse_ctc([0, 3, 3, 0, 3, 4, 4, 0, 0, 1]) == [3, 3, 4, 1]
    assert text.decode(text.collapse_ctc([9, 9, 0, 9, 10, 0]), "english") == "ggh"


def test_scene_targets_are_one_element_class_sequences():
    classes = ["bark", "rain", "siren"]
    assert text.scene_target("rain", classes) == [2]
    assert text.target_indices("siren", "scenes", classes) == [3]
    assert text.decode_target([2], "scenes", classes) == "rain"
    assert text.target_indices("ab", "english") == [3, 4]
    with pytest.raises(InputError, match="'wind' is not one of the 3 classes"):
        text.scene_target("wind", classes)
