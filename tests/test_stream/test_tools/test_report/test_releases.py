"""CES per app release in ``ces-stream report``, without a broker: the releases of the period's summaries summed
per channel and version, the most recent per channel, each channel's verdict, and the HTML of it.

The two weeks of January 2025 below draw every day's answers per release at random (a fixed seed) from
known CES shares: web 2.3.0 at 85 % until 2.4.0 (55 %) ships on the 8th, ios 5.0.0 (80 %) alone on its
channel. The verdict must find 2.4.0 worse, with an interval that covers the true difference, -0.30.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pytest

from stream.ces.registry.loader import load_registry
from stream.ces.releases import WORSE, ReleaseCounts, compare_releases
from stream.ces.releases.parts import verdict_text
from stream.tools.report.figures import build_report, period_of
from stream.tools.report.html import render_report
from stream.tools.report.releases import DEFAULT_RELEASE_VERSIONS, period_releases, summed_releases
from tests.browser import dump_dom, fields_by_goal
from tests.harness import write_registry
from tests.report_records import CONFIDENCE, JANUARY_GOALS, day, make_release, make_summary, release_row

NOW = datetime(2025, 3, 1, tzinfo=UTC)
GOAL = "download-invoice"
OLD_SHARE, NEW_SHARE = 0.85, 0.55
SHIPPED = 8  # 2.4.0 is first seen on 8 January at 14:00


@pytest.fixture
def registry(tmp_path):
    return load_registry(write_registry(tmp_path / "goals.yaml", JANUARY_GOALS))


def draw(rng: random.Random, answers: int, share: float) -> dict[int, int]:
    """``answers`` answers, each positive (4 or 5) with probability ``share``, else 1, 2 or 3."""
    scores: dict[int, int] = {}
    for _ in range(answers):
        score = rng.choice((4, 5)) if rng.random() < share else rng.choice((1, 2, 3))
        scores[score] = scores.get(score, 0) + 1
    return scores


def two_weeks(seed: int = 23) -> tuple[list, dict[tuple[str, str], list[dict[int, int]]]]:
    """(the daily summaries of 1 to 14 January, each release's answers per day as drawn)."""
    rng = random.Random(seed)
    drawn: dict[tuple[str, str], list[dict[int, int]]] = {}
    summaries = []
    for d in range(1, 15):
        start = day(d)
        parts = {("ios", "5.0.0"): (start, draw(rng, 30, 0.8))}
        shipped = d >= SHIPPED
        parts[("web", "2.3.0")] = (start, draw(rng, 20 if shipped else 80, OLD_SHARE))
        if shipped:
            first_seen = start + timedelta(hours=14) if d == SHIPPED else start
            parts[("web", "2.4.0")] = (first_seen, draw(rng, 80, NEW_SHARE))
        releases = []
        for (channel, version), (first_seen, scores) in parts.items():
            drawn.setdefault((channel, version), []).append(scores)
            releases.append(make_release(channel, version, first_seen, scores))
        total = {"completed": {5: 60, 4: 40, 2: 30, 1: 30}}  # the goal's answers: more than its releases'
        summaries.append(make_summary(GOAL, start, total, prompts=400, releases=releases))
    return summaries, drawn


def totals(days: list[dict[int, int]]) -> tuple[int, int, int]:
    """(answers, positive, score sum) of a release's drawn days."""
    answers = sum(sum(scores.values()) for scores in days)
    positive = sum(n for scores in days for score, n in scores.items() if score >= 4)
    score_sum = sum(score * n for scores in days for score, n in scores.items())
    return answers, positive, score_sum


def test_releases_are_summed_per_channel_and_version_with_the_earliest_first_seen():
    summaries, drawn = two_weeks()
    summed = {(r.channel, r.version): r for r in summed_releases(summaries)}
    assert set(summed) == set(drawn)
    for key, days in drawn.items():
        release = summed[key]
        assert (release.answers, release.positive, release.score_sum) == totals(days)  # exact, from the means
    assert summed[("web", "2.4.0")].first_seen_s == int((day(SHIPPED) + timedelta(hours=14)).timestamp())
    assert summed[("web", "2.3.0")].first_seen_s == int(day(1).timestamp())
    # The mean over the period is the mean of every answer: the days' means weighted by their answers.
    answers, _, score_sum = totals(drawn[("web", "2.3.0")])
    assert summed[("web", "2.3.0")].mean_score == pytest.approx(score_sum / answers)


def test_a_clear_drop_on_web_is_worse_and_ios_alone_has_no_verdict():
    summaries, drawn = two_weeks()
    figures = period_releases(summaries, error_rate=0.05)
    assert figures is not None
    assert list(figures.by_channel) == ["ios", "web"]
    assert [r.version for r in figures.by_channel["web"]] == ["2.4.0", "2.3.0"]  # newest first
    assert [r.version for r in figures.by_channel["ios"]] == ["5.0.0"]
    assert list(figures.verdicts) == ["web"]  # ios: one release, nothing to compare
    verdict = figures.verdicts["web"]
    assert (verdict.version, verdict.previous_version, verdict.direction) == ("2.4.0", "2.3.0", WORSE)
    new, old = totals(drawn[("web", "2.4.0")]), totals(drawn[("web", "2.3.0")])
    assert (verdict.answers, verdict.previous_answers) == (new[0], old[0])
    assert verdict.difference == pytest.approx(new[1] / new[0] - old[1] / old[0])
    assert verdict.difference < 0  # new minus previous: below zero, the new release is harder
    assert verdict.lower < NEW_SHARE - OLD_SHARE < verdict.upper < 0  # covers the true difference, excludes 0
    assert figures.decided == [verdict] and figures.counted == len(summaries)
    # A verdict waits for the answers each release needs (CES_RELEASE_MIN_ANSWERS): 2.4.0 has 560.
    for min_answers, direction in ((561, "pending"), (560, WORSE)):
        held = period_releases(summaries, min_answers=min_answers)
        assert held is not None and held.verdicts["web"].direction == direction


def test_a_verdict_holds_for_other_draws_too():
    # The interval is a confidence sequence at 5 %: over a few seeds it covers the true difference each time.
    for seed in range(5):
        figures = period_releases(two_weeks(seed)[0])
        assert figures is not None
        verdict = figures.verdicts["web"]
        assert verdict.lower < NEW_SHARE - OLD_SHARE < verdict.upper < 0, seed


def test_each_channel_keeps_its_most_recent_releases_and_compares_the_newest_two():
    versions = [f"7.{n}.0" for n in range(1, 8)]  # first seen on 1 to 7 January, one a day
    summaries = [
        make_summary(
            GOAL,
            day(d),
            {"completed": {5: 10}},
            releases=[make_release("android", versions[v], day(v + 1), {5: 2, 1: 1}) for v in range(d)],
        )
        for d in range(1, 8)
    ]
    figures = period_releases(summaries, per_channel=3)
    assert figures is not None
    assert [r.version for r in figures.by_channel["android"]] == ["7.7.0", "7.6.0", "7.5.0"]
    assert [r.answers for r in figures.by_channel["android"]] == [3, 6, 9]  # 7.5.0 counted on 5 to 7 January
    verdict = figures.verdicts["android"]
    assert (verdict.version, verdict.previous_version, verdict.direction) == ("7.7.0", "7.6.0", "pending")
    assert figures.decided == []
    by_default = period_releases(summaries)
    assert by_default is not None
    assert [r.version for r in by_default.by_channel["android"]] == versions[::-1][:DEFAULT_RELEASE_VERSIONS]


def test_summaries_without_releases_have_no_releases_block(registry):
    older = [make_summary(GOAL, day(d), {"completed": {5: 8, 1: 2}}, schema_version=5) for d in (1, 2)]
    assert period_releases(older) is None
    assert period_releases([make_summary(GOAL, day(1), {"completed": {5: 1}}, schema_version=6)]) is None
    period = period_of("month", date(2025, 1, 1), None, NOW.date())
    report = build_report(registry, older, [], period, "24h", confidence=CONFIDENCE, now=NOW)
    assert report.goals[0].releases is None
    html = render_report(report)
    assert "<h3>Releases</h3>" not in html and 'data-field="release' not in html
    # One summary of six among the older ones: its releases count, and the report says from how many.
    newer = make_summary(GOAL, day(3), {"completed": {5: 3}}, releases=[make_release("web", "1.0", day(3), {5: 3})])
    report = build_report(registry, [*older, newer], [], period, "24h", confidence=CONFIDENCE, now=NOW)
    figures = report.goals[0].releases
    assert figures is not None and figures.counted == 1
    assert dict(fields_by_goal(render_report(report)))[GOAL]["releases_coverage"] == "1 of 3"


def report_of(registry, summaries, **options):
    period = period_of("month", date(2025, 1, 1), None, NOW.date())
    return build_report(registry, summaries, [], period, "24h", confidence=CONFIDENCE, now=NOW, **options)


def expected_fields(summaries) -> dict[str, str]:
    figures = period_releases(summaries, error_rate=0.1)
    assert figures is not None
    web_new, web_old = figures.by_channel["web"]
    (ios,) = figures.by_channel["ios"]

    def row(channel: str, n: int, release: ReleaseCounts) -> dict[str, str]:
        first_seen = f"{datetime.fromtimestamp(release.first_seen_s, tz=UTC):%Y-%m-%d %H:%M}"
        share = f"{round(release.positive / release.answers * 100)} %"
        mean = f"{release.score_sum / release.answers:.2f}"
        return release_row(channel, n, release.version, first_seen, str(release.answers), share, mean)

    verdict = compare_releases(web_new, web_old, 0.1)
    assert verdict is not None
    return {
        "releases_coverage": "14 of 14",
        **row("ios", 1, ios),
        **row("web", 1, web_new),
        **row("web", 2, web_old),
        "release-web-direction": "worse",
        "release-web-verdict": verdict_text(verdict, ""),
    }


def test_the_report_shows_the_releases_of_each_channel_and_the_verdict(registry):
    summaries, _ = two_weeks()
    report = report_of(registry, summaries, release_versions=4, release_error_rate=0.1)
    html = render_report(report)
    shown = dict(fields_by_goal(html))[GOAL]
    assert {name: text for name, text in shown.items() if name.startswith("release")} == expected_fields(summaries)
    assert shown["release-web-1-first_seen"] == "2025-01-08 14:00"
    assert shown["release-web-verdict"].startswith("2.4.0 · web: −0.")
    assert "a confidence sequence at 10 % per release" in html and "the 4 most recent releases" in html
    assert "both releases have at least 30 answers in the period" in html  # CES_RELEASE_MIN_ANSWERS by default
    assert '<span data-field="release-web-direction" class="status worse">worse</span>' in html
    assert "No verdict: ios has one release in the period." in html


@pytest.mark.external("chromium")
def test_chromium_shows_the_releases_block(registry, tmp_path):
    summaries, _ = two_weeks()
    out = tmp_path / "report.html"
    out.write_text(render_report(report_of(registry, summaries, release_error_rate=0.1)), encoding="utf-8")
    dom = dump_dom(out.as_uri(), tmp_path)
    shown = dict(fields_by_goal(dom))[GOAL]
    assert {name: text for name, text in shown.items() if name.startswith("release")} == expected_fields(summaries)
    assert 'id="releases-download-invoice"' in dom
