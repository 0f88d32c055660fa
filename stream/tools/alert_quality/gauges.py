"""The gauges a goal alert reads, computed for a simulated goal as the worker would export them.

Any goal alert of the generated rules: the alert's expression names the gauge families
(``ces_goal_...``) and windows it reads, and :func:`run_gauges` computes exactly those from
the worker's own window code (facts folded into buckets, :class:`GoalBuckets` windows,
:func:`figures`), one sample a minute (sample ``k`` holds the answers of minutes ``< k``,
see :mod:`stream.tools.alert_quality.simulated_goals`).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Sequence

from stream.ces.goals import AnswerFact, GoalBuckets, OutcomeFact, WindowSpec, fold_facts, retention_s_by_resolution
from stream.ces.goals.buckets import BucketCounts
from stream.ces.goals.facts import NPS, REST
from stream.ces.goals.nps import nps_baseline_gap
from stream.ces.goals.segments import OUTCOMES
from stream.ces.goals.stats import baseline_gap, completion_gap, cusum, exit_gap, wilson_interval
from stream.ces.registry import Sentiment
from stream.tools.alert_quality.simulated_goals import (
    PRUNE_EVERY_MINUTES,
    GoalRun,
    minute_answers,
    minute_events,
    minute_exit_answers,
    minute_nps_answers,
)

# The per-window families the simulation can compute, by the attribute of the worker's WindowFigures.
FIGURE_FAMILIES = {
    "ces_goal_answers": "answers",
    "ces_goal_positive_answers": "positive",
    "ces_goal_ces_ratio": "ces_ratio",
    "ces_goal_ces_ratio_wilson_lower": "wilson_lower",
    "ces_goal_ces_ratio_wilson_upper": "wilson_upper",
    "ces_goal_completion_ratio": "completion_ratio",
}
GAP_FAMILIES = {
    "ces_goal_ces_ratio_baseline_gap": 0,
    "ces_goal_ces_ratio_baseline_gap_lower": 1,
    "ces_goal_ces_ratio_baseline_gap_upper": 2,
}
COMPLETION_GAP_FAMILIES = {
    "ces_goal_completion_ratio_baseline_gap": 0,
    "ces_goal_completion_ratio_baseline_gap_lower": 1,
    "ces_goal_completion_ratio_baseline_gap_upper": 2,
}
EXIT_GAP_FAMILIES = {
    "ces_goal_exit_ces_gap": "ces_ratio_gap",
    "ces_goal_exit_ces_gap_lower": "lower",
    "ces_goal_exit_ces_gap_upper": "upper",
}
NPS_ANSWERS_FAMILY = "ces_goal_nps_answers"
NPS_GAP_FAMILIES = {
    "ces_goal_nps_baseline_gap": 0,
    "ces_goal_nps_baseline_gap_lower": 1,
    "ces_goal_nps_baseline_gap_upper": 2,
}
SURVEY_INFO_FAMILY = "ces_goal_survey_info"
"""``{survey=...} 1`` of every goal: the question the simulated goal asks (CES, or CSAT for the CSAT alerts)."""
EVENTS_FAMILY = "ces_goal_events_total"
"""The goal events counter: the one counter the simulation writes, with its history (``offset`` reads it)."""
CUSUM_FAMILY = "ces_goal_ces_cusum"
OUTCOME_FAMILY = "ces_goal_outcomes"
TARGET_FAMILY = "ces_goal_target_ces_ratio"
SIMULATED = {
    *FIGURE_FAMILIES,
    *GAP_FAMILIES,
    *COMPLETION_GAP_FAMILIES,
    *EXIT_GAP_FAMILIES,
    CUSUM_FAMILY,
    OUTCOME_FAMILY,
    TARGET_FAMILY,
    EVENTS_FAMILY,
    NPS_ANSWERS_FAMILY,
    *NPS_GAP_FAMILIES,
    SURVEY_INFO_FAMILY,
}
_FAMILY = re.compile(r"\bces_goal_[a-z_]+")
_WINDOWS = re.compile(r'window\s*=~?\s*"([^"]*)"')


def families_of(expr: str) -> set[str]:
    """The worker gauge families an (expanded) expression reads."""
    return set(_FAMILY.findall(expr))


def windows_of(expr: str) -> set[str]:
    """The window names the ``window`` matchers of an expression name (a regex of alternatives, or one name)."""
    return {name for found in _WINDOWS.findall(expr) for name in found.split("|") if name}


def kind_of(families: set[str]) -> str:
    """``events`` when the alert reads the goal events counter; ``nps`` when it reads the NPS; ``exits`` when it
    reads the exit CES gap; ``outcomes`` when it reads the completion ratio or the outcome counts; else ``answers``."""
    if EVENTS_FAMILY in families:
        return "events"
    if families & {NPS_ANSWERS_FAMILY, *NPS_GAP_FAMILIES}:
        return "nps"
    if families & set(EXIT_GAP_FAMILIES):
        return "exits"
    if families & {"ces_goal_completion_ratio", OUTCOME_FAMILY, *COMPLETION_GAP_FAMILIES}:
        return "outcomes"
    return "answers"


def minute_facts(run: GoalRun, start_s: int) -> Iterator[tuple[int, Sequence[AnswerFact | OutcomeFact]]]:
    """``(minute, facts)`` of every minute of the run (warm-up first) as the worker would fold them."""
    if run.kind == "exits":
        for minute, completed, completed_positive, exits, exits_positive in minute_exit_answers(run):
            at_s = start_s + 60 * minute
            facts = _answers(run.goal, at_s, "completed", completed, completed_positive)
            yield minute, facts + _answers(run.goal, at_s, "abandoned", exits, exits_positive)
        return
    if run.kind == "nps":  # promoters, passives and detractors of the NPS question, counted apart
        for minute, bands in minute_nps_answers(run):
            at_s = start_s + 60 * minute
            yield (
                minute,
                [
                    AnswerFact(run.goal, at_s, score, sentiment, "completed", "web", survey=NPS, effort_group=REST)
                    for score, sentiment, n in zip((10, 7, 3), _NPS_SENTIMENTS, bands, strict=True)
                    for _ in range(n)
                ],
            )
        return
    for minute, answers, positive in minute_answers(run):
        at_s = start_s + 60 * minute
        if run.kind == "outcomes":
            done, left = OutcomeFact(run.goal, at_s, "completed"), OutcomeFact(run.goal, at_s, "abandoned")
            yield minute, [done] * positive + [left] * (answers - positive)
        else:
            yield minute, _answers(run.goal, at_s, "completed", answers, positive)


_NPS_SENTIMENTS = (Sentiment.positive, Sentiment.neutral, Sentiment.negative)


def _answers(goal: str, at_s: int, outcome: str, answers: int, positive: int) -> list[AnswerFact]:
    good = AnswerFact(goal, at_s, 5, Sentiment.positive, outcome, "web")
    bad = AnswerFact(goal, at_s, 1, Sentiment.negative, outcome, "web")
    return [good] * positive + [bad] * (answers - positive)


def run_gauges(
    run: GoalRun,
    specs: Sequence[WindowSpec],
    families: Collection[str],
    confidence: float,
    start_s: int,
    *,
    baseline: WindowSpec | None = None,
    sequential: tuple[str, float, float] | None = None,
    split_min_answers: int = 30,
    min_answers: int = 40,
) -> Iterator[tuple[int, list[tuple[str, str, float]]]]:
    """``(sample time, [(family, labels other than goal, value)])`` for samples 1..minutes of the run.

    ``specs`` are the windows the alert reads; ``baseline`` (one of them) is the window the
    baseline-gap families compare the others with; ``sequential`` is ``(window, acceptable,
    rejectable)`` of the CUSUM family (:func:`cusum` over that window's buckets, as the worker's
    ``GoalWindows`` computes it); ``split_min_answers`` is ``CES_SPLIT_MIN_ANSWERS`` of the exit
    gap families (:func:`exit_gap`), ``min_answers`` the goal's ``alerting.min_answers`` of the NPS baseline gap. A ratio without a denominator has no sample. An ``events``
    run is the goal events counter instead, warm-up minutes included (:func:`event_counter`).
    """
    if run.kind == "events":
        yield from event_counter(run, start_s)
        return
    resolutions = sorted({spec.resolution_s for spec in specs})
    keep = retention_s_by_resolution(specs)
    buckets = GoalBuckets()
    wanted = [(family, attr) for family, attr in FIGURE_FAMILIES.items() if family in families]
    gaps = [(family, at) for family, at in GAP_FAMILIES.items() if family in families]
    completion_gaps = [(family, at) for family, at in COMPLETION_GAP_FAMILIES.items() if family in families]
    exit_gaps = [(family, attr) for family, attr in EXIT_GAP_FAMILIES.items() if family in families]
    last_prune = None
    for minute, facts in minute_facts(run, start_s):
        for (_, resolution_s, bucket_start_s), delta in fold_facts(facts, resolutions).items():
            buckets.apply(resolution_s, bucket_start_s, delta)
        sample_s = start_s + 60 * minute + 60
        if last_prune is None or minute // PRUNE_EVERY_MINUTES != last_prune:
            buckets.prune(sample_s - 1, keep)
            last_prune = minute // PRUNE_EVERY_MINUTES
        if minute < 0:
            continue
        counts = {spec.name: buckets.window_counts(spec, sample_s - 1, segments=bool(exit_gaps)) for spec in specs}
        gauges = _gauges(counts, wanted, (gaps, completion_gaps), families, confidence, baseline)
        if run.kind == "nps":
            gauges.extend(_nps_gauges(counts, families, confidence, baseline, min_answers))
        for window, window_counts in counts.items() if exit_gaps else ():
            gap = exit_gap(window_counts, confidence, split_min_answers)
            if gap is not None:
                gauges.extend((family, f'window="{window}"', getattr(gap, attr)) for family, attr in exit_gaps)
        if sequential is not None and CUSUM_FAMILY in families:
            window, acceptable, rejectable = sequential
            spec = next(spec for spec in specs if spec.name == window)
            statistic = cusum(buckets.window_buckets(spec, sample_s - 1), acceptable, rejectable)
            gauges.append((CUSUM_FAMILY, f'window="{window}"', statistic))
        yield sample_s, gauges


def event_counter(run: GoalRun, start_s: int) -> Iterator[tuple[int, list[tuple[str, str, float]]]]:
    """``ces_goal_events_total`` of an ``events`` run at every minute, the warm-up's too (an alert reading the
    counter's ``increase`` a day or a week back needs that history in the TSDB): sample ``k`` counts minutes ``< k``.
    """
    total = 0
    for minute, events in minute_events(run):
        total += events
        yield start_s + 60 * minute + 60, [(EVENTS_FAMILY, 'type="completed"', float(total))]


def _gauges(
    counts: dict[str, BucketCounts],
    wanted: list[tuple[str, str]],
    gaps: tuple[list[tuple[str, int]], list[tuple[str, int]]],
    families: Collection[str],
    confidence: float,
    baseline: WindowSpec | None,
) -> list[tuple[str, str, float]]:
    out: list[tuple[str, str, float]] = []
    for window, window_counts in counts.items():
        labels = f'window="{window}"'
        values = _figures(window_counts, confidence)
        for family, attr in wanted:
            value = values[attr]
            if value is not None:
                out.append((family, labels, float(value)))
        if OUTCOME_FAMILY in families:
            for outcome in OUTCOMES:
                out.append(
                    (OUTCOME_FAMILY, f'{labels},outcome="{outcome}"', float(window_counts.outcomes.get(outcome, 0)))
                )
        if baseline is None or window == baseline.name:
            continue
        if gaps[0]:
            gap = baseline_gap(window_counts, counts[baseline.name], confidence)
            if gap is not None:
                out.extend((family, labels, gap[at]) for family, at in gaps[0])
        if gaps[1]:
            gap = completion_gap(window_counts.outcomes, counts[baseline.name].outcomes, confidence)
            if gap is not None:
                out.extend((family, labels, gap[at]) for family, at in gaps[1])
    return out


def _nps_gauges(
    counts: dict[str, BucketCounts],
    families: Collection[str],
    confidence: float,
    baseline: WindowSpec | None,
    min_answers: int,
) -> list[tuple[str, str, float]]:
    """The NPS answers of every window with any, and the NPS baseline gap as ``GoalWindows`` sets it."""
    out: list[tuple[str, str, float]] = []
    base = None if baseline is None else counts[baseline.name].nps
    for window, window_counts in counts.items():
        nps = window_counts.nps
        if nps is None or nps.is_empty():
            continue
        if NPS_ANSWERS_FAMILY in families:
            out.append((NPS_ANSWERS_FAMILY, f'window="{window}"', float(nps.answers)))
        if base is None or baseline is None or window == baseline.name:
            continue
        gap = nps_baseline_gap(nps, base, confidence, min_answers)
        if gap is not None:
            out.extend(
                (family, f'window="{window}"', gap[at]) for family, at in NPS_GAP_FAMILIES.items() if family in families
            )
    return out


def _figures(counts: BucketCounts, confidence: float) -> dict[str, float | None]:
    """The figures the alerts read, as :func:`stream.ces.goals.stats.figures` computes them (only those: faster)."""
    n = counts.positive + counts.neutral + counts.negative
    interval = wilson_interval(counts.positive, n, confidence)
    outcomes = sum(counts.outcomes.values())
    return {
        "answers": n,
        "positive": counts.positive,
        "ces_ratio": counts.positive / n if n else None,
        "wilson_lower": interval[0] if interval else None,
        "wilson_upper": interval[1] if interval else None,
        "completion_ratio": counts.outcomes.get("completed", 0) / outcomes if outcomes else None,
    }
