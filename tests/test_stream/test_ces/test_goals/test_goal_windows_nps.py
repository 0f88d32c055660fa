"""GoalWindows with CSAT and NPS: the summaries (version 5) and /api/goals say each goal's own question, and
carry the NPS asked at its moments.

The NPS worked example of issue 21: 100 answers, 20 detractors (0-6), 30 passives (7-8), 50 promoters (9-10):
an NPS of 0.3 exactly.
"""

from __future__ import annotations

import json

import pytest

from schemas import GoalSummary
from schemas.goal_summary import GOAL_SUMMARY_SCHEMA_VERSION
from stream.ces.goals import HIGH_EFFORT, REST, BucketCounts
from stream.ces.goals.fold import bucket_start
from stream.ces.goals.goal_windows import GoalWindows
from stream.ces.goals.nps import nps_difference, nps_interval
from stream.ces.goals.partials import Partial, PartialKey
from stream.ces.goals.windows import plan_windows
from stream.ces.registry.loader import load_registry
from stream.ces.registry.scales import Sentiment, scale_of
from tests.harness import write_registry

PARTITIONS = 8
CONFIDENCE = 0.95
T0 = 1_700_006_400  # a multiple of 3600
NPS_SCALE = scale_of("zero_to_ten", 0, 10, False, frozenset({9, 10}))
WORKED_EXAMPLE = [0, 3, 5, 6] * 5 + [7, 8] * 15 + [9, 10] * 25
"""20 detractors, 30 passives, 50 promoters."""


@pytest.fixture
def windows(tmp_path) -> GoalWindows:
    path = write_registry(
        tmp_path / "goals.yaml",
        [
            {"slug": "download-invoice", "scale": {"kind": "five_point"}, "nps_moment": True},
            {"slug": "pay-bill", "scale": {"kind": "five_point"}, "survey": "csat"},
        ],
        nps={"high_effort": {"min_answers": 20}},
    )
    w = GoalWindows(load_registry(path), plan_windows([600, 3600]), PARTITIONS, CONFIDENCE)
    w.owned = set(range(PARTITIONS))  # this worker owns every goal
    return w


def feed(w: GoalWindows, goal: str, at_s: float, counts: BucketCounts) -> None:
    assert w.merged.update(PartialKey(0, goal, 60, bucket_start(at_s, 60)), Partial(1, counts))


def nps_answers(counts: BucketCounts, scores: list[int], channel: str = "web", group: str = REST) -> BucketCounts:
    nps = counts.nps_part()
    for score in scores:
        nps.add_answer(score, NPS_SCALE.classify(score), channel, group)
    return counts


def own_answers(*scores: int) -> BucketCounts:
    counts = BucketCounts()
    for score in scores:
        sentiment = Sentiment.positive if score >= 4 else Sentiment.negative if score <= 2 else Sentiment.neutral
        counts.add_answer(score, sentiment, "completed", "web")
    return counts


def test_the_summary_of_the_nps_worked_example_has_an_nps_of_0_3_exactly(windows):
    counts = nps_answers(own_answers(5, 4, 2), WORKED_EXAMPLE)
    counts.nps_part().prompts = 125
    feed(windows, "download-invoice", T0 + 10, counts)
    summary = windows.summary("download-invoice", windows.window_specs[0], T0, T0 + 600, now_s=T0 + 700)
    assert summary.schema_version == GOAL_SUMMARY_SCHEMA_VERSION == 6 and summary.survey == "ces"
    nps = summary.nps
    assert nps is not None
    assert (nps.answers, nps.promoters, nps.passives, nps.detractors) == (100, 50, 30, 20)
    assert nps.nps == 0.3
    assert (nps.promoter_share, nps.passive_share, nps.detractor_share) == (0.5, 0.3, 0.2)
    assert (nps.nps_lower, nps.nps_upper) == nps_interval(50, 30, 20, CONFIDENCE)
    assert nps.distribution == {
        "0": 5,
        "1": 0,
        "2": 0,
        "3": 5,
        "4": 0,
        "5": 5,
        "6": 5,
        "7": 15,
        "8": 15,
        "9": 25,
        "10": 25,
    }
    assert (nps.prompts, nps.response_ratio) == (125, 0.8)
    assert list(nps.by_channel) == ["web"] and nps.by_channel["web"].nps == 0.3
    # Nobody found it hard: every answer is in the rest, and no split is shown below the minimum.
    assert nps.high_effort is None and nps.high_effort_gap is None
    assert nps.rest is not None and (nps.rest.answers, nps.rest.nps) == (100, 0.3)
    # The goal's own question keeps its figures.
    assert (summary.answers, summary.positive, summary.ces_ratio) == (3, 2, pytest.approx(2 / 3))
    assert GoalSummary.model_validate_json(summary.model_dump_json()) == summary


def test_the_summary_splits_the_nps_by_recent_effort_once_both_groups_hold_their_minimum(windows):
    counts = nps_answers(BucketCounts(), WORKED_EXAMPLE)
    nps_answers(counts, [0, 6, 7, 9] * 5, channel="ios", group=HIGH_EFFORT)  # 20: 5 promoters, 10 detractors
    feed(windows, "download-invoice", T0 + 10, counts)
    nps = windows.summary("download-invoice", windows.window_specs[0], T0, T0 + 600, now_s=T0 + 700).nps
    assert nps is not None and nps.answers == 120 and nps.response_ratio is None  # no prompt in the window
    assert nps.high_effort is not None and nps.high_effort.nps == -0.25
    assert nps.rest is not None and nps.rest.nps == 0.3
    gap = nps.high_effort_gap
    assert gap is not None
    assert (gap.difference, gap.lower, gap.upper) == nps_difference((5, 5, 10), (50, 30, 20), CONFIDENCE, 20)
    assert nps.by_channel["ios"].answers == 20


def test_a_goal_without_nps_in_the_window_has_null_nps_and_a_csat_goal_says_csat(windows):
    feed(windows, "pay-bill", T0 + 10, own_answers(5, 4, 1))
    feed(windows, "download-invoice", T0 + 10, own_answers(5))
    csat = windows.summary("pay-bill", windows.window_specs[0], T0, T0 + 600, now_s=T0 + 700)
    assert csat.survey == "csat" and csat.nps is None and csat.ces_ratio == pytest.approx(2 / 3)
    ces = windows.summary("download-invoice", windows.window_specs[0], T0, T0 + 600, now_s=T0 + 700)
    assert ces.survey == "ces" and ces.nps is None


def test_api_goals_says_each_goals_own_question_in_every_window(windows):
    feed(windows, "pay-bill", T0 + 10, own_answers(5, 4, 1))
    feed(windows, "download-invoice", T0 + 10, nps_answers(own_answers(5), WORKED_EXAMPLE))
    out = json.loads(json.dumps(windows.api_json(T0 + 20)))  # what the worker serves: plain JSON
    assert set(out) == {"download-invoice", "pay-bill"}
    assert {goal: {w["survey"] for w in by_window.values()} for goal, by_window in out.items()} == {
        "download-invoice": {"ces"},
        "pay-bill": {"csat"},
    }
    assert set(out["pay-bill"]) == {"10m", "1h"}  # still {goal: {window: figures}}
    assert out["pay-bill"]["1h"]["ces_ratio"] == pytest.approx(2 / 3) and out["pay-bill"]["1h"]["nps"] is None
    assert out["download-invoice"]["10m"]["nps"]["nps"] == 0.3
    assert out["download-invoice"]["10m"]["by_channel"]["web"]["answers"] == 1  # split everywhere
