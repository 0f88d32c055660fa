"""Answers counted per release in the goal's buckets: folded from facts, stored, merged, read back as releases."""

from __future__ import annotations

import pytest

from stream.ces.goals.buckets import BucketCounts
from stream.ces.goals.facts import NPS, AnswerFact
from stream.ces.goals.fold import fold_facts
from stream.ces.goals.goal_windows import GoalWindows
from stream.ces.goals.partials import Partial, PartialKey, goal_partition
from stream.ces.goals.windows import plan_windows
from stream.ces.registry.loader import load_registry
from stream.ces.registry.scales import Sentiment
from stream.ces.releases import WORSE
from tests.harness import write_registry

T0 = 1_700_006_400  # a multiple of 3600
GOAL = "file-claim"


def fact(score: int, version: str, channel: str = "web", at_s: float = T0, survey: str = "ces") -> AnswerFact:
    sentiment = Sentiment.positive if score >= 4 else Sentiment.negative if score <= 2 else Sentiment.neutral
    return AnswerFact(GOAL, at_s, score, sentiment, "completed", channel, survey=survey, app_version=version)


def test_answers_of_the_goals_own_question_are_counted_per_channel_and_version():
    facts = [fact(5, "w-2.0"), fact(1, "w-2.0"), fact(4, "i-5.0", "ios"), fact(3, ""), fact(5, "w-2.0", survey=NPS)]
    (counts,) = fold_facts(facts, [60]).values()
    assert counts.by_release == {"web|w-2.0": [2, 1, 6], "ios|i-5.0": [1, 1, 4]}
    assert counts.answers == 4  # the NPS answer is counted apart, and never per release


def test_release_cells_survive_the_stored_form_and_merge_and_subtract_exactly():
    counts = BucketCounts()
    counts.add_answer(5, Sentiment.positive, "completed", "web", app_version="web|beta 2")
    counts.add_answer(2, Sentiment.negative, "abandoned", "android", app_version="a-7")
    stored = counts.to_json_obj()
    assert stored["rv"] == {"w|web|beta 2": [1, 1, 5], "a|a-7": [1, 0, 2]}
    assert BucketCounts.from_json_obj(stored) == counts
    total = counts.copy()
    total.merge(counts)
    assert total.by_release == {"web|web|beta 2": [2, 2, 10], "android|a-7": [2, 0, 4]}
    total.subtract(counts)
    assert total == counts
    total.subtract(counts)
    assert total.by_release == {}
    assert counts.copy(segments=False).by_release == {}  # a split, left out with the others


@pytest.mark.parametrize(
    "cells",
    [
        {"x|2.0": [1, 1, 5]},  # no such channel key
        {"w|": [1, 1, 5]},  # no version
        {"w|" + "v" * 65: [1, 1, 5]},  # longer than an app_version may be
        {"w|2.0": [1, 2, 5]},  # more positive than answers
        {"w|2.0": [1, 1]},
        {"w|2.0": [1, 1, 5.5]},
    ],
)
def test_a_stored_release_cell_that_breaks_the_rules_is_refused(cells):
    stored = BucketCounts().to_json_obj() | {"s": {"5": 1}, "p": 1, "rv": cells}
    with pytest.raises(ValueError):
        BucketCounts.from_json_obj(stored)


@pytest.fixture
def windows(tmp_path):
    registry = load_registry(write_registry(tmp_path / "goals.yaml", [{"slug": GOAL, "scale": {"kind": "five_point"}}]))
    w = GoalWindows(registry, plan_windows([600, 3600 * 24]), 8, 0.95, release_versions=2)
    w.owned = {goal_partition(GOAL, 8)}
    return w


def feed(w: GoalWindows, facts: list[AnswerFact], hwm: int) -> None:
    for (goal, resolution_s, start_s), counts in fold_facts(facts, [60, 300, 3600]).items():
        assert w.merged.update(PartialKey(0, goal, resolution_s, start_s), Partial(hwm, counts))


def answers(version: str, positive: int, negative: int, at_s: float, channel: str = "web") -> list[AnswerFact]:
    return [fact(5, version, channel, at_s)] * positive + [fact(1, version, channel, at_s)] * negative


def test_the_summary_holds_the_periods_recent_releases_and_the_live_window_gives_the_verdict(windows):
    feed(windows, answers("w-1.0", 800, 200, T0) + answers("i-5.0", 30, 10, T0, "ios"), hwm=1)
    feed(windows, answers("w-0.9", 10, 0, T0 - 3600) + answers("w-1.1", 40, 60, T0 + 3600), hwm=2)
    day = windows.window_specs[1]
    summary = windows.summary(GOAL, day, T0 - 3600 * 23, T0 + 3600, now_s=T0 + 3700)
    assert [(r.channel.value, r.version, r.answers, r.positive) for r in summary.releases] == [
        ("ios", "i-5.0", 40, 30),
        ("web", "w-1.0", 1000, 800),  # w-1.1 was first seen after the period; two per channel
        ("web", "w-0.9", 10, 10),
    ]
    (web,) = windows.live_verdicts(GOAL, T0 + 3700)
    assert (web.version, web.previous_version, web.direction) == ("w-1.1", "w-1.0", WORSE)
    assert web.difference == pytest.approx(0.4 - 0.8)
    releases = windows.api_json(T0 + 3700)[GOAL]["24h"]["releases"]
    assert releases["window"] == "24h"
    assert [(v["channel"], v["version"]) for v in releases["versions"]] == [
        ("ios", "i-5.0"),
        ("web", "w-1.1"),
        ("web", "w-1.0"),
    ]
    (shown,) = releases["verdicts"]
    assert shown["direction"] == WORSE and shown["text"].startswith("w-1.1 · web: \N{MINUS SIGN}0.40 [")
    assert "releases" not in windows.api_json(T0 + 3700)[GOAL]["10m"]


def test_a_goal_without_app_versions_has_no_releases(windows):
    feed(windows, [fact(5, ""), fact(1, "")], hwm=1)
    day = windows.window_specs[1]
    assert windows.summary(GOAL, day, T0 - 3600 * 23, T0 + 3600, now_s=T0 + 3700).releases == []
    assert windows.live_verdicts(GOAL, T0 + 60) == []
    assert windows.api_json(T0 + 60)[GOAL]["24h"]["releases"] == {"window": "24h", "versions": [], "verdicts": []}


def test_the_release_window_is_the_longest(windows):
    assert windows.release_window is windows.window_specs[1]
    empty = GoalWindows(windows.registry, (), 8, 0.95)
    assert empty.release_window is None and empty.live_releases(GOAL, T0) == []


def test_without_release_counts_the_answers_are_counted_as_before():
    from stream.ces.goals.facts import OutcomeFact, without_releases

    outcome = OutcomeFact(GOAL, T0, "completed", "web")
    facts = [(1, fact(5, "w-2.0")), (2, outcome), (3, fact(1, ""))]
    stripped = without_releases(facts)
    assert stripped == [(1, fact(5, "")), (2, outcome), (3, fact(1, ""))]
    (counts,) = fold_facts([f for _, f in stripped], [60]).values()
    assert counts.by_release == {} and counts.answers == 2
    assert "rv" not in counts.to_json_obj()  # what a worker of the previous version reads


def test_the_merged_view_counts_changes_of_answers_per_release_only():
    from stream.ces.goals.partials import MergedGoals

    merged = MergedGoals()
    key = PartialKey(0, GOAL, 60, T0)
    (with_release,) = fold_facts([fact(5, "w-2.0")], [60]).values()
    (without,) = fold_facts([fact(5, "w-2.0"), fact(4, "")], [60]).values()
    assert merged.update(key, Partial(1, with_release)) and merged.release_changes == {GOAL: 1}
    assert merged.update(key, Partial(2, without)) and merged.release_changes == {GOAL: 1}  # no release moved
    (more,) = fold_facts([fact(5, "w-2.0"), fact(4, ""), fact(1, "w-2.1")], [60]).values()
    assert merged.update(key, Partial(3, more)) and merged.release_changes == {GOAL: 2}
