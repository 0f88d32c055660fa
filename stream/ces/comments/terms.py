"""Comment text to terms: the lexical half of comment themes (:mod:`stream.ces.comments.themes`).

One comment in, its terms out, each with the words the user wrote for it:

1. the masking markers (``[email]``, ``[phone]``, ...) are removed first, so they never become terms;
2. the text is lower-cased (NFKC) and cut into words of letters (digits, order numbers and codes go);
3. the language is the one whose stop words the comment uses more, Dutch or English; on a tie the prompt's
   locale decides (``nl``, else English);
4. stop words of that language go, and so does a word of one letter;
5. a word of the :data:`~stream.ces.comments.lexicon.GLOSSARY` becomes its English word, so Dutch and English
   comments on one subject share terms; a Dutch compound that ends in a glossary word of at least
   :data:`MIN_COMPOUND_TAIL` letters after at least :data:`MIN_COMPOUND_HEAD` of its own is read as its two
   parts ("claimformulier": "claim" and *form*); every word is then stemmed by Snowball
   (``snowballstemmer``: Dutch or English), so "facturen" and "factuur", "downloading" and "download" are
   one term;
6. the terms are the stems (unigrams) and each pair of stems that follow each other (bigrams, after the stop
   words left).

Pure and deterministic; the stemmers are Snowball's published algorithms, nothing is downloaded.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from itertools import pairwise

import snowballstemmer

from stream.ces.comments.lexicon import DUTCH_STOP_WORDS, ENGLISH_STOP_WORDS, GLOSSARY
from stream.ces.comments.masking import MARKERS

MARKER_PATTERN = re.compile("|".join(re.escape(marker) for marker in MARKERS.values()))
WORD_PATTERN = re.compile(r"[^\W\d_]+(?:[-'’][^\W\d_]+)*")  # letters, joined by an inner hyphen or apostrophe
JOINER_PATTERN = re.compile(r"[-'’]")
MIN_WORD_CHARS = 2
MIN_COMPOUND_TAIL = 5  # shorter glossary words ("laat", "mail") end too many words that are no compound
MIN_COMPOUND_HEAD = 3


class Language(StrEnum):
    """The languages themes stem and drop stop words for; any other comment is read as English."""

    nl = "nl"
    en = "en"


STOP_WORDS = {Language.nl: DUTCH_STOP_WORDS, Language.en: ENGLISH_STOP_WORDS}


_STEMMERS = {Language.nl: snowballstemmer.stemmer("dutch"), Language.en: snowballstemmer.stemmer("english")}


@cache
def stem(word: str, language: Language) -> str:
    """Snowball's stem of one lower-case word (cached: comments repeat their words)."""
    return str(_STEMMERS[language].stemWord(word))


def _glossary_stems(word: str) -> tuple[str, ...]:
    return tuple(stem(part, Language.en) for part in GLOSSARY[word].split())


_COMPOUND_TAILS = sorted((word for word in GLOSSARY if len(word) >= MIN_COMPOUND_TAIL), key=lambda w: (-len(w), w))


@cache
def concepts(word: str, language: Language) -> tuple[str, ...]:
    """The stems one kept word stands for: a glossary word its English word's stems, a Dutch compound on a
    glossary word its head's stem and the tail's, else its own stem."""
    if word in GLOSSARY:
        return _glossary_stems(word)
    if language is Language.nl:
        for tail in _COMPOUND_TAILS:  # the longest tail first: "inlogcodes" before "codes"
            if word.endswith(tail) and len(word) - len(tail) >= MIN_COMPOUND_HEAD:
                return (stem(word[: -len(tail)], language), *_glossary_stems(tail))
    return (stem(word, language),)


@dataclass(frozen=True, slots=True)
class CommentTerms:
    """One comment's terms in text order (unigrams, then bigrams) and the words the user wrote for each."""

    language: Language
    terms: tuple[str, ...]
    surfaces: tuple[str, ...]  # one per term: the word, or the two words, as written (lower case)


def words_of(text: str) -> list[str]:
    """The lower-case words of a comment, its masking markers removed; a hyphenated or apostrophed word that
    the glossary does not know is split into its parts ("log-in" into "log" and "in")."""
    plain = unicodedata.normalize("NFKC", MARKER_PATTERN.sub(" ", text)).lower()
    words: list[str] = []
    for word in WORD_PATTERN.findall(plain):
        if word in GLOSSARY or not JOINER_PATTERN.search(word):
            words.append(word)
        else:
            words.extend(part for part in JOINER_PATTERN.split(word) if part)
    return words


def language_of(words: list[str], locale: str | None) -> Language:
    """The language whose stop words the comment uses more; on a tie the locale's (``nl``, else English)."""
    dutch = sum(word in DUTCH_STOP_WORDS for word in words)
    english = sum(word in ENGLISH_STOP_WORDS for word in words)
    if dutch != english:
        return Language.nl if dutch > english else Language.en
    return Language.nl if (locale or "").lower().split("-")[0] == "nl" else Language.en


def comment_terms(text: str, locale: str | None) -> CommentTerms:
    """The terms of one comment (see the module's steps)."""
    words = words_of(text)
    language = language_of(words, locale)
    stop = STOP_WORDS[language]
    stems: list[str] = []
    written: list[str] = []
    for word in words:
        if len(word) < MIN_WORD_CHARS or word in stop:
            continue
        for concept in concepts(word, language):
            stems.append(concept)
            written.append(word)
    bigrams = [
        (f"{first} {second}", written[i] if written[i] == written[i + 1] else f"{written[i]} {written[i + 1]}")
        for i, (first, second) in enumerate(pairwise(stems))
        if first != second
    ]
    return CommentTerms(
        language,
        (*stems, *(term for term, _ in bigrams)),
        (*written, *(surface for _, surface in bigrams)),
    )
