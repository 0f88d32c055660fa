"""The follow-up comments of the simulator: short plausible texts in nl and en that fit the score.

A user comments only where the prompt asks something: its ``follow_ups`` list the bands of the score
that have a follow-up question (none after an easy CES answer, by default), and a prompt without them
asks its one follow-up question after any score. Unhappy users write more; CES comments name the step
that was hard (that is what makes CES actionable), CSAT comments are about the chat, NPS comments about
the company as a whole.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from stream.tools.simulator.scores import comment_sentiment

COMMENT_SHARE = {"negative": 0.45, "neutral": 0.25, "positive": 0.12}  # unhappy users write more
# Apps that ask the follow-up question on a screen of its own send the score first and the comment as a
# second record (schema_version 2, no score) some seconds later: about a third of the comments.
COMMENT_AFTER_SHARE = 0.30
COMMENT_AFTER_SECONDS = 15.0  # median time from the score to its comment sent on its own (typing)

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
COMMENTS: dict[str, dict[str, dict[str, tuple[str, ...]]]] = {
    "ces": {
        "en": {
            "negative": (
                "{Step} was hard: I had to try three times.",
                "I got stuck at {step}.",
                "{Step} took far too long.",
                "Why is {step} so complicated?",
            ),
            "neutral": (
                "It worked in the end, but {step} could be simpler.",
                "Okay, although {step} was a bit confusing.",
            ),
            "positive": ("Quick and easy.", "Found it right away, thanks!", "Much easier than last time."),
        },
        "nl": {
            "negative": (
                "{Step} was lastig: ik moest het drie keer proberen.",
                "Ik liep vast bij {step}.",
                "{Step} duurde veel te lang.",
                "Waarom is {step} zo ingewikkeld?",
            ),
            "neutral": (
                "Het lukte uiteindelijk, maar {step} kan eenvoudiger.",
                "Prima, al was {step} wat onduidelijk.",
            ),
            "positive": ("Snel en makkelijk.", "Meteen gevonden, dank je!", "Veel makkelijker dan de vorige keer."),
        },
    },
    "csat": {
        "en": {
            "negative": (
                "I waited twenty minutes before anyone answered.",
                "The agent did not understand my question.",
                "I was passed on three times and my problem is still not solved.",
            ),
            "neutral": ("Friendly, but I had to explain everything twice.", "Helpful in the end, but it took a while."),
            "positive": ("Quick and friendly help, thanks!", "Solved in one go."),
        },
        "nl": {
            "negative": (
                "Ik wachtte twintig minuten voordat iemand reageerde.",
                "De medewerker begreep mijn vraag niet.",
                "Drie keer doorverbonden en mijn probleem is nog steeds niet opgelost.",
            ),
            "neutral": (
                "Vriendelijk, maar ik moest alles twee keer uitleggen.",
                "Uiteindelijk geholpen, maar het duurde even.",
            ),
            "positive": ("Snel en vriendelijk geholpen, dank je!", "In één keer opgelost."),
        },
    },
    "nps": {
        "en": {
            "negative": (
                "Everything takes far too much effort lately.",
                "Too expensive for what you get.",
                "Customer service is hard to reach.",
                "The app keeps letting me down.",
            ),
            "neutral": ("Fine, nothing special.", "It does the job, but others are easier."),
            "positive": ("Everything just works.", "Great service, I recommend you to everyone.", "Fast and reliable."),
        },
        "nl": {
            "negative": (
                "Alles kost de laatste tijd veel te veel moeite.",
                "Te duur voor wat je krijgt.",
                "De klantenservice is slecht bereikbaar.",
                "De app laat me steeds in de steek.",
            ),
            "neutral": ("Prima, niets bijzonders.", "Het werkt, maar bij anderen gaat het makkelijker."),
            "positive": ("Alles werkt gewoon.", "Top service, ik raad jullie iedereen aan.", "Snel en betrouwbaar."),
        },
    },
}


def language_of(locale: str) -> str:
    """The comment language for a locale: nl or en (en for anything else)."""
    language = locale.split("-", 1)[0]
    return language if language in STEPS else "en"


def follow_up_band(score: int, prompt: Mapping[str, Any]) -> str | None:
    """The band whose follow-up question the user sees after ``score``; None when the prompt asks nothing more.

    With ``follow_ups`` the band that lists the score (None when none does: no question after that band);
    without them the prompt's one follow-up question is asked after any score, and the band is where the
    score lies on the scale.
    """
    follow_ups = prompt.get("follow_ups") or []
    if not follow_ups:
        return comment_sentiment(score, prompt["scale"])
    return next((str(follow_up["band"]) for follow_up in follow_ups if score in follow_up["scores"]), None)


def render_comment(rng: random.Random, language: str, band: str, survey: str = "ces") -> str:
    """A short plausible comment for a score in ``band`` of a ``survey`` question; CES ones name a step."""
    step = rng.choice(STEPS[language])
    texts = COMMENTS.get(survey, COMMENTS["ces"])[language][band]
    return rng.choice(texts).format(step=step, Step=step[0].upper() + step[1:])
