"""The NPS part of a goal summary: the NPS question asked at the goal's moments, over one window.

NPS answers sit on 0..10: detractors 0-6, passives 7-8, promoters 9-10. The NPS is
``(promoters - detractors) / answers``, a fraction from -1 to 1 like every other ratio of the
contracts (multiply by 100 for the usual -100..+100); its interval is the adjusted-Wald one
(docs/domain.md "The NPS interval").
"""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import Field, NonNegativeInt, StringConstraints, model_validator

from schemas.common import Channel, OutputPart

NPS_POINTS = tuple(str(point) for point in range(11))
"""The keys of an NPS distribution: every point of the 0..10 scale, as text."""

Share = Annotated[float, Field(ge=0.0, le=1.0)]
"""A share between 0 and 1 inclusive."""

Nps = Annotated[float, Field(ge=-1.0, le=1.0)]
"""An NPS or a bound of its interval: a fraction from -1 to 1."""

NpsDifference = Annotated[float, Field(ge=-2.0, le=2.0)]
"""A difference of two NPS, or a bound of its interval: from -2 to 2."""

_NpsPoint = Annotated[str, StringConstraints(pattern=r"^(?:[0-9]|10)$")]

NpsDistribution = Annotated[
    dict[_NpsPoint, NonNegativeInt],
    # pydantic writes patternProperties, which alone would let other keys through.
    Field(json_schema_extra={"additionalProperties": False}),
]


def _check_bands(answers: int, promoters: int, passives: int, detractors: int) -> None:
    if promoters + passives + detractors != answers:
        raise ValueError(
            f"promoters + passives + detractors = {promoters + passives + detractors}, answers = {answers}"
        )


def _check_nulls(answers: int, figures: dict[str, float | None]) -> None:
    """The figures are null exactly when there are no answers (a ratio of nothing has no value)."""
    wrong = sorted(name for name, value in figures.items() if (value is None) != (answers == 0))
    if wrong:
        raise ValueError(f"{', '.join(wrong)} must be null without answers, and only then")


def _check_interval(lower: float | None, upper: float | None) -> None:
    if lower is not None and upper is not None and lower > upper:
        raise ValueError(f"nps_lower {lower} is above nps_upper {upper}")


class NpsGroup(OutputPart):
    """The NPS answers of one group of a window: one channel, or one effort group."""

    answers: NonNegativeInt
    """NPS answers in the group."""
    promoters: NonNegativeInt
    """Answers 9-10."""
    passives: NonNegativeInt
    """Answers 7-8."""
    detractors: NonNegativeInt
    """Answers 0-6."""
    nps: Nps | None
    """(promoters - detractors) / answers, from -1 to 1."""
    nps_lower: Nps | None
    """Lower bound of the adjusted-Wald interval of nps at the summary's ``confidence``."""
    nps_upper: Nps | None
    """Upper bound of that interval."""

    @model_validator(mode="after")
    def _check_counts(self) -> Self:
        _check_bands(self.answers, self.promoters, self.passives, self.detractors)
        _check_nulls(self.answers, {"nps": self.nps, "nps_lower": self.nps_lower, "nps_upper": self.nps_upper})
        _check_interval(self.nps_lower, self.nps_upper)
        return self


class NpsGap(OutputPart):
    """The NPS of the users with a recent high-effort CES answer minus that of the rest, with its interval.

    Two independent groups: the adjusted-Wald variances add. Negative when the users who recently
    found a goal hard recommend less; an interval that excludes 0 means the groups differ beyond
    sampling noise.
    """

    difference: NpsDifference
    """high_effort.nps - rest.nps."""
    lower: NpsDifference
    """Lower bound of its interval at the summary's ``confidence``."""
    upper: NpsDifference
    """Upper bound of that interval."""

    @model_validator(mode="after")
    def _check_interval(self) -> Self:
        if self.lower > self.upper:
            raise ValueError(f"lower {self.lower} is above upper {self.upper}")
        return self


class NpsSummary(OutputPart):
    """The NPS question asked at the goal's moments (``nps_moment``) over the window, apart from the
    goal's own question (the summary's other figures)."""

    answers: NonNegativeInt
    """NPS answers in the window."""
    promoters: NonNegativeInt
    """Answers 9-10."""
    passives: NonNegativeInt
    """Answers 7-8."""
    detractors: NonNegativeInt
    """Answers 0-6."""
    promoter_share: Share | None
    """promoters / answers."""
    passive_share: Share | None
    """passives / answers."""
    detractor_share: Share | None
    """detractors / answers."""
    nps: Nps | None
    """(promoters - detractors) / answers: the NPS as a fraction from -1 to 1 (x 100 for -100..100)."""
    nps_lower: Nps | None
    """Lower bound of the adjusted-Wald interval of nps at the summary's ``confidence``."""
    nps_upper: Nps | None
    """Upper bound of that interval."""
    distribution: NpsDistribution
    """Answers per point "0".."10", every point present."""
    prompts: NonNegativeInt
    """NPS prompts sent in the window."""
    response_ratio: Annotated[float, Field(ge=0.0)] | None
    """answers / prompts; above 1 is possible when prompts of an earlier window are answered in this one."""
    shown: NonNegativeInt
    """NPS prompts the app reported shown (0 for apps that send no prompt events)."""
    dismissed: NonNegativeInt
    """NPS prompts the app reported dismissed."""
    by_channel: dict[Channel, NpsGroup]
    """The answers per channel of the goal attempt; channels without NPS answers are left out."""
    high_effort: NpsGroup | None
    """The users with a high-effort CES answer shortly before (the registry's ``nps.high_effort``);
    null without any such answer. Summed over summaries, the groups give a period's split."""
    rest: NpsGroup | None
    """The other users; null without any such answer."""
    high_effort_gap: NpsGap | None
    """high_effort.nps - rest.nps with its interval; null until both groups hold
    ``nps.high_effort.min_answers`` answers."""

    @model_validator(mode="after")
    def _check_counts(self) -> Self:
        _check_bands(self.answers, self.promoters, self.passives, self.detractors)
        if set(self.distribution) != set(NPS_POINTS):
            raise ValueError("distribution must hold every point 0..10")
        by_band = [sum(self.distribution[str(point)] for point in points) for points in _BANDS]
        if by_band != [self.promoters, self.passives, self.detractors]:
            raise ValueError(
                f"distribution gives promoters, passives, detractors = {by_band}, "
                f"not {[self.promoters, self.passives, self.detractors]}"
            )
        _check_nulls(
            self.answers,
            {
                "promoter_share": self.promoter_share,
                "passive_share": self.passive_share,
                "detractor_share": self.detractor_share,
                "nps": self.nps,
                "nps_lower": self.nps_lower,
                "nps_upper": self.nps_upper,
            },
        )
        _check_interval(self.nps_lower, self.nps_upper)
        if sum(group.answers for group in self.by_channel.values()) > self.answers:
            raise ValueError("the answers by_channel must not exceed answers")
        high, rest = self.high_effort, self.rest
        if self.high_effort_gap is not None and (high is None or rest is None):
            raise ValueError("high_effort_gap needs both groups, high_effort and rest")
        if high is not None and rest is not None and high.answers + rest.answers > self.answers:
            raise ValueError("the answers of high_effort and rest must not exceed answers")
        return self


_BANDS = (range(9, 11), range(7, 9), range(7))
"""The points of the promoters, the passives and the detractors."""
