"""Simulated goals replayed through the window code, and what an alert made of them.

``ces-stream alert-quality`` (:mod:`stream.tools.alert_quality.command`) has a real Prometheus
evaluate the generated alert rule on the gauges computed here; this module holds the
pure parts: the answers (Poisson arrivals, each positive with the CES probability),
the window gauges as the worker would export them, Prometheus' ``for`` and the
counting of false alerts and detection times.

Time, in minutes of a run (detection is counted in minutes, so it matters):

- minute ``m``'s answers happen at its start; a drop at minute ``d`` means every
  answer from minute ``d`` on is drawn with the dropped CES;
- sample ``k`` (time ``start_s + 60 k``) is the worker's reading just before that
  time: it holds the answers of minutes ``< k``, a 10m window exactly minutes
  ``k-10 .. k-1``. Samples run from ``k = 1`` to ``k = minutes``;
- a run first simulates ``warmup_minutes`` unexported minutes, so its windows are
  full when sample 1 is taken;
- detection = first firing evaluation ``k`` (``k > d``) minus ``d``: at least one
  minute, plus the ``for``.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from stream.ces.goals import AnswerFact, GoalBuckets, WindowSpec, fold_facts, retention_s_by_resolution, wilson_interval
from stream.ces.registry import Sentiment
from stream.tools.alert_quality import intervals

DAY_MINUTES = 24 * 60
WEEK_MINUTES = 7 * DAY_MINUTES
PEAK_DAY_SHARE = 15 / 24
"""The busiest moment of a simulated day (15:00), when runs swing over the day."""
DROP_SPAN_MINUTES = 240
"""A drop happens at a random minute of the first 4 hours of its run (after the warm-up)."""
DETECTION_HORIZON_MINUTES = 1020
"""A drop run goes on 17 hours after the latest drop minute: undetected by then is a miss."""
PRUNE_EVERY_MINUTES = 60


@dataclass(frozen=True, slots=True)
class GoalRun:
    """One simulated goal: ``minutes`` exported minutes after ``warmup_minutes`` unexported ones.

    The CES is ``healthy_ces`` until ``drop_minute`` and ``dropped_ces`` from then on;
    ``drop_minute`` is ``None`` for a healthy run. ``seed`` names its random stream.
    """

    goal: str
    answers_per_hour: float
    minutes: int
    warmup_minutes: int
    healthy_ces: float
    dropped_ces: float
    drop_minute: int | None
    seed: str
    kind: str = "answers"
    """What the simulated events are: ``answers`` (positive = low effort), ``outcomes`` (positive = completed),
    ``exits`` (answers at completion and at exits: only the CES at exits drops, see :func:`minute_exit_answers`)
    or ``events`` (goal events, counted; a drop is the app going silent, see :func:`minute_events`)."""
    fine_warmup_minutes: int | None = None
    """Warm-up minutes drawn minute by minute; older ones are drawn an hour at a time (``None``: all)."""
    exit_share: float = 0.0
    """For ``exits``: the share of the answers given at an exit (abandoned) rather than at completion."""
    daily_swing: float = 0.0
    """How far the rate swings over a day: ``answers_per_hour`` is the day's mean, the rate at 15:00
    is ``1 + daily_swing`` times it and at 03:00 ``1 - daily_swing`` times (minute 0 is midnight)."""

    def ces_at(self, minute: int) -> float:
        """The true CES of the answers of ``minute``."""
        dropped = self.drop_minute is not None and minute >= self.drop_minute
        return self.dropped_ces if dropped else self.healthy_ces

    def per_hour_at(self, minute: int) -> float:
        """The expected answers (or events) per hour at ``minute``, with the daily swing."""
        if not self.daily_swing:
            return self.answers_per_hour
        day_share = (minute % DAY_MINUTES) / DAY_MINUTES
        return self.answers_per_hour * (1 + self.daily_swing * math.cos(2 * math.pi * (day_share - PEAK_DAY_SHARE)))


def plan_runs(
    rates: Sequence[float],
    healthy_weeks: int,
    drops: int,
    warmup_minutes: int,
    healthy_ces: float,
    dropped_ces: float,
    seed: int,
    kind: str = "answers",
    fine_warmup_minutes: int | None = None,
    *,
    exit_share: float = 0.0,
    horizon_minutes: int = DETECTION_HORIZON_MINUTES,
    drop_span_minutes: int = DROP_SPAN_MINUTES,
    daily_swing: float = 0.0,
) -> list[GoalRun]:
    """Per rate, ``healthy_weeks`` healthy goal-weeks and ``drops`` drop runs, each with its own seed.

    The seed of a run depends only on ``seed``, its rate and its number, so asking for
    more weeks adds runs and keeps the others as they were. A drop happens at a random
    minute of the first ``drop_span_minutes`` and its run goes on ``horizon_minutes``
    after the latest drop minute.
    """
    runs: list[GoalRun] = []
    drop_run_minutes = drop_span_minutes + horizon_minutes
    for rate in rates:
        tag = f"{rate:g}".replace(".", "p")
        for i in range(healthy_weeks):
            runs.append(
                GoalRun(
                    f"r{tag}-healthy-{i}",
                    rate,
                    WEEK_MINUTES,
                    warmup_minutes,
                    healthy_ces,
                    dropped_ces,
                    None,
                    f"{seed}/{rate:g}/healthy/{i}",
                    kind,
                    fine_warmup_minutes,
                    exit_share,
                    daily_swing,
                )
            )
        for i in range(drops):
            run_seed = f"{seed}/{rate:g}/drop/{i}"
            drop_minute = random.Random(run_seed + "/minute").randrange(drop_span_minutes)
            runs.append(
                GoalRun(
                    f"r{tag}-drop-{i}",
                    rate,
                    drop_run_minutes,
                    warmup_minutes,
                    healthy_ces,
                    dropped_ces,
                    drop_minute,
                    run_seed,
                    kind,
                    fine_warmup_minutes,
                    exit_share,
                    daily_swing,
                )
            )
    return runs


def poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw (Knuth's product method, in slices of mean <= 30 so exp() never underflows)."""
    total = 0
    while mean > 0:
        part = min(mean, 30.0)
        mean -= part
        limit, product = math.exp(-part), rng.random()
        while product > limit:
            total += 1
            product *= rng.random()
    return total


def minute_answers(run: GoalRun) -> Iterator[tuple[int, int, int]]:
    """``(minute, answers, positive)`` for every minute of the run, warm-up (negative minutes) first.

    Warm-up minutes before ``-fine_warmup_minutes`` come an hour at a time (the answers of
    the hour at its first minute): only windows of hourly buckets reach back that far.
    """
    rng = random.Random(run.seed)
    for minute, mean in _draw_means(run):
        answers = poisson(rng, mean)
        ces = run.ces_at(minute)
        positive = sum(1 for _ in range(answers) if rng.random() < ces)
        yield minute, answers, positive


def _draw_means(run: GoalRun) -> Iterator[tuple[int, float]]:
    """``(minute, expected answers)`` of each draw: the warm-up before ``-fine_warmup_minutes`` an hour at a
    time (at the hour's first minute), then minute by minute."""
    fine = run.warmup_minutes if run.fine_warmup_minutes is None else run.fine_warmup_minutes
    for hour in range(-run.warmup_minutes, -fine, 60):
        yield hour, run.per_hour_at(hour + 30)
    for minute in range(-min(fine, run.warmup_minutes), run.minutes):
        yield minute, run.per_hour_at(minute) / 60.0


NPS_PASSIVE_SHARE = 0.3
"""The share of passives (7-8) of a simulated NPS goal, healthy or dropped: its promoter share is the run's CES
(:meth:`GoalRun.ces_at`), the rest are detractors."""


def minute_nps_answers(run: GoalRun) -> Iterator[tuple[int, tuple[int, int, int]]]:
    """``(minute, (promoters, passives, detractors))`` for every minute of an ``nps`` run, warm-up first.

    Each answer is a promoter with the probability :meth:`GoalRun.ces_at`, a passive with
    :data:`NPS_PASSIVE_SHARE`, else a detractor. Warm-up minutes are drawn as in :func:`minute_answers`.
    """
    rng = random.Random(run.seed)
    for minute, mean in _draw_means(run):
        promoter, bands = run.ces_at(minute), [0, 0, 0]
        for _ in range(poisson(rng, mean)):
            draw = rng.random()
            bands[0 if draw < promoter else 1 if draw < promoter + NPS_PASSIVE_SHARE else 2] += 1
        yield minute, (bands[0], bands[1], bands[2])


def minute_exit_answers(run: GoalRun) -> Iterator[tuple[int, int, int, int, int]]:
    """``(minute, completions, positive, exits, positive)`` for every minute of an ``exits`` run, warm-up first.

    Each answer is given at an exit with probability ``exit_share``; answers at completion keep
    ``healthy_ces`` throughout, answers at exits follow :meth:`GoalRun.ces_at` (a drop is
    leaving getting harder). Warm-up minutes are drawn as in :func:`minute_answers`.
    """
    rng = random.Random(run.seed)
    for minute, mean in _draw_means(run):
        exit_ces, counts = run.ces_at(minute), [0, 0, 0, 0]
        for _ in range(poisson(rng, mean)):
            at_exit = rng.random() < run.exit_share
            positive = rng.random() < (exit_ces if at_exit else run.healthy_ces)
            counts[2 * at_exit] += 1
            counts[2 * at_exit + 1] += positive
        yield minute, counts[0], counts[1], counts[2], counts[3]


def minute_events(run: GoalRun) -> Iterator[tuple[int, int]]:
    """``(minute, goal events)`` for every minute of an ``events`` run, warm-up (negative minutes) first.

    Poisson at :meth:`GoalRun.per_hour_at`; from ``drop_minute`` on the app sends nothing.
    """
    rng = random.Random(run.seed)
    for minute in range(-run.warmup_minutes, run.minutes):
        stopped = run.drop_minute is not None and minute >= run.drop_minute
        yield minute, 0 if stopped else poisson(rng, run.per_hour_at(minute) / 60.0)


@dataclass(frozen=True, slots=True)
class WindowGauge:
    """What the worker exports for one window: ``ces_goal_answers`` and ``ces_goal_ces_ratio_wilson_upper``.

    ``wilson_upper`` is ``None`` without answers (the worker then exports no sample).
    """

    window: str
    answers: int
    wilson_upper: float | None


def window_gauges(
    run: GoalRun, specs: Sequence[WindowSpec], confidence: float, start_s: int
) -> Iterator[tuple[int, list[WindowGauge]]]:
    """``(sample time, gauges of every window in specs)`` for samples 1..minutes of the run.

    The answers go through the worker's own path: facts folded into buckets of the
    windows' resolutions (:func:`fold_facts`), summed by :class:`GoalBuckets`, the upper
    bound from :func:`wilson_interval`.
    """
    resolutions = sorted({spec.resolution_s for spec in specs})
    keep = retention_s_by_resolution(specs)
    buckets = GoalBuckets()
    for minute, answers, positive in minute_answers(run):
        at_s = start_s + 60 * minute
        good = AnswerFact(run.goal, at_s, 5, Sentiment.positive, "completed", "web")
        bad = AnswerFact(run.goal, at_s, 1, Sentiment.negative, "completed", "web")
        facts = [good] * positive + [bad] * (answers - positive)
        for (_, resolution_s, bucket_start_s), delta in fold_facts(facts, resolutions).items():
            buckets.apply(resolution_s, bucket_start_s, delta)
        sample_s = at_s + 60
        if minute % PRUNE_EVERY_MINUTES == 0:
            buckets.prune(sample_s - 1, keep)
        if minute < 0:
            continue
        gauges = []
        for spec in specs:
            counts = buckets.window_counts(spec, sample_s - 1, segments=False)
            n = counts.positive + counts.neutral + counts.negative
            interval = wilson_interval(counts.positive, n, confidence)
            gauges.append(WindowGauge(spec.name, n, interval[1] if interval else None))
        yield sample_s, gauges


def firing(present: Sequence[int], for_steps: int) -> list[bool]:
    """Where an alert fires, given where its expression returns the series (bools, or 0/1 bytes), as Prometheus does it.

    The series goes pending at the first evaluation that returns it and fires once it
    has been returned ``for_steps`` evaluations later without a gap (``for: 5m`` at a
    1m interval: 6 evaluations in a row); one evaluation without it resets it.
    """
    out, run = [], 0
    for here in present:
        run = run + 1 if here else 0
        out.append(run > for_steps)
    return out


def any_of(series: Iterable[Sequence[bool]], length: int) -> list[bool]:
    """Per evaluation, whether any of the series is true (a goal alerts when any of its windows does)."""
    out = [False] * length
    for one in series:
        for i, value in enumerate(one):
            if value:
                out[i] = True
    return out


def episode_starts(firing_at: Sequence[bool]) -> list[int]:
    """The evaluations where a firing episode starts (a new notification each time)."""
    return [i for i, value in enumerate(firing_at) if value and (i == 0 or not firing_at[i - 1])]


def detection_minutes(firing_at: Sequence[bool], drop_minute: int) -> int | None:
    """Minutes from the drop to the first firing evaluation that can see it; ``None``: missed.

    ``firing_at[k]`` is evaluation ``k`` (sample ``k``, answers of minutes ``< k``).
    """
    return next((k - drop_minute for k in range(drop_minute + 1, len(firing_at)) if firing_at[k]), None)


def quantile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile, interpolated between neighbours; ``inf`` (a miss) beyond the finite values."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    position = q * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    if low == high or ordered[low] == ordered[high]:
        return ordered[low]
    if math.isinf(ordered[high]):
        return math.inf
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(slots=True)
class RateQuality:
    """What one answer rate gave: false alert episodes on healthy weeks, detection times of drops."""

    answers_per_hour: float
    healthy_weeks: int = 0
    false_alerts: int = 0
    detections: list[int | None] = field(default_factory=list)
    firing_shares: list[float] = field(default_factory=list)
    """Per healthy goal-week, the share of its evaluations at which the alert fired."""
    false_alerts_by_week: list[int] = field(default_factory=list)

    @property
    def false_alerts_per_week(self) -> float:
        return self.false_alerts / self.healthy_weeks if self.healthy_weeks else math.nan

    def _minutes(self) -> list[float]:
        return [math.inf if d is None else float(d) for d in self.detections]

    @property
    def detection_median(self) -> float:
        return quantile(self._minutes(), 0.5)

    @property
    def detection_p90(self) -> float:
        return quantile(self._minutes(), 0.9)

    @property
    def missed(self) -> int:
        return sum(1 for d in self.detections if d is None)

    def summary(self) -> dict[str, Any]:
        """The figures as JSON values with their 95 % intervals: minutes rounded to 0.1, ``None`` for none (or a miss).

        False alerts per goal-week: the wider of the exact Poisson interval and a bootstrap over
        goal-weeks (episodes cluster within a week: a window hovering at its bound fires, resolves
        and fires again, so the counts vary more than Poisson counts); the share of healthy time firing:
        bootstrap over the goal-weeks; detection median and p90: order statistics; missed:
        Clopper-Pearson (:mod:`stream.tools.alert_quality.intervals`).
        """

        def finite(value: float, digits: int = 1) -> float | None:
            return None if math.isinf(value) or math.isnan(value) else round(value, digits)

        def pair(bounds: tuple[float, float], digits: int = 1) -> list[float | None]:
            return [finite(bound, digits) for bound in bounds]

        weeks, drops = self.healthy_weeks, len(self.detections)
        minutes = self._minutes()
        share = sum(self.firing_shares) / weeks if weeks else math.nan
        return {
            "answers_per_hour": self.answers_per_hour,
            "healthy_goal_weeks": weeks,
            "false_alerts": self.false_alerts,
            "false_alerts_per_goal_week": finite(self.false_alerts_per_week, 3),
            "false_alerts_per_goal_week_ci95": pair(intervals.rate_interval(self.false_alerts_by_week), 3),
            "healthy_firing_share": finite(share, 5),
            "healthy_firing_share_ci95": pair(intervals.bootstrap_mean_interval(self.firing_shares), 5),
            "drops": drops,
            "detection_median_minutes": finite(self.detection_median),
            "detection_median_ci95": pair(intervals.quantile_interval(minutes, 0.5)),
            "detection_p90_minutes": finite(self.detection_p90),
            "detection_p90_ci95": pair(intervals.quantile_interval(minutes, 0.9)),
            "detection_max_minutes": finite(max(minutes, default=math.nan)),
            "missed": self.missed,
            "missed_share_ci95": pair(intervals.clopper_pearson(self.missed, drops), 3),
        }

    def add(self, run: GoalRun, goal_firing: Sequence[bool]) -> None:
        """Count one run: its alert episodes if healthy, its detection time if dropped."""
        if run.drop_minute is None:
            self.healthy_weeks += 1
            episodes = len(episode_starts(goal_firing))
            self.false_alerts += episodes
            self.false_alerts_by_week.append(episodes)
            self.firing_shares.append(sum(goal_firing) / max(1, len(goal_firing) - 1))
        else:
            self.detections.append(detection_minutes(goal_firing, run.drop_minute))
