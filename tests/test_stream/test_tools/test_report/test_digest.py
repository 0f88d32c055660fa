"""A team's weekly digest (``ces-stream report --team X --period week``): figures, comments, e-mail HTML."""

from __future__ import annotations

import argparse
import re
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import pytest

from stream.ces.registry.loader import load_registry
from stream.ces.releases.parts import verdict_text
from stream.infra.local_services import free_port
from stream.tools.report.command import add_arguments, run
from stream.tools.report.digest import LOWEST_COMMENTS, build_digest, previous_period, team_goals, week_period
from stream.tools.report.digest_html import render_digest
from stream.tools.report.figures import build_report
from tests.browser import dump_dom, fields_by_goal
from tests.harness import settings_from_env, write_registry
from tests.report_records import JANUARY_GOALS, day, make_comment, make_release, make_summary
from tests.test_stream.test_ces.test_comments.theme_month import feedback_comments, planted_month

TEAMS = {"download-invoice": "billing", "view-policy": "billing", "file-claim": "claims"}
GOALS = [{**goal, "team": TEAMS[goal["slug"]]} for goal in JANUARY_GOALS]
WEEK = week_period(date(2025, 1, 15), date(2025, 3, 1))  # Monday 13 to Sunday 19 January 2025
NOW = datetime(2025, 3, 1, tzinfo=UTC)


@pytest.fixture
def registry(tmp_path):
    return load_registry(write_registry(tmp_path / "goals.yaml", GOALS))


def daily(
    goal: str,
    first: datetime,
    scores: dict[int, int],
    prompts: int,
    kind: str = "five_point",
    releases: Callable[[datetime], list[dict]] | None = None,
) -> list:
    """Seven daily summaries from ``first``, each with ``scores`` answers at completion (and ``releases`` of
    its day's start)."""
    return [
        make_summary(
            goal,
            first + timedelta(days=d),
            {"completed": scores},
            kind=kind,
            prompts=prompts,
            releases=None if releases is None else releases(first + timedelta(days=d)),
        )
        for d in range(7)
    ]


def web_releases(start: datetime) -> list[dict]:
    """A day's answers per release on web: 2.4.0, first seen on Monday 13 January at 10:00, far harder than
    2.3.0 (30 % of 70 answers over the week against 90 %); android 9.1 against 9.0, too few to tell."""
    new_first_seen = start + timedelta(hours=10) if start == day(13) else start
    return [
        make_release("android", "9.1", start + timedelta(hours=1), {5: 1, 1: 1}),
        make_release("android", "9.0", start, {5: 1}),
        make_release("web", "2.4.0", new_first_seen, {5: 3, 1: 7}),
        make_release("web", "2.3.0", start, {5: 9, 1: 1}),
    ]


def digest_of(registry, summaries, comments, team="billing"):
    goals = team_goals(registry, team)

    def report(period):
        return build_report(registry, summaries, comments, period, "24h", confidence=0.99, now=NOW, goals=goals)

    return build_digest(team, report(WEEK), report(previous_period(WEEK)), comments, 0.99)


def test_the_week_is_an_iso_week_and_by_default_the_last_complete_one():
    assert (WEEK.start, WEEK.end, WEEK.label) == (day(13), day(20), "week 3 of 2025")
    assert week_period(None, date(2025, 1, 22)).start == day(13)  # a Wednesday: the week before
    assert week_period(None, date(2025, 1, 20)).start == day(13)  # a Monday: the week that just ended
    assert week_period(date(2025, 1, 19), date(2025, 3, 1)).start == day(13)  # Sunday is in its own week
    before = previous_period(WEEK)
    assert (before.start, before.end) == (day(6), day(13))


def test_team_goals_are_the_registry_s_and_an_unknown_team_is_refused(registry):
    assert team_goals(registry, "billing") == ["download-invoice", "view-policy"]
    with pytest.raises(ValueError, match=r"--team growth: no goal of the registry has it \(teams: billing, claims\)"):
        team_goals(registry, "growth")


def test_a_significant_drop_gets_its_arrow_and_a_small_change_does_not(registry):
    summaries = [
        *daily("download-invoice", day(6), {5: 27, 1: 3}, prompts=100),  # 90 % of 210 the week before
        *daily("download-invoice", day(13), {5: 15, 1: 15}, prompts=100),  # 50 % of 210 this week
        *daily("view-policy", day(6), {1: 4, 5: 1}, prompts=10, kind="five_point_inverted"),
        *daily("view-policy", day(13), {1: 3, 5: 2}, prompts=10, kind="five_point_inverted"),
    ]
    digest = digest_of(registry, summaries, [])
    invoice, policy = digest.goals
    assert [line.goal.slug for line in digest.goals] == ["download-invoice", "view-policy"]
    assert (invoice.change.arrow, invoice.previous_ratio, invoice.goal.total.ces_ratio) == ("↓", 0.9, 0.5)
    assert invoice.change.bounds is not None
    lower, upper = invoice.change.bounds
    assert lower < -0.4 < upper < 0  # covers the true difference, and excludes no change
    assert invoice.response_ratio == 210 / 700
    assert policy.change.arrow == "→"  # 80 % of 35 against 60 % of 35: within the noise


def test_comment_rate_and_the_lowest_scores_worst_first_on_each_scale(registry):
    summaries = [*daily("download-invoice", day(13), {5: 2, 2: 1, 1: 1}, prompts=8)]
    at = day(15)
    comments = [
        make_comment("download-invoice", 2, "Slow", at + timedelta(hours=1)),
        make_comment("download-invoice", 1, "Broken", at),
        make_comment("download-invoice", 1, "Broken again", at + timedelta(hours=2)),
        make_comment("download-invoice", 5, "Fine", at),
        make_comment("download-invoice", 1, "Last week", day(8)),
        *(make_comment("download-invoice", 2, f"Also slow {n}", at) for n in range(5)),
        make_comment("view-policy", 5, "Much effort", at),  # inverted: 5 is the worst
        make_comment("view-policy", 1, "Easy", at),
    ]
    invoice, policy = digest_of(registry, summaries, comments).goals
    assert invoice.comments == 9 and invoice.comment_ratio == 9 / 28
    assert [c.comment for c in invoice.lowest] == ["Broken again", "Broken", "Slow", "Also slow 0", "Also slow 1"]
    assert len(invoice.lowest) == LOWEST_COMMENTS
    assert [c.comment for c in policy.lowest] == ["Much effort"]


def test_the_digest_html_has_inline_styles_only_and_reads_back_its_figures(registry):
    summaries = [
        *daily("download-invoice", day(6), {5: 27, 1: 3}, prompts=100),
        *daily("download-invoice", day(13), {5: 15, 1: 15}, prompts=100, releases=web_releases),
    ]
    comments = [make_comment("download-invoice", 1, "<b>Geen PDF</b> & niets", day(14))]
    digest = digest_of(registry, summaries, comments)
    html = render_digest(digest, NOW)
    assert not re.search(r"<(style|script|svg|link|img)\b", html), "an e-mail client would drop or block it"
    assert "&lt;b&gt;Geen PDF&lt;/b&gt; &amp; niets" in html
    shown = dict(fields_by_goal(html))
    assert shown["download-invoice"]["ces_ratio"] == "50 %"
    lower, upper = digest.goals[0].change.bounds or (0, 0)
    expected = f"↓ −40 pts [−{round(-100 * lower)}, −{round(-100 * upper)}]"
    assert shown["download-invoice"]["change"] == expected
    assert shown["download-invoice"]["answers"] == "210"
    assert shown["view-policy"]["change"] == "no comparison: a week without answers"
    # The week's decided release verdict (web), not the pending one (android); none for a goal without releases.
    releases = digest.goals[0].goal.releases
    assert releases is not None and set(releases.verdicts) == {"android", "web"}
    web = releases.verdicts["web"]
    assert (web.direction, web.answers, web.previous_answers) == ("worse", 70, 70)
    assert {name: text for name, text in shown["download-invoice"].items() if name.startswith("release")} == {
        "release-web-direction": "worse",
        "release-web-verdict": verdict_text(web, ""),
    }
    assert verdict_text(web, "").startswith("2.4.0 · web: −0.60 [−") and "(worse than 2.3.0)" in html
    assert not [name for name in shown["view-policy"] if name.startswith("release")]
    assert "a confidence sequence at 5 % per release" in html
    assert "CES digest for team billing" in html and "week 3 of 2025: 13 Jan to 19 Jan 2025" in html


@pytest.mark.external("chromium")
def test_chromium_renders_the_digest(registry, tmp_path):
    summaries = daily("download-invoice", day(13), {5: 15, 1: 15}, prompts=100, releases=web_releases)
    comments = [make_comment("download-invoice", 1, "Niets te vinden", day(14))]
    out = tmp_path / "digest.html"
    out.write_text(render_digest(digest_of(registry, summaries, comments), NOW), encoding="utf-8")
    shown = dict(fields_by_goal(dump_dom(out.as_uri(), tmp_path)))
    assert (shown["download-invoice"]["ces_ratio"], shown["download-invoice"]["comment"]) == ("50 %", "Niets te vinden")
    assert shown["download-invoice"]["release-web-direction"] == "worse"
    assert shown["download-invoice"]["release-web-verdict"].endswith("after 70 answers (worse than 2.3.0)")
    assert "release-android-direction" not in shown["download-invoice"]  # pending: not in the digest


def test_run_refuses_an_unknown_team_and_a_week_with_an_end_before_reading_kafka(tmp_path, capsys):
    goals = write_registry(tmp_path / "goals.yaml", GOALS)
    settings = settings_from_env({"CES_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}", "CES_GOALS_FILE": str(goals)})
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    for options, message in (
        (["--team", "growth", "--period", "week"], "--team growth: no goal of the registry has it"),
        (["--period", "week", "--to", "2025-01-19"], "--period week takes the week that holds --from"),
    ):
        assert run(settings, parser.parse_args([*options, "--out", str(tmp_path / "r.html")])) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "r.html").exists()


@pytest.mark.external("chromium")
def test_the_digest_shows_the_week_s_largest_themes_and_the_rising_one_in_chromium(registry, tmp_path):
    week = planted_month(day(13), days=7)  # three planted themes, the sms one rising in the second half
    comments = feedback_comments(week, "file-claim")
    summaries = daily("file-claim", day(13), {5: 10, 2: 10}, prompts=40)
    digest = digest_of(registry, summaries, comments, team="claims")
    found = digest.goals[0].goal.themes
    assert found is not None and len(found.themes) >= 3
    out = tmp_path / "digest.html"
    out.write_text(render_digest(digest, NOW), encoding="utf-8")
    shown = dict(fields_by_goal(dump_dom(out.as_uri(), tmp_path)))["file-claim"]
    for number, theme in enumerate(found.themes[:3], start=1):
        assert shown[f"theme-{number}-label"] == theme.label
        assert shown[f"theme-{number}-count"] == str(theme.count)
        assert (f"theme-{number}-rising" in shown) == theme.rise.rising
    planted = {p.comment.text: p.theme for p in week}
    rising = [Counter(planted[m.text] for m in t.members).most_common(1)[0][0] for t in found.themes if t.rise.rising]
    assert rising == ["sms"], [theme.label for theme in found.themes]  # the planted sms theme, and only it
