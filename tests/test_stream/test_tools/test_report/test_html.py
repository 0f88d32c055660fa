"""``ces-stream report`` without a broker: the period, the figures summed over it and the HTML.

The January 2025 scenario of ``tests/report_records.py``: two goals with summaries (one on an
inverted scale), one without any, a stale revision, strays of another window and month, and
comments, one of them carrying a <script> tag.
"""

from __future__ import annotations

import argparse
from datetime import UTC, date, datetime

import pytest

from stream.ces.registry.loader import load_registry
from stream.infra.local_services import free_port
from stream.tools.report.command import add_arguments, run
from stream.tools.report.figures import Period, build_report, direction, expected_summaries, period_of
from stream.tools.report.html import render_report
from tests.harness import settings_from_env, write_registry
from tests.report_records import JANUARY_GOALS, assert_january_report, day, january_records, make_summary

NOW = datetime(2025, 3, 1, tzinfo=UTC)


@pytest.fixture
def registry(tmp_path):
    return load_registry(write_registry(tmp_path / "goals.yaml", JANUARY_GOALS))


def january_report(registry, **options):
    summaries, comments = january_records()
    period = period_of("month", date(2025, 1, 15), None, date(2025, 3, 1))
    return build_report(registry, summaries, comments, period, "24h", confidence=0.99, now=NOW, **options)


def test_the_report_shows_every_goal_with_counts_summed_over_the_period(registry):
    report = january_report(registry, skipped={"summary records that do not validate": 2})
    html = render_report(report)
    assert_january_report(html)
    assert "Customer Effort Score: January 2025" in html
    assert "Left out: 2 summary records that do not validate." in html


def test_a_comment_is_text_never_markup(registry):
    html = render_report(january_report(registry))
    assert "&lt;script&gt;alert(1)&lt;/script&gt; The PDF button is hidden &amp; tiny" in html
    assert "<script" not in html.lower() and "http://" not in html and "https://" not in html


def test_goals_picks_a_subset_and_refuses_an_unknown_goal(registry):
    report = january_report(registry, goals=["view-policy"])
    assert [goal.slug for goal in report.goals] == ["view-policy"]
    with pytest.raises(ValueError, match="not in the goal registry: pay-bill"):
        january_report(registry, goals=["view-policy", "pay-bill"])


def test_periods():
    today = date(2025, 5, 20)
    month = period_of("month", None, None, today)
    assert (month.start, month.end, month.label) == (day(1, 5), day(1, 6), "May 2025")
    quarter = period_of("quarter", date(2024, 11, 3), None, today)
    assert (quarter.start, quarter.end, quarter.label) == (day(1, 10, 2024), day(1, 1, 2025), "Q4 2024")
    custom = period_of("custom", date(2025, 1, 1), date(2025, 1, 31), today)
    assert (custom.start, custom.end) == (day(1), day(1, 2))  # --to is inclusive
    for kind, first, last in (
        ("custom", date(2025, 1, 2), None),
        ("custom", date(2025, 1, 2), date(2025, 1, 1)),
        ("month", None, date(2025, 1, 1)),
        ("week", None, None),
    ):
        with pytest.raises(ValueError):
            period_of(kind, first, last, today)


def test_coverage_counts_the_windows_the_period_holds_up_to_now():
    january = Period(day(1), day(1, 2), "January 2025")
    assert expected_summaries(january, 86_400, NOW) == 31
    assert expected_summaries(january, 86_400, day(11) + (day(2) - day(1)) / 2) == 10  # mid 11 January
    assert expected_summaries(january, 3600, NOW) == 31 * 24
    assert expected_summaries(january, 7 * 86_400, NOW) == 4  # aligned weeks wholly inside


def test_the_trend_arrow_needs_a_significant_change():
    def summaries(first: dict[int, int], second: dict[int, int]):
        return [make_summary("g", day(1), {"completed": first}), make_summary("g", day(2), {"completed": second})]

    assert direction(summaries({5: 50, 1: 50}, {5: 90, 1: 10}), 0.99).arrow == "↑"
    assert direction(summaries({5: 90, 1: 10}, {5: 50, 1: 50}), 0.99).arrow == "↓"
    assert direction(summaries({5: 5, 1: 5}, {5: 9, 1: 1}), 0.99).arrow == "→"  # 10 answers each: chance
    assert direction(summaries({}, {5: 9, 1: 1}), 0.99).arrow == "–"


def test_run_refuses_bad_options_before_reading_kafka(tmp_path, capsys):
    registry = write_registry(tmp_path / "goals.yaml", JANUARY_GOALS)
    # A closed port: should anything reach for Kafka, it fails instead of reading.
    settings = settings_from_env({"CES_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}", "CES_GOALS_FILE": str(registry)})
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    for options, message in (
        (["--goals", "file-claim,pay-bill"], "not in the goal registry"),
        (["--period", "custom", "--from", "2025-01-01"], "--period custom needs --from and --to"),
        (["--window", "a day"], "invalid duration"),
    ):
        assert run(settings, parser.parse_args([*options, "--out", str(tmp_path / "r.html")])) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "r.html").exists()


def test_measured_effort_sums_the_histograms_and_says_where_it_parts_from_the_answers(registry):
    same_answers = {"completed": {5: 30, 1: 10}}  # CES 0.75 every day: not rated harder
    bands = {"<30s": {5: 10}, "30s-2m": {5: 20, 1: 5}, "2m-10m": {1: 5}}  # 40 of them after a timed completion

    def month(first_half_s: float, second_half_s: float):
        summaries = [
            make_summary(
                "download-invoice", day(d), same_answers, durations={first_half_s: 50}, retried=5, by_band=bands
            )
            for d in (1, 2)
        ] + [
            make_summary(
                "download-invoice", day(d), same_answers, durations={second_half_s: 50}, retried=10, by_band=bands
            )
            for d in (3, 4)
        ]
        period = period_of("month", date(2025, 1, 15), None, date(2025, 3, 1))
        return build_report(registry, summaries, [], period, "24h", confidence=0.99, now=NOW)

    slower = month(60.0, 120.0).goals[0]
    effort = slower.effort
    assert (effort.timed_completions, effort.retried, effort.retry_ratio) == (200, 30, 0.15)
    # Summed over the four days: rank 99 of 200 is the last 60 s one, rank 179 a 120 s one.
    assert abs(effort.quantile(0.5) - 60.0) <= 0.02 * 60.0
    assert abs(effort.quantile(0.9) - 120.0) <= 0.02 * 120.0
    assert effort.divergence == "slower but not rated harder"
    assert month(60.0, 60.0).goals[0].effort.divergence is None

    html = render_report(month(60.0, 120.0))
    assert 'data-field="duration_median">60 s<' in html and 'data-field="duration_p90">2.0 min<' in html
    assert 'data-field="retry_ratio">15 %<' in html and 'data-field="timed_completions">200<' in html
    assert 'data-field="effort_divergence">slower but not rated harder<' in html
    # CES per band, summed over the four days, in the registry's band order (10m+ had no answer).
    assert {name: (c.answers, c.positive) for name, c in effort.by_band.items()} == {
        "<30s": (40, 40),
        "30s-2m": (100, 80),
        "2m-10m": (20, 0),
        "10m+": (0, 0),
    }
    assert 'data-field="band_ces-30s-2m">80 %<' in html and "10m+: " in html


def test_summaries_without_measured_effort_measure_nothing(registry):
    html = render_report(january_report(registry))  # every January summary has no timed completion
    assert "not measured (no start of a completion was seen)" in html
    # A version 2 summary (written before measured effort) counts its answers and measures nothing.
    timed = make_summary("download-invoice", day(3), {"completed": {5: 3}}, durations={30.0: 4})
    older = make_summary("download-invoice", day(4), {"completed": {5: 3}}, durations={30.0: 4}, schema_version=2)
    period = period_of("month", date(2025, 1, 15), None, date(2025, 3, 1))
    report = build_report(registry, [timed, older], [], period, "24h", confidence=0.99, now=NOW)
    invoice = report.goals[0]
    assert invoice.total.answers == 6 and invoice.effort.timed_completions == 4
