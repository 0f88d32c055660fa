"""``ces-stream report``: the CES corrected for non-response over a period, from the summaries' summed cells.

The worked example of :mod:`stream.ces.goals.nonresponse`: 800 completions answering 30 % with CES 0.85
and 200 abandonments answering 10 % with CES 0.40 give a blended CES of 212 / 260 and a corrected one
of 0.8 x 0.85 + 0.2 x 0.40 = 0.76.
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
# Scores on the five point scale: 4 and 5 are positive, 1 and 2 negative.
COMPLETED_HALF = {5: 102, 2: 18}  # 120 answers, 102 positive: 0.85
ABANDONED_HALF = {4: 4, 1: 6}  # 10 answers, 4 positive: 0.40


@pytest.fixture
def registry(tmp_path):
    return load_registry(write_registry(tmp_path / "goals.yaml", [{"slug": GOAL, "scale": {"kind": "five_point"}}]))


def january(registry, summaries) -> Report:
    period = period_of("month", date(2025, 1, 15), None, date(2025, 3, 1))
    return build_report(registry, summaries, [], period, "24h", confidence=0.99, now=NOW)


def shown(report: Report) -> dict[str, str]:
    """The fields of the goal's section as the HTML shows them."""
    sections = dict(fields_by_goal(render_report(report))[1:])
    return sections[GOAL]


def test_the_worked_example_split_over_two_days_is_corrected_once_over_the_summed_cells(registry):
    # Each day: 400 completions (120 answers, 102 positive), 100 abandonments (10 answers, 4 positive), all prompted.
    days = [
        make_summary(
            GOAL,
            day(d),
            {"completed": COMPLETED_HALF, "abandoned": ABANDONED_HALF},
            prompts=500,
            outcomes={"completed": 400, "abandoned": 100, "abandoned_inferred": 0},
        )
        for d in (10, 11)
    ]
    report = january(registry, days)
    goal = report.goals[0]
    assert goal.total.ces_ratio == 212 / 260  # blended: leans to the happy path
    assert goal.non_response.ces_ratio == 0.76
    assert goal.non_response.missing is None
    assert goal.non_response.correction is not None
    assert [
        (s.outcome, s.channel, s.attempts, s.answers, s.positive, s.weight) for s in goal.non_response.correction.strata
    ] == [
        ("completed", "web", 800, 240, 204, 0.8),
        ("abandoned", "web", 200, 20, 8, 0.2),
    ]
    assert goal.non_response.silent == (212 / 1000, (212 + 740) / 1000)

    fields = shown(report)
    assert (fields["ces"], fields["corrected_ces"]) == ("82 %", "76 %")
    # z = 2.576 at 99 %; 0.8^2 x 0.841 x 0.159 / 240 + 0.2^2 x 0.425 x 0.575 / 20 (Agresti-Coull shares): +-0.075
    assert fields["corrected_interval"] == "69–83 %"
    assert (fields["if_silent_dissatisfied"], fields["if_silent_satisfied"]) == ("21 %", "95 %")
    assert "corrected_missing" not in fields


def test_the_period_sums_counts_it_never_averages_the_days_corrections(registry):
    # All completions on one day (corrected 0.85), all abandonments on the next (0.40): the mean of the days
    # would say 0.625, the period's attempts say 0.76.
    completions = make_summary(
        GOAL, day(10), {"completed": {5: 204, 2: 36}}, prompts=800, outcomes={"completed": 800, "abandoned": 0}
    )
    abandonments = make_summary(
        GOAL, day(11), {"abandoned": {4: 8, 1: 12}}, prompts=200, outcomes={"completed": 0, "abandoned": 200}
    )
    assert completions.non_response is not None and abandonments.non_response is not None
    assert (completions.non_response.ces_ratio, abandonments.non_response.ces_ratio) == (0.85, 0.4)

    report = january(registry, [completions, abandonments])
    assert report.goals[0].non_response.ces_ratio == 0.76
    assert shown(report)["corrected_ces"] == "76 %"


def test_a_period_with_a_summary_from_before_version_4_shows_no_corrected_figure_and_says_why(registry):
    answers = {"completed": COMPLETED_HALF, "abandoned": ABANDONED_HALF}
    outcomes = {"completed": 400, "abandoned": 100, "abandoned_inferred": 0}
    counted = make_summary(GOAL, day(10), answers, prompts=500, outcomes=outcomes)
    older = make_summary(GOAL, day(11), answers, prompts=500, outcomes=outcomes, schema_version=3)
    assert older.schema_version == 3 and older.non_response is None

    report = january(registry, [counted, older])
    goal = report.goals[0]
    assert goal.total.answers == 260  # its answers still count in the blended CES
    assert (goal.non_response.correction, goal.non_response.ces_ratio) == (None, None)
    fields = shown(report)
    assert fields["corrected_ces"] == "–"
    assert fields["corrected_missing"] == "not counted before version 4 summaries"
    assert "corrected_interval" not in fields
    # The bounds assume nothing about the strata: every version counts the answers and prompts they need.
    assert (fields["if_silent_dissatisfied"], fields["if_silent_satisfied"]) == ("21 %", "95 %")


def test_a_stratum_too_thin_even_merged_shows_too_thin_and_no_number(registry):
    # 3 answers for 100 abandonments on web and ios; no inferred abandonment to merge them with.
    thin = make_summary(
        GOAL,
        day(10),
        {"completed": COMPLETED_HALF, "abandoned": {4: 1, 1: 2}},
        prompts=500,
        attempts={("completed", "web"): 400, ("abandoned", "web"): 60, ("abandoned", "ios"): 40},
    )
    report = january(registry, [thin])
    goal = report.goals[0]
    assert goal.non_response.ces_ratio is None and goal.non_response.interval is None
    fields = shown(report)
    assert fields["corrected_ces"] == "–"
    assert fields["corrected_missing"] == "too thin: abandoned/all"
    assert "corrected_interval" not in fields
    assert fields["ces"] == "84 %"  # (102 + 1) / 123: the blended figure stands


def test_thin_days_add_up_to_a_period_that_speaks_for_its_attempts(registry):
    # 6 abandonment answers a day are too thin for either day (10 needed); the period's 12 are not.
    days = [
        make_summary(
            GOAL,
            day(d),
            {"completed": COMPLETED_HALF, "abandoned": {4: 3, 1: 3}},
            prompts=500,
            outcomes={"completed": 400, "abandoned": 100},
        )
        for d in (10, 11)
    ]
    assert all(s.non_response is not None and s.non_response.thin_strata == ["abandoned/all"] for s in days)
    report = january(registry, days)
    assert report.goals[0].non_response.ces_ratio == 0.78  # 0.8 x 0.85 + 0.2 x 0.5
    assert shown(report)["corrected_ces"] == "78 %"


def test_the_period_asks_of_a_stratum_what_its_strictest_summary_asked(registry):
    answers = {"completed": COMPLETED_HALF, "abandoned": {4: 4, 1: 4}}  # 16 abandonment answers in the period

    def summary(d: int, min_answers: int):
        outcomes = {"completed": 400, "abandoned": 100}
        return make_summary(GOAL, day(d), answers, prompts=500, outcomes=outcomes, min_answers_per_stratum=min_answers)

    assert january(registry, [summary(10, 5), summary(11, 20)]).goals[0].non_response.missing == (
        "too thin: abandoned/all"
    )
    assert january(registry, [summary(10, 5), summary(11, 16)]).goals[0].non_response.ces_ratio == 0.78


def test_counts_made_before_strata_were_counted_leave_no_corrected_figure(registry):
    # 500 completions, of which only 400 were counted in a stratum (the rest before the worker counted strata).
    partly = make_summary(
        GOAL,
        day(10),
        {"completed": COMPLETED_HALF},
        prompts=400,
        outcomes={"completed": 500},
        attempts={("completed", "web"): 400},
    )
    assert partly.non_response is not None and partly.non_response.complete is False
    report = january(registry, [partly])
    assert report.goals[0].non_response.ces_ratio is None
    assert shown(report)["corrected_missing"] == "some counts were made before strata were counted"
