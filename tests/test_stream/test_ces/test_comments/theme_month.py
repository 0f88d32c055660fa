"""A constructed month of comments with three planted themes, for the tests of comment themes.

Dutch and English, with varied wording, synonyms, typos and masked personal data, plus noise comments
about other things:

- ``invoice``: the invoice will not download ("factuur downloaden lukt niet"), steady over the month;
- ``sms``: the login code by sms arrives late ("inlogcode sms komt laat"), rising: a fifth of it in the first
  half of the month, the rest in the second;
- ``form``: the form loses the data typed in ("formulier wist gegevens"), steady;
- ``None``: noise, each sentence about something else.

Every comment is built from a subject, a problem and an optional extra of its theme and language, drawn by a
seeded generator: the same month on every run. The sizes, halves and negative counts below are what the
tests expect back.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from schemas import FeedbackComment
from stream.ces.comments.themes import ThemeComment

SIZES = {"invoice": 60, "sms": 50, "form": 40}
FIRST_HALF = {"invoice": 30, "sms": 10, "form": 20}  # sms rises: 10 of 50 in the first half
NEGATIVE = {"invoice": 50, "sms": 42, "form": 34}  # the rest of each theme is neutral or positive
NOISE_NEGATIVE_EVERY = 3  # every third noise comment is negative
UNKNOWN_LOCALE_EVERY = 7  # every seventh theme comment comes without a locale

PARTS: dict[str, dict[str, tuple[list[str], list[str], list[str]]]] = {
    "invoice": {
        "en": (
            ["The invoice", "My invoice", "The invoice PDF", "My bill", "The latest invoice", "This month's invoice"],
            ["won't download", "does not download", "fails to download", "keeps failing to download",
             "can't be downloaded", "download is broken"],
            ["", "", "the pdf is empty", "nothing happens when I click it", "tried three times", "pdf stays blank"],
        ),
        "nl": (
            ["De factuur", "Mijn factuur", "De pdf van de factuur", "Mijn nota", "De laatste factuur",
             "Die factuur"],
            ["kan ik niet downloaden", "downloaden lukt niet", "wil niet downloaden", "downloadt niet",
             "is niet te downloaden", "downloaden mislukt steeds"],
            ["", "", "de pdf blijft leeg", "er gebeurt niets als ik klik", "al drie keer geprobeerd",
             "pdf is leeg"],
        ),
    },
    "sms": {
        "en": (
            ["The login code", "The sms code", "My login code by sms", "The sms with the login code",
             "The verification sms", "The text with my login code"],
            ["arrives late", "comes far too late", "takes ages to arrive", "arrives after it expired",
             "never arrives on time", "is always late"],
            ["", "", "so I cannot log in", "had to request another one", "waited ten minutes",
             "[phone]"],
        ),
        "nl": (
            ["De inlogcode", "De sms met de inlogcode", "Mijn inlogcode per sms", "De sms-code", "De sms",
             "Die inlogcode"],
            ["komt te laat", "komt veel te laat binnen", "is altijd te laat", "komt pas na tien minuten",
             "is verlopen als hij binnenkomt", "komt laat"],
            ["", "", "dus ik kan niet inloggen", "[phone]", "moest een nieuwe aanvragen",
             "wacht me suf"],
        ),
    },
    "form": {
        "en": (
            ["The form", "The claim form", "This form", "The online form", "Your form", "That form"],
            ["loses my data", "erased everything I filled in", "lost all my data", "wipes my data",
             "drops all the data I entered", "forgets my data"],
            ["", "", "when I went back a step", "after the second page", "had to start over",
             "[email]"],
        ),
        "nl": (
            ["Het formulier", "Het claimformulier", "Dit formulier", "Het online formulier", "Jullie formulier",
             "Dat formulier"],
            ["wist mijn gegevens", "is al mijn gegevens kwijt", "raakt mijn gegevens kwijt",
             "heeft al mijn gegevens gewist", "vergeet mijn gegevens", "gooit mijn gegevens weg"],
            ["", "", "na de tweede pagina", "toen ik terugging", "moest opnieuw beginnen", "[email]"],
        ),
    },
    # Not in the month: a second subject about invoices, for the test that themes sharing a word stay apart.
    "amount": {
        "en": (
            ["The invoice", "My invoice", "The bill", "This invoice", "The last invoice", "Your invoice"],
            ["shows the wrong amount", "has an amount that is too high", "charges me twice", "amount is wrong",
             "has a wrong amount", "charged double"],
            ["", "", "please correct it", "I was charged double", "the amount should be lower", "twice!"],
        ),
        "nl": (
            ["De factuur", "Mijn factuur", "De nota", "Deze factuur", "De laatste factuur", "Jullie factuur"],
            ["heeft het verkeerde bedrag", "bedrag klopt niet", "rekent dubbel", "bedrag is te hoog",
             "heeft een verkeerd bedrag", "is dubbel"],
            ["", "", "graag corrigeren", "dubbel betaald", "het bedrag moet lager", "twee keer!"],
        ),
    },
}  # fmt: skip

# Wording every theme shares: where it happened, and that it does not work.
GENERIC = {
    "en": ["in the app", "on the website", "it just doesn't work", "on my phone", "again today"],
    "nl": ["in de app", "op de website", "het werkt gewoon niet", "op mijn telefoon", "vandaag weer"],
}
GENERIC_SHARE = 0.4

NOISE = [
    ("en", "Great service, quick and friendly"),
    ("en", "The colours of the new design are rather dull"),
    ("en", "Would love a dark mode"),
    ("en", "Why is there no chat option at night?"),
    ("en", "My cat walked over the keyboard, sorry"),
    ("en", "Everything worked, no complaints"),
    ("en", "The font is tiny on my tablet"),
    ("en", "Please add Apple Pay"),
    ("en", "Your newsletter clutters my inbox"),
    ("en", "Helpful staff in the shop yesterday"),
    ("en", "Could you translate the terms into Turkish?"),
    ("en", "The map of offices is outdated"),
    ("en", "I miss the old logo"),
    ("en", "Fast, simple, done"),
    ("en", "Prices went up again this year"),
    ("en", "The FAQ answered my question"),
    ("en", "Send my regards to Anna at [address]"),
    ("en", "Account number [iban] belongs to my wife"),
    ("en", "The weather widget shows Paris instead of Utrecht"),
    ("en", "Animations make me dizzy"),
    ("en", "Loved the tutorial video"),
    ("en", "Too many pop-ups about cookies"),
    ("en", "Good enough for me"),
    ("en", "Headphones icon confuses me"),
    ("en", "Holiday opening hours were wrong"),
    ("nl", "Prima geregeld, dank"),
    ("nl", "De kleuren van het nieuwe ontwerp zijn saai"),
    ("nl", "Graag een donkere modus"),
    ("nl", "Waarom is er 's avonds geen chat?"),
    ("nl", "Snel en duidelijk"),
    ("nl", "Alles ging goed, geen klachten"),
    ("nl", "Het lettertype is klein op mijn tablet"),
    ("nl", "Voeg iDEAL-snelkoppelingen toe aan het hoofdmenu"),
    ("nl", "De nieuwsbrief verschijnt te vaak"),
    ("nl", "Vriendelijke medewerker in de winkel"),
    ("nl", "De voorwaarden zijn lang en saai"),
    ("nl", "Het kantoor in Zwolle staat niet op de kaart"),
    ("nl", "Ik mis het oude logo"),
    ("nl", "Top, zo hoort het"),
    ("nl", "Prijzen zijn weer omhoog gegaan"),
    ("nl", "De veelgestelde vragen hielpen mij"),
    ("nl", "Groeten aan Piet op [address]"),
    ("nl", "Rekeningnummer [iban] is van mijn partner"),
    ("nl", "Weerbericht op de homepage klopt nooit"),
    ("nl", "Animaties maken mij duizelig"),
    ("nl", "Leuke uitlegvideo"),
    ("nl", "Te veel cookiemeldingen"),
    ("nl", "Voor mij goed genoeg"),
    ("nl", "Openingstijden tijdens de feestdagen klopten niet"),
    ("nl", "Het koptelefoonicoontje snap ik niet"),
]


@dataclass(frozen=True)
class PlantedComment:
    """One comment of the month and the theme it was planted in (``None``: noise)."""

    theme: str | None
    comment: ThemeComment


def _typo(text: str, rng: random.Random) -> str:
    """Two neighbouring letters of one longer word swapped, as fast typing does."""
    words = text.split(" ")
    long_words = [i for i, word in enumerate(words) if len(word) >= 6 and word.isalpha()]
    if not long_words:
        return text
    index = rng.choice(long_words)
    word = words[index]
    at = rng.randrange(1, len(word) - 2)
    words[index] = word[:at] + word[at + 1] + word[at] + word[at + 2 :]
    return " ".join(words)


def _sentence(theme: str, locale: str, rng: random.Random) -> str:
    subjects, problems, extras = PARTS[theme][locale]
    text = f"{rng.choice(subjects)} {rng.choice(problems)}"
    extra = rng.choice(extras)
    text = f"{text}, {extra}" if extra else text
    if rng.random() < GENERIC_SHARE:
        text = f"{text} {rng.choice(GENERIC[locale])}"
    return _typo(text, rng) if rng.random() < 0.2 else text


def _times(count: int, first_half: int, start: datetime, days: int, rng: random.Random) -> list[datetime]:
    """``first_half`` moments in the first half of the month, the rest in the second, to the second."""
    half = days * 86_400 // 2
    return [
        start + timedelta(seconds=rng.randrange(0, half) if i < first_half else rng.randrange(half, 2 * half))
        for i in range(count)
    ]


def theme_comments(theme: str, count: int, start: datetime, days: int = 30, seed: int = 5) -> list[PlantedComment]:
    """``count`` comments of one theme spread over the days from ``start``, alternating Dutch and English."""
    rng = random.Random(seed)
    times = _times(count, count // 2, start, days, rng)
    return [
        PlantedComment(theme, ThemeComment(_sentence(theme, "en" if i % 2 else "nl", rng), None, True, at))
        for i, at in enumerate(times)
    ]


def noise(start: datetime, days: int = 30, seed: int = 5) -> list[PlantedComment]:
    """The noise comments alone, half of them in each half of the days from ``start``."""
    times = _times(len(NOISE), len(NOISE) // 2, start, days, random.Random(seed))
    return [
        PlantedComment(None, ThemeComment(text, locale, index % NOISE_NEGATIVE_EVERY == 0, at))
        for index, ((locale, text), at) in enumerate(zip(NOISE, times, strict=True))
    ]


def planted_month(start: datetime, days: int = 30, seed: int = 23) -> list[PlantedComment]:
    """The month from ``start``: every planted theme's comments, alternating English and Dutch, and the noise,
    half of it in each half; in no particular order."""
    rng = random.Random(seed)
    month: list[PlantedComment] = []
    for theme, size in SIZES.items():
        times = _times(size, FIRST_HALF[theme], start, days, rng)
        for index, at in enumerate(times):
            language = "en" if index % 2 else "nl"
            text = _sentence(theme, language, rng)
            locale = None if index % UNKNOWN_LOCALE_EVERY == 0 else language  # the words tell the language
            month.append(PlantedComment(theme, ThemeComment(text, locale, index < NEGATIVE[theme], at)))
    month.extend(noise(start, days, seed))
    rng.shuffle(month)
    return month


NEGATIVE_SCORE, OTHER_SCORE = 2, 4  # on the five-point scale: 2 is negative, 4 positive


def feedback_comments(month: list[PlantedComment], goal: str) -> list[FeedbackComment]:
    """The month as the user stage forwards it for ``goal`` (five-point scale), one answer per comment."""
    rng = random.Random(goal)
    return [
        FeedbackComment(
            answer_id=uuid.UUID(int=rng.getrandbits(128)),
            prompt_id=uuid.UUID(int=rng.getrandbits(128)),
            goal=goal,
            outcome="completed",
            score=NEGATIVE_SCORE if planted.comment.negative else OTHER_SCORE,
            user_ref=f"{rng.getrandbits(128):032x}",
            comment=planted.comment.text,
            answered_at=planted.comment.at,
            channel="web",
            locale=planted.comment.locale,
        )
        for planted in month
    ]
