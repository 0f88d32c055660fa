"""The parts of the goal registry's models that goals and the NPS question share: who is asked
(:class:`Sampling`) and the follow-up question per band of the score (:class:`FollowUpByBand`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from pydantic import Field, field_validator, model_validator

from schemas.survey_prompt import AnswerBand, FollowUp
from stream.ces.registry.base import LocalizedText, Ratio, RegistryModel, pick, problem, require_locales
from stream.ces.registry.scales import Scale


class Sampling(RegistryModel):
    """Who gets asked: a fixed sticky rate, or a rate adapted to reach a daily answer target."""

    rate: Ratio | None = None
    target_answers_per_day: Annotated[int, Field(gt=0)] | None = None
    min_rate: Ratio = 0.01
    max_rate: Annotated[float, Field(gt=0, le=1)] = 1.0

    @model_validator(mode="after")
    def _one_mode(self) -> Sampling:
        if (self.rate is None) == (self.target_answers_per_day is None):
            raise problem("", "give exactly one of rate or target_answers_per_day")
        if self.rate is not None:
            bounds = sorted(self.model_fields_set & {"min_rate", "max_rate"})
            if bounds:
                raise problem(bounds[0], "applies only with target_answers_per_day, not with a fixed rate")
        if self.min_rate > self.max_rate:
            raise problem("min_rate", f"{self.min_rate:g} is above max_rate {self.max_rate:g}")
        return self


class FollowUpByBand(RegistryModel):
    """The follow-up question per band of the score: a text, ``null`` for no question after that band,
    or left out for the goal's ``follow_up_question``."""

    negative: LocalizedText | None = None
    neutral: LocalizedText | None = None
    positive: LocalizedText | None = None

    _needs_nl_and_en = field_validator("negative", "neutral", "positive")(require_locales)


def band_follow_ups(
    by_band: FollowUpByBand | None, general: Mapping[str, str], scale: Scale, locale: str, fallback: str
) -> list[FollowUp]:
    """The prompt's follow-up questions per band; empty when the goal asks one question after any score."""
    if by_band is None:
        return []
    follow_ups = []
    for sentiment, points in scale.bands().items():
        band = AnswerBand(sentiment.value)
        if not points or (band.value in by_band.model_fields_set and getattr(by_band, band.value) is None):
            continue  # an empty band, or no question after it
        texts = getattr(by_band, band.value) or general
        follow_ups.append(FollowUp(band=band, scores=list(points), question=pick(texts, locale, fallback)))
    return follow_ups
