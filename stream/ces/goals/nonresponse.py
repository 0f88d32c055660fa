"""CES corrected for non-response: the answers of each stratum weighed by its attempts.

Users who gave up answer less often than users who got done, and they find the goal
harder, so the blended CES (positive answers / answers) leans towards the happy path. The
corrected CES weighs the CES of every stratum (outcome x channel) by that stratum's share of
the attempts instead of its share of the answers: 800 completions answering 30 % with CES 0.85
and 200 abandonments answering 10 % with CES 0.40 give a blended (204 + 8) / 260 = 0.815 and a
corrected 0.8 x 0.85 + 0.2 x 0.40 = 0.76.

It assumes that within a stratum those who answered speak for those who did not. A stratum
needs ``min_answers`` answers to speak for its attempts: a thin channel is merged with the
other channels of its outcome, a thin exit outcome with the other exit outcome; a stratum
still thin after that leaves the figure out (``None``, with the thin strata named), it is
never extrapolated. Attempts at outcomes the goal does not ask about cannot be answered and
stay outside the weights (``unasked_attempts``).

Beside it, the bounds that assume nothing about the silent: the CES if nobody who was asked
and stayed silent found it easy (positive answers / prompts) and if all of them did
((positive answers + prompts not answered) / prompts).

Pure: no Faust, no Kafka.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from stream.ces.goals.segments import CHANNELS, EXIT_OUTCOMES, OUTCOMES, STRATA, AnswerCounts

__all__ = ["NonResponse", "Stratum", "corrected_ces", "silent_bounds"]

#: The channel of a stratum that merges every channel of its outcome(s).
ALL_CHANNELS = "all"
#: The outcome of a stratum that merges the exit outcomes (abandoned, abandoned_inferred).
EXITS = "exits"


@dataclass(frozen=True, slots=True)
class Stratum:
    """One stratum of the correction: its attempts (outcomes), its answers, and its weight.

    ``outcome`` is an outcome or ``exits`` (both exit outcomes merged); ``channel`` a channel
    or ``all`` (every channel merged). ``weight`` is its share of the weighed attempts; a
    thin stratum (fewer answers than the minimum) has weight 0 and is named in ``thin``.
    """

    outcome: str
    channel: str
    attempts: int
    answers: int
    positive: int
    weight: float

    @property
    def name(self) -> str:
        return f"{self.outcome}/{self.channel}"

    @property
    def ces_ratio(self) -> float | None:
        return self.positive / self.answers if self.answers else None


@dataclass(frozen=True, slots=True)
class NonResponse:
    """A window's CES corrected for non-response, and the bounds that assume nothing.

    ``ces_ratio`` is ``None`` (with ``lower``/``upper``) when no stratum had attempts, when a
    stratum stayed too thin (``thin`` names them), or when the window holds counts made
    before strata were counted (``complete`` is False). ``strata`` are the strata used, in
    outcome then channel order; ``min_answers`` is what a stratum needed. The bounds are ``None``
    without prompts.
    """

    ces_ratio: float | None
    lower: float | None
    upper: float | None
    strata: tuple[Stratum, ...]
    thin: tuple[str, ...]
    unasked_attempts: int
    complete: bool
    min_answers: int
    if_silent_dissatisfied: float | None
    if_silent_satisfied: float | None


def silent_bounds(positive: int, answers: int, prompts: int) -> tuple[float, float] | None:
    """``(positive / prompts, (positive + unanswered) / prompts)``: the CES if no silent user was
    satisfied, and if all were; ``None`` without prompts.

    A window may hold answers to prompts from before it (``answers > prompts``): then the
    answers are the denominator and nobody counts as silent.
    """
    asked = max(prompts, answers)
    if not prompts or not asked:
        return None
    return positive / asked, (positive + asked - answers) / asked


def corrected_ces(
    stratum_outcomes: Mapping[str, int],
    by_stratum: Mapping[str, AnswerCounts],
    *,
    outcomes: Mapping[str, int],
    answers: int,
    positive: int,
    prompts: int,
    asked: Collection[str],
    min_answers: int,
    z: float,
) -> NonResponse:
    """The CES of one window corrected for non-response.

    :param stratum_outcomes: outcomes per stratum name (``completed/web``), as counted.
    :param by_stratum: answers per stratum name.
    :param outcomes: the window's outcomes per outcome (to see whether every one was counted in its stratum).
    :param answers: the window's answers (likewise).
    :param positive: the window's positive answers (for the bounds).
    :param prompts: the window's prompts (for the bounds).
    :param asked: the outcomes the goal prompts after; attempts at others are not weighed.
    :param min_answers: answers a stratum needs to speak for its attempts (at least 1).
    :param z: the normal quantile of the interval (``z_score(confidence)``).
    """
    bounds = silent_bounds(positive, answers, prompts)
    lower_bound, upper_bound = bounds if bounds is not None else (None, None)
    complete = sum(stratum_outcomes.values()) == sum(outcomes.values()) and (
        sum(counts.answers for counts in by_stratum.values()) == answers
    )
    asked_outcomes = [outcome for outcome in OUTCOMES if outcome in asked]
    unasked = sum(count for outcome, count in outcomes.items() if outcome not in asked)
    need = max(1, min_answers)
    if not complete:
        return NonResponse(None, None, None, (), (), unasked, False, need, lower_bound, upper_bound)
    cells = {
        (outcome, channel): _cell(stratum_outcomes, by_stratum, STRATA[(outcome, channel)])
        for outcome in asked_outcomes
        for channel in CHANNELS
    }
    # Each outcome by channel; or, with a thin channel, all its channels together.
    groups: list[tuple[str, str, list[tuple[str, str]]]] = []
    for outcome in asked_outcomes:
        keys = [(outcome, channel) for channel in CHANNELS if cells[(outcome, channel)] != (0, 0, 0)]
        if all(cells[key][1] >= need for key in keys if cells[key][0]):
            groups += [(outcome, channel, [(outcome, channel)]) for outcome, channel in keys]
        elif keys:
            groups.append((outcome, ALL_CHANNELS, keys))
    # A thin exit outcome: both exit outcomes together.
    exits = [group for group in groups if group[0] in EXIT_OUTCOMES]
    if len({outcome for outcome, _, _ in exits}) == len(EXIT_OUTCOMES) and any(
        _is_thin(_sum_cells(cells, keys), need) for _, _, keys in exits
    ):
        groups = [group for group in groups if group[0] not in EXIT_OUTCOMES]
        groups.append((EXITS, ALL_CHANNELS, [key for _, _, keys in exits for key in keys]))
    totals = [(outcome, channel, _sum_cells(cells, keys)) for outcome, channel, keys in groups]
    thin = tuple(f"{outcome}/{channel}" for outcome, channel, total in totals if _is_thin(total, need))
    weighed = sum(total[0] for _, _, total in totals)
    if thin or not weighed:
        strata = tuple(Stratum(outcome, channel, *total, weight=0.0) for outcome, channel, total in totals)
        return NonResponse(None, None, None, strata, thin, unasked, True, need, lower_bound, upper_bound)
    strata = tuple(Stratum(outcome, channel, *total, weight=total[0] / weighed) for outcome, channel, total in totals)
    # Sum attempts x share positive before dividing: the worked example comes out exact (0.76, not 0.7600000000000001).
    ratio = sum(s.attempts * s.positive / s.answers for s in strata if s.attempts) / weighed
    # Each stratum's variance with its share pulled towards 1/2 by z^2/2 answers each way (Agresti-Coull):
    # a stratum that answered all positive has a share of 1 but not a certain one.
    variance = 0.0
    for s in strata:
        if s.attempts:
            adjusted = (s.positive + z * z / 2) / (s.answers + z * z)
            variance += s.weight * s.weight * adjusted * (1 - adjusted) / s.answers
    margin = z * math.sqrt(variance)
    return NonResponse(
        min(1.0, ratio),
        max(0.0, ratio - margin),
        min(1.0, ratio + margin),
        strata,
        (),
        unasked,
        True,
        need,
        lower_bound,
        upper_bound,
    )


def _cell(
    stratum_outcomes: Mapping[str, int], by_stratum: Mapping[str, AnswerCounts], name: str
) -> tuple[int, int, int]:
    """``(attempts, answers, positive)`` of one stratum."""
    counts = by_stratum.get(name)
    return stratum_outcomes.get(name, 0), counts.answers if counts else 0, counts.positive if counts else 0


def _sum_cells(
    cells: Mapping[tuple[str, str], tuple[int, int, int]], keys: list[tuple[str, str]]
) -> tuple[int, int, int]:
    attempts = answers = positive = 0
    for key in keys:
        cell = cells[key]
        attempts += cell[0]
        answers += cell[1]
        positive += cell[2]
    return attempts, answers, positive


def _is_thin(total: tuple[int, int, int], need: int) -> bool:
    """Attempts to speak for, and too few answers to do it."""
    return total[0] > 0 and total[1] < need
