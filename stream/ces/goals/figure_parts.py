"""A window's figures as the outputs carry them: the summary's parts and the /api/goals JSON.

Pure: :class:`~stream.ces.goals.goal_windows.GoalWindows` computes the figures, this module shapes them.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, TypedDict

from schemas.common import Channel
from schemas.goal_summary import (
    CompletionVsAll,
    ExitGap,
    NonResponse,
    NonResponseStratum,
    SegmentFigures,
    StratumCounts,
)
from schemas.nps_summary import NpsGap, NpsGroup, NpsSummary
from schemas.survey_prompt import PromptOutcome
from stream.ces.goals.nps import NpsFigures, NpsWindowFigures
from stream.ces.goals.segments import STRATUM_PARTS
from stream.ces.goals.stats import AnswerFigures, Segments, WindowFigures


def _segment(fig: AnswerFigures) -> SegmentFigures:
    return SegmentFigures(**{**asdict(fig), "distribution": {str(p): n for p, n in fig.distribution.items()}})


class SplitParts(TypedDict):
    """The split by outcome and channel: the ``GoalSummary`` fields of the same names."""

    by_outcome: dict[PromptOutcome, SegmentFigures]
    by_channel: dict[Channel, SegmentFigures]
    at_exits: SegmentFigures
    exit_gap: ExitGap | None
    completion_vs_all: CompletionVsAll
    by_duration_band: dict[str, SegmentFigures]
    non_response: NonResponse | None


def split_parts(segments: Segments) -> SplitParts:
    """The split by outcome and channel as the contract's parts (``GoalSummary`` fields, /api/goals)."""
    gap = segments.exit_gap
    correction = segments.non_response
    return {
        "by_outcome": {PromptOutcome(name): _segment(fig) for name, fig in segments.by_outcome.items()},
        "by_channel": {Channel(name): _segment(fig) for name, fig in segments.by_channel.items()},
        "at_exits": _segment(segments.at_exits),
        "exit_gap": None
        if gap is None
        else ExitGap(
            ces_ratio_gap=gap.ces_ratio_gap,
            lower=gap.lower,
            upper=gap.upper,
            significant=gap.significant,
            exit_answers=gap.exit_answers,
            completion_answers=gap.completion_answers,
        ),
        "completion_vs_all": CompletionVsAll(
            completion_only_ces_ratio=segments.completion_only_ces_ratio,
            all_outcomes_ces_ratio=segments.all_outcomes_ces_ratio,
            overstatement=segments.overstatement,
        ),
        "by_duration_band": {name: _segment(fig) for name, fig in segments.by_duration_band.items()},
        "non_response": None
        if correction is None
        else NonResponse(
            ces_ratio=correction.ces_ratio,
            lower=correction.lower,
            upper=correction.upper,
            min_answers_per_stratum=correction.min_answers,
            asked_outcomes=[PromptOutcome(outcome) for outcome in correction.asked],
            strata=[
                NonResponseStratum(
                    outcome=stratum.outcome,  # type: ignore[arg-type]  # an outcome or "exits" by construction
                    channel=stratum.channel,  # type: ignore[arg-type]  # a channel or "all"
                    attempts=stratum.attempts,
                    answers=stratum.answers,
                    positive=stratum.positive,
                    weight=stratum.weight,
                    ces_ratio=stratum.ces_ratio,
                )
                for stratum in correction.strata
            ],
            cells=[
                StratumCounts(
                    outcome=PromptOutcome(STRATUM_PARTS[name][0]),
                    channel=Channel(STRATUM_PARTS[name][1]),
                    attempts=cell[0],
                    answers=cell[1],
                    positive=cell[2],
                )
                for name, cell in correction.cells.items()
            ],
            thin_strata=list(correction.thin),
            unasked_attempts=correction.unasked_attempts,
            complete=correction.complete,
            if_silent_dissatisfied=correction.if_silent_dissatisfied,
            if_silent_satisfied=correction.if_silent_satisfied,
        ),
    }


def nps_json(nps: NpsWindowFigures) -> dict[str, Any]:
    """The NPS figures of a window as /api/goals shows them (NPS as a fraction of -1..1)."""
    gap, base = nps.high_effort_gap, nps.baseline_gap
    return {
        **asdict(nps.figures),
        "distribution": {str(point): count for point, count in nps.distribution.items()},
        "prompts": nps.prompts,
        "response_ratio": nps.response_ratio,
        "shown": nps.shown,
        "dismissed": nps.dismissed,
        "by_channel": {name: asdict(part) for name, part in nps.by_channel.items()},
        "high_effort": None if nps.high_effort is None else asdict(nps.high_effort),
        "rest": None if nps.rest is None else asdict(nps.rest),
        "high_effort_gap": None if gap is None else {"difference": gap[0], "lower": gap[1], "upper": gap[2]},
        "baseline_gap": None if base is None else {"difference": base[0], "lower": base[1], "upper": base[2]},
    }


def _nps_group(fig: NpsFigures) -> NpsGroup:
    return NpsGroup(
        answers=fig.answers,
        promoters=fig.promoters,
        passives=fig.passives,
        detractors=fig.detractors,
        nps=fig.nps,
        nps_lower=fig.lower,
        nps_upper=fig.upper,
    )


def nps_summary(nps: NpsWindowFigures) -> NpsSummary:
    """The NPS figures of a window as the contract's part (``GoalSummary.nps``)."""
    fig, gap = nps.figures, nps.high_effort_gap
    return NpsSummary(
        answers=fig.answers,
        promoters=fig.promoters,
        passives=fig.passives,
        detractors=fig.detractors,
        promoter_share=fig.promoter_share,
        passive_share=fig.passive_share,
        detractor_share=fig.detractor_share,
        nps=fig.nps,
        nps_lower=fig.lower,
        nps_upper=fig.upper,
        distribution={str(point): count for point, count in nps.distribution.items()},
        prompts=nps.prompts,
        response_ratio=nps.response_ratio,
        shown=nps.shown,
        dismissed=nps.dismissed,
        by_channel={Channel(name): _nps_group(part) for name, part in nps.by_channel.items()},
        high_effort=None if nps.high_effort is None else _nps_group(nps.high_effort),
        rest=None if nps.rest is None else _nps_group(nps.rest),
        high_effort_gap=None if gap is None else NpsGap(difference=gap[0], lower=gap[1], upper=gap[2]),
    )


def figures_json(fig: WindowFigures) -> dict[str, Any]:
    """One window's figures as /api/goals shows them: the blended figures, then the split (if computed)."""
    out = {name: value for name, value in asdict(fig).items() if name not in ("segments", "nps")}
    out["distribution"] = {str(point): count for point, count in fig.distribution.items()}
    out["nps"] = None if fig.nps is None else nps_json(fig.nps)
    if fig.segments is not None:
        parts = split_parts(fig.segments)
        out["by_outcome"] = {key.value: segment.model_dump(mode="json") for key, segment in parts["by_outcome"].items()}
        out["by_channel"] = {key.value: segment.model_dump(mode="json") for key, segment in parts["by_channel"].items()}
        out["at_exits"] = parts["at_exits"].model_dump(mode="json")
        gap = parts["exit_gap"]
        out["exit_gap"] = None if gap is None else gap.model_dump(mode="json")
        out["completion_vs_all"] = parts["completion_vs_all"].model_dump(mode="json")
        out["by_duration_band"] = {
            name: segment.model_dump(mode="json") for name, segment in parts["by_duration_band"].items()
        }
        correction = parts["non_response"]
        out["non_response"] = None if correction is None else correction.model_dump(mode="json")
    return out
