"""GoalSummary and FeedbackComment records for tests of ``ces-stream report``, built from answer counts.

``make_summary`` takes the answers per outcome as ``{score: answers}`` and fills in every
count the contract checks (sentiments by the goal's scale, the exits, the channel split),
so a test states only the numbers it reasons about. ``make_release`` gives one release's
figures (a version on a channel) from its answers per score, for ``make_summary(releases=...)``.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import UTC, datetime, timedelta

from schemas import FeedbackComment, GoalSummary
from stream.ces.goals.effort import DURATION_RELATIVE_ACCURACY, duration_key, effort_figures
from stream.ces.goals.nonresponse import Cell, corrected_ces
from stream.ces.goals.segments import CHANNELS, STRATA, STRATUM_PARTS
from stream.ces.goals.stats import z_score
from stream.ces.registry.scales import default_scale

OUTCOMES = ("completed", "abandoned", "abandoned_inferred")
CONFIDENCE = 0.99


def _segment(scores: dict[int, int], kind: str) -> dict:
    scale = default_scale(kind)
    by_sentiment = {"positive": 0, "neutral": 0, "negative": 0}
    for score, count in scores.items():
        by_sentiment[str(scale.classify(score))] += count
    answers = sum(scores.values())
    return {
        "answers": answers,
        **by_sentiment,
        "distribution": {str(point): scores.get(point, 0) for point in scale.points},
        "mean_score": sum(s * n for s, n in scores.items()) / answers if answers else None,
        "ces_ratio": by_sentiment["positive"] / answers if answers else None,
        "wilson_lower": None,
        "wilson_upper": None,  # the report computes its own from the summed counts
    }


def _sum(*parts: dict[int, int]) -> dict[int, int]:
    total: dict[int, int] = {}
    for part in parts:
        for score, count in part.items():
            total[score] = total.get(score, 0) + count
    return total


def make_summary(
    goal: str,
    start: datetime,
    by_outcome: dict[str, dict[int, int]],
    *,
    kind: str = "five_point",
    window: str = "24h",
    window_seconds: int = 86_400,
    prompts: int = 0,
    outcomes: dict[str, int] | None = None,
    emitted_at: datetime | None = None,
    durations: dict[float, int] | None = None,
    retried: int = 0,
    by_band: dict[str, dict[int, int]] | None = None,
    attempts: dict[tuple[str, str], int] | None = None,
    asked: Collection[str] = OUTCOMES,
    min_answers_per_stratum: int = 10,
    schema_version: int | None = None,
    shown: int = 0,
    dismissed: int = 0,
    releases: list[dict] | None = None,
) -> GoalSummary:
    """A valid summary of one closed window (version 5 unless told, or 6 with ``releases``; a CES goal
    without NPS); every answer counts on channel web.

    ``durations`` (seconds -> timed completions) and ``retried`` fill its measured effort; none is timed
    without. ``by_band`` gives the answers per duration band as ``{band: {score: answers}}``.
    ``attempts`` gives the goal outcomes per (outcome, channel) (default: ``outcomes``, all on web; without
    ``outcomes`` they are its sums); its CES corrected for non-response is ``corrected_ces`` over them and
    the answers, asking at ``asked``. ``shown`` and ``dismissed`` fill the funnel (the prompts the app
    reported). ``schema_version`` 3 leaves the correction and the funnel out, 2 measured effort too.
    ``releases`` are its figures per release (:func:`make_release`), as they are, checked only by the contract.
    """
    if schema_version is None:
        schema_version = 6 if releases else 5
    if attempts is not None and outcomes is None:
        outcomes = {outcome: sum(n for (o, _), n in attempts.items() if o == outcome) for outcome in OUTCOMES}
    scores = {outcome: by_outcome.get(outcome, {}) for outcome in OUTCOMES}
    total = _segment(_sum(*scores.values()), kind)
    completed = _segment(scores["completed"], kind)
    end = start + timedelta(seconds=window_seconds)
    overstatement = (
        None
        if completed["ces_ratio"] is None or total["ces_ratio"] is None
        else completed["ces_ratio"] - total["ces_ratio"]
    )
    answers = total["answers"]
    all_outcomes = outcomes or dict.fromkeys(OUTCOMES, 0)
    by_stratum = attempts if attempts is not None else {(o, "web"): n for o, n in all_outcomes.items()}
    non_response = _non_response(
        scores, by_stratum, all_outcomes, shown or prompts, asked, min_answers_per_stratum, kind
    )
    return GoalSummary(
        schema_version=schema_version,
        goal=goal,
        window=window,
        window_seconds=window_seconds,
        window_start=start,
        window_end=end,
        **{k: v for k, v in total.items() if k not in ("wilson_lower", "wilson_upper")},
        wilson_lower=None,
        wilson_upper=None,
        net_effort=(total["positive"] - total["negative"]) / answers if answers else None,
        most_negative_ratio=None,
        confidence=CONFIDENCE,
        prompts=prompts,
        response_ratio=answers / prompts if prompts else None,
        outcomes=all_outcomes,
        completion_ratio=all_outcomes.get("completed", 0) / sum(all_outcomes.values())
        if sum(all_outcomes.values())
        else None,
        by_outcome={name: _segment(part, kind) for name, part in scores.items()},
        by_channel={"web": total, **{name: _segment({}, kind) for name in ("ios", "android", "other")}},
        at_exits=_segment(_sum(scores["abandoned"], scores["abandoned_inferred"]), kind),
        exit_gap=None,
        completion_vs_all={
            "completion_only_ces_ratio": completed["ces_ratio"],
            "all_outcomes_ces_ratio": total["ces_ratio"],
            "overstatement": overstatement,
        },
        target_ces_ratio=None,
        emitted_at=emitted_at or end + timedelta(seconds=30),
        measured_effort=_measured_effort(durations or {}, retried) if schema_version >= 3 else None,
        by_duration_band={name: _segment(scores, kind) for name, scores in (by_band or {}).items()}
        if schema_version >= 3
        else {},
        non_response=non_response if schema_version >= 4 else None,
        funnel={
            "sent": prompts,
            "shown": shown,
            "dismissed": dismissed,
            "answered": answers,
            "shown_ratio": shown / prompts if prompts else None,
            "dismissal_ratio": dismissed / shown if shown else None,
            "response_ratio_shown": answers / shown if shown else None,
        }
        if schema_version >= 4
        else None,
        releases=releases or [],
    )


def make_release(
    channel: str, version: str, first_seen: datetime, scores: dict[int, int], kind: str = "five_point"
) -> dict:
    """One release's figures in a summary (``GoalSummary.releases``), from its answers as ``{score: answers}``."""
    segment = _segment(scores, kind)
    return {
        "channel": channel,
        "version": version,
        "first_seen": first_seen,
        "answers": segment["answers"],
        "positive": segment["positive"],
        "ces_ratio": segment["ces_ratio"],
        "mean_score": segment["mean_score"],
    }


def _non_response(
    scores: dict[str, dict[int, int]],
    attempts: dict[tuple[str, str], int],
    outcomes: dict[str, int],
    prompts: int,
    asked: Collection[str],
    min_answers: int,
    kind: str,
) -> dict:
    """The summary's ``non_response`` as the worker writes it: ``corrected_ces`` over the window's cells."""
    unknown = set(attempts) - set(STRATA)
    assert not unknown, f"not an (outcome, channel): {unknown} (channels: {CHANNELS})"
    cells: dict[str, Cell] = {}
    for (outcome, channel), name in STRATA.items():
        answered = _segment(scores[outcome], kind) if channel == "web" else _segment({}, kind)
        cell = (attempts.get((outcome, channel), 0), answered["answers"], answered["positive"])
        if any(cell):
            cells[name] = cell
    correction = corrected_ces(
        cells,
        outcomes=outcomes,
        answers=sum(answers for _, answers, _ in cells.values()),
        positive=sum(positive for _, _, positive in cells.values()),
        prompts=prompts,
        asked=asked,
        min_answers=min_answers,
        z=z_score(CONFIDENCE),
    )
    return {
        "ces_ratio": correction.ces_ratio,
        "lower": correction.lower,
        "upper": correction.upper,
        "min_answers_per_stratum": correction.min_answers,
        "asked_outcomes": list(correction.asked),
        "strata": [
            {
                "outcome": s.outcome,
                "channel": s.channel,
                "attempts": s.attempts,
                "answers": s.answers,
                "positive": s.positive,
                "weight": s.weight,
                "ces_ratio": s.ces_ratio,
            }
            for s in correction.strata
        ],
        "cells": [
            dict(zip(("outcome", "channel"), STRATUM_PARTS[name], strict=True))
            | dict(zip(("attempts", "answers", "positive"), cell, strict=True))
            for name, cell in correction.cells.items()
        ],
        "thin_strata": list(correction.thin),
        "unasked_attempts": correction.unasked_attempts,
        "complete": correction.complete,
        "if_silent_dissatisfied": correction.if_silent_dissatisfied,
        "if_silent_satisfied": correction.if_silent_satisfied,
    }


def _measured_effort(durations: dict[float, int], retried: int) -> dict:
    if not durations:
        return NO_TIMED_COMPLETIONS
    histogram: dict[int, int] = {}
    for seconds, count in durations.items():
        histogram[duration_key(seconds)] = histogram.get(duration_key(seconds), 0) + count
    figures = effort_figures(histogram, retried)
    return {
        "timed_completions": figures.timed_completions,
        "retried": retried,
        "retry_ratio": figures.retry_ratio,
        "duration_p50_seconds": figures.duration_quantiles[0.5],
        "duration_p90_seconds": figures.duration_quantiles[0.9],
        "duration_p99_seconds": figures.duration_quantiles[0.99],
        "relative_accuracy": DURATION_RELATIVE_ACCURACY,
        "duration_histogram": {str(key): count for key, count in sorted(histogram.items())},
    }


NO_TIMED_COMPLETIONS = {
    "timed_completions": 0,
    "retried": 0,
    "retry_ratio": None,
    "duration_p50_seconds": None,
    "duration_p90_seconds": None,
    "duration_p99_seconds": None,
    "relative_accuracy": 0.02,
    "duration_histogram": {},
}


def make_comment(
    goal: str,
    score: int,
    comment: str,
    answered_at: datetime,
    *,
    answer_id: uuid.UUID | None = None,
    outcome: str = "completed",
) -> FeedbackComment:
    """A valid FeedbackComment, as the user stage forwards it."""
    return FeedbackComment(
        answer_id=answer_id or uuid.uuid4(),
        prompt_id=uuid.uuid4(),
        goal=goal,
        outcome=outcome,
        score=score,
        user_ref="3f2a9c41d07b6e58a1c4f09e2b7d3a61",
        comment=comment,
        answered_at=answered_at,
        channel="web",
        locale="en",
    )


def day(d: int, month: int = 1, year: int = 2025) -> datetime:
    """Midnight UTC of a day (in January 2025 by default)."""
    return datetime(year, month, d, tzinfo=UTC)


# The January 2025 scenario, three goals (the registry's order):
# download-invoice (five_point, target 0.9): two daily summaries, a stale earlier revision of the
#   second, and summaries the report must leave out (another window, outside the month); its answers
#   per release: web-2025.01.3 on both days, the new WEB_RELEASE (markup in its name) from the 11th,
#   much harder, and ios-5.2.0 alone on its channel;
# view-policy (five_point_inverted, target 0.75): one daily summary; 5 is its negative end;
# file-claim (five_point): nothing at all.
JANUARY_GOALS = [
    {
        "slug": "download-invoice",
        "display_name": {"en": "Download invoice", "nl": "Factuur downloaden"},
        "scale": {"kind": "five_point"},
        "target_ces_ratio": 0.9,
    },
    {
        "slug": "view-policy",
        "display_name": {"en": "View policy", "nl": "Polis inzien"},
        "scale": {"kind": "five_point_inverted"},
        "target_ces_ratio": 0.75,
    },
    {
        "slug": "file-claim",
        "display_name": {"en": "File claim", "nl": "Claim indienen"},
        "scale": {"kind": "five_point"},
        "target_ces_ratio": 0.7,
    },
]
SCRIPT_COMMENT = "<script>alert(1)</script> The PDF button is hidden & tiny"
WEB_RELEASE = "web-2025.01.4 <beta> & more"


def january_records() -> tuple[list[GoalSummary], list[FeedbackComment]]:
    """(summaries, comments) as they could lie on the topics, duplicates and strays included."""
    invoice, policy = "download-invoice", "view-policy"
    jan_10 = make_summary(
        invoice,
        day(10),
        {"completed": {5: 20, 4: 10, 3: 2, 2: 2, 1: 1}, "abandoned": {5: 1, 4: 1, 2: 3, 1: 5}},
        prompts=200,
        outcomes={"completed": 300, "abandoned": 100, "abandoned_inferred": 0},
        releases=[
            make_release("ios", "ios-5.2.0", day(10) + timedelta(hours=6), {5: 5, 1: 2}),
            make_release("web", "web-2025.01.3", day(10), {5: 20, 4: 8, 2: 2}),
        ],
    )
    jan_11 = make_summary(
        invoice,
        day(11),
        {"completed": {5: 15, 4: 5, 3: 3, 2: 1, 1: 1}, "abandoned_inferred": {4: 3, 2: 3, 1: 4}},
        prompts=120,
        outcomes={"completed": 300, "abandoned": 50, "abandoned_inferred": 50},
        emitted_at=day(12) + timedelta(minutes=5),
        releases=[
            make_release("ios", "ios-5.2.0", day(11), {4: 3}),
            make_release("web", WEB_RELEASE, day(11) + timedelta(hours=8), {5: 3, 2: 12, 1: 15}),
            make_release("web", "web-2025.01.3", day(11), {5: 4, 4: 2}),
        ],
    )
    stale_jan_11 = make_summary(invoice, day(11), {"completed": {1: 7}}, prompts=7, emitted_at=day(12))
    summaries = [
        jan_10,
        jan_11,
        stale_jan_11,  # the stale revision is read last: emitted_at decides, not the order
        make_summary(invoice, day(12), {"completed": {1: 50}}, window="1h", window_seconds=3600),  # another window
        make_summary(invoice, day(31, 12, 2024), {"completed": {1: 50}}),  # December
        make_summary(invoice, day(1, 2), {"completed": {1: 50}}),  # February
        make_summary(
            policy,
            day(20),
            {"completed": {1: 8, 2: 2, 3: 1, 4: 1, 5: 3}},
            kind="five_point_inverted",
            prompts=30,
            outcomes={"completed": 40, "abandoned": 0, "abandoned_inferred": 0},
        ),
    ]
    twice = uuid.uuid4()
    comments = [
        make_comment(invoice, 1, SCRIPT_COMMENT, day(10) + timedelta(hours=9)),
        make_comment(invoice, 2, "I had to log in twice", day(11) + timedelta(hours=8), answer_id=twice),
        make_comment(invoice, 2, "I had to log in twice", day(11) + timedelta(hours=8), answer_id=twice),  # resent
        make_comment(invoice, 3, "It was fine-ish", day(11) + timedelta(hours=9)),  # neutral: not low
        make_comment(invoice, 5, "Great", day(11) + timedelta(hours=10)),
        make_comment(invoice, 1, "Outside the month", day(2, 2)),
        make_comment(policy, 5, "Far too many steps", day(20) + timedelta(hours=7), outcome="abandoned"),
        make_comment(policy, 1, "Very little effort", day(20) + timedelta(hours=8)),  # positive on this scale
    ]
    return summaries, comments


def release_row(channel: str, n: int, *cells: str) -> dict[str, str]:
    """The fields of a goal's ``n``-th most recent release on ``channel`` in the report: version, first seen,
    answers, share and mean score."""
    names = ("version", "first_seen", "answers", "ces", "mean")
    return {f"release-{channel}-{n}-{name}": cell for name, cell in zip(names, cells, strict=True)}


def assert_january_report(html: str) -> None:
    """The report of January 2025 (window 24h) over :func:`january_records` shows every goal and figure."""
    import re

    from tests.browser import fields_by_goal

    found = fields_by_goal(html)
    rows = dict(found[:3])  # the summary table, then one section per goal
    sections = dict(found[3:])
    assert list(rows) == list(sections) == ["download-invoice", "view-policy", "file-claim"]

    # download-invoice: 80 answers (60 at completion, 20 at exits), 55 positive.
    assert rows["download-invoice"] == {
        "name": "Download invoice",
        "ces": "69 %",
        "target": "90 %",
        "answers": "80",
        "trend": "→",
        "status": "below target",
    }
    invoice = sections["download-invoice"]
    assert (invoice["ces"], invoice["answers"], invoice["interval"]) == ("69 %", "80", "54–80 %")
    assert (invoice["completion_ces"], invoice["completion_answers"]) == ("83 %", "60")
    assert (invoice["exits_ces"], invoice["exits_answers"]) == ("25 %", "20")
    assert invoice["overstatement"] == "+15 pts"  # 50/60 - 55/80
    assert (invoice["response_ratio"], invoice["prompts"], invoice["completion_ratio"]) == ("25 %", "320", "75 %")
    # Its apps send no prompt events: the funnel is sent -> answered, and the response ratio over sent.
    assert (invoice["funnel_sent"], invoice["funnel_answered"]) == ("320", "80")
    assert invoice["funnel_missing"] == "no app reported a prompt shown"
    assert "funnel_shown" not in invoice and "response_ratio_shown" not in invoice
    assert [invoice[f"score-{p}"] for p in range(1, 6)] == ["11", "9", "5", "19", "36"]
    assert invoice["coverage"] == "2 of 31"
    # Corrected for non-response: 600 completions (50 of 60 positive), 150 abandonments (2 of 10), 50 inferred
    # (3 of 10): 0.75 x 50/60 + 0.1875 x 0.2 + 0.0625 x 0.3 = 0.681; bounds 55 / 320 and (55 + 240 silent) / 320.
    assert (invoice["corrected_ces"], invoice["corrected_interval"]) == ("68 %", "56–81 %")
    assert (invoice["if_silent_dissatisfied"], invoice["if_silent_satisfied"]) == ("17 %", "92 %")
    assert invoice["comment-1"] == "I had to log in twice"  # most recent first, once
    assert invoice["comment-2"] == SCRIPT_COMMENT
    assert "comment-3" not in invoice  # neutral, positive and February comments are not low in January
    # Its releases, summed over the two days: per channel newest first, the new web release far harder.
    releases = {name: text for name, text in invoice.items() if name.startswith("release")}
    assert releases == {
        "releases_coverage": "2 of 2",
        **release_row("ios", 1, "ios-5.2.0", "2025-01-10 06:00", "10", "80 %", "3.90"),
        **release_row("web", 1, WEB_RELEASE, "2025-01-11 08:00", "30", "10 %", "1.80"),
        **release_row("web", 2, "web-2025.01.3", "2025-01-10 00:00", "36", "94 %", "4.56"),
        "release-web-direction": "worse",
        "release-web-verdict": f"{WEB_RELEASE} · web: −0.84 [−0.99, −0.35] after 30 answers (worse than web-2025.01.3)",
    }  # 3/30 against 34/36, both at the 30 answers a verdict needs; ios has one release, so no verdict
    assert "web-2025.01.4 &lt;beta&gt; &amp; more" in html and "<beta>" not in html

    # view-policy: inverted scale, 1 and 2 are positive, 5 is the negative end.
    assert rows["view-policy"] == {
        "name": "View policy",
        "ces": "67 %",
        "target": "75 %",
        "answers": "15",
        "trend": "–",
        "status": "ok",
    }
    policy = sections["view-policy"]
    assert (policy["completion_ces"], policy["exits_ces"], policy["exits_answers"]) == ("67 %", "–", "0")
    assert policy["comment-1"] == "Far too many steps"
    assert "comment-2" not in policy
    assert not [name for name in policy if name.startswith("release")]  # a version 5 summary: no releases
    assert 'id="releases-view-policy"' not in html and 'id="releases-download-invoice"' in html

    assert rows["file-claim"] == {
        "name": "File claim",
        "ces": "–",
        "target": "70 %",
        "answers": "0",
        "trend": "–",
        "status": "no data",
    }
    assert sections["file-claim"]["no_comments"] == "No low-score comments in the period."
    assert sections["file-claim"]["coverage"] == "0 of 31"
    assert (sections["file-claim"]["corrected_ces"], sections["file-claim"]["corrected_missing"]) == ("–", "no data")
    assert "if_silent_satisfied" not in sections["file-claim"]  # no prompts, no bounds

    assert re.findall(r"https?://", html) == []
    assert "<script" not in html.lower()
