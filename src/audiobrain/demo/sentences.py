"""Deterministic generators of plain, grammatical sentences for the demo's spoken stimuli.

MOUS's stimuli are Dutch sentences of 9 to 15 words (Millet & King 2021, section 2.1). The Dutch
generator is a small template grammar: noun phrases with de/het agreement and adjective
inflection, present-tense verbs agreeing with the subject in number, verb-second main clauses
(after a fronted adverbial the verb precedes the subject) and verb-final subordinate clauses.
Verbs choose their objects from meaningful lists, so the sentences read naturally.

Another language plugs in by writing its own ``*_sentences(rng)`` clause builder and passing it
to :func:`distinct_sentences`, which handles seeding, the length window and distinctness.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

MIN_WORDS = 9  # section 2.1: sentences of 9 to 15 words
MAX_WORDS = 15
_ATTEMPTS_PER_SENTENCE = 200


def distinct_sentences(
    make_sentence: Callable[[np.random.Generator], str],
    n: int,
    seed: int,
    min_words: int = MIN_WORDS,
    max_words: int = MAX_WORDS,
) -> list[str]:
    """``n`` distinct sentences of ``min_words`` to ``max_words`` words from ``make_sentence``."""
    if n < 0:
        raise ValueError(f"number of sentences must be >= 0, got {n}")
    rng = np.random.default_rng(seed)
    sentences: list[str] = []
    seen: set[str] = set()
    for _ in range(_ATTEMPTS_PER_SENTENCE * max(n, 1)):
        if len(sentences) == n:
            return sentences
        sentence = make_sentence(rng)
        if min_words <= len(sentence.split()) <= max_words and sentence not in seen:
            seen.add(sentence)
            sentences.append(sentence)
    if len(sentences) == n:
        return sentences
    raise ValueError(
        f"could only build {len(sentences)} distinct sentences of {min_words}-{max_words} words, "
        f"{n} were asked for"
    )


def dutch_sentences(n: int, seed: int) -> list[str]:
    """``n`` distinct grammatical Dutch sentences of 9-15 words, the same for the same seed."""
    return distinct_sentences(_dutch_sentence, n, seed)


# --------------------------------------------------------------------------------------------
# Dutch lexicon


@dataclass(frozen=True)
class Noun:
    singular: str
    plural: str
    article: str  # "de" or "het": the definite article of the singular


@dataclass(frozen=True)
class Verb:
    singular: str  # third person singular present: "leest"
    plural: str  # present plural: "lezen"
    objects: tuple[str, ...]  # noun keys (singular forms) or the group names in _OBJECT_GROUPS
    preposition: str = ""  # for prepositional objects: "kijkt naar de vogels"


def _nouns(*entries: tuple[str, str, str]) -> dict[str, Noun]:
    return {singular: Noun(singular, plural, article) for singular, plural, article in entries}


_PERSONS = _nouns(
    ("man", "mannen", "de"),
    ("vrouw", "vrouwen", "de"),
    ("kind", "kinderen", "het"),
    ("meisje", "meisjes", "het"),
    ("jongen", "jongens", "de"),
    ("leraar", "leraren", "de"),
    ("bakker", "bakkers", "de"),
    ("dokter", "dokters", "de"),
    ("buurvrouw", "buurvrouwen", "de"),
    ("buurman", "buurmannen", "de"),
    ("student", "studenten", "de"),
    ("visser", "vissers", "de"),
    ("boer", "boeren", "de"),
    ("schilder", "schilders", "de"),
    ("schrijver", "schrijvers", "de"),
    ("verpleegster", "verpleegsters", "de"),
    ("grootvader", "grootvaders", "de"),
    ("grootmoeder", "grootmoeders", "de"),
    ("zus", "zussen", "de"),
    ("broer", "broers", "de"),
    ("kok", "koks", "de"),
    ("postbode", "postbodes", "de"),
    ("toerist", "toeristen", "de"),
    ("muzikant", "muzikanten", "de"),
    ("kapper", "kappers", "de"),
)

# People that "zijn"/"haar" can sensibly own: "haar broer", not "haar toerist".
_RELATIVES = ("kind", "zus", "broer", "grootvader", "grootmoeder", "buurman", "buurvrouw", "leraar")

_THINGS = _nouns(
    # texts
    ("boek", "boeken", "het"),
    ("brief", "brieven", "de"),
    ("krant", "kranten", "de"),
    ("verhaal", "verhalen", "het"),
    ("gedicht", "gedichten", "het"),
    ("artikel", "artikelen", "het"),
    ("kaart", "kaarten", "de"),
    ("recept", "recepten", "het"),
    # food
    ("appel", "appels", "de"),
    ("brood", "broden", "het"),
    ("taart", "taarten", "de"),
    ("soep", "soepen", "de"),
    ("koekje", "koekjes", "het"),
    ("peer", "peren", "de"),
    ("ei", "eieren", "het"),
    ("tomaat", "tomaten", "de"),
    ("aardappel", "aardappels", "de"),
    ("vis", "vissen", "de"),
    ("kaas", "kazen", "de"),
    # objects one can carry
    ("tas", "tassen", "de"),
    ("doos", "dozen", "de"),
    ("koffer", "koffers", "de"),
    ("sleutel", "sleutels", "de"),
    ("stoel", "stoelen", "de"),
    ("lamp", "lampen", "de"),
    ("klok", "klokken", "de"),
    ("radio", "radio's", "de"),
    ("mand", "manden", "de"),
    ("emmer", "emmers", "de"),
    ("pakje", "pakjes", "het"),
    ("cadeau", "cadeaus", "het"),
    ("horloge", "horloges", "het"),
    ("kussen", "kussens", "het"),
    ("bal", "ballen", "de"),
    ("foto", "foto's", "de"),
    ("tekening", "tekeningen", "de"),
    ("film", "films", "de"),
    # parts of buildings
    ("deur", "deuren", "de"),
    ("raam", "ramen", "het"),
    ("muur", "muren", "de"),
    ("hek", "hekken", "het"),
    ("dak", "daken", "het"),
    # animals
    ("hond", "honden", "de"),
    ("kat", "katten", "de"),
    ("paard", "paarden", "het"),
    ("vogel", "vogels", "de"),
    ("koe", "koeien", "de"),
    ("konijn", "konijnen", "het"),
    ("eend", "eenden", "de"),
    # vehicles
    ("fiets", "fietsen", "de"),
    ("auto", "auto's", "de"),
    ("boot", "boten", "de"),
    ("bus", "bussen", "de"),
    ("trein", "treinen", "de"),
)

_NOUNS = {**_PERSONS, **_THINGS}

_OBJECT_GROUPS: dict[str, tuple[str, ...]] = {
    "persons": tuple(_PERSONS),
    "texts": ("boek", "brief", "krant", "verhaal", "gedicht", "artikel", "kaart", "recept"),
    "food": (
        "appel", "brood", "taart", "soep", "koekje", "peer", "ei", "tomaat", "aardappel", "vis",
        "kaas",
    ),
    "portable": (
        "tas", "doos", "koffer", "sleutel", "stoel", "lamp", "klok", "radio", "mand", "emmer",
        "pakje", "cadeau", "horloge", "kussen",
    ),
    "animals": ("hond", "kat", "paard", "vogel", "koe", "konijn", "eend"),
    "vehicles": ("fiets", "auto", "boot", "bus", "trein"),
}  # fmt: skip

_VERBS = (
    Verb("leest", "lezen", ("texts",)),
    Verb("schrijft", "schrijven", ("brief", "verhaal", "gedicht", "artikel", "kaart", "boek")),
    Verb("koopt", "kopen", ("food", "portable", "vehicles", "krant", "boek")),
    Verb("verkoopt", "verkopen", ("food", "portable", "vehicles", "paard", "koe")),
    Verb("eet", "eten", ("appel", "brood", "taart", "soep", "koekje", "peer", "ei", "kaas")),
    Verb("bakt", "bakken", ("taart", "brood", "koekje", "vis", "ei")),
    Verb("kookt", "koken", ("soep", "aardappel", "ei", "vis")),
    Verb("schildert", "schilderen", ("deur", "muur", "hek", "fiets", "boot", "stoel", "dak")),
    Verb("repareert", "repareren", ("fiets", "klok", "radio", "lamp", "stoel", "dak", "auto")),
    Verb("zoekt", "zoeken", ("sleutel", "tas", "hond", "kat", "horloge", "koffer", "brief")),
    Verb("vindt", "vinden", ("sleutel", "tas", "horloge", "brief", "kat", "bal", "foto")),
    Verb("ziet", "zien", ("animals", "vehicles", "persons")),
    Verb("draagt", "dragen", ("tas", "doos", "koffer", "stoel", "mand", "emmer", "pakje")),
    Verb("opent", "openen", ("deur", "raam", "doos", "brief", "koffer", "pakje", "hek")),
    Verb("wast", "wassen", ("auto", "hond", "fiets", "raam", "paard")),
    Verb("brengt", "brengen", ("pakje", "brief", "doos", "cadeau", "taart", "boek", "mand")),
    Verb("verzorgt", "verzorgen", ("animals",)),
    Verb("voert", "voeren", ("hond", "kat", "paard", "koe", "konijn", "eend")),
    Verb("tekent", "tekenen", ("animals", "vehicles")),
    Verb("bezoekt", "bezoeken", ("persons",)),
    Verb("helpt", "helpen", ("persons",)),
    Verb("fotografeert", "fotograferen", ("animals", "vehicles")),
    Verb("maakt", "maken", ("taart", "soep", "foto", "tekening")),
    Verb("wacht", "wachten", ("bus", "trein", "brief", "persons"), preposition="op"),
    Verb("kijkt", "kijken", ("animals", "vehicles", "persons", "film"), preposition="naar"),
    Verb("luistert", "luisteren", ("radio", "verhaal", "vogel", "persons"), preposition="naar"),
    Verb("praat", "praten", ("texts", "film", "persons"), preposition="over"),
    Verb("zorgt", "zorgen", ("animals", "persons"), preposition="voor"),
    Verb("speelt", "spelen", ("hond", "kat", "bal", "konijn"), preposition="met"),
    Verb("denkt", "denken", ("persons", "animals", "cadeau", "brief"), preposition="aan"),
)

# (uninflected, inflected) forms and the nouns they suit: "een oud huis", "de oude man".
_ADJECTIVES_PERSONS = (
    ("oud", "oude"), ("jong", "jonge"), ("vriendelijk", "vriendelijke"), ("lang", "lange"),
    ("blij", "blije"), ("rijk", "rijke"), ("arm", "arme"), ("stil", "stille"),
    ("nieuw", "nieuwe"), ("aardig", "aardige"),
)  # fmt: skip
_ADJECTIVES_FOOD = (
    ("vers", "verse"), ("warm", "warme"), ("heerlijk", "heerlijke"), ("zoet", "zoete"),
    ("groot", "grote"), ("klein", "kleine"), ("lekker", "lekkere"), ("koud", "koude"),
)  # fmt: skip
_ADJECTIVES_THINGS = (
    ("oud", "oude"), ("nieuw", "nieuwe"), ("groot", "grote"), ("klein", "kleine"),
    ("mooi", "mooie"), ("zwaar", "zware"), ("rood", "rode"), ("blauw", "blauwe"),
    ("groen", "groene"), ("geel", "gele"), ("wit", "witte"), ("zwart", "zwarte"),
    ("duur", "dure"), ("goedkoop", "goedkope"), ("schoon", "schone"), ("vies", "vieze"),
)  # fmt: skip
_ADJECTIVES_TEXTS = (
    ("lang", "lange"), ("kort", "korte"), ("spannend", "spannende"), ("saai", "saaie"),
    ("nieuw", "nieuwe"), ("oud", "oude"), ("mooi", "mooie"), ("grappig", "grappige"),
)  # fmt: skip
_ADJECTIVES_ANIMALS = (
    ("oud", "oude"), ("jong", "jonge"), ("groot", "grote"), ("klein", "kleine"),
    ("bruin", "bruine"), ("wit", "witte"), ("zwart", "zwarte"), ("lief", "lieve"),
    ("wild", "wilde"), ("dik", "dikke"),
)  # fmt: skip


def _adjectives_for(noun: str) -> tuple[tuple[str, str], ...]:
    for group, adjectives in (
        ("persons", _ADJECTIVES_PERSONS),
        ("food", _ADJECTIVES_FOOD),
        ("texts", _ADJECTIVES_TEXTS),
        ("animals", _ADJECTIVES_ANIMALS),
    ):
        if noun in _OBJECT_GROUPS[group]:
            return adjectives
    return _ADJECTIVES_THINGS


# Places: (preposition, singular noun, article) and the adjectives that suit places.
_PLACES = (
    ("in", "keuken", "de"), ("in", "tuin", "de"), ("op", "markt", "de"), ("in", "park", "het"),
    ("bij", "station", "het"), ("in", "bibliotheek", "de"), ("op", "plein", "het"),
    ("aan", "rivier", "de"), ("in", "winkel", "de"), ("naast", "kerk", "de"),
    ("in", "haven", "de"), ("op", "strand", "het"), ("in", "bos", "het"), ("op", "zolder", "de"),
    ("in", "dorp", "het"), ("in", "stad", "de"), ("op", "boerderij", "de"), ("in", "kamer", "de"),
    ("bij", "meer", "het"), ("in", "straat", "de"),
)  # fmt: skip
_ADJECTIVES_PLACES = (
    ("groot", "grote"), ("klein", "kleine"), ("stil", "stille"), ("druk", "drukke"),
    ("oud", "oude"), ("mooi", "mooie"), ("donker", "donkere"), ("gezellig", "gezellige"),
    ("rustig", "rustige"), ("lang", "lange"),
)  # fmt: skip

_TIMES = (
    "elke ochtend", "elke avond", "elke dag", "vandaag", "morgen", "vanavond", "op zondag",
    "in het weekend", "na het ontbijt", "voor het avondeten", "vaak", "soms", "meestal",
    "altijd", "nu", "na school", "in de winter", "tijdens de pauze", "om acht uur",
    "iedere zaterdag",
)  # fmt: skip

_CONJUNCTIONS = ("omdat", "terwijl", "hoewel", "voordat", "wanneer", "zodra")
_COORDINATORS = ("en", "maar")


# --------------------------------------------------------------------------------------------
# Dutch phrases and clauses


def _pick(rng: np.random.Generator, options):
    return options[int(rng.integers(len(options)))]


def _expand_objects(keys: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(noun for key in keys for noun in _OBJECT_GROUPS.get(key, (key,)))


def _noun_phrase(rng: np.random.Generator, noun_key: str, allow_plural: bool = True) -> list[str]:
    """A Dutch NP with agreeing determiner and adjective: 'een oud huis', 'de oude mannen'."""
    noun = _NOUNS[noun_key]
    plural = allow_plural and rng.random() < 0.3
    possessives = ("zijn", "haar") if noun_key not in _PERSONS or noun_key in _RELATIVES else ()
    adjective = _pick(rng, _adjectives_for(noun_key)) if rng.random() < 0.6 else None
    if plural:
        determiner = _pick(rng, ("de", "deze", "die", "twee", "drie", "veel", "", *possessives))
        words = [determiner, adjective[1] if adjective else "", noun.plural]
    else:
        determiner = _pick(rng, ("def", "def", "een", "een", "dem", *possessives))
        if determiner == "def":
            determiner = noun.article
        elif determiner == "dem":
            determiner = "deze" if noun.article == "de" else "dit"
        # Only "een" before a het-noun leaves the adjective uninflected: "een oud paard".
        bare = determiner == "een" and noun.article == "het"
        words = [
            determiner,
            (adjective[0] if bare else adjective[1]) if adjective else "",
            noun.singular,
        ]
    return [word for word in words if word]


def _subject(rng: np.random.Generator) -> tuple[list[str], bool]:
    """A person NP (definite or possessive) and whether it is plural."""
    noun_key = _pick(rng, tuple(_PERSONS))
    noun = _NOUNS[noun_key]
    plural = rng.random() < 0.3
    determiner = "def"
    if noun_key in _RELATIVES and rng.random() < 0.4:
        determiner = _pick(rng, ("zijn", "haar"))
    if determiner == "def":
        determiner = "de" if plural else noun.article
    adjective = _pick(rng, _ADJECTIVES_PERSONS)[1] if rng.random() < 0.5 else ""
    words = [determiner, adjective, noun.plural if plural else noun.singular]
    return [word for word in words if word], plural


def _place(rng: np.random.Generator) -> list[str]:
    preposition, noun, article = _pick(rng, _PLACES)
    adjective = _pick(rng, _ADJECTIVES_PLACES)[1] if rng.random() < 0.4 else ""
    return [word for word in (preposition, article, adjective, noun) if word]


def _verb_and_object(rng: np.random.Generator, plural_subject: bool) -> tuple[str, list[str]]:
    """The finite verb agreeing with the subject, and its (prepositional) object."""
    verb = _pick(rng, _VERBS)
    obj = _noun_phrase(rng, _pick(rng, _expand_objects(verb.objects)))
    if verb.preposition:
        obj = [verb.preposition, *obj]
    return (verb.plural if plural_subject else verb.singular), obj


def _optional(rng: np.random.Generator, probability: float, make) -> list[str]:
    return make(rng) if rng.random() < probability else []


def _time(rng: np.random.Generator) -> list[str]:
    return _pick(rng, _TIMES).split()


def _main_clause(rng: np.random.Generator, fronted: str = "") -> list[str]:
    """Verb-second main clause: subject first, or a fronted time/place and then verb + subject."""
    subject, plural = _subject(rng)
    verb, obj = _verb_and_object(rng, plural)
    if fronted == "time":
        return [*_time(rng), verb, *subject, *obj, *_optional(rng, 0.5, _place)]
    if fronted == "place":
        return [*_place(rng), verb, *subject, *_optional(rng, 0.5, _time), *obj]
    return [*subject, verb, *_optional(rng, 0.5, _time), *obj, *_optional(rng, 0.5, _place)]


def _subordinate_clause(rng: np.random.Generator) -> list[str]:
    """Conjunction, subject, adverbials and object, then the finite verb last."""
    subject, plural = _subject(rng)
    verb, obj = _verb_and_object(rng, plural)
    adverbial = _optional(rng, 0.4, _time)
    return [_pick(rng, _CONJUNCTIONS), *subject, *adverbial, *obj, verb]


def _inverted_main_clause(rng: np.random.Generator) -> list[str]:
    """Main clause after a fronted subordinate clause: the verb comes first."""
    subject, plural = _subject(rng)
    verb, obj = _verb_and_object(rng, plural)
    return [verb, *subject, *obj, *_optional(rng, 0.4, _place)]


def _dutch_sentence(rng: np.random.Generator) -> str:
    template = int(rng.integers(6))
    if template == 0:
        words = _main_clause(rng)
    elif template == 1:
        words = _main_clause(rng, fronted="time")
    elif template == 2:
        words = _main_clause(rng, fronted="place")
    elif template == 3:
        words = [*_with_comma(_main_clause(rng)), *_subordinate_clause(rng)]
    elif template == 4:
        words = [*_with_comma(_subordinate_clause(rng)), *_inverted_main_clause(rng)]
    else:
        coordinator = _pick(rng, _COORDINATORS)
        first = _main_clause(rng)
        words = [*(_with_comma(first) if coordinator == "maar" else first), coordinator]
        words += _main_clause(rng)
    return _as_sentence(words)


def _with_comma(words: list[str]) -> list[str]:
    return [*words[:-1], words[-1] + ","]


def _as_sentence(words: list[str]) -> str:
    text = " ".join(words)
    return text[0].upper() + text[1:] + "."
