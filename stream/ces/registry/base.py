"""Building blocks of the goal registry's models: the strict base model, field types (the owning team
among them), errors that name their field, localized texts with their fallback, and the built-in labels
of every scale kind."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from pydantic_core import PydanticCustomError

from schemas.common import Locale
from schemas.survey_prompt import ScaleKind, SurveyKind
from stream.ces.registry.scales import Scale

REQUIRED_LOCALES = ("nl", "en")
"""Every localized text (display name, question, follow-up question, labels) needs these."""

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
LabelText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]
LocalizedText = dict[Locale, Text]
Ratio = Annotated[float, Field(ge=0, le=1)]
PositiveSeconds = Annotated[float, Field(gt=0)]
Seconds = Annotated[float, Field(ge=0)]

# A team names Alertmanager receivers and a webhook path, and is an alert label: a slug, like a goal's.
_TEAM_SLUG = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


def _team_slug(team: str) -> str:
    if not _TEAM_SLUG.fullmatch(team):
        raise problem(
            "",
            f"{team[:70]!r} is not a team slug: 1 to 63 lower-case letters, digits and dashes, "
            "a letter or digit at both ends (e.g. self-service)",
        )
    return team


Team = Annotated[str, AfterValidator(_team_slug)]
"""The team that owns a goal's alerts: their ``team`` label, which Alertmanager routes on."""

# Used when a goal's scale gives no labels: kind -> language -> point -> label.
# Wording follows the seeds ("Zeer moeilijk (1) .. Zeer gemakkelijk (5)", "1 = zeer weinig, 5 = zeer veel").
DEFAULT_LABELS: dict[str, dict[str, dict[int, str]]] = {
    "five_point": {
        "en": {1: "Very difficult", 2: "Somewhat difficult", 3: "Neutral", 4: "Somewhat easy", 5: "Very easy"},
        "nl": {
            1: "Zeer moeilijk",
            2: "Enigszins moeilijk",
            3: "Neutraal",
            4: "Enigszins gemakkelijk",
            5: "Zeer gemakkelijk",
        },
    },
    "seven_point": {
        "en": {
            1: "Very difficult",
            2: "Difficult",
            3: "Somewhat difficult",
            4: "Neutral",
            5: "Somewhat easy",
            6: "Easy",
            7: "Very easy",
        },
        "nl": {
            1: "Zeer moeilijk",
            2: "Moeilijk",
            3: "Enigszins moeilijk",
            4: "Neutraal",
            5: "Enigszins gemakkelijk",
            6: "Gemakkelijk",
            7: "Zeer gemakkelijk",
        },
    },
    "five_point_inverted": {
        "en": {1: "Very little effort", 2: "Little effort", 3: "Some effort", 4: "Much effort", 5: "Very much effort"},
        "nl": {1: "Zeer weinig moeite", 2: "Weinig moeite", 3: "Enige moeite", 4: "Veel moeite", 5: "Zeer veel moeite"},
    },
    # Numeric scales label only their ends.
    "ten_point": {
        "en": {1: "Very difficult", 10: "Very easy"},
        "nl": {1: "Zeer moeilijk", 10: "Zeer gemakkelijk"},
    },
    "emoticon": {
        "en": {1: "Unhappy", 2: "Neutral", 3: "Happy"},
        "nl": {1: "Ongelukkig", 2: "Neutraal", 3: "Vrolijk"},
    },
    "zero_to_ten": {
        "en": {0: "Not at all likely", 10: "Extremely likely"},
        "nl": {0: "Zeer onwaarschijnlijk", 10: "Zeer waarschijnlijk"},
    },
    "yes_no": {"en": {0: "No", 1: "Yes"}, "nl": {0: "Nee", 1: "Ja"}},
}

# CSAT asks about satisfaction, not ease: its own built-in labels where the wording differs.
_CSAT_LABELS: dict[str, dict[str, dict[int, str]]] = {
    "five_point": {
        "en": {1: "Very dissatisfied", 2: "Dissatisfied", 3: "Neutral", 4: "Satisfied", 5: "Very satisfied"},
        "nl": {1: "Zeer ontevreden", 2: "Ontevreden", 3: "Neutraal", 4: "Tevreden", 5: "Zeer tevreden"},
    },
    "seven_point": {
        "en": {1: "Very dissatisfied", 4: "Neutral", 7: "Very satisfied"},
        "nl": {1: "Zeer ontevreden", 4: "Neutraal", 7: "Zeer tevreden"},
    },
    "ten_point": {
        "en": {1: "Very dissatisfied", 10: "Very satisfied"},
        "nl": {1: "Zeer ontevreden", 10: "Zeer tevreden"},
    },
}


def default_labels(survey: SurveyKind, kind: ScaleKind) -> dict[str, dict[int, str]]:
    """The built-in labels of a scale kind, in the wording of the survey (satisfaction for CSAT)."""
    if survey is SurveyKind.csat and kind.value in _CSAT_LABELS:
        return _CSAT_LABELS[kind.value]
    return DEFAULT_LABELS[kind.value]


def problem(field: str, message: str) -> PydanticCustomError:
    """An error for a field below the validator's own location (``field`` is a dotted path, may be "")."""
    return PydanticCustomError("registry", "{detail}", {"field": field, "detail": message})


def require_locales(texts: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    if texts is not None:
        missing = [locale for locale in REQUIRED_LOCALES if locale not in texts]
        if missing:
            raise problem("", f"missing the {' and '.join(missing)} text (nl and en are required)")
    return texts


_T = TypeVar("_T")


def pick(texts: Mapping[str, _T], locale: str, fallback: str) -> _T:
    """Exact locale, then its language ("nl" of "nl-NL"), then the fallback, then en (always present)."""
    for candidate in (locale, locale.split("-", 1)[0], fallback, "en"):
        if candidate in texts:
            return texts[candidate]
    raise KeyError(f"no text for locale {locale!r}")


class RegistryModel(BaseModel):
    # Strict: the file is YAML with native types, so "0.25" for a rate is a mistake, not a number.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


def span(scale: Scale) -> str:
    return f"the {scale.kind} scale ({scale.min_score}..{scale.max_score})"


def not_points(values: list[int], scale: Scale) -> str:
    listed = ", ".join(str(value) for value in values)
    verb = "is not a point" if len(values) == 1 else "are not points"
    return f"{listed} {verb} of {span(scale)}"


def require_labels(labels: Mapping[str, Any]) -> None:
    missing = [locale for locale in REQUIRED_LOCALES if locale not in labels]
    if missing:
        raise problem("labels", f"missing the {' and '.join(missing)} labels (nl and en are required)")
