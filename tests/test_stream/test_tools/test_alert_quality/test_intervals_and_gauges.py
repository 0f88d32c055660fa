"""The confidence intervals of ``ces-stream alert-quality`` and the gauges it simulates for any goal alert."""

from __future__ import annotations

import math

import pytest

from stream.ces.goals.buckets import BucketCounts
from stream.ces.goals.stats import baseline_gap, exit_gap, figures
from stream.ces.goals.windows import plan_windows
from stream.ces.registry import Sentiment
from stream.errors import CesError
from stream.observability.rules import rule_file
from stream.settings import Settings
from stream.tools.alert_quality.command import (
    ALERTS,
    _alert_keys,
    _lookback_minutes,
    expand_recorded,
    find_alert,
    recording_rules,
    simulated_registry,
)
from stream.tools.alert_quality.gauges import (
    SIMULATED,
    _figures,
    event_counter,
    families_of,
    kind_of,
    run_gauges,
    windows_of,
)
from stream.tools.alert_quality.intervals import (
    bootstrap_mean_interval,
    clopper_pearson,
    poisson_interval,
    quantile_interval,
)
from stream.tools.alert_quality.simulated_goals import GoalRun, plan_runs


def test_exact_poisson_interval_matches_the_tables():
    assert poisson_interval(0, 1) == pytest.approx((0.0, 3.6889), abs=1e-4)
    assert poisson_interval(14, 1) == pytest.approx((7.6539, 23.4898), abs=1e-3)
    low, high = poisson_interval(43, 300)
    assert low < 43 / 300 < high and high == pytest.approx(0.1931, abs=1e-3)


def test_clopper_pearson_matches_the_tables():
    assert clopper_pearson(0, 100) == pytest.approx((0.0, 0.03622), abs=1e-4)
    assert clopper_pearson(3, 100) == pytest.approx((0.00622, 0.08518), abs=1e-4)
    assert clopper_pearson(10, 10)[1] == 1.0


def test_quantile_interval_holds_the_quantile_and_a_miss_makes_it_unbounded():
    values = list(range(1, 101))
    low, high = quantile_interval(values, 0.5)
    assert low <= 50.5 <= high and high - low < 25
    assert quantile_interval([1.0, 2.0, 3.0], 0.9)[1] == math.inf  # three values cannot bound a p90
    assert quantile_interval([*range(90), *[math.inf] * 10], 0.9)[1] == math.inf


def test_bootstrap_interval_of_a_mean():
    low, high = bootstrap_mean_interval([0.0] * 90 + [1.0] * 10)
    assert low < 0.1 < high and high < 0.2
    assert bootstrap_mean_interval([0.0, 0.0]) == (0.0, 0.0)


def test_the_light_figures_are_the_workers():
    counts = BucketCounts()
    for score in (5, 5, 4, 1, 3):
        sentiment = Sentiment.positive if score >= 4 else Sentiment.negative if score <= 2 else Sentiment.neutral
        counts.add_answer(score, sentiment, "completed", "web")
    counts.add_outcome("completed")
    counts.add_outcome("abandoned")
    full = figures(counts, (1, 2, 3, 4, 5), 1, 0.99)
    for attr, value in _figures(counts, 0.99).items():
        assert getattr(full, attr) == value, attr


@pytest.mark.parametrize("key", list(ALERTS))
def test_every_measured_alert_reads_only_gauges_the_simulation_computes(key):
    settings = Settings()
    runs = plan_runs([100], 1, 1, 60, 0.85, 0.6, 1)
    rules = rule_file(settings, simulated_registry(runs, 0.8, 40))
    alert = find_alert(rules, *ALERTS[key].rules[0])
    families = families_of(expand_recorded(alert["expr"], recording_rules(rules)))
    assert families and families <= {
        "ces_goal_answers",
        "ces_goal_ces_ratio",
        "ces_goal_ces_ratio_baseline_gap_upper",
        "ces_goal_completion_ratio_baseline_gap_upper",
        "ces_goal_ces_cusum",
        "ces_goal_target_ces_ratio",
        "ces_goal_completion_ratio",
        "ces_goal_outcomes",
        "ces_goal_exit_ces_gap_upper",
        "ces_goal_events_total",
        "ces_goal_survey_info",  # the CES alerts leave the CSAT goals out, the CSAT alerts keep only them
        "ces_goal_nps_answers",
        "ces_goal_nps_baseline_gap_upper",
    }
    assert families <= SIMULATED
    assert windows_of(alert["expr"]) <= {spec.name for spec in settings.window_specs()}
    kinds = {"drop-off": "outcomes", "exits": "exits", "events-stopped": "events", "nps-baseline": "nps"}
    assert kind_of(families) == kinds.get(key, "answers")


def test_alert_keys():
    assert _alert_keys("all") == list(ALERTS)
    assert _alert_keys("target, baseline") == ["target", "baseline"]
    with pytest.raises(CesError, match="unknown alert nope"):
        _alert_keys("target,nope")


def test_the_baseline_gap_gauge_is_the_workers_and_the_warm_up_fills_the_baseline():
    specs = plan_windows([3600, 7 * 86400])
    run = GoalRun("g", 100.0, 5, 7 * 24 * 60 + 60, 0.85, 0.6, None, "s", "answers", 120)
    families = {"ces_goal_answers", "ces_goal_ces_ratio_baseline_gap_upper"}
    samples = list(run_gauges(run, specs, families, 0.99, 0, baseline=specs[1]))
    assert len(samples) == 5
    _, gauges = samples[-1]
    answers = {labels: value for family, labels, value in gauges if family == "ces_goal_answers"}
    assert 50 < answers['window="1h"'] < 160 and 15_000 < answers['window="7d"'] < 18_500
    assert [labels for family, labels, _ in gauges if family.endswith("gap_upper")] == ['window="1h"']
    assert baseline_gap  # the same function the worker's GoalWindows calls


def test_rate_interval_widens_for_clustered_events():
    from stream.tools.alert_quality.intervals import rate_interval

    spread = [1] * 10 + [0] * 90  # ten weeks with one alert each
    clustered = [5, 5] + [0] * 98  # the same ten alerts in two weeks
    assert rate_interval(spread) == pytest.approx(poisson_interval(10, 100), abs=0.02)
    assert rate_interval(clustered)[1] > poisson_interval(10, 100)[1] + 0.02
    assert rate_interval([0] * 50) == poisson_interval(0, 50)


def test_the_simulated_exit_gap_is_the_workers():
    counts = BucketCounts()
    for i in range(120):
        outcome = "abandoned" if i % 4 == 0 else "abandoned_inferred" if i % 4 == 1 else "completed"
        score = 5 if i % 3 else 1
        counts.add_answer(score, Sentiment.positive if score == 5 else Sentiment.negative, outcome, "web")
    full = figures(counts, (1, 2, 3, 4, 5), 1, 0.99, segment_min_answers=30).segments
    assert full is not None and full.exit_gap is not None
    assert exit_gap(counts, 0.99, 30) == full.exit_gap
    assert exit_gap(counts, 0.99, 61) is None  # 60 answers at exits


def test_exit_runs_export_the_exit_gap_of_the_split_window():
    settings = Settings()
    spec = next(spec for spec in settings.window_specs() if spec.name == "1h")
    run = GoalRun("g", 600.0, 30, 60, 0.85, 0.6, None, "s", "exits", exit_share=0.3)
    families = {"ces_goal_exit_ces_gap_upper", "ces_goal_exit_ces_gap"}
    samples = list(run_gauges(run, [spec], families, 0.99, 0, split_min_answers=30))
    assert len(samples) == 30
    for _, gauges in samples:
        values = {family: value for family, _, value in gauges}
        assert set(values) == families
        assert values["ces_goal_exit_ces_gap"] < values["ces_goal_exit_ces_gap_upper"]


def test_the_events_counter_counts_every_minute_before_its_sample_warm_up_included():
    run = GoalRun("g", 120.0, 30, 20, 0.85, 0.6, 10, "s", "events")
    samples = list(event_counter(run, 6000))
    assert [at_s for at_s, _ in samples] == [6000 + 60 * k for k in range(-19, 31)]
    totals = [gauges[0][2] for _, gauges in samples]
    assert totals == sorted(totals) and totals[0] >= 0
    assert totals[29] > totals[0]  # events before the drop at minute 10 (sample 10 is index 29)
    assert len(set(totals[29:])) == 1  # none after it
    assert samples[0][1][0][:2] == ("ces_goal_events_total", 'type="completed"')


def test_the_lookback_of_an_expression_is_its_longest_range_and_offset():
    assert _lookback_minutes("increase(x[1h] offset 7d) and increase(x[1d] offset 1h)") == 7 * 1440 + 60
    assert _lookback_minutes("max by (goal) (ces_goal_answers)") == 0


def test_an_nps_run_exports_the_nps_answers_and_the_baseline_gap_as_goal_windows_computes_it():
    """The NPS simulation: promoters 0.5, passives 0.3, the rest detractors; the gap once both sides hold 40."""
    from stream.ces.goals import WindowSpec
    from stream.tools.alert_quality.simulated_goals import minute_nps_answers

    runs = plan_runs([1000], 1, 0, 180, 0.5, 0.35, 1, "nps")
    bands = [sum(b[i] for _, b in minute_nps_answers(runs[0])) for i in range(3)]
    total = sum(bands)
    assert abs(bands[0] / total - 0.5) < 0.01 and abs(bands[1] / total - 0.3) < 0.01
    hour, three = WindowSpec("1h", 3600, 60), WindowSpec("3h", 10800, 60)
    families = {"ces_goal_nps_answers", "ces_goal_nps_baseline_gap_upper"}
    first = next(iter(run_gauges(runs[0], [hour, three], families, 0.99, 0, baseline=three)))[1]
    names = {(family, labels) for family, labels, _ in first}
    assert names == {
        ("ces_goal_nps_answers", 'window="1h"'),
        ("ces_goal_nps_answers", 'window="3h"'),
        ("ces_goal_nps_baseline_gap_upper", 'window="1h"'),
    }
