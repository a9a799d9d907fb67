"""Short phrases for the demo's speech-to-text corpora: Dutch, English and Bengali.

The demo trains small networks on a couple of CPU cores in about a minute, so its clips are short
phrases of :data:`MIN_WORDS` to :data:`MAX_WORDS` words (about 1-2.5 s when spoken by eSpeak NG),
not the 9-15-word sentences of the fMRI stimuli. Dutch reuses the grammar of
:mod:`audiobrain.demo.sentences` (its shortest main clauses); English and Bengali have small
template grammars of their own here: subject-verb agreement, verbs that choose sensible objects,
and for Bengali the subject-object-verb order with the verb inflected for person. Bengali phrases
are in Bengali script; the corpus preparation romanises them with uroman like the real Bengali
corpus. All builders go through :func:`audiobrain.demo.sentences.distinct_sentences` (seeded,
distinct).
"""

from __future__ import annotations

import numpy as np

from audiobrain.demo import sentences
from audiobrain.demo.sentences import distinct_sentences

MIN_WORDS = 3
MAX_WORDS = 6


def dutch_phrases(n: int, seed: int) -> list[str]:
    """``n`` distinct short Dutch sentences (verb-second main clauses of 3-6 words)."""
    return distinct_sentences(sentences._dutch_sentence, n, seed, MIN_WORDS, MAX_WORDS)


def english_phrases(n: int, seed: int) -> list[str]:
    """``n`` distinct short English sentences, the same for the same seed."""
    return distinct_sentences(_english_sentence, n, seed, MIN_WORDS, MAX_WORDS)


def bengali_phrases(n: int, seed: int) -> list[str]:
    """``n`` distinct short Bengali sentences in Bengali script, the same for the same seed."""
    return distinct_sentences(_bengali_sentence, n, seed, MIN_WORDS, MAX_WORDS)


PHRASE_BUILDERS = {"dutch": dutch_phrases, "english": english_phrases, "bengali": bengali_phrases}


def _pick(rng: np.random.Generator, options):
    return options[int(rng.integers(len(options)))]


# --------------------------------------------------------------------------------------------
# English: (determiner) (adjective) subject, agreeing verb, object, optional place or time

_EN_PEOPLE = (
    ("man", "men"), ("woman", "women"), ("child", "children"), ("girl", "girls"),
    ("boy", "boys"), ("teacher", "teachers"), ("farmer", "farmers"), ("baker", "bakers"),
    ("doctor", "doctors"), ("sister", "sisters"), ("brother", "brothers"), ("cook", "cooks"),
    ("neighbour", "neighbours"), ("student", "students"), ("painter", "painters"),
)  # fmt: skip
_EN_PERSON_ADJECTIVES = ("old", "young", "tall", "happy", "quiet", "kind", "busy", "tired")
_EN_DETERMINERS_SINGULAR = ("the", "the", "a", "my", "your", "our", "his", "her")
_EN_DETERMINERS_PLURAL = ("the", "the", "my", "our", "two", "three", "some", "")
_EN_OWNERS = ("my sister's", "the doctor's", "our neighbour's", "the teacher's", "john's")

# verb (third singular, plural) and the objects it takes (with their own determiners).
_EN_VERBS = (
    (("reads", "read"), ("a book", "the letter", "the news", "a story", "the paper", "a poem")),
    (("writes", "write"), ("a letter", "a story", "a poem", "the list", "a song")),
    (("eats", "eat"), ("an apple", "the bread", "some soup", "a pear", "the cake", "rice")),
    (("cooks", "cook"), ("the soup", "some rice", "dinner", "the fish", "an egg")),
    (("paints", "paint"), ("the door", "a picture", "the wall", "the fence", "a boat")),
    (("opens", "open"), ("the door", "the window", "a box", "the gate", "the letter")),
    (("finds", "find"), ("the key", "a coin", "the bag", "a shell", "the ball")),
    (("washes", "wash"), ("the car", "the dog", "the plates", "a shirt", "the bike")),
    (("feeds", "feed"), ("the cat", "the dog", "the birds", "the horse", "the ducks")),
    (("sees", "see"), ("the moon", "a bird", "the river", "a ship", "the train", "the stars")),
    (("buys", "buy"), ("some milk", "a hat", "the bread", "a lamp", "new shoes", "a ticket")),
    (("carries", "carry"), ("the bag", "a box", "the chair", "the basket", "a bucket")),
    (("hears", "hear"), ("the rain", "a song", "the bells", "the wind", "a noise")),
    (("likes", "like"), ("the garden", "cold milk", "this song", "green tea", "the sea")),
)
_EN_INTRANSITIVE = (
    ("sleeps", "sleep"), ("sings", "sing"), ("waits", "wait"), ("smiles", "smile"),
    ("works", "work"), ("walks", "walk"), ("laughs", "laugh"), ("runs", "run"),
)  # fmt: skip
_EN_PLACES = ("at home", "in the park", "by the river", "at school", "in town", "outside")
_EN_TIMES = ("today", "at night", "every day", "again", "now", "in the morning")
# animals with the verbs that suit them (third singular, plural)
_EN_ANIMALS = (
    (("dog", "dogs"), (("sleeps", "sleep"), ("runs", "run"), ("barks", "bark"))),
    (("cat", "cats"), (("sleeps", "sleep"), ("eats", "eat"), ("waits", "wait"))),
    (("bird", "birds"), (("sings", "sing"), ("flies", "fly"), ("eats", "eat"))),
    (("horse", "horses"), (("runs", "run"), ("eats", "eat"), ("sleeps", "sleep"))),
)


def _english_subject(rng: np.random.Generator) -> tuple[list[str], bool]:
    """A person noun phrase and whether it is plural: "the old man", "my sister's children"."""
    singular, plural_form = _pick(rng, _EN_PEOPLE)
    plural = rng.random() < 0.3
    if rng.random() < 0.15:
        determiner = _pick(rng, _EN_OWNERS)
    elif plural:
        determiner = _pick(rng, _EN_DETERMINERS_PLURAL)
    else:
        determiner = _pick(rng, _EN_DETERMINERS_SINGULAR)
    adjective = _pick(rng, _EN_PERSON_ADJECTIVES) if rng.random() < 0.3 else ""
    if determiner == "a" and adjective and adjective[0] in "aeiou":
        determiner = "an"
    words = [*determiner.split(), adjective, plural_form if plural else singular]
    return [word for word in words if word], plural


def _english_sentence(rng: np.random.Generator) -> str:
    template = int(rng.integers(4))
    if template == 0:  # subject, verb, object
        subject, plural = _english_subject(rng)
        verbs, objects = _pick(rng, _EN_VERBS)
        words = [*subject, verbs[plural], *_pick(rng, objects).split()]
    elif template == 1:  # subject, verb, object, place or time
        subject, plural = _english_subject(rng)
        verbs, objects = _pick(rng, _EN_VERBS)
        extra = _pick(rng, _EN_PLACES + _EN_TIMES)
        words = [*subject, verbs[plural], *_pick(rng, objects).split(), *extra.split()]
    elif template == 2:  # subject, intransitive verb, place or time
        subject, plural = _english_subject(rng)
        verb = _pick(rng, _EN_INTRANSITIVE)[plural]
        words = [*subject, verb, *_pick(rng, _EN_PLACES + _EN_TIMES).split()]
    else:  # an animal, possibly someone's: "the teacher's dog sleeps outside"
        (singular, plural_form), verbs = _pick(rng, _EN_ANIMALS)
        plural = rng.random() < 0.3
        owner = _pick(rng, _EN_OWNERS) if rng.random() < 0.5 else "the"
        verb = _pick(rng, verbs)[plural]
        extra = _pick(rng, _EN_PLACES + _EN_TIMES) if rng.random() < 0.7 else ""
        words = [*owner.split(), plural_form if plural else singular, verb, *extra.split()]
    text = " ".join(words)
    return text[0].upper() + text[1:] + "."


# --------------------------------------------------------------------------------------------
# Bengali: (time) subject (place) (adjective) object verb, the verb inflected for person.
# Persons: 0 = first (আমি, আমরা), 1 = second familiar (তুমি, তোমরা), 2 = third (সে, তারা, nouns).

_BN_SUBJECTS = (
    ("আমি", 0), ("আমরা", 0), ("তুমি", 1), ("তোমরা", 1), ("সে", 2), ("তারা", 2),
    ("ছেলেটি", 2), ("মেয়েটি", 2), ("বাবা", 2), ("মা", 2), ("শিক্ষক", 2), ("কৃষক", 2),
    ("দাদা", 2), ("দিদি", 2), ("আমার বোন", 2), ("আমার ভাই", 2),
)  # fmt: skip

# present simple forms (first, second familiar, third person) and the objects each verb takes
_BN_VERBS = (
    (("খাই", "খাও", "খায়"), ("ভাত", "মাছ", "আম", "রুটি", "কলা", "ডাল", "মিষ্টি", "ডিম")),
    (("পড়ি", "পড়ো", "পড়ে"), ("বই", "খবরের কাগজ", "চিঠি", "গল্প", "কবিতা")),
    (("লিখি", "লেখো", "লেখে"), ("চিঠি", "গল্প", "কবিতা", "নাম", "গান")),
    (("দেখি", "দেখো", "দেখে"), ("পাখি", "নদী", "চাঁদ", "গাছ", "নৌকা", "ছবি", "সিনেমা")),
    (("কিনি", "কেনো", "কেনে"), ("বই", "মাছ", "কলম", "জামা", "ফুল", "আম", "চাল")),
    (("রান্না করি", "রান্না করো", "রান্না করে"), ("ভাত", "মাছ", "ডাল", "মাংস", "খিচুড়ি")),
    (("আনি", "আনো", "আনে"), ("জল", "ফুল", "বই", "চা", "দুধ")),
    (("ধুই", "ধোও", "ধোয়"), ("কাপড়", "থালা", "হাত", "জামা")),
    (("শুনি", "শোনো", "শোনে"), ("গান", "গল্প", "রেডিও", "খবর")),
    (("খেলি", "খেলো", "খেলে"), ("ফুটবল", "ক্রিকেট", "দাবা", "লুডো")),
    (("চাই", "চাও", "চায়"), ("চা", "জল", "বই", "ছুটি", "টাকা")),
)
_BN_ADJECTIVES = ("বড়", "ছোট", "নতুন", "পুরনো", "সুন্দর", "লাল", "ভালো", "গরম")
_BN_TIMES = ("আজ", "রোজ", "এখন", "সকালে", "রাতে", "প্রতিদিন", "কাল")
_BN_PLACES = ("বাড়িতে", "বাজারে", "স্কুলে", "মাঠে", "নদীর পাড়ে", "ঘরে")


def _bengali_sentence(rng: np.random.Generator) -> str:
    subject, person = _pick(rng, _BN_SUBJECTS)
    forms, objects = _pick(rng, _BN_VERBS)
    time = _pick(rng, _BN_TIMES) if rng.random() < 0.35 else ""
    place = _pick(rng, _BN_PLACES) if rng.random() < 0.3 else ""
    adjective = _pick(rng, _BN_ADJECTIVES) if rng.random() < 0.35 else ""
    words = [time, subject, place, adjective, _pick(rng, objects), forms[person]]
    return " ".join(word for word in words if word) + "।"
