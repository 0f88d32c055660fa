"""``ces-stream report``: the period's prompt funnel, and the silent bounds over the prompts shown.

Two daily summaries of an app that reports prompt events: 500 prompts sent, 400 shown, 120 dismissed
and 130 answered (106 positive) on the 10th; 300 sent, 230 shown, 80 dismissed and 59 answered (45
positive) on the 11th. The period: 800 sent, 630 shown, 200 dismissed, 189 answered, 151 positive.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from stream.ces.registry.loader import load_registry
from stream.tools.report.figures import Report, build_report, period_of
from stream.tools.report.html import render_report
from tests.browser import fields_by_goal
from tests.harness import write_registry
from tests.report_records import day, make_summary

NOW = datetime(2025, 3, 1, tzinfo=UTC)
GOAL = "download-invoice"
TENTH = {"completed": {5: 102, 2: 18}, "abandoned": {4: 4, 1: 6}}  # 130 answers, 106 positive
ELEVENTH = {"completed": {5: 45, 2: 14}}  # 59 answers, 45 positive


@pytest.fixture
def registry(tmp_path):
    return load_registry(write_registry(tmp_path / "goals.yaml", [{"slug": GOAL, "scale": {"kind": "five_point"}}]))


def january(registry, summaries) -> Report:
    period = period_of("month", date(2025, 1, 15), None, date(2025, 3, 1))
    return build_report(registry, summaries, [], period, "24h", confidence=0.99, now=NOW)


def fields(report: Report) -> dict[str, str]:
    """The fields of the goal's section as the HTML shows them."""
    return dict(fields_by_goal(render_report(report))[1:])[GOAL]


def two_days(schema_version_of_the_11th: int = 4) -> list:
    return [
        make_summary(GOAL, day(10), TENTH, prompts=500, shown=400, dismissed=120),
        make_summary(
            GOAL,
            day(11),
            ELEVENTH,
            prompts=300,
            shown=230 if schema_version_of_the_11th >= 4 else 0,
            dismissed=80 if schema_version_of_the_11th >= 4 else 0,
            schema_version=schema_version_of_the_11th,
        ),
    ]


def test_the_funnel_of_two_summaries_is_summed_and_its_ratios_come_from_the_sums(registry):
    report = january(registry, two_days())
    funnel = report.goals[0].funnel
    assert (funnel.sent, funnel.shown, funnel.dismissed, funnel.answered) == (800, 630, 200, 189)
    assert (funnel.shown_ratio, funnel.dismissal_ratio) == (630 / 800, 200 / 630)
    assert funnel.response_ratio_shown == 189 / 630  # 0.30; the days' own ratios average 0.29
    assert report.goals[0].response_ratio == 189 / 800  # over the prompts sent, as before

    shown = fields(report)
    assert (shown["funnel_sent"], shown["funnel_shown"], shown["funnel_answered"]) == ("800", "630", "189")
    assert (shown["shown_ratio"], shown["funnel_dismissed"], shown["dismissal_ratio"]) == ("79 %", "200", "32 %")
    assert (shown["response_ratio_shown"], shown["response_ratio"], shown["prompts"]) == ("30 %", "24 %", "800")
    assert "funnel_missing" not in shown
    html = " ".join(render_report(report).split())
    assert "A prompt sent is not a prompt seen: the apps report which prompts they showed" in html


def test_the_silent_bounds_are_over_the_prompts_shown_when_the_apps_report_them(registry):
    report = january(registry, two_days())
    # 151 positive of 189 answers; 630 - 189 = 441 users saw the prompt and stayed silent.
    assert report.goals[0].non_response.silent == (151 / 630, (151 + 441) / 630)
    shown = fields(report)
    assert (shown["if_silent_dissatisfied"], shown["if_silent_satisfied"]) == ("24 %", "94 %")
    assert "if nobody who saw the prompt and stayed silent found it easy" in render_report(report)

    without_events = [
        make_summary(GOAL, day(10), TENTH, prompts=500),
        make_summary(GOAL, day(11), ELEVENTH, prompts=300),
    ]
    unreported = january(registry, without_events)
    assert unreported.goals[0].non_response.silent == (151 / 800, (151 + 611) / 800)  # over sent, as before
    assert (fields(unreported)["if_silent_dissatisfied"], fields(unreported)["if_silent_satisfied"]) == (
        "19 %",
        "95 %",
    )


def test_apps_without_prompt_events_show_sent_and_answered_and_the_ratio_over_sent(registry):
    report = january(
        registry,
        [make_summary(GOAL, day(10), TENTH, prompts=500), make_summary(GOAL, day(11), ELEVENTH, prompts=300)],
    )
    funnel = report.goals[0].funnel
    assert (funnel.counted, funnel.shown, funnel.shown_ratio, funnel.response_ratio_shown) == (True, 0, None, None)
    shown = fields(report)
    assert (shown["funnel_sent"], shown["funnel_answered"], shown["response_ratio"]) == ("800", "189", "24 %")
    assert shown["funnel_missing"] == "no app reported a prompt shown"
    assert "funnel_shown" not in shown and "response_ratio_shown" not in shown


def test_a_summary_from_before_version_4_leaves_the_funnel_uncounted_and_the_bounds_over_sent(registry):
    report = january(registry, two_days(schema_version_of_the_11th=3))
    funnel = report.goals[0].funnel
    assert (funnel.counted, funnel.sent, funnel.answered, funnel.shown, funnel.dismissed) == (
        False,
        800,
        189,
        None,
        None,
    )
    shown = fields(report)
    assert (shown["funnel_sent"], shown["funnel_answered"]) == ("800", "189")
    assert shown["funnel_missing"] == "not counted before version 4 summaries"
    assert "funnel_shown" not in shown and "response_ratio_shown" not in shown
    # The 10th's 400 shown cover only half the period: the bounds stay over the prompts sent.
    assert report.goals[0].non_response.silent == (151 / 800, (151 + 611) / 800)
