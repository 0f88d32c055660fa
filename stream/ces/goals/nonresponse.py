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

from stream.ces.goals.segments import CHANNELS, EXIT_OUTCOMES, OUTCOMES, STRATA

__all__ = ["Cell", "NonResponse", "Stratum", "corrected_ces", "silent_bounds", "stratum_cells"]

Cell = tuple[int, int, int]
"""``(attempts, answers, positive)`` of one stratum as counted, before any merging."""

#: The channel of a stratum that merges every channel of its outcome(s).
ALL_CHANNELS = "all"
#: The outcome of a stratum that merges the exit outcomes (abandoned, abandoned_inferred).
EXITS = "exits"

_NOTHING: Cell = (0, 0, 0)


@dataclass(frozen=True, slots=True)
class Stratum:
    """One stratum of the correction: its attempts (outcomes), its answers, and its weight.

    ``outcome`` is an outcome or ``exits`` (both exit outcomes merged); ``channel`` a channel
    or ``all`` (every channel merged). ``weight`` is its share of the weighed attempts (0 when
    the figure is left out).
    """

    outcome: str
    channel: str
    attempts: int
    answers: int
    positive: int
    weight: float

    @property
    def ces_ratio(self) -> float | None:
        return self.positive / self.answers if self.answers else None


@dataclass(frozen=True, slots=True)
class NonResponse:
    """A window's CES corrected for non-response, and the bounds that assume nothing.

    ``ces_ratio`` is ``None`` (with ``lower``/``upper``) when no asked stratum had attempts, when a
    stratum stayed too thin (``thin`` names them), or when the window holds counts made
    before strata were counted (``complete`` is False). ``strata`` are the strata used, in
    outcome then channel order; ``cells`` the counts they were made from, per stratum name
    (``completed/web``), so that periods can be summed and corrected again; ``asked`` the outcomes
    weighed and ``min_answers`` what a stratum needed. The bounds are ``None`` without prompts.
    """

    ces_ratio: float | None
    lower: float | None
    upper: float | None
    strata: tuple[Stratum, ...]
    thin: tuple[str, ...]
    unasked_attempts: int
    complete: bool
    asked: tuple[str, ...]
    min_answers: int
    cells: dict[str, Cell]
    if_silent_dissatisfied: float | None
    if_silent_satisfied: float | None


def silent_bounds(positive: int, answers: int, prompts: int) -> tuple[float, float] | None:
    """``(positive / prompts, (positive + unanswered) / prompts)``: the CES if no silent user was
    satisfied, and if all were; ``None`` without prompts.

    A window may hold answers to prompts from before it (``answers > prompts``): then the
    answers are the denominator and nobody counts as silent.
    """
    if not prompts:
        return None
    asked = max(prompts, answers)
    return positive / asked, (positive + asked - answers) / asked


def stratum_cells(strata: Mapping[str, list[int]]) -> dict[str, Cell]:
    """The cells of a window's counts (``BucketCounts.strata``), in stratum order."""
    return {name: (cell[0], cell[1], cell[2]) for name in STRATA.values() if (cell := strata.get(name)) is not None}


def corrected_ces(
    cells: Mapping[str, Cell],
    *,
    outcomes: Mapping[str, int],
    answers: int,
    positive: int,
    prompts: int,
    asked: Collection[str],
    min_answers: int,
    z: float,
) -> NonResponse:
    """The CES of one window (or of a sum of windows) corrected for non-response.

    :param cells: ``(attempts, answers, positive)`` per stratum name (``completed/web``), as
        counted (:func:`stratum_cells`).
    :param outcomes: the outcomes per outcome (to see whether every one was counted in its stratum).
    :param answers: the answers (likewise).
    :param positive: the positive answers (for the bounds).
    :param prompts: the prompts (for the bounds).
    :param asked: the outcomes the goal prompts after; attempts at others are not weighed.
    :param min_answers: answers a stratum needs to speak for its attempts (at least 1).
    :param z: the normal quantile of the interval (``z_score(confidence)``).
    """
    bounds = silent_bounds(positive, answers, prompts)
    if_dissatisfied, if_satisfied = bounds if bounds is not None else (None, None)
    need = max(1, min_answers)
    asked_outcomes = tuple(outcome for outcome in OUTCOMES if outcome in asked)
    cells = {name: cell for name, cell in cells.items() if cell != _NOTHING}
    unasked = sum(count for outcome, count in outcomes.items() if outcome not in asked)
    complete = sum(cell[0] for cell in cells.values()) == sum(outcomes.values()) and (
        sum(cell[1] for cell in cells.values()) == answers
    )

    def result(ratio: float | None, margin: float, strata: tuple[Stratum, ...], thin: tuple[str, ...]) -> NonResponse:
        return NonResponse(
            None if ratio is None else min(1.0, ratio),
            None if ratio is None else max(0.0, ratio - margin),
            None if ratio is None else min(1.0, ratio + margin),
            strata,
            thin,
            unasked,
            complete,
            asked_outcomes,
            need,
            cells,
            if_dissatisfied,
            if_satisfied,
        )

    if not complete:
        return result(None, 0.0, (), ())
    totals = _strata(cells, asked_outcomes, need)
    thin = tuple(f"{outcome}/{channel}" for outcome, channel, total in totals if _is_thin(total, need))
    weighed = sum(total[0] for _, _, total in totals)
    if thin or not weighed:
        return result(None, 0.0, tuple(Stratum(o, c, *total, weight=0.0) for o, c, total in totals), thin)
    strata = tuple(Stratum(o, c, *total, weight=total[0] / weighed) for o, c, total in totals)
    # Attempts x share positive, summed, then one division: the worked example comes out 0.76, not 0.7600000000000001.
    ratio = sum(s.attempts * s.positive / s.answers for s in strata if s.attempts) / weighed
    # Each stratum's variance with its share pulled towards 1/2 by z^2/2 answers each way (Agresti-Coull):
    # a stratum that answered all positive has a share of 1 but not a certain one.
    variance = 0.0
    for s in strata:
        if s.attempts:
            adjusted = (s.positive + z * z / 2) / (s.answers + z * z)
            variance += s.weight * s.weight * adjusted * (1 - adjusted) / s.answers
    return result(ratio, z * math.sqrt(variance), strata, ())


def _strata(cells: Mapping[str, Cell], asked: tuple[str, ...], need: int) -> list[tuple[str, str, Cell]]:
    """The strata of the asked outcomes, thin ones merged: ``(outcome, channel, its summed cells)``."""
    by_key = {
        (outcome, channel): cells.get(STRATA[(outcome, channel)], _NOTHING) for outcome in asked for channel in CHANNELS
    }
    # Each outcome by channel; or, with a thin channel, all its channels together.
    groups: list[tuple[str, str, list[tuple[str, str]]]] = []
    for outcome in asked:
        keys = [(outcome, channel) for channel in CHANNELS if by_key[(outcome, channel)] != _NOTHING]
        if all(not _is_thin(by_key[key], need) for key in keys):
            groups += [(outcome, channel, [(outcome, channel)]) for outcome, channel in keys]
        elif keys:
            groups.append((outcome, ALL_CHANNELS, keys))
    # A thin exit outcome: both exit outcomes together, when the goal asks at both.
    exits = [group for group in groups if group[0] in EXIT_OUTCOMES]
    if {outcome for outcome, _, _ in exits} == set(EXIT_OUTCOMES) and any(
        _is_thin(_sum_cells(by_key, keys), need) for _, _, keys in exits
    ):
        groups = [group for group in groups if group[0] not in EXIT_OUTCOMES]
        groups.append((EXITS, ALL_CHANNELS, [key for _, _, keys in exits for key in keys]))
    return [(outcome, channel, _sum_cells(by_key, keys)) for outcome, channel, keys in groups]


def _sum_cells(cells: Mapping[tuple[str, str], Cell], keys: list[tuple[str, str]]) -> Cell:
    attempts = answers = positive = 0
    for key in keys:
        cell = cells[key]
        attempts += cell[0]
        answers += cell[1]
        positive += cell[2]
    return attempts, answers, positive


def _is_thin(cell: Cell, need: int) -> bool:
    """Attempts to speak for, and too few answers to do it."""
    return cell[0] > 0 and cell[1] < need
