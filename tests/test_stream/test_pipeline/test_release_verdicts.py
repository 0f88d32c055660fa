"""Tests for stream.pipeline.releases.ReleaseVerdicts, broker-free: a verdict is written once, also across restarts."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from schemas import ReleaseVerdict
from stream.ces.goals import AnswerFact, GoalWindows, Partial, PartialKey, fold_facts
from stream.ces.registry import Sentiment, load_registry
from stream.observability.metrics import CesMetrics
from stream.pipeline.releases import ReleaseVerdicts
from stream.settings import Settings
from tests.paths import EXAMPLE_REGISTRY
from tests.test_stream.test_pipeline.stage_fakes import FakeTable, RecordingSender

NOW_S = 1_750_000_000.0
GOAL = "download-invoice"
SETTINGS = Settings(topic_partitions=4)


@pytest.fixture
def windows() -> GoalWindows:
    registry = load_registry(EXAMPLE_REGISTRY)
    windows = GoalWindows(registry, SETTINGS.window_specs(), SETTINGS.topic_partitions, SETTINGS.wilson_confidence)
    windows.owned = set(range(SETTINGS.topic_partitions))
    return windows


def verdicts_of(windows: GoalWindows, table: FakeTable) -> ReleaseVerdicts:
    metrics = CesMetrics(goals=[GOAL], input_topics=[], consumed_topics=[], targets={})
    return ReleaseVerdicts(SETTINGS, metrics, windows, table)  # type: ignore[arg-type]  # a fake table


def answer(score: int, version: str, at_s: float, channel: str = "web") -> AnswerFact:
    sentiment = Sentiment.positive if score >= 4 else Sentiment.negative
    return AnswerFact(GOAL, at_s, score, sentiment, "completed", channel, app_version=version)


def count(windows: GoalWindows, facts: list[AnswerFact], hwm: int) -> None:
    """The answers as the goal stage merges them (one source partition)."""
    resolutions = sorted({spec.resolution_s for spec in SETTINGS.window_specs()})
    for (goal, resolution_s, start_s), counts in fold_facts(facts, resolutions).items():
        key = PartialKey(0, goal, resolution_s, start_s)
        held = windows.merged.partials.get(key)
        if held is not None:
            counts.merge(held.counts)
        windows.merged.update(key, Partial(hwm, counts))


def due(verdicts: ReleaseVerdicts, out: RecordingSender, now_s: float) -> int:
    return asyncio.run(verdicts.add_due(out, now_s))


def written(out: RecordingSender) -> list[ReleaseVerdict]:
    return [ReleaseVerdict.model_validate_json(sent.value or b"") for sent in out.sent[SETTINGS.topic_release_verdicts]]


def test_a_verdict_is_written_once_when_reached_and_remembered_in_the_table(windows):
    table = FakeTable("release-verdicts")
    verdicts = verdicts_of(windows, table)
    count(windows, [answer(5, "2.0", NOW_S - 7200)] * 800 + [answer(1, "2.0", NOW_S - 7200)] * 200, hwm=1)
    count(windows, [answer(5, "2.1", NOW_S - 60)] * 5 + [answer(1, "2.1", NOW_S - 60)] * 5, hwm=2)
    out = RecordingSender()
    assert due(verdicts, out, NOW_S) == 0  # 10 answers: pending
    count(windows, [answer(5, "2.1", NOW_S - 30)] * 35 + [answer(1, "2.1", NOW_S - 30)] * 55, hwm=3)
    assert due(verdicts, out, NOW_S) == 1
    (verdict,) = written(out)
    assert (verdict.version, verdict.previous_version, verdict.direction, verdict.answers) == (
        "2.1",
        "2.0",
        "worse",
        100,
    )
    assert out.sent[SETTINGS.topic_release_verdicts][0].key == f"{GOAL}|web|2.1".encode()
    assert orjson.loads(table[f"{GOAL}|web".encode()])["version"] == "2.1"
    gauge = verdicts.metrics.sample_value(
        "ces_release_verdict_timestamp_seconds", {"goal": GOAL, "channel": "web", "direction": "worse"}
    )
    assert gauge == NOW_S

    # More answers of the same release: the verdict stands, nothing is written again.
    count(windows, [answer(1, "2.1", NOW_S - 10)] * 50, hwm=4)
    assert due(verdicts, out, NOW_S + 5) == 0 and len(written(out)) == 1

    # A restart: a new instance on the same table writes nothing again, and exports the time again.
    restarted = verdicts_of(windows, table)
    restarted.rebuild()
    assert due(restarted, out, NOW_S + 10) == 0 and len(written(out)) == 1
    assert (
        restarted.metrics.sample_value(
            "ces_release_verdict_timestamp_seconds", {"goal": GOAL, "channel": "web", "direction": "worse"}
        )
        == NOW_S
    )

    # The next release on the channel gets its own verdict.
    count(windows, [answer(5, "2.2", NOW_S + 60)] * 100, hwm=5)
    assert due(restarted, out, NOW_S + 70) == 1
    assert [(v.version, v.previous_version, v.direction) for v in written(out)][1] == ("2.2", "2.1", "better")
    assert (
        restarted.metrics.sample_value(
            "ces_release_verdict_timestamp_seconds", {"goal": GOAL, "channel": "web", "direction": "worse"}
        )
        is None
    )  # one series per goal and channel: the last verdict's


def test_goals_owned_elsewhere_are_neither_read_nor_exported_after_a_rebalance(windows):
    table = FakeTable("release-verdicts")
    table[f"{GOAL}|web".encode()] = orjson.dumps({"version": "2.1", "direction": "worse", "at": NOW_S})
    table[b"view-policy|ios"] = b"not json"  # skipped, logged
    windows.owned = set()
    verdicts = verdicts_of(windows, table)
    verdicts.rebuild()
    assert verdicts.written == {}
    windows.owned = set(range(SETTINGS.topic_partitions))
    verdicts.rebuild()
    assert verdicts.written == {f"{GOAL}|web": "2.1"}
