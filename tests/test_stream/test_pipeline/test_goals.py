"""Tests for stream.pipeline.goals.GoalStage.merge, broker-free: partials merge by goal exactly, however often delivered."""

from __future__ import annotations

import orjson
import pytest

from stream.ces.goals import AnswerFact, BucketCounts, GoalWindows, Partial, PartialKey, apply_facts, write_batch
from stream.ces.registry import Sentiment, load_registry
from stream.infra.topics import goal_partials_topic
from stream.observability.metrics import CesMetrics
from stream.pipeline.goals import GoalStage
from stream.settings import Settings
from tests.harness import OtherStage
from tests.paths import EXAMPLE_REGISTRY
from tests.test_stream.test_pipeline.stage_fakes import FakeApp, FakeEvent, FakeTopic, RecordingSender, event, stand_in

NOW_S = 1_750_000_000.0
GOAL = "download-invoice"
SETTINGS = Settings(topic_partitions=4)
TOPIC = goal_partials_topic(SETTINGS)


@pytest.fixture
def stage() -> GoalStage:
    registry = load_registry(EXAMPLE_REGISTRY)
    specs = SETTINGS.window_specs()
    windows = GoalWindows(registry, specs, SETTINGS.topic_partitions, SETTINGS.wilson_confidence)
    windows.owned = set(range(SETTINGS.topic_partitions))  # this worker owns every goal
    metrics = CesMetrics(goals=registry.slugs, input_topics=[], consumed_topics=[], targets={})
    app, topic, guard = stand_in(FakeApp()), stand_in(FakeTopic(TOPIC)), stand_in(None)
    return GoalStage(app, SETTINGS, metrics, windows, topic, guard, known_goals=frozenset(registry.slugs))


def partials(source_partition: int, scores: list[int], first_offset: int = 0) -> dict[PartialKey, Partial]:
    """The partials a user stage holds after answers with ``scores`` on ``source_partition``."""
    facts = [
        (first_offset + i, AnswerFact(GOAL, NOW_S - 120 + i, score, Sentiment.positive, "completed", "web"))
        for i, score in enumerate(scores)
    ]
    held: dict[PartialKey, Partial] = {}
    apply_facts(held, source_partition, facts, sorted({spec.resolution_s for spec in SETTINGS.window_specs()}))
    return held


def record(held: dict[PartialKey, Partial], offset: int) -> FakeEvent:
    """One goal-partials record as the user stage sends it."""
    return event(
        TOPIC,
        0,
        offset,
        NOW_S,
        GOAL.encode(),
        write_batch((key, p.hwm, p.counts.to_json_obj()) for key, p in held.items()),
    )


def answers(stage: GoalStage) -> dict[str, int]:
    """Answers per window of the goal, as /api/goals would show them."""
    return {spec.name: fig.answers for goal, spec, fig in stage.windows.snapshot(NOW_S) if goal == GOAL}


def test_merge_takes_a_partial_into_the_goals_windows_and_its_table(stage: GoalStage) -> None:
    held = partials(1, [5, 4, 2])
    out = RecordingSender()
    stage.merge(out, 0, [record(held, 0)])

    assert set(answers(stage).values()) == {3}
    assert {PartialKey.decode(k.decode()): Partial.from_bytes(v) for k, v in stage.table.items()} == held
    assert len(out.puts) == len(held)  # one table write per key


def test_the_same_partial_delivered_twice_in_one_batch_counts_once(stage: GoalStage) -> None:
    held = partials(1, [5, 4, 2])
    out = RecordingSender()
    stage.merge(out, 0, [record(held, 0), record(held, 1)])

    assert set(answers(stage).values()) == {3}
    assert len(out.puts) == len(held)  # still one write per key and batch


def test_the_same_partial_delivered_again_later_changes_nothing(stage: GoalStage) -> None:
    held = partials(1, [5, 4, 2])
    stage.merge(RecordingSender(), 0, [record(held, 0)])
    before = dict(stage.table)

    again = RecordingSender()
    stage.merge(again, 0, [record(held, 7)])  # e.g. re-sent after a recovery

    assert set(answers(stage).values()) == {3}
    assert again.puts == [] and dict(stage.table) == before


def test_partials_of_different_source_partitions_add_up(stage: GoalStage) -> None:
    stage.merge(RecordingSender(), 0, [record(partials(1, [5, 4]), 0), record(partials(2, [1]), 1)])
    assert set(answers(stage).values()) == {3}


def test_a_newer_copy_replaces_the_older_and_an_older_one_is_ignored(stage: GoalStage) -> None:
    old = partials(1, [5, 4])
    new = partials(1, [5, 4, 3, 2])  # the same source partition, two answers later (higher hwm)
    stage.merge(RecordingSender(), 0, [record(old, 0)])
    stage.merge(RecordingSender(), 0, [record(new, 1)])
    assert set(answers(stage).values()) == {4}  # replaced, not added to

    late = RecordingSender()
    stage.merge(late, 0, [record(old, 2)])  # an older copy arriving late
    assert set(answers(stage).values()) == {4}
    assert late.puts == []


def test_a_bad_record_is_skipped_and_the_rest_of_the_batch_merged(stage: GoalStage) -> None:
    unknown_goal = {
        PartialKey(p.partition, "no-such-goal", p.resolution_s, p.bucket_start_s): v
        for p, v in partials(1, [5]).items()
    }
    batch = [
        event(TOPIC, 0, 0, NOW_S, b"x", b"not a partials record"),
        record(unknown_goal, 1),
        record(partials(2, [4, 4]), 2),
    ]
    out = RecordingSender()
    stage.merge(out, 0, batch)
    assert set(answers(stage).values()) == {2}
    assert all(b"no-such-goal" not in key for _, _, key, _ in out.puts)


def corrupt(held: dict[PartialKey, Partial]) -> bytes:
    """A partials record whose every copy has counts that do not add up (sentiments without their scores)."""
    return orjson.dumps([[key.encode(), partial.hwm, {"p": 3}] for key, partial in held.items()])


def test_only_the_newest_copy_is_decoded_so_a_bad_older_one_does_not_matter(stage: GoalStage) -> None:
    old, new = partials(1, [5, 4]), partials(1, [5, 4, 3, 2])
    batch = [event(TOPIC, 0, 0, NOW_S, GOAL.encode(), corrupt(old)), record(new, 1)]
    stage.merge(RecordingSender(), 0, batch)
    assert set(answers(stage).values()) == {4}


def test_a_bad_newest_copy_is_skipped_and_the_other_keys_merged(stage: GoalStage) -> None:
    good = partials(2, [4, 4])
    bad = partials(1, [5])
    out = RecordingSender()
    stage.merge(out, 0, [record(good, 0), event(TOPIC, 0, 1, NOW_S, GOAL.encode(), corrupt(bad))])
    assert set(answers(stage).values()) == {2}
    assert len(out.puts) == len(good)


def test_counts_are_decoded_once_per_key_kept(stage: GoalStage, monkeypatch: pytest.MonkeyPatch) -> None:
    decoded = []
    original = BucketCounts.from_json_obj

    def counting(obj: object) -> BucketCounts:
        decoded.append(obj)
        return original(obj)

    monkeypatch.setattr(BucketCounts, "from_json_obj", staticmethod(counting))
    copies = [partials(1, [5, 4, 3][: n + 1]) for n in range(3)]  # three ever newer copies of the same keys
    stage.merge(RecordingSender(), 0, [record(held, offset) for offset, held in enumerate(copies)])
    assert len(decoded) == len(copies[-1])  # the newest copy of each key only
    decoded.clear()
    stage.merge(RecordingSender(), 0, [record(copies[1], 3)])  # older than what is merged
    assert decoded == []


# -- closing windows by the clock -----------------------------------------------------------------


class SummarySender(RecordingSender):
    """Stands in for BatchSender: records the summaries close_windows would send."""

    def __init__(self, app: object) -> None:
        super().__init__()

    async def send(self) -> None:
        return None


@pytest.fixture
def closing_stage(monkeypatch: pytest.MonkeyPatch) -> tuple[GoalStage, list[SummarySender]]:
    """A goal stage owning every partition of the partials topic, every goal's windows closed once."""
    from faust.types import TP

    from stream.pipeline import goals as module

    senders: list[SummarySender] = []

    def sender(app: object) -> SummarySender:
        senders.append(SummarySender(app))
        return senders[-1]

    monkeypatch.setattr(module, "BatchSender", sender)
    monkeypatch.setattr(module.time, "time", lambda: NOW_S)
    registry = load_registry(EXAMPLE_REGISTRY)
    windows = GoalWindows(registry, SETTINGS.window_specs(), SETTINGS.topic_partitions, SETTINGS.wilson_confidence)
    app = FakeApp(assigned={TP(TOPIC, p) for p in range(SETTINGS.topic_partitions)})
    metrics = CesMetrics(goals=registry.slugs, input_topics=[], consumed_topics=[], targets={})
    stage = GoalStage(
        stand_in(app), SETTINGS, metrics, windows, stand_in(FakeTopic(TOPIC)), stand_in(None), frozenset(registry.slugs)
    )
    return stage, senders


def summary_keys(sender: SummarySender) -> list[bytes]:
    return [sent.key for sent in sender.sent[SETTINGS.topic_goal_summaries] if sent.key is not None]


async def test_closing_windows_hands_the_loop_back_between_summaries(closing_stage, monkeypatch) -> None:
    from stream.pipeline import goals as module

    stage, senders = closing_stage
    monkeypatch.setattr(module, "HAND_BACK_EVERY_S", 0.0)  # hand back after every summary
    async with OtherStage() as other:
        await stage.close_windows()
    closed = summary_keys(senders[0])
    assert len(closed) == len(stage.windows.registry.slugs) * len(SETTINGS.window_specs())  # one per goal and window
    assert other.turns >= len(closed) - 1


async def test_closing_stops_when_a_rebalance_rebuilt_the_windows_and_the_rest_closes_next_time(
    closing_stage, monkeypatch
) -> None:
    """Summaries of windows this worker may no longer own are not made from a rebuilt (emptier) view."""
    from stream.ces.goals import MergedGoals
    from stream.pipeline import goals as module

    stage, senders = closing_stage
    monkeypatch.setattr(module, "HAND_BACK_EVERY_S", 0.0)
    real_sleep = module.asyncio.sleep
    sleeps = 0

    async def rebuild_during_the_third_hand_back(delay: float) -> None:
        nonlocal sleeps
        sleeps += 1
        if sleeps == 3:
            stage.windows.merged = MergedGoals()  # what GoalStage.rebuild does after an assignment
        await real_sleep(delay)

    monkeypatch.setattr(module.asyncio, "sleep", rebuild_during_the_third_hand_back)
    await stage.close_windows()
    first = summary_keys(senders[0])
    assert len(first) == 3
    monkeypatch.setattr(module, "HAND_BACK_EVERY_S", 1e9)
    await stage.close_windows()
    rest = summary_keys(senders[1])
    expected = len(stage.windows.registry.slugs) * len(SETTINGS.window_specs())
    assert len(set(first) | set(rest)) == expected  # the window it stopped in is closed again: a revision
