"""The NPS block of the goal registry: the Net Promoter Score question asked at the goals' moments, and the
split of its answers by recent high effort."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, PrivateAttr, field_validator, model_validator

from schemas.common import Locale
from schemas.survey_prompt import FollowUp, ScaleKind, ScaleSpec
from stream.ces.registry.base import (
    DEFAULT_LABELS,
    LabelText,
    LocalizedText,
    PositiveSeconds,
    RegistryModel,
    Team,
    not_points,
    pick,
    problem,
    require_labels,
    require_locales,
)
from stream.ces.registry.scales import Scale, default_scale
from stream.ces.registry.shared_model import FollowUpByBand, Sampling, band_follow_ups


class HighEffortSplit(RegistryModel):
    """NPS of users with a recent high-effort CES answer against the rest."""

    window_seconds: PositiveSeconds = 30 * 86400.0
    """A negative (high-effort) CES answer this long before an NPS answer puts it in the high-effort group."""
    min_answers: Annotated[int, Field(ge=1)] = 30
    """NPS answers each group needs before the split is shown."""


class NpsConfig(RegistryModel):
    """The Net Promoter Score question: relational, asked per user at most once per ``period_seconds``,
    after a completion of a goal marked ``nps_moment``, never right after an exit."""

    enabled: bool = True
    question: LocalizedText
    follow_up_question: LocalizedText
    follow_up_by_band: FollowUpByBand | None = None
    """Per band (detractors: negative, passives: neutral, promoters: positive); as for a goal."""
    labels: dict[Locale, dict[int, LabelText]] | None = None
    """Labels of the 0..10 points per locale; None: the built-in ones (0 and 10)."""
    period_seconds: PositiveSeconds = 90 * 86400.0
    sampling: Sampling = Sampling(rate=1.0)
    """Which users are asked when NPS is due (a fixed rate; sticky per user)."""
    prompt_expiry_seconds: PositiveSeconds = 1800.0
    priority: Literal["nps", "goal"] = "nps"
    """When NPS is due at a moment the goal would ask its own question too: which one is asked."""
    high_effort: HighEffortSplit = HighEffortSplit()
    locale_fallback: Locale = "en"
    team: Team | None = None
    """The team that owns the NPS alerts of every goal; None: each goal's own team."""

    _scale: Scale = PrivateAttr(default_factory=lambda: default_scale(ScaleKind.zero_to_ten))
    _scale_specs: dict[str, ScaleSpec] = PrivateAttr(default_factory=dict)

    _needs_nl_and_en = field_validator("question", "follow_up_question")(require_locales)

    @model_validator(mode="after")
    def _check(self) -> NpsConfig:
        if self.sampling.rate is None:
            raise problem("sampling", "NPS samples users at a fixed rate, not to a daily target")
        if self.labels is not None:
            require_labels(self.labels)
            for locale, labels in self.labels.items():
                outside = sorted(value for value in labels if not self._scale.contains(value))
                if outside:
                    raise problem(f"labels.{locale}", not_points(outside, self._scale))
        return self

    def scale_obj(self) -> Scale:
        """The NPS scale: 0..10, promoters 9-10, detractors 0-6."""
        return self._scale

    def question_for(self, locale: str) -> str:
        return pick(self.question, locale, self.locale_fallback)

    def follow_up_for(self, locale: str) -> str:
        return pick(self.follow_up_question, locale, self.locale_fallback)

    def follow_ups_for(self, locale: str) -> list[FollowUp]:
        return band_follow_ups(
            self.follow_up_by_band, self.follow_up_question, self._scale, locale, self.locale_fallback
        )

    def scale_spec_for(self, locale: str) -> ScaleSpec:
        spec = self._scale_specs.get(locale)
        if spec is None:
            labels = self.labels if self.labels is not None else DEFAULT_LABELS["zero_to_ten"]
            if len(self._scale_specs) >= 256:  # locales come from events: keep the cache bounded
                self._scale_specs.clear()
            spec = self._scale_specs[locale] = self._scale.to_spec(pick(labels, locale, self.locale_fallback))
        return spec
