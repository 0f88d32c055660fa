"""The follow-up comments of the simulator: short plausible texts in nl and en that fit the score.

Unhappy users write more, and name the step that was hard: that is what makes CES actionable.
"""

from __future__ import annotations

import random

COMMENT_SHARE = {"negative": 0.45, "neutral": 0.25, "positive": 0.12}  # unhappy users write more

STEPS = {
    "en": (
        "logging in",
        "finding the right page",
        "the verification code",
        "uploading the document",
        "filling in the form",
        "the payment step",
        "confirming my details",
    ),
    "nl": (
        "inloggen",
        "de juiste pagina vinden",
        "de verificatiecode",
        "het document uploaden",
        "het formulier invullen",
        "de betaalstap",
        "mijn gegevens bevestigen",
    ),
}
COMMENTS = {
    "en": {
        "negative": (
            "{Step} was hard: I had to try three times.",
            "I got stuck at {step}.",
            "{Step} took far too long.",
            "Why is {step} so complicated?",
        ),
        "neutral": ("It worked in the end, but {step} could be simpler.", "Okay, although {step} was a bit confusing."),
        "positive": ("Quick and easy.", "Found it right away, thanks!", "Much easier than last time."),
    },
    "nl": {
        "negative": (
            "{Step} was lastig: ik moest het drie keer proberen.",
            "Ik liep vast bij {step}.",
            "{Step} duurde veel te lang.",
            "Waarom is {step} zo ingewikkeld?",
        ),
        "neutral": ("Het lukte uiteindelijk, maar {step} kan eenvoudiger.", "Prima, al was {step} wat onduidelijk."),
        "positive": ("Snel en makkelijk.", "Meteen gevonden, dank je!", "Veel makkelijker dan de vorige keer."),
    },
}


def language_of(locale: str) -> str:
    """The comment language for a locale: nl or en (en for anything else)."""
    language = locale.split("-", 1)[0]
    return language if language in COMMENTS else "en"


def render_comment(rng: random.Random, language: str, sentiment: str) -> str:
    """A short plausible comment; unhappy ones name the step that was hard."""
    step = rng.choice(STEPS[language])
    return rng.choice(COMMENTS[language][sentiment]).format(step=step, Step=step[0].upper() + step[1:])
