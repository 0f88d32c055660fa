"""The pure parts of ``ces-stream alert-quality``: simulated answers, window gauges, ``for`` and the counting.

Also the expansion of recording rules in the generated alert (text only, no Prometheus).
"""

from __future__ import annotations

import argparse
import math
import random
import statistics

import pytest

from stream.ces.goals.stats import wilson_interval
from stream.ces.goals.windows import plan_windows
from stream.errors import CesError
from stream.observability.rules import BELOW_TARGET, MIN_ANSWERS, TARGET, rule_file
from stream.settings import Settings
from stream.tools import alert_quality
from stream.tools.alert_quality.command import paging_alert, simulated_registry
from stream.tools.alert_quality.expansion import MARK, expand_recorded, recording_rules
from stream.tools.alert_quality.simulated_goals import (
    DETECTION_HORIZON_MINUTES,
    DROP_SPAN_MINUTES,
    WEEK_MINUTES,
    GoalRun,
    RateQuality,
    any_of,
    detection_minutes,
    episode_starts,
    firing,
    minute_answers,
    minute_events,
    minute_exit_answers,
    plan_runs,
    poisson,
    quantile,
    window_gauges,
)


def a_run(
    rate: float = 100.0,
    minutes: int = 120,
    warmup: int = 60,
    drop_minute: int | None = None,
    healthy: float = 0.85,
    dropped: float = 0.6,
) -> GoalRun:
    return GoalRun("g", rate, minutes, warmup, healthy, dropped, drop_minute, "test-seed")


@pytest.mark.parametrize("mean", [0.3, 1.7, 16.7, 75.0])
def test_poisson_has_the_mean_and_variance_asked_for(mean):
    rng = random.Random(3)
    draws = [poisson(rng, mean) for _ in range(20_000)]
    assert statistics.fmean(draws) == pytest.approx(mean, rel=0.03)
    assert statistics.pvariance(draws) == pytest.approx(mean, rel=0.06)


def test_plan_runs_gives_each_rate_its_weeks_and_drops_with_stable_seeds():
    runs = plan_runs([20, 100], healthy_weeks=2, drops=3, warmup_minutes=180, healthy_ces=0.85, dropped_ces=0.6, seed=7)
    assert [(r.answers_per_hour, r.drop_minute is None) for r in runs].count((100, True)) == 2
    assert len({r.goal for r in runs}) == len(runs) == 10
    for r in runs:
        if r.drop_minute is None:
            assert r.minutes == WEEK_MINUTES
        else:
            assert 0 <= r.drop_minute < DROP_SPAN_MINUTES
            assert r.minutes - r.drop_minute > DETECTION_HORIZON_MINUTES
    more = plan_runs([20, 100], 4, 5, 180, 0.85, 0.6, seed=7)
    assert set(runs) <= set(more)  # more weeks add runs, the others stay as they were
    assert plan_runs([20], 1, 1, 180, 0.85, 0.6, seed=8)[1].seed != runs[2].seed


def test_the_answers_follow_the_rate_and_switch_ces_at_the_drop_minute():
    run = a_run(rate=600.0, minutes=3000, warmup=0, drop_minute=1500)
    minutes = list(minute_answers(run))
    assert [m for m, _, _ in minutes] == list(range(3000))
    assert statistics.fmean(n for _, n, _ in minutes) == pytest.approx(10.0, rel=0.03)
    before = sum(p for m, _, p in minutes if m < 1500) / sum(n for m, n, _ in minutes if m < 1500)
    after = sum(p for m, _, p in minutes if m >= 1500) / sum(n for m, n, _ in minutes if m >= 1500)
    assert before == pytest.approx(0.85, abs=0.01)
    assert after == pytest.approx(0.60, abs=0.015)
    assert run.ces_at(1499) == 0.85 and run.ces_at(1500) == 0.6


def test_warmup_minutes_come_first_and_are_not_sampled():
    run = a_run(minutes=30, warmup=20)
    assert [m for m, _, _ in minute_answers(run)][:2] == [-20, -19]
    specs = plan_windows([600])
    samples = list(window_gauges(run, specs, 0.99, start_s=6000))
    assert [at_s for at_s, _ in samples] == [6000 + 60 * k for k in range(1, 31)]


def test_window_gauges_hold_exactly_the_last_minutes_before_the_sample_as_the_worker_counts_them():
    run = a_run(rate=300.0, minutes=90, warmup=40, drop_minute=45)
    specs = plan_windows([600, 1800])
    minutes = {m: (n, p) for m, n, p in minute_answers(run)}
    for at_s, gauges in window_gauges(run, specs, 0.95, start_s=0):
        k = at_s // 60
        for spec, gauge in zip(specs, gauges, strict=False):
            span = range(k - spec.duration_s // 60, k)  # minutes < k: the sample at k does not see minute k
            n = sum(minutes[m][0] for m in span)
            positive = sum(minutes[m][1] for m in span)
            assert (gauge.window, gauge.answers) == (spec.name, n)
            assert gauge.wilson_upper == wilson_interval(positive, n, 0.95)[1]


def test_a_window_without_answers_has_no_upper_bound():
    run = a_run(rate=0.0, minutes=5, warmup=10)
    for _, gauges in window_gauges(run, plan_windows([600]), 0.99, start_s=0):
        assert gauges[0].answers == 0 and gauges[0].wilson_upper is None


def test_for_needs_the_series_at_every_evaluation_it_spans():
    # for: 5m at a 1m interval: pending at the first, firing at the sixth evaluation in a row.
    present = [False] + [True] * 5 + [False] + [True] * 7
    assert firing(present, 5) == [False] * 12 + [True, True]
    assert firing([True, True], 0) == [True, True]


def test_a_goal_fires_when_any_window_does_and_each_start_is_an_episode():
    assert any_of([[True, False, False], [False, False, True]], 3) == [True, False, True]
    assert any_of([], 2) == [False, False]
    assert episode_starts([True, True, False, True, False, False, True]) == [0, 3, 6]


def test_detection_counts_from_the_drop_to_the_first_evaluation_that_can_see_it():
    fire = [False] * 20
    fire[3] = fire[10] = True  # noise at 3, before the drop at minute 5
    assert detection_minutes(fire, 5) == 5
    fire[5] = True  # evaluation 5 holds minutes < 5: it cannot have seen the drop
    assert detection_minutes(fire, 5) == 5
    assert detection_minutes([False] * 20, 5) is None


def test_quantile_interpolates_and_a_miss_is_later_than_anything():
    assert quantile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert quantile([10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 100.0], 0.9) == pytest.approx(91.0)
    assert quantile([1.0, 2.0, math.inf], 0.5) == 2.0
    assert quantile([1.0, math.inf], 0.9) == math.inf
    assert math.isnan(quantile([], 0.5))


def test_rate_quality_counts_false_alert_episodes_per_week_and_detections():
    quality = RateQuality(100.0)
    healthy, dropped = a_run(minutes=8), a_run(minutes=8, drop_minute=2)
    quality.add(healthy, [False, True, True, False, True, False, False, False, False])
    quality.add(healthy, [False] * 9)
    quality.add(dropped, [False, True, False, False, False, False, True, True, True])
    quality.add(dropped, [False] * 9)
    assert (quality.healthy_weeks, quality.false_alerts, quality.false_alerts_per_week) == (2, 2, 1.0)
    assert quality.detections == [4, None]
    assert (quality.detection_median, quality.detection_p90, quality.missed) == (math.inf, math.inf, 1)
    assert quality.summary()["detection_max_minutes"] is None  # a miss
    quality.detections.pop()
    assert quality.summary()["detection_max_minutes"] == 4.0


RECORDED = {
    "goal:x:max": [{"record": "goal:x:max", "expr": "max by (goal) (x)"}],
    "goal:min:value": [
        {"record": "goal:min:value", "expr": "vector(30)", "labels": {"goal": "a"}},
        {"record": "goal:min:value", "expr": "vector(40)", "labels": {"goal": "b"}},
    ],
    "goal_window:low:ratio": [
        {"record": "goal_window:low:ratio", "expr": "max by (goal, window) (y) < on (goal) group_left () goal:x:max"}
    ],
}


def test_expansion_replaces_recorded_series_recursively_and_parenthesised():
    expr = expand_recorded("goal_window:low:ratio > 0", RECORDED)
    assert expr == "((max by (goal, window) (y) < on (goal) group_left () ((max by (goal) (x))))) > 0"


def test_expansion_sets_the_rule_labels_and_joins_the_rules_of_one_name():
    assert expand_recorded("n >= on (goal) group_left () goal:min:value", RECORDED) == (
        'n >= on (goal) group_left () (label_replace((vector(30)), "goal", "a", "", "")'
        ' or label_replace((vector(40)), "goal", "b", "", ""))'
    )


@pytest.mark.parametrize(
    ("matcher", "regex", "keep"),
    [
        ('window=~"10m|1h"', "10m|1h", "and"),
        ('window!~"1h"', "1h", "unless"),
        ('window="1.5h"', "1\\\\.5h", "and"),
        ('window!="1h"', "1h", "unless"),
    ],
)
def test_expansion_applies_a_selectors_matchers_to_the_expanded_series(matcher, regex, keep):
    expr = expand_recorded(f"goal:x:max{{{matcher}}}", RECORDED)
    assert expr == (
        f'label_replace((label_replace(((max by (goal) (x))), "{MARK}", "1", "window", "{regex}") {keep} on ({MARK})'
        f' label_replace(vector(1), "{MARK}", "1", "", "")), "{MARK}", "", "", "")'
    )


def test_expansion_leaves_other_names_alone_and_refuses_what_it_cannot_expand():
    assert expand_recorded("goal:x:max_total + xgoal:x:max", RECORDED) == "goal:x:max_total + xgoal:x:max"
    with pytest.raises(CesError, match="range"):
        expand_recorded("rate(goal:x:max[5m])", RECORDED)
    with pytest.raises(CesError, match="cycle"):
        expand_recorded("a:b:c", {"a:b:c": [{"record": "a:b:c", "expr": "a:b:c + 1"}]})


def test_the_generated_paging_alert_expands_to_raw_gauges_only():
    runs = plan_runs([100], 1, 1, 180, 0.85, 0.6, seed=1)
    rules = rule_file(Settings(), simulated_registry(runs, 0.8, 30))
    alert = paging_alert(rules)
    assert alert["labels"]["severity"] == "critical" and BELOW_TARGET in alert["expr"]
    expr = expand_recorded(alert["expr"], recording_rules(rules))
    for name in (BELOW_TARGET, TARGET, MIN_ANSWERS):
        assert name not in expr
    # The page bounds the ratio itself (CES_ALERT_TARGET_CONFIDENCE), from the ratio and the answers.
    assert "ces_goal_ces_ratio)" in expr and "ces_goal_answers" in expr and "ces_goal_target_ces_ratio" in expr
    assert "wilson_upper" not in expr
    assert '"5m|10m|30m|1h|3h"' in expr
    assert expr.count("vector(30)") == 2  # one min-answers rule per simulated goal


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--rates", "abc"], "--rates: expected answers per hour"),
        (["--rates", "100,100"], "distinct positive"),
        (["--dropped-ces", "1.5"], "--dropped-ces must be between 0 and 1"),
        (["--daily-swing", "1.2"], "--daily-swing must be between 0 and 1"),
        (["--exit-share", "-0.1"], "--exit-share must be between 0 and 1"),
        (["--jobs", "0"], "--jobs must be at least 1"),
        (["--weeks", "0", "--drops", "0"], "not both 0"),
        (["--alert-windows", "15m"], "window 15m is not one of CES_WINDOWS"),
    ],
)
def test_bad_options_fail_before_anything_runs(argv, message):
    parser = argparse.ArgumentParser()
    alert_quality.add_arguments(parser)
    with pytest.raises(CesError, match=message):
        alert_quality.run(Settings(), parser.parse_args([*argv, "--prometheus", "/nonexistent/prometheus"]))


def test_at_exits_only_the_exit_answers_drop_and_their_share_is_kept():
    run = GoalRun("g", 1200.0, 2000, 0, 0.85, 0.6, 1000, "exit-seed", "exits", exit_share=0.25)
    rows = list(minute_exit_answers(run))
    assert [row[0] for row in rows] == list(range(2000))
    completed = sum(row[1] for row in rows)
    exits = sum(row[3] for row in rows)
    assert exits / (exits + completed) == pytest.approx(0.25, abs=0.01)

    def share(part: int, when: range) -> float:
        return sum(rows[m][part + 1] for m in when) / sum(rows[m][part] for m in when)

    before, after = range(1000), range(1000, 2000)
    assert share(1, before) == pytest.approx(0.85, abs=0.01)
    assert share(1, after) == pytest.approx(0.85, abs=0.01)  # completions stay healthy
    assert share(3, before) == pytest.approx(0.85, abs=0.015)
    assert share(3, after) == pytest.approx(0.60, abs=0.02)


def test_a_longer_horizon_makes_longer_drop_runs_and_leaves_healthy_weeks_alone():
    short = plan_runs([100], 1, 2, 60, 0.85, 0.6, seed=3)
    long = plan_runs([100], 1, 2, 60, 0.85, 0.6, seed=3, horizon_minutes=DETECTION_HORIZON_MINUTES + WEEK_MINUTES)
    assert [r.minutes for r in long] == [WEEK_MINUTES] + [r.minutes + WEEK_MINUTES for r in short[1:]]
    assert [r.drop_minute for r in long] == [r.drop_minute for r in short]


def test_the_daily_swing_keeps_the_mean_and_puts_the_trough_at_night():
    run = GoalRun("g", 12.0, 1440, 0, 0.85, 0.6, None, "s", "events", daily_swing=0.8)
    rates = [run.per_hour_at(minute) for minute in range(1440)]
    assert statistics.fmean(rates) == pytest.approx(12.0)
    assert run.per_hour_at(3 * 60) == pytest.approx(12.0 * 0.2) and run.per_hour_at(15 * 60) == pytest.approx(21.6)
    assert run.per_hour_at(3 * 60 + 1440) == run.per_hour_at(3 * 60)
    flat = GoalRun("g", 12.0, 10, 0, 0.85, 0.6, None, "s")
    assert {flat.per_hour_at(m) for m in range(0, 1440, 7)} == {12.0}


def test_goal_events_follow_the_day_and_stop_at_the_drop():
    run = GoalRun("g", 60.0, 14 * 1440, 60, 0.85, 0.6, 13 * 1440, "s", "events", daily_swing=0.8)
    events = dict(minute_events(run))
    assert min(events) == -60 and max(events) == 14 * 1440 - 1
    night = sum(events[d * 1440 + m] for d in range(13) for m in range(2 * 60, 4 * 60))
    afternoon = sum(events[d * 1440 + m] for d in range(13) for m in range(14 * 60, 16 * 60))
    assert night / afternoon == pytest.approx(0.2 / 1.8, rel=0.15)
    assert sum(events[m] for m in range(13 * 1440)) / 13 == pytest.approx(60 * 24, rel=0.03)
    assert not any(events[m] for m in range(13 * 1440, 14 * 1440))
