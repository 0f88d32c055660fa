"""The goal summary: CES figures of one goal over one closed window."""

from __future__ import annotations

from datetime import UTC
from typing import Annotated, Self

from pydantic import Field, NonNegativeInt, PositiveInt, StringConstraints, model_validator

from schemas.common import GoalSlug, OutputModel, Timestamp
from schemas.survey_prompt import PromptOutcome

Ratio = Annotated[float, Field(ge=0.0, le=1.0)]
"""A share between 0 and 1 inclusive."""

_ScalePoint = Annotated[str, StringConstraints(pattern=r"^(?:0|[1-9][0-9]{0,2})$")]


class GoalSummary(OutputModel):
    """CES figures of one goal over one window, computed on event time.

    Topic ``ces.goal-summaries``, produced by ces-stream when a window closes (also when the goal
    went quiet), keyed by ``goal|window|window_start``. Figures whose denominator is 0 are null.
    """

    goal: GoalSlug
    """The goal."""
    window: Annotated[str, StringConstraints(pattern=r"^[1-9][0-9]*[smhd]$")]
    """The window's name, e.g. "10m", "1h", "7d"."""
    window_seconds: PositiveInt
    """The window's length in seconds."""
    window_start: Timestamp
    """Start of the window (inclusive)."""
    window_end: Timestamp
    """End of the window (exclusive)."""
    answers: NonNegativeInt
    """Answers counted in the window."""
    positive: NonNegativeInt
    """Answers on the goal's positive (low effort) points."""
    neutral: NonNegativeInt
    """Answers that are neither positive nor negative."""
    negative: NonNegativeInt
    """Answers on the negative side of the scale's neutral point."""
    distribution: Annotated[
        dict[_ScalePoint, NonNegativeInt],
        # pydantic writes patternProperties, which alone would let other keys through.
        Field(json_schema_extra={"additionalProperties": False}),
    ]
    """Answers per scale point (the point as a string), every point of the scale present."""
    mean_score: float | None
    """Mean answer on the goal's own scale."""
    ces_ratio: Ratio | None
    """CES top-box share: positive / answers."""
    net_effort: Annotated[float, Field(ge=-1.0, le=1.0)] | None
    """positive / answers - negative / answers."""
    most_negative_ratio: Ratio | None
    """Share of answers on the most negative point ("very difficult")."""
    wilson_lower: Ratio | None
    """Lower bound of the Wilson score interval of ces_ratio at ``confidence``."""
    wilson_upper: Ratio | None
    """Upper bound of the Wilson score interval of ces_ratio at ``confidence``."""
    confidence: Annotated[float, Field(gt=0.0, lt=1.0)]
    """Confidence level of the Wilson interval, e.g. 0.95."""
    prompts: NonNegativeInt
    """Prompts sent in the window."""
    response_ratio: Annotated[float, Field(ge=0.0)] | None
    """answers / prompts; above 1 is possible when prompts of an earlier window are answered in this one."""
    outcomes: dict[PromptOutcome, NonNegativeInt]
    """Goal outcomes in the window (prompted or not): completed, abandoned, abandoned_inferred."""
    completion_ratio: Ratio | None
    """completed / all outcomes."""
    target_ces_ratio: Ratio | None
    """The goal's configured target for ces_ratio, if any."""
    emitted_at: Timestamp
    """When ces-stream produced this summary."""

    @model_validator(mode="after")
    def _check_counts(self) -> Self:
        if self.window_end <= self.window_start:
            raise ValueError("window_end must be after window_start")
        if self.positive + self.neutral + self.negative != self.answers:
            raise ValueError(
                f"positive + neutral + negative = {self.positive + self.neutral + self.negative}, "
                f"answers = {self.answers}"
            )
        if sum(self.distribution.values()) != self.answers:
            raise ValueError(f"distribution sums to {sum(self.distribution.values())}, answers = {self.answers}")
        return self

    def kafka_key(self) -> str:
        """Return the record key for ``ces.goal-summaries``: ``goal|window|window_start``.

        ``window_start`` is written in UTC as ``YYYY-MM-DDTHH:MM:SSZ``, so the key of one window is
        the same on every worker and compaction keeps its latest summary.

        :returns: the key as text, e.g. ``download-invoice|1h|2025-01-31T09:00:00Z``; encode it as UTF-8.
        """
        start = self.window_start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return f"{self.goal}|{self.window}|{start}"

