"""Comment text to terms: markers out, language by stop words, glossary, compounds, stems, bigrams."""

from __future__ import annotations

import pytest

from stream.ces.comments import MARKERS
from stream.ces.comments.terms import Language, comment_terms, language_of, words_of


def test_masking_markers_digits_and_punctuation_are_no_words():
    text = "Bel me op [phone] of mail [email], IBAN [iban], BSN [bsn], [address]; order 12345!"
    assert words_of(text) == ["bel", "me", "op", "of", "mail", "iban", "bsn", "order"]
    everything = " ".join(MARKERS.values())
    assert words_of(everything) == []
    assert comment_terms(everything, "en").terms == ()


@pytest.mark.parametrize(
    ("text", "locale", "language"),
    [
        ("De factuur kan ik niet downloaden", None, Language.nl),
        ("De factuur kan ik niet downloaden", "en", Language.nl),  # the words win over the prompt's locale
        ("I cannot download the invoice", "nl-NL", Language.en),
        ("factuur pdf", "nl", Language.nl),  # no stop word at all: the locale decides
        ("factuur pdf", "de", Language.en),  # neither Dutch nor English: read as English
        ("factuur pdf", None, Language.en),
    ],
)
def test_the_language_is_the_one_whose_stop_words_the_comment_uses(text, locale, language):
    assert language_of(words_of(text), locale) is language
    assert comment_terms(text, locale).language is language


def test_dutch_and_english_words_of_one_subject_share_their_terms():
    dutch = comment_terms("De facturen downloaden lukt niet", "nl")
    english = comment_terms("Downloading the invoices fails", "en")
    shared = set(dutch.terms) & set(english.terms)
    assert {"invoic", "download"} <= shared
    assert "invoic download" in dutch.terms  # a bigram over the stop words left out
    assert "niet" not in dutch.terms and "the" not in english.terms


def test_each_term_keeps_the_words_the_user_wrote():
    terms = comment_terms("Mijn inlogcode komt te laat", "nl")
    written = dict(zip(terms.terms, terms.surfaces, strict=True))
    assert written["login"] == written["code"] == "inlogcode"  # one compound, two terms
    assert written["late"] == "laat"
    assert written["code komt"] == "inlogcode komt"


def test_a_dutch_compound_on_a_glossary_word_is_read_as_its_parts():
    terms = comment_terms("Het claimformulier is leeg", "nl").terms
    assert "claim" in terms and "form" in terms
    assert "claimformulier" not in terms


def test_a_short_glossary_word_is_no_compound_tail():
    # "laat" (late) ends "verlaat" (leaves): tails are five letters or more.
    assert "late" not in comment_terms("Hij verlaat de pagina", "nl").terms
