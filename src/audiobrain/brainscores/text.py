"""Transcripts as the networks' CTC targets: alphabets, normalisation, romanisation, encoding.

Millet & King (2021), section 2.4, train the speech networks with CTC on characters: 37 symbols
for Dutch, 28 for English and 28 for Bengali, whose transcripts are romanised with uroman
(Hermjakob et al., 2018) so that the three languages have about the same number of characters.
Index 0 is the CTC blank (:data:`audiobrain.brainscores.networks.CTC_BLANK_INDEX`); symbol ``i`` of
an alphabet is predicted at index ``i + 1``. A scene clip's target is the one-element sequence
``[class index + 1]`` over the sorted class names (section 2.4: "a one hot vector").

Normalisation (:func:`normalise_transcript`) turns written text into what was said, in the
task's alphabet, and never drops a spoken character silently:

1. Unicode NFC, lower case.
2. With ``unknown="map"``, the user's character map (e.g. ``{"ß": "ss", "&": " en "}``).
3. Typographic apostrophes (’ ‘ ʼ ` ´ ...) become ``'``. An apostrophe is kept inside a word
   (``don't``, ``radio's``) and, for Dutch, before the clitics ``'s 't 'n 'k 'm 'r``
   (``'s avonds``); every other apostrophe is a quotation mark and becomes a space.
4. Numbers are spelled out in the task's language with ``num2words``: integers (with the
   language's thousands separators), decimals, English ``1st``/``2nd`` and Dutch ``1e``/``2de``
   ordinals, and four-digit numbers from 1100 to 1999 read as years (``1987`` -> "nineteen
   eighty seven"). Bengali numbers are spelled in Bengali and romanised like the rest.
5. Punctuation (Unicode category P) becomes a space, except the characters in
   :data:`SPOKEN_SYMBOLS` (``& % @ # § / ...``), which a reader pronounces; those and all other
   symbols (category S: ``€ $ + = °``...) are left for the unknown-character policy, so that
   "5 %" never silently becomes "vijf".
6. A letter outside the alphabet whose accents are the only difference from alphabet letters is
   folded onto them (English ``café`` -> ``cafe``, Dutch ``à`` -> ``a``); stray combining marks
   are removed.
7. Whitespace collapsed and stripped. What is still outside the alphabet is handled by
   ``unknown``: ``"error"`` (default) names each character and where it is, ``"drop"`` removes it,
   ``"map"`` applied the map in step 2 and errors on what is still unknown.
"""

from __future__ import annotations

import functools
import logging
import re
import string
import unicodedata
from collections import Counter
from collections.abc import Mapping, Sequence
from decimal import Decimal

from audiobrain.io import InputError

log = logging.getLogger(__name__)

# Section 2.4: d_v = 37 for Dutch, 28 for English and (romanised) Bengali. Index i+1 = symbol i.
ALPHABETS: dict[str, str] = {
    "dutch": " '" + string.ascii_lowercase + "áéèêëïóöü",
    "english": " '" + string.ascii_lowercase,
    "bengali": " '" + string.ascii_lowercase,  # applied to uroman romanisations
}
SPEECH_TASKS = tuple(ALPHABETS)
SCENE_TASK = "scenes"
UNKNOWN_POLICIES = ("error", "drop", "map")
NUMBER_LANGUAGES = {"dutch": "nl", "english": "en", "bengali": "bn"}  # num2words language codes
UROMAN_LANGUAGE = "ben"  # ISO 639-3 code uroman takes for Bengali

# The config keys an error message tells the user to change (the workflow's config schema).
CONFIG_UNKNOWN_KEY = "corpora.{task}.unknown_characters"
CONFIG_MAPPING_KEY = "corpora.{task}.character_map"

APOSTROPHES = "'\u2019\u2018\u02bc\u02bb\u0060\u00b4\u2032\u201b\uff07"
DUTCH_CLITICS = ("s", "t", "n", "k", "m", "r")  # 's avonds, 't huis, 'n man, 'k, 'm, 'r
# Punctuation that a reader pronounces ("&" -> "and"): reported as unknown, never removed silently.
SPOKEN_SYMBOLS = "&%@#§‰‱/\\*†‡"
YEAR_RANGE = (1100, 1999)  # four-digit numbers read as years ("nineteen eighty seven")
MAX_SPELLED_DIGITS = 15  # longer digit strings (identifiers) are read digit by digit
_EXAMPLES_PER_CHARACTER = 3


def normalise_transcript(
    text: str,
    task: str,
    *,
    unknown: str = "error",
    mapping: Mapping[str, str] | None = None,
    where: str = "",
) -> str:
    """Written ``text`` as the spoken character sequence in ``task``'s alphabet (module docstring).

    Parameters
    ----------
    text : a transcript as the corpus writes it (Bengali: already romanised, see :func:`romanise`).
    task : ``"dutch"``, ``"english"`` or ``"bengali"``.
    unknown : what to do with characters still outside the alphabet: ``"error"``, ``"drop"``
        or ``"map"`` (apply ``mapping`` first, then error on what is left).
    mapping : character -> replacement string, matched against the lower-cased text; only with
        ``unknown="map"``.
    where : the transcript's location for error messages, e.g. ``"corpus/x.tsv line 12"``.

    Returns
    -------
    The normalised transcript: only alphabet symbols, single spaces, no leading/trailing space.

    Raises
    ------
    InputError : unknown characters under ``"error"``/``"map"`` (each named with its code point,
        ``where`` and the config option to change), or nothing left to say.
    """
    [result] = normalise_transcripts(
        [text], task, unknown=unknown, mapping=mapping, wheres=[where], allow_empty=False
    )
    return result


def normalise_transcripts(
    texts: Sequence[str],
    task: str,
    *,
    unknown: str = "error",
    mapping: Mapping[str, str] | None = None,
    wheres: Sequence[str] | None = None,
    allow_empty: bool = True,
) -> list[str]:
    """:func:`normalise_transcript` for a whole corpus, with one error listing every problem.

    Under ``"error"``/``"map"`` the :class:`InputError` names every unknown character with its
    count and its first locations, so a user fixes the config once instead of once per character.
    A transcript with nothing speakable in it (empty, or only punctuation) is an error. One that
    only became empty because ``"drop"`` removed its characters comes back as ``""`` when
    ``allow_empty`` (corpus preparation drops and counts it), else it is an error.
    """
    _check_task(task)
    if unknown not in UNKNOWN_POLICIES:
        raise ValueError(f"unknown must be one of {UNKNOWN_POLICIES}, got {unknown!r}")
    if unknown == "map" and not mapping:
        raise InputError(
            f"unknown characters are set to be mapped but no mapping is given; set "
            f"{CONFIG_MAPPING_KEY.format(task=task)} (e.g. {{'ß': 'ss'}})"
        )
    if mapping and unknown != "map":
        raise InputError(
            f"a character mapping is given but {CONFIG_UNKNOWN_KEY.format(task=task)} is "
            f"{unknown!r}; set it to 'map' to apply the mapping"
        )
    long_keys = [key for key in (mapping or {}) if len(key) != 1]
    if long_keys:
        raise InputError(
            f"{CONFIG_MAPPING_KEY.format(task=task)} maps single characters to strings; "
            f"keys {long_keys} are not single characters"
        )
    wheres = list(wheres) if wheres is not None else [""] * len(texts)
    if len(wheres) != len(texts):
        raise ValueError(f"{len(texts)} transcripts but {len(wheres)} locations")
    lowered_map = {key.lower(): value for key, value in (mapping or {}).items()}
    alphabet = frozenset(ALPHABETS[task])
    cleaned = [_clean(text, task, lowered_map, alphabet) for text in texts]
    unknown_at: dict[str, list[str]] = {}
    counts: Counter[str] = Counter()
    results = []
    for text, where, clean in zip(texts, wheres, cleaned, strict=True):
        if not clean.strip():
            raise InputError(
                f"{_location(where)}transcript {text!r} is empty after normalisation (nothing "
                f"to say in the {task} alphabet)"
            )
        strange = [char for char in clean if char not in alphabet]
        location = where or repr(text)
        for char in strange:
            counts[char] += 1
            examples = unknown_at.setdefault(char, [])
            if len(examples) < _EXAMPLES_PER_CHARACTER and location not in examples:
                examples.append(location)
        kept = "".join(char for char in clean if char in alphabet) if strange else clean
        kept = " ".join(kept.split())
        if not kept and not allow_empty:
            raise InputError(
                f"{_location(where)}transcript {text!r} is empty once the characters outside "
                f"the {task} alphabet are dropped"
            )
        results.append(kept)
    if counts and unknown != "drop":
        raise InputError(_unknown_message(task, unknown, counts, unknown_at))
    if counts:
        log.info("dropped characters outside the %s alphabet: %s", task, dict(counts))
    return results


def unknown_characters(
    texts: Sequence[str], task: str, *, mapping: Mapping[str, str] | None = None
) -> Counter[str]:
    """How often each character outside ``task``'s alphabet remains after normalisation."""
    _check_task(task)
    lowered_map = {key.lower(): value for key, value in (mapping or {}).items()}
    alphabet = frozenset(ALPHABETS[task])
    counts: Counter[str] = Counter()
    for text in texts:
        cleaned = _clean(text, task, lowered_map, alphabet)
        counts.update(char for char in cleaned if char not in alphabet)
    return counts


def _unknown_message(task: str, unknown: str, counts: Counter, examples: dict) -> str:
    listed = "; ".join(
        f"{char!r} ({_code_point(char)}, {unicodedata.name(char, 'unnamed')}) x{count} at "
        + ", ".join(examples[char])
        for char, count in sorted(counts.items())
    )
    still = " still" if unknown == "map" else ""
    return (
        f"{sum(counts.values())} character(s) outside the {len(ALPHABETS[task])}-symbol {task} "
        f"alphabet{still} remain after normalisation: {listed}. Set "
        f"{CONFIG_UNKNOWN_KEY.format(task=task)} to 'drop' to remove them, or to 'map' and give "
        f"replacements in {CONFIG_MAPPING_KEY.format(task=task)} (e.g. {{'ß': 'ss'}})"
    )


def _code_point(char: str) -> str:
    return f"U+{ord(char):04X}"


def _location(where: str) -> str:
    return f"{where}: " if where else ""


def _check_task(task: str) -> None:
    if task not in ALPHABETS:
        raise ValueError(f"unknown speech task {task!r}; expected one of {list(ALPHABETS)}")


# --------------------------------------------------------------------------------------------
# The normalisation steps


def _clean(text: str, task: str, mapping: Mapping[str, str], alphabet: frozenset) -> str:
    """Steps 1-7 of the module docstring, up to (not including) the unknown-character policy."""
    text = unicodedata.normalize("NFC", text).lower()
    if mapping:
        text = "".join(mapping.get(char, char) for char in text)
        text = unicodedata.normalize("NFC", text).lower()
    text = "".join("'" if char in APOSTROPHES else char for char in text)
    text = spell_numbers(text, task)
    text = _apostrophes(text, task)
    text = "".join(_punctuation_to_space(char) for char in text)
    text = "".join(_fold_accents(char, alphabet) for char in text)
    return " ".join(text.split())


def _apostrophes(text: str, task: str) -> str:
    """Keep word-internal apostrophes (and Dutch clitics); other apostrophes are quote marks."""
    clitics = "|".join(DUTCH_CLITICS) if task == "dutch" else None

    def keep_or_space(match: re.Match) -> str:
        start, end = match.start(), match.end()
        before = text[start - 1] if start > 0 else ""
        after = text[end] if end < len(text) else ""
        if before.isalpha() and after.isalpha():
            return "'"
        if clitics and not before.isalnum() and re.match(rf"(?:{clitics})\b", text[end:]):
            return "'"
        return " "

    return re.sub("'", keep_or_space, text)


def _punctuation_to_space(char: str) -> str:
    if char == "'" or char in SPOKEN_SYMBOLS:
        return char
    category = unicodedata.category(char)
    if category.startswith("P") or category == "Sk" or category.startswith("Z"):
        return " "
    if category in ("Cc", "Cf"):  # tabs, newlines, zero-width joiners
        return " " if char.isspace() else ""
    return char


def _fold_accents(char: str, alphabet: frozenset) -> str:
    """An accented letter (or ligature: "ĳ", "ﬁ") outside the alphabet -> its base letters.

    Compatibility decomposition (NFKD) without the combining marks; kept only when every
    resulting character is in the alphabet, so "ß", "ø" or "²" stay unknown.
    """
    if char in alphabet:
        return char
    if unicodedata.combining(char):
        return ""  # a diacritic NFC could not attach to its letter
    parts = unicodedata.normalize("NFKD", char)
    base = "".join(part for part in parts if not unicodedata.combining(part)).lower()
    if base != char and base and all(part in alphabet for part in base):
        return base
    return char


# --------------------------------------------------------------------------------------------
# Numbers


def spell_numbers(text: str, task: str) -> str:
    """Digits in ``text`` written out as words of ``task``'s language (module docstring, step 4).

    Bengali numbers are spelled in Bengali script by ``num2words`` and romanised with uroman.
    """
    if not any(char.isdecimal() for char in text):
        return text
    from num2words import num2words  # imported here: most transcripts have no digits

    # Any script's decimal digits (Bengali ০-৯ included) as ASCII; "²" and "½" are not decimal.
    text = "".join(str(unicodedata.decimal(char)) if char.isdecimal() else char for char in text)

    def spell(match: re.Match) -> str:
        words = _number_words(match.group("number"), match.group("suffix"), task, num2words)
        if task == "bengali":
            [words] = romanise([words])
        return f" {words} "

    return re.sub(_number_pattern(task), spell, text)


@functools.cache
def _number_pattern(task: str) -> re.Pattern:
    thousands, decimal = {"dutch": (r"\.", ","), "english": (",", r"\."), "bengali": (",", r"\.")}[
        task
    ]
    ordinal = {"dutch": "ste|de|e", "english": "st|nd|rd|th", "bengali": "(?!)"}[task]
    group = r"\d{2,3}" if task == "bengali" else r"\d{3}"  # Bengali groups lakhs: 1,00,000
    return re.compile(
        rf"(?P<number>\d{{1,3}}(?:{thousands}{group})+(?:{decimal}\d+)?(?!\d)|\d+(?:{decimal}\d+)?)"
        rf"(?P<suffix>(?:{ordinal})\b)?"
    )


def _number_words(number: str, suffix: str | None, task: str, num2words) -> str:
    language = NUMBER_LANGUAGES[task]
    thousands, decimal = (".", ",") if task == "dutch" else (",", ".")
    integer_part, _, fraction = number.replace(thousands, "").partition(decimal)
    if len(integer_part) > MAX_SPELLED_DIGITS:
        digits = " ".join(num2words(int(digit), lang=language) for digit in integer_part)
        return digits if not fraction else number  # an identifier; leave odd cases to the user
    if fraction:
        return num2words(Decimal(f"{integer_part}.{fraction}"), lang=language)
    value = int(integer_part)
    if suffix:
        return num2words(value, lang=language, to="ordinal")
    is_year = (
        task != "bengali"
        and len(integer_part) == 4
        and thousands not in number
        and YEAR_RANGE[0] <= value <= YEAR_RANGE[1]
    )
    return num2words(value, lang=language, to="year" if is_year else "cardinal")


# --------------------------------------------------------------------------------------------
# Romanisation


def romanise(texts: Sequence[str], language: str = UROMAN_LANGUAGE) -> list[str]:
    """Latin-script versions of ``texts`` by uroman (section 2.4), ready for normalisation.

    One uroman instance serves the whole batch (building it reads its tables, about 2 s) and
    each distinct text is romanised once. ASCII text comes back unchanged.
    """
    texts = list(texts)
    distinct = sorted(set(texts))
    romaniser = _uroman()
    if len(distinct) > 1000:
        from tqdm import tqdm

        distinct_iter = tqdm(distinct, desc="uroman", unit="text", mininterval=5.0)
    else:
        distinct_iter = distinct
    romanised = {text: romaniser.romanize_string(text, lcode=language) for text in distinct_iter}
    return [romanised[text] for text in texts]


@functools.cache
def _uroman():
    import uroman

    return uroman.Uroman()


def romaniser_version() -> str:
    """The uroman release that romanised a corpus (recorded in the manifest's sidecar)."""
    from importlib.metadata import version

    return f"uroman {version('uroman')}"


# --------------------------------------------------------------------------------------------
# CTC targets


def encode(text: str, task: str) -> list[int]:
    """A normalised transcript as 1-based symbol indices (0 is the CTC blank)."""
    _check_task(task)
    index = _symbol_index(task)
    missing = sorted({char for char in text if char not in index})
    if missing:
        raise InputError(
            f"transcript {text!r} has characters outside the {task} alphabet: "
            + ", ".join(f"{char!r} ({_code_point(char)})" for char in missing)
            + "; normalise it with audiobrain.brainscores.text.normalise_transcript first"
        )
    return [index[char] for char in text]


def decode(indices: Sequence[int], task: str) -> str:
    """1-based symbol indices back to text (inverse of :func:`encode`; no blanks allowed)."""
    _check_task(task)
    alphabet = ALPHABETS[task]
    bad = [int(i) for i in indices if not 1 <= int(i) <= len(alphabet)]
    if bad:
        raise ValueError(
            f"indices {bad[:5]} outside 1..{len(alphabet)} for the {task} alphabet (0 is the "
            f"CTC blank; collapse it with collapse_ctc first)"
        )
    return "".join(alphabet[int(i) - 1] for i in indices)


@functools.cache
def _symbol_index(task: str) -> dict[str, int]:
    return {symbol: i + 1 for i, symbol in enumerate(ALPHABETS[task])}


def collapse_ctc(frame_indices: Sequence[int], blank: int = 0) -> list[int]:
    """Greedy CTC decoding of per-frame argmax indices: merge repeats, then remove blanks."""
    collapsed: list[int] = []
    previous = None
    for index in frame_indices:
        index = int(index)
        if index != previous and index != blank:
            collapsed.append(index)
        previous = index
    return collapsed


def scene_label_index(label: str, classes: Sequence[str]) -> int:
    """0-based position of a scene label among the (sorted) class names."""
    try:
        return list(classes).index(label)
    except ValueError:
        raise InputError(
            f"scene label {label!r} is not one of the {len(classes)} classes "
            f"{list(classes)[:10]}{' ...' if len(classes) > 10 else ''}"
        ) from None


def scene_target(label: str, classes: Sequence[str]) -> list[int]:
    """A scene clip's CTC target: the one-element sequence ``[class index + 1]``."""
    return [scene_label_index(label, classes) + 1]


def target_indices(transcript: str, task: str, classes: Sequence[str] | None = None) -> list[int]:
    """The CTC target of one manifest row: characters for speech, the class for scenes."""
    if task == SCENE_TASK:
        if classes is None:
            raise ValueError("scene targets need the class list (the manifest sidecar's classes)")
        return scene_target(transcript, classes)
    return encode(transcript, task)


def decode_target(indices: Sequence[int], task: str, classes: Sequence[str] | None = None) -> str:
    """Collapsed CTC output back to text; scenes: the predicted class names joined by spaces."""
    if task == SCENE_TASK:
        if classes is None:
            raise ValueError("scene targets need the class list (the manifest sidecar's classes)")
        bad = [int(i) for i in indices if not 1 <= int(i) <= len(classes)]
        if bad:
            raise ValueError(f"indices {bad[:5]} outside 1..{len(classes)} for the scene classes")
        return " ".join(classes[int(i) - 1] for i in indices)
    return decode(indices, task)
