"""The NPS of ``ces-stream report``: the NPS question asked at a goal's moments, over the period.

Pure (no Kafka): from the ``nps`` part of the period's GoalSummary records (version 5; older
versions carry none). Like every figure of the report it is computed once from counts summed over
the summaries, never by averaging their NPS: promoters, passives and detractors summed, then
:func:`~stream.ces.goals.nps.nps_figures`. The high-effort split sums the two effort groups over the
summaries (a group without answers in a window is left out of its summary) and shows a difference
only once both sums reach ``nps.high_effort.min_answers``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from schemas import GoalSummary
from schemas.nps_summary import NpsGroup
from stream.ces.goals.nps import BandTally, NpsFigures, nps_difference, nps_figures


@dataclass(frozen=True)
class PeriodNps:
    """The period's NPS from summed counts; the split by recent effort where its groups are large enough."""

    figures: NpsFigures
    prompts: int
    counted: int  # summaries of the period that carry NPS counts (version 5, the goal asked NPS in the window)
    high_effort: NpsFigures
    rest: NpsFigures
    gap: tuple[float, float, float] | None  # high effort minus rest with its interval; None under the minimum
    split_summaries: int  # summaries whose effort groups are in the sums
    min_answers: int

    @property
    def response_ratio(self) -> float | None:
        return self.figures.answers / self.prompts if self.prompts else None


def _add(tally: BandTally, group: NpsGroup) -> BandTally:
    return tally[0] + group.promoters, tally[1] + group.passives, tally[2] + group.detractors


def period_nps(summaries: Sequence[GoalSummary], confidence: float, min_answers: int) -> PeriodNps | None:
    """The NPS over the period's summaries, or ``None`` when none of them carries NPS counts."""
    parts = [summary.nps for summary in summaries if summary.nps is not None]
    if not parts:
        return None
    total: BandTally = (0, 0, 0)
    high: BandTally = (0, 0, 0)
    rest: BandTally = (0, 0, 0)
    split = 0
    for part in parts:
        total = (total[0] + part.promoters, total[1] + part.passives, total[2] + part.detractors)
        if part.high_effort is not None or part.rest is not None:
            split += 1
        if part.high_effort is not None:
            high = _add(high, part.high_effort)
        if part.rest is not None:
            rest = _add(rest, part.rest)
    return PeriodNps(
        figures=nps_figures(*total, confidence),
        prompts=sum(part.prompts for part in parts),
        counted=len(parts),
        high_effort=nps_figures(*high, confidence),
        rest=nps_figures(*rest, confidence),
        gap=nps_difference(high, rest, confidence, min_answers),
        split_summaries=split,
        min_answers=min_answers,
    )
