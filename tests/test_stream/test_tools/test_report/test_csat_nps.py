"""``ces-stream report`` of CSAT and NPS goals, without a broker: labels, the period's NPS from summed counts, the
high-effort split, and what headless Chromium shows of it.

The NPS over the period is one division of the summed promoters, passives and detractors; two summaries of
NPS +100 (10 answers) and -50 (40 answers) make -20, never their average +25.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from schemas import FeedbackComment, GoalSummary
from stream.ces.goals.nps import nps_difference, nps_figures, nps_interval
from stream.ces.registry.loader import load_registry
from stream.tools.report.figures import build_report, period_of
from stream.tools.report.html import render_report
from stream.tools.report.nps_html import nps_points, nps_range
from tests.browser import dump_dom, fields_by_goal
from tests.harness import write_registry
from tests.report_records import CONFIDENCE, day, make_comment, make_summary

NOW = datetime(2025, 3, 1, tzinfo=UTC)
GOALS = [
    {"slug": "buy", "scale": {"kind": "five_point"}, "nps_moment": True, "display_name": {"en": "Buy", "nl": "Koop"}},
    {"slug": "chat", "scale": {"kind": "five_point"}, "survey": "csat", "target_ces_ratio": 0.7},
]
NPS = {"question": {"en": "Recommend?", "nl": "Aanbevelen?"}, "follow_up_question": {"en": "Why?", "nl": "Waarom?"}}
SCORES = {"completed": {5: 20, 4: 10, 2: 10}}  # 30 of 40 positive


@pytest.fixture
def registry(tmp_path):
    return load_registry(write_registry(tmp_path / "goals.yaml", GOALS, nps=NPS))


def group(promoters: int, passives: int, detractors: int) -> dict:
    fig = nps_figures(promoters, passives, detractors, CONFIDENCE)
    return {
        "answers": fig.answers,
        "promoters": promoters,
        "passives": passives,
        "detractors": detractors,
        "nps": fig.nps,
        "nps_lower": fig.lower,
        "nps_upper": fig.upper,
    }


def nps_part(bands: tuple[int, int, int], high=None, rest=None, prompts: int = 0, min_answers: int = 1) -> dict:
    """A valid ``nps`` part of a summary: answers on 10, 8 and 3; the effort groups when given, their gap
    when both hold ``min_answers``."""
    fig = nps_figures(*bands, CONFIDENCE)
    distribution = dict.fromkeys(map(str, range(11)), 0) | {"10": bands[0], "8": bands[1], "3": bands[2]}
    gap = None if high is None or rest is None else nps_difference(high, rest, CONFIDENCE, min_answers)
    return {
        **group(*bands),
        "promoter_share": fig.promoter_share,
        "passive_share": fig.passive_share,
        "detractor_share": fig.detractor_share,
        "distribution": distribution,
        "prompts": prompts,
        "response_ratio": fig.answers / prompts if prompts else None,
        "shown": 0,
        "dismissed": 0,
        "by_channel": {},
        "high_effort": None if high is None else group(*high),
        "rest": None if rest is None else group(*rest),
        "high_effort_gap": None if gap is None else dict(zip(("difference", "lower", "upper"), gap, strict=True)),
    }


def summary(goal: str, d: int, nps: dict | None = None, survey: str = "ces", version: int = 5) -> GoalSummary:
    plain = make_summary(goal, day(d), SCORES, prompts=80, outcomes={"completed": 40}, schema_version=version)
    if version < 5:
        return plain
    return GoalSummary.model_validate({**plain.model_dump(), "survey": survey, "nps": nps})


def report_html(registry, summaries, comments=()):
    period = period_of("month", date(2025, 1, 1), None, date(2025, 3, 1))
    report = build_report(registry, summaries, comments, period, "24h", confidence=CONFIDENCE, now=NOW)
    return report, render_report(report)


def sections(html: str) -> dict[str, dict[str, str]]:
    """Each goal's section (the later data-goal element) -> its fields."""
    return dict(fields_by_goal(html))


def test_nps_points_and_ranges():
    assert [nps_points(v) for v in (0.3, -0.12, 0.0, -0.004, None)] == ["+30", "\u221212", "0", "0", "–"]
    assert nps_range(-0.64, -0.13) == "\u221264 to \u221213"


def test_the_period_nps_is_recomputed_from_summed_counts_never_averaged(registry):
    summaries = [summary("buy", 10, nps_part((10, 0, 0), prompts=20)), summary("buy", 11, nps_part((10, 0, 30)))]
    report, html = report_html(registry, summaries)
    nps = report.goals[0].nps
    assert nps is not None and nps.figures.nps == pytest.approx(-0.2)  # (20 - 30) / 50, not (1 - 0.5) / 2
    assert (nps.figures.lower, nps.figures.upper) == nps_interval(20, 0, 30, CONFIDENCE)
    buy = sections(html)["buy"]
    assert (buy["nps"], buy["nps_answers"], buy["nps_coverage"]) == ("\u221220", "50", "2 of 2")
    assert buy["nps_interval"] == nps_range(*nps_interval(20, 0, 30, CONFIDENCE))
    assert (buy["nps_promoters"], buy["nps_passives"], buy["nps_detractors"]) == ("40 %", "0 %", "60 %")
    assert buy["nps_response_ratio"] == "250 %"  # 50 answers of the 20 prompts the period counted
    assert buy["nps_split"] == "not enough answers yet"


def test_the_high_effort_split_sums_the_groups_and_shows_once_both_reach_the_minimum(registry):
    # Per day 30 answers: 10 after a high-effort CES answer (3, 2, 5), 20 others (12, 7, 1).
    days = [summary("buy", d, nps_part((15, 9, 6), high=(3, 2, 5), rest=(12, 7, 1))) for d in (10, 11, 12)]
    report, html = report_html(registry, days)
    nps = report.goals[0].nps
    assert nps is not None and nps.gap == nps_difference((9, 6, 15), (36, 21, 3), CONFIDENCE, 30)
    buy = sections(html)["buy"]
    assert (buy["nps"], buy["nps_high_effort"], buy["nps_rest"]) == ("+30", "\u221220", "+55")
    assert buy["nps_split"] == "\u221275 pts"
    assert buy["nps_split_meaning"].startswith("users who recently found a goal hard recommend us less")
    # Two days hold 20 high-effort answers: under the minimum of 30, no figure.
    _, fewer = report_html(registry, days[:2])
    assert sections(fewer)["buy"]["nps_split"] == "not enough answers yet"
    assert "each group needs 30 answers; the period's summaries hold 20" in fewer


def test_a_csat_goal_is_labelled_csat_and_older_summaries_still_report(registry):
    summaries = [summary("chat", 10, survey="csat"), summary("buy", 10, version=4), summary("buy", 11, version=3)]
    report, html = report_html(registry, summaries)
    chat = sections(html)["chat"]
    assert (chat["kind"], chat["survey"], chat["ces"]) == ("CSAT", "CSAT", "75 %")
    assert "CSAT per 24h window" in html and "green: satisfied, red: dissatisfied" in html
    buy = sections(html)["buy"]
    assert buy["kind"] == "CES" and "survey" not in buy and "nps" not in buy  # no NPS before version 5
    assert report.goals[0].nps is None and report.goals[0].summaries  # read, without NPS


def test_nps_comments_are_read_on_the_nps_scale(registry):
    at = day(10) + timedelta(hours=3)
    nps_low, nps_high = (
        FeedbackComment.model_validate({**make_comment("buy", score, text, at).model_dump(), "survey": "nps"})
        for score, text in ((3, "Too expensive"), (9, "Great"))
    )
    own_low = make_comment("buy", 1, "Slow checkout", at)
    report, html = report_html(registry, [summary("buy", 10, nps_part((1, 0, 1)))], [nps_low, nps_high, own_low])
    goal = report.goals[0]
    assert [c.comment for c in goal.low_comments] == ["Slow checkout"]  # an NPS 3 is not a low CES score
    assert [c.comment for c in goal.nps_comments] == ["Too expensive"]
    assert "Recent detractor comments (NPS 0–6)" in html


@pytest.mark.external("chromium")
def test_chromium_shows_the_csat_label_and_the_nps_section(registry, tmp_path):
    days = [summary("buy", d, nps_part((15, 9, 6), high=(3, 2, 5), rest=(12, 7, 1), prompts=40)) for d in (10, 11, 12)]
    _, html = report_html(registry, [*days, summary("chat", 10, survey="csat")])
    out = tmp_path / "report.html"
    out.write_text(html, encoding="utf-8")
    dom = dump_dom(out.as_uri(), tmp_path)
    shown = sections(dom)
    assert (shown["buy"]["nps"], shown["buy"]["nps_response_ratio"], shown["buy"]["nps_split"]) == (
        "+30",
        "75 %",
        "\u221275 pts",
    )
    assert shown["chat"]["kind"] == "CSAT"
    assert "Net Promoter Score (asked after a completion" in dom


def test_small_days_add_up_to_a_period_split_once_both_sums_reach_the_minimum(registry):
    from stream.tools.report.nps import period_nps

    # Ten days, each with 3 high-effort and 5 other NPS answers: no day reaches the minimum of 30 per
    # group (no gap in any summary), the period's sums (30 and 50) do.
    days = [
        summary("buy", d, nps_part((4, 2, 2), high=(0, 1, 2), rest=(4, 1, 0), min_answers=30)) for d in range(1, 11)
    ]
    assert all(day.nps is not None and day.nps.high_effort_gap is None for day in days)
    period = period_nps(days, 0.95, 30)
    assert period is not None and (period.high_effort.answers, period.rest.answers) == (30, 50)
    assert period.gap is not None and period.gap[0] == (0 - 20) / 30 - (40 - 0) / 50
    assert period_nps(days[:9], 0.95, 30).gap is None  # 27 high-effort answers: not yet
