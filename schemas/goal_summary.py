"""The goal summary: CES figures of one goal over one closed window."""

from __future__ import annotations

from datetime import UTC
from typing import Annotated, Literal, Self

from pydantic import Field, NonNegativeInt, PositiveInt, Strict, StringConstraints, model_validator

from schemas.common import Channel, GoalSlug, OutputModel, OutputPart, Timestamp
from schemas.goal_event import MAX_APP_VERSION_CHARS
from schemas.nps_summary import NpsSummary
from schemas.survey_prompt import PromptOutcome

GOAL_SUMMARY_SCHEMA_VERSION = 6
"""Version 2 added the split by outcome and channel (``by_outcome`` ... ``completion_vs_all``);
version 3 added ``measured_effort``; version 4 ``non_response`` and ``funnel``; version 5 ``survey`` and
``nps``; version 6 ``releases``. Version 2 to 5 records still load (without what came after them)."""

OLDEST_GOAL_SUMMARY_SCHEMA_VERSION = 2
"""The oldest version a reader of this model accepts."""

Ratio = Annotated[float, Field(ge=0.0, le=1.0)]
"""A share between 0 and 1 inclusive."""

Difference = Annotated[float, Field(ge=-1.0, le=1.0)]
"""A difference of two shares, between -1 and 1 inclusive."""

_ScalePoint = Annotated[str, StringConstraints(pattern=r"^(?:0|[1-9][0-9]{0,2})$")]

Distribution = Annotated[
    dict[_ScalePoint, NonNegativeInt],
    # pydantic writes patternProperties, which alone would let other keys through.
    Field(json_schema_extra={"additionalProperties": False}),
]


_BucketIndex = Annotated[str, StringConstraints(pattern=r"^(?:0|-?[1-9][0-9]{0,4})$")]

DurationHistogram = Annotated[
    dict[_BucketIndex, NonNegativeInt],
    Field(json_schema_extra={"additionalProperties": False}),
]


_BandName = Annotated[str, StringConstraints(pattern=r"^<?[0-9]+[smhd](?:-[0-9]+[smhd]|\+)?$")]


class SegmentFigures(OutputPart):
    """The answer figures of one segment of a window: one outcome, one channel, or all exits."""

    answers: NonNegativeInt
    """Answers in the segment."""
    positive: NonNegativeInt
    """Positive (low effort) answers."""
    neutral: NonNegativeInt
    """Neutral answers."""
    negative: NonNegativeInt
    """Negative answers."""
    distribution: Distribution
    """Answers per scale point, every point of the scale present."""
    mean_score: float | None
    """Mean answer on the goal's own scale."""
    ces_ratio: Ratio | None
    """positive / answers."""
    wilson_lower: Ratio | None
    """Lower bound of the Wilson score interval of ces_ratio at the summary's ``confidence``."""
    wilson_upper: Ratio | None
    """Upper bound of that interval."""

    @model_validator(mode="after")
    def _check_counts(self) -> Self:
        _check_answer_counts(self.positive, self.neutral, self.negative, self.answers, self.distribution)
        return self


class ExitGap(OutputPart):
    """CES at exits (abandoned and abandoned_inferred) minus CES at completion, with its interval.

    Negative when users who left found the goal harder than those who completed it.
    Present only when both sides hold the minimum number of answers (``CES_SPLIT_MIN_ANSWERS``).
    """

    ces_ratio_gap: Difference
    """at_exits.ces_ratio - by_outcome.completed.ces_ratio."""
    lower: Difference
    """Lower bound of Newcombe's hybrid score interval of the gap at ``confidence``."""
    upper: Difference
    """Upper bound of that interval."""
    significant: bool
    """True when the interval excludes 0."""
    exit_answers: NonNegativeInt
    """Answers at exits."""
    completion_answers: NonNegativeInt
    """Answers at completion."""


class MeasuredEffort(OutputPart):
    """What users did, beside what they reported: the window's timed completions.

    A timed completion is a ``completed`` event whose ``started`` event the worker saw within
    the goal's ``measured_effort.max_duration_seconds`` (or its inferred-abandonment timeout).
    """

    timed_completions: NonNegativeInt
    """Completions whose start was seen."""
    retried: NonNegativeInt
    """Timed completions that had more than one ``started`` before completing."""
    retry_ratio: Ratio | None
    """retried / timed_completions."""
    duration_p50_seconds: Annotated[float, Field(ge=0.0)] | None
    """Seconds from the first start to completion, median (rank floor(0.5 * (n - 1)) of the sorted durations)."""
    duration_p90_seconds: Annotated[float, Field(ge=0.0)] | None
    """The same at quantile 0.9."""
    duration_p99_seconds: Annotated[float, Field(ge=0.0)] | None
    """The same at quantile 0.99."""
    relative_accuracy: Annotated[float, Field(gt=0.0, lt=1.0)]
    """Every duration quantile is within this relative error of the exact one (e.g. 0.02)."""
    duration_histogram: DurationHistogram
    """The timed completions per duration bucket, so windows add up: with a = relative_accuracy and
    g = (1 + a) / (1 - a), bucket i holds the durations in (g^(i-1), g^i] seconds, and a quantile read
    from it is 2 g^i / (1 + g), within a of the exact one (DDSketch's logarithmic mapping). Empty buckets
    are left out."""

    @model_validator(mode="after")
    def _check_counts(self) -> Self:
        if self.retried > self.timed_completions:
            raise ValueError("retried must not exceed timed_completions")
        if sum(self.duration_histogram.values()) != self.timed_completions:
            raise ValueError("duration_histogram must hold every timed completion once")
        return self


class StratumCounts(OutputPart):
    """The attempts and answers of one outcome on one channel, as counted (before any merging)."""

    outcome: PromptOutcome
    """The outcome of the attempts."""
    channel: Channel
    """The channel of the attempts (the goal event's)."""
    attempts: NonNegativeInt
    """Goal outcomes (prompted or not)."""
    answers: NonNegativeInt
    """Answers to prompts after those outcomes."""
    positive: NonNegativeInt
    """Positive answers among them."""

    @model_validator(mode="after")
    def _check_counts(self) -> Self:
        if self.positive > self.answers:
            raise ValueError("positive must not exceed answers")
        return self


class NonResponseStratum(OutputPart):
    """One stratum of the CES corrected for non-response: its attempts, its answers, its weight."""

    outcome: Literal["completed", "abandoned", "abandoned_inferred", "exits"]
    """The outcome of its attempts; "exits" when both exit outcomes were merged (one was too thin)."""
    channel: Literal["web", "ios", "android", "other", "all"]
    """The channel of its attempts; "all" when the outcome's channels were merged (one was too thin)."""
    attempts: NonNegativeInt
    """Goal outcomes in the stratum (prompted or not)."""
    answers: NonNegativeInt
    """Answers to prompts after those outcomes."""
    positive: NonNegativeInt
    """Positive answers among them."""
    weight: Ratio
    """Its share of the weighed attempts (0 when the figure is left out)."""
    ces_ratio: Ratio | None
    """positive / answers."""

    @model_validator(mode="after")
    def _check_counts(self) -> Self:
        if self.positive > self.answers:
            raise ValueError("positive must not exceed answers")
        return self


class NonResponse(OutputPart):
    """The CES corrected for who did not answer, and the bounds that assume nothing about them.

    The blended ``ces_ratio`` counts only those who answered; users who gave up answer less and find
    the goal harder. Here each stratum's CES (outcome x channel) is weighed by its share of the
    attempts instead of its share of the answers, assuming that within a stratum those who answered
    speak for those who did not.
    """

    ces_ratio: Ratio | None
    """Sum over the strata of weight x positive / answers. Null without attempts at an asked outcome,
    when a stratum stays too thin after merging (``thin_strata``), or when the window holds counts
    made before strata were counted (``complete`` false)."""
    lower: Ratio | None
    """Lower bound of its interval at the summary's ``confidence`` (normal, each stratum's share
    adjusted as Agresti-Coull's)."""
    upper: Ratio | None
    """Upper bound of that interval."""
    min_answers_per_stratum: PositiveInt
    """Answers a stratum needs to speak for its attempts (``CES_STRATUM_MIN_ANSWERS``)."""
    asked_outcomes: list[PromptOutcome]
    """The outcomes the goal prompts after (its triggers): the ones weighed."""
    strata: list[NonResponseStratum]
    """The strata weighed, after merging thin ones."""
    cells: list[StratumCounts]
    """The counts per outcome and channel the strata were made from (every one with a count), so
    that a run of windows can be summed and corrected again (``ces-stream report`` does)."""
    thin_strata: list[str]
    """The strata ("outcome/channel") with attempts and too few answers even after merging."""
    unasked_attempts: NonNegativeInt
    """Attempts at outcomes the goal does not prompt after: not weighed, they cannot be answered."""
    complete: bool
    """False when some counts of the window were made before strata were counted."""
    if_silent_dissatisfied: Ratio | None
    """positive / prompts (shown, where the apps report them; else sent): the CES if nobody who was
    asked and did not answer found it easy."""
    if_silent_satisfied: Ratio | None
    """(positive + prompts not answered) / prompts: the CES if all of them did."""


class Funnel(OutputPart):
    """The prompts of the window from sent to answered, with what apps report through prompt events.

    Apps that send no prompt events have ``shown`` and ``dismissed`` 0 and their ratios null; the
    summary's ``response_ratio`` (answers / sent) is then the response ratio.
    """

    sent: NonNegativeInt
    """Prompts sent (the summary's ``prompts``)."""
    shown: NonNegativeInt
    """Prompts the app reported shown."""
    dismissed: NonNegativeInt
    """Prompts the app reported dismissed (closed without answering)."""
    answered: NonNegativeInt
    """Answers (the summary's ``answers``)."""
    shown_ratio: Annotated[float, Field(ge=0.0)] | None
    """shown / sent; above 1 is possible when prompts sent in an earlier window are shown in this one."""
    dismissal_ratio: Annotated[float, Field(ge=0.0)] | None
    """dismissed / shown."""
    response_ratio_shown: Annotated[float, Field(ge=0.0)] | None
    """answered / shown: the response ratio over the prompts users saw."""


class CompletionVsAll(OutputPart):
    """The false positive picture: CES asked only at completion next to CES over all outcomes."""

    completion_only_ces_ratio: Ratio | None
    """The CES you would report if you asked only at completion."""
    all_outcomes_ces_ratio: Ratio | None
    """The CES over every outcome (the summary's ``ces_ratio``)."""
    overstatement: Difference | None
    """completion_only_ces_ratio - all_outcomes_ces_ratio: how much asking only at completion flatters the goal."""


def _check_answer_counts(
    positive: int, neutral: int, negative: int, answers: int, distribution: dict[str, int]
) -> None:
    if positive + neutral + negative != answers:
        raise ValueError(f"positive + neutral + negative = {positive + neutral + negative}, answers = {answers}")
    if sum(distribution.values()) != answers:
        raise ValueError(f"distribution sums to {sum(distribution.values())}, answers = {answers}")


class ReleaseFigures(OutputPart):
    """The answers of one release (an ``app_version`` on a channel) in the window."""

    channel: Channel
    """The channel the release is of (each channel ships its own versions)."""
    version: Annotated[str, StringConstraints(min_length=1, max_length=MAX_APP_VERSION_CHARS)]
    """The goal events' ``app_version``."""
    first_seen: Timestamp
    """The start of the first bucket of the window that holds an answer of this release."""
    answers: NonNegativeInt
    """Answers to prompts after goal events of this release."""
    positive: NonNegativeInt
    """Of them, in the positive band."""
    ces_ratio: Ratio | None
    """positive / answers."""
    mean_score: float | None
    """The mean score of those answers."""


class GoalSummary(OutputModel):
    """CES figures of one goal over one window, computed on event time.

    For a goal whose own question is CSAT (``survey: "csat"``) the same figures are of its CSAT
    answers: ``ces_ratio`` is then the CSAT share (satisfied answers / answers).

    Topic ``ces.goal-summaries``, produced by ces-stream when a window closes (also when the goal
    went quiet), keyed by ``goal|window|window_start``. Figures whose denominator is 0 are null.
    The answers are also split by the outcome that triggered the prompt and by the goal's channel.
    """

    schema_version: Annotated[
        int, Strict(), Field(ge=OLDEST_GOAL_SUMMARY_SCHEMA_VERSION, le=GOAL_SUMMARY_SCHEMA_VERSION)
    ] = GOAL_SUMMARY_SCHEMA_VERSION
    """Contract major version of this message: 5 since CSAT and NPS (4: the non-response correction,
    3: measured effort, 2: the split by outcome and channel)."""

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
    distribution: Distribution
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
    by_outcome: dict[PromptOutcome, SegmentFigures]
    """The answers per outcome that triggered the prompt: completed, abandoned, abandoned_inferred."""
    by_channel: dict[Channel, SegmentFigures]
    """The answers per channel of the goal attempt: web, ios, android, other."""
    at_exits: SegmentFigures
    """The answers to prompts at exits (abandoned and abandoned_inferred together)."""
    exit_gap: ExitGap | None
    """CES at exits minus CES at completion, when both sides hold enough answers."""
    completion_vs_all: CompletionVsAll
    """CES asked only at completion next to CES over all outcomes."""
    target_ces_ratio: Ratio | None
    """The goal's configured target for ces_ratio, if any."""
    emitted_at: Timestamp
    """When ces-stream produced this summary."""
    measured_effort: MeasuredEffort | None = None
    """Time to complete and retries of the window's completions (version 3; null only in version 2 records)."""
    by_duration_band: dict[_BandName, SegmentFigures] = Field(default_factory=dict)
    """The answers to prompts after a timed completion, per band of its time to complete (the goal's
    ``measured_effort.duration_bands_seconds``: "<30s", "30s-2m", "2m-10m", "10m+"), every band of the
    goal present (version 3; empty in version 2 records and for goals without measured effort)."""
    non_response: NonResponse | None = None
    """The CES corrected for non-response, beside the blended ``ces_ratio`` (version 4; null only in
    version 2 and 3 records)."""
    funnel: Funnel | None = None
    """The prompts from sent through shown and dismissed to answered (version 4; null only in version
    2 and 3 records)."""
    survey: Literal["ces", "csat"] = "ces"
    """The goal's own question, which every figure above is of: "ces" (how easy) or "csat" (how
    satisfied; ``ces_ratio`` is then the CSAT share). Version 5; "ces" in older records."""
    nps: NpsSummary | None = None
    """The NPS question asked at the goal's moments, apart from the goal's own question; null when the
    window holds no NPS answer, prompt or prompt event (version 5; null in older records)."""
    releases: list[ReleaseFigures] = Field(default_factory=list)
    """The goal's own question's answers per release: per channel the most recent releases of the
    window (first seen last first; ``CES_RELEASE_VERSIONS`` of them), channels in name order. Only
    answers whose goal event named an ``app_version`` (version 6; empty in older records)."""

    @model_validator(mode="after")
    def _check_counts(self) -> Self:
        if self.window_end <= self.window_start:
            raise ValueError("window_end must be after window_start")
        if (self.measured_effort is None) != (self.schema_version < 3):
            raise ValueError("measured_effort is written from schema_version 3 on, and only there")
        if (self.non_response is None) != (self.schema_version < 4):
            raise ValueError("non_response is written from schema_version 4 on, and only there")
        if (self.funnel is None) != (self.schema_version < 4):
            raise ValueError("funnel is written from schema_version 4 on, and only there")
        if self.schema_version < 5 and (self.survey != "ces" or self.nps is not None):
            raise ValueError("survey other than ces and nps are written from schema_version 5 on")
        if self.schema_version < 6 and self.releases:
            raise ValueError("releases are written from schema_version 6 on")
        for release in self.releases:
            if release.positive > release.answers:
                raise ValueError(f"release {release.version}: {release.positive} positive of {release.answers} answers")
        _check_answer_counts(self.positive, self.neutral, self.negative, self.answers, self.distribution)
        return self

    def kafka_key(self) -> str:
        """Return the record key for ``ces.goal-summaries``: ``goal|window|window_start``.

        ``window_start`` is written in UTC as ``YYYY-MM-DDTHH:MM:SSZ``, so the key of one window is
        the same on every worker and compaction keeps its latest summary.

        :returns: the key as text, e.g. ``download-invoice|1h|2025-01-31T09:00:00Z``; encode it as UTF-8.
        """
        start = self.window_start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return f"{self.goal}|{self.window}|{start}"
