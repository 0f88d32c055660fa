"""Dead letters through the real broker: good events mixed with one of every bad kind.

The worker keeps running, every good event is processed, and the dead-letter topic
holds exactly the bad records, each with the right reason, source topic and key, and
the original value bytes unchanged. Every bad record is produced as raw bytes, so the
test controls exactly what went in.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition

from schemas import MAX_ORIGINAL_BYTES, Channel, DeadLetter, GoalEvent, GoalEventType, SurveyAnswer, SurveyPrompt
from stream.infra.producer import make_producer
from stream.infra.topics import create_topics
from stream.settings import load_settings
from tests.harness import wait_until, write_registry

pytestmark = pytest.mark.integration

GOAL = "easy-task"
MAX_EVENT_BYTES = 4096
PROMPT_EXPIRY_S = 60


def now() -> datetime:
    return datetime.now(UTC)


def goal_event(user: str, *, occurred_at: datetime | None = None, goal: str = GOAL) -> GoalEvent:
    return GoalEvent(
        event_id=uuid.uuid4(),
        type=GoalEventType.completed,
        goal=goal,
        user_id=user,
        occurred_at=occurred_at or now(),
        channel=Channel.web,
        locale="en",
    )


def answer(
    prompt: SurveyPrompt, score: int, *, answered_at: datetime | None = None, comment: str | None = None
) -> SurveyAnswer:
    return SurveyAnswer(
        answer_id=uuid.uuid4(),
        prompt_id=prompt.prompt_id,
        user_id=prompt.user_id,
        goal=prompt.goal,
        score=score,
        comment=comment,
        answered_at=answered_at or now(),
        channel=Channel.web,
    )


def read_all(bootstrap: str, topic: str, *, expected: int, timeout_s: float = 30.0) -> list[Any]:
    """Every record of ``topic`` once its partitions hold ``expected`` records in all (no fewer, no more)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=2000)
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        assert partitions, f"topic {topic} has no partitions"

        def total() -> int:
            return sum(consumer.end_offsets(partitions).values()) - sum(consumer.beginning_offsets(partitions).values())

        wait_until(lambda: total() >= expected, timeout_s=timeout_s, what=f"{expected} records on {topic}")
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        records: list[Any] = []
        ends = consumer.end_offsets(partitions)
        deadline = time.monotonic() + timeout_s
        while any(consumer.position(tp) < ends[tp] for tp in partitions) and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
        return records
    finally:
        consumer.close()


class PromptReader:
    """Follows the prompts topic; the first prompt per prompt_id (a replayed duplicate re-sends one)."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        partitions = [TopicPartition(topic, p) for p in sorted(self.consumer.partitions_for_topic(topic) or ())]
        self.consumer.assign(partitions)
        self.consumer.seek_to_beginning(*partitions)
        self.by_user: dict[str, SurveyPrompt] = {}
        self.records = 0

    def poll(self) -> dict[str, SurveyPrompt]:
        for batch in self.consumer.poll(timeout_ms=200).values():
            for record in batch:
                self.records += 1
                prompt = SurveyPrompt.model_validate_json(record.value)
                assert record.key == prompt.user_id.encode()
                self.by_user.setdefault(prompt.user_id, prompt)
        return self.by_user

    def close(self) -> None:
        self.consumer.close()


def test_bad_inputs_go_to_dead_letters_with_original_bytes_and_good_ones_count(unique_env, start_worker, tmp_path):
    env = dict(unique_env)
    env["CES_GOALS_FILE"] = str(
        write_registry(
            tmp_path / "goals.yaml",
            [{"slug": GOAL, "scale": {"kind": "five_point"}, "sampling": {"rate": 1.0}}],
            prompt_expiry_seconds=PROMPT_EXPIRY_S,
        )
    )
    env["CES_MAX_EVENT_BYTES"] = str(MAX_EVENT_BYTES)
    settings = load_settings(**{k[4:].lower(): v for k, v in env.items()})
    goals_topic, answers_topic = settings.topic_goal_events, settings.topic_survey_answers
    assert set(create_topics(settings).values()) == {"created"}
    worker = start_worker(env)

    producer = make_producer(settings.kafka_bootstrap)
    # (source topic, reason) -> (key, value, partition, offset) of the one bad record of that kind.
    expected: dict[tuple[str, str], tuple[bytes, bytes, int, int]] = {}

    def send(topic: str, key: bytes, value: bytes, bad: str | None = None) -> None:
        meta = producer.send(topic, key=key, value=value).get(timeout=30)  # one at a time: input order is known
        if bad is not None:
            assert (topic, bad) not in expected, "one bad record per topic and reason"
            expected[(topic, bad)] = (key, value, meta.partition, meta.offset)

    # --- Phase 1: goal events. Six users complete the goal (a prompt each: rate 1.0, no cooldowns).
    users = [f"user-{i}" for i in range(6)]
    good_events = {user: goal_event(user).model_dump_json().encode() for user in users}
    valid_doc = json.loads(good_events[users[0]])

    send(goals_topic, b"user-0", good_events["user-0"])
    send(goals_topic, b"bad-1", b"not json {", bad="not_json")
    send(goals_topic, b"user-1", good_events["user-1"])
    missing_user = {k: v for k, v in valid_doc.items() if k != "user_id"} | {"event_id": str(uuid.uuid4())}
    send(goals_topic, b"bad-2", json.dumps(missing_user).encode(), bad="schema_violation")
    send(goals_topic, b"user-2", good_events["user-2"])
    send(goals_topic, b"bad-3", goal_event("bad-3", goal="no-such-goal").model_dump_json().encode(), bad="unknown_goal")
    send(
        goals_topic,
        b"bad-4",
        goal_event("bad-4", occurred_at=now() + timedelta(hours=1)).model_dump_json().encode(),
        bad="future_timestamp",
    )
    send(goals_topic, b"user-3", good_events["user-3"])
    send(
        goals_topic,
        b"bad-5",
        goal_event("bad-5", occurred_at=now() - timedelta(hours=2)).model_dump_json().encode(),
        bad="too_late",
    )
    oversize = json.dumps(
        json.loads(goal_event("bad-6").model_dump_json()) | {"padding": "x" * MAX_EVENT_BYTES}
    ).encode()
    assert len(oversize) > MAX_EVENT_BYTES
    send(goals_topic, b"bad-6", oversize, bad="oversize")
    send(goals_topic, b"user-4", good_events["user-4"])
    send(goals_topic, b"user-5", good_events["user-5"])
    # The same goal event again (same event_id, another offset): a genuine duplicate.
    send(goals_topic, b"user-0", good_events["user-0"], bad="duplicate")

    prompts = PromptReader(settings.kafka_bootstrap, settings.topic_survey_prompts)
    try:
        by_user = wait_until(
            lambda: len(prompts.poll()) == len(users) and prompts.by_user,
            timeout_s=45,
            what="a prompt for every user who completed the goal",
        )
    finally:
        prompts.close()
    assert set(by_user) == set(users)
    assert len({p.prompt_id for p in by_user.values()}) == len(users)
    for user, prompt in by_user.items():
        assert prompt.goal == GOAL and prompt.user_id == user
        assert abs((prompt.expires_at - prompt.created_at).total_seconds() - PROMPT_EXPIRY_S) < 0.01

    # --- Phase 2: answers, good and bad, to the prompts just issued.
    good_answers = {
        "user-0": answer(by_user["user-0"], 5),  # positive
        "user-1": answer(by_user["user-1"], 3),  # neutral
        "user-2": answer(by_user["user-2"], 1),  # negative
        "user-5": answer(by_user["user-5"], 4, comment="Quick and clear."),  # positive, with feedback
    }
    answer_bytes = {user: a.model_dump_json().encode() for user, a in good_answers.items()}
    send(answers_topic, b"user-0", answer_bytes["user-0"])
    send(answers_topic, b"bad-a1", b"not json {", bad="not_json")
    send(answers_topic, b"user-1", answer_bytes["user-1"])
    string_score = json.loads(answer(by_user["user-2"], 5).model_dump_json()) | {"score": "5"}
    send(answers_topic, b"user-2", json.dumps(string_score).encode(), bad="schema_violation")
    send(answers_topic, b"user-2", answer_bytes["user-2"])
    send(answers_topic, b"user-3", answer(by_user["user-3"], 9).model_dump_json().encode(), bad="score_out_of_range")
    stranger = SurveyAnswer(
        answer_id=uuid.uuid4(),
        prompt_id=uuid.uuid4(),
        user_id="user-1",
        goal=GOAL,
        score=4,
        answered_at=now(),
        channel=Channel.web,
    )
    send(answers_topic, b"user-1", stranger.model_dump_json().encode(), bad="unknown_prompt")
    # Past expires_at + the 60 s answer grace, yet within the 300 s future skew of the record time.
    late = answer(by_user["user-4"], 4, answered_at=by_user["user-4"].created_at + timedelta(seconds=150))
    send(answers_topic, b"user-4", late.model_dump_json().encode(), bad="expired_prompt")
    send(answers_topic, b"user-5", answer_bytes["user-5"])
    # The same answer bytes again, at another offset: a duplicate (its fact was counted once).
    send(answers_topic, b"user-0", answer_bytes["user-0"], bad="duplicate")
    producer.flush()
    producer.close()

    # --- Every good event processed, every bad one counted once under its topic and reason.
    def metric(name: str, **labels: str) -> float | None:
        return worker.metric(name, **labels)

    for topic, reason in expected:
        wait_until(
            lambda: metric("ces_events_invalid_total", topic=topic, reason=reason) == 1.0,
            timeout_s=30,
            what=f"ces_events_invalid_total{{{topic},{reason}}} == 1",
        )
    answers_by_sentiment = {"positive": 2.0, "neutral": 1.0, "negative": 1.0}
    for sentiment, count in answers_by_sentiment.items():
        wait_until(
            lambda: metric("ces_survey_answers_total", goal=GOAL, sentiment=sentiment) == count,
            timeout_s=30,
            what=f"{count:.0f} {sentiment} answers",
        )
    wait_until(
        lambda: metric("ces_feedback_comments_total", goal=GOAL) == 1.0, timeout_s=30, what="one feedback comment"
    )

    samples = worker.samples()
    for (name, labels), value in samples.items():
        if name == "ces_events_invalid_total":
            label = dict(labels)
            assert value == (1.0 if (label["topic"], label["reason"]) in expected else 0.0), (name, label, value)
    # One prompt per user: the duplicate goal event did not count as another prompt.
    assert metric("ces_survey_prompts_total", goal=GOAL, outcome="completed") == len(users)
    # The duplicate is reported as a suppression too (stream.ces.users.prompt_engine: "suppression duplicate_event").
    assert metric("ces_survey_prompts_suppressed_total", goal=GOAL, reason="duplicate_event") == 1.0
    for reason in ("open_prompt", "not_sampled", "user_cooldown", "user_goal_cooldown", "too_old"):
        assert metric("ces_survey_prompts_suppressed_total", goal=GOAL, reason=reason) == 0.0, reason
    # The intake counts every schema-valid goal event; the duplicate is only recognised later, per user.
    assert metric("ces_goal_events_total", goal=GOAL, type="completed") == len(users) + 1
    for sentiment, count in answers_by_sentiment.items():  # the duplicate answer did not count again
        assert metric("ces_survey_answers_total", goal=GOAL, sentiment=sentiment) == count

    # --- The dead-letter topic holds exactly the bad records, bytes intact.
    records = read_all(settings.kafka_bootstrap, settings.topic_dead_letter, expected=len(expected))
    letters = [DeadLetter.model_validate_json(r.value) for r in records]
    got = Counter((dl.source_topic, dl.reason.value) for dl in letters)
    assert got == Counter(expected.keys()), f"dead letters {sorted(got)} != expected {sorted(expected)}"
    for record, letter in zip(records, letters, strict=False):
        key, value, partition, offset = expected[(letter.source_topic, letter.reason.value)]
        assert record.key == letter.source_topic.encode()
        assert letter.original_bytes() == value, (letter.reason, letter.detail)
        assert letter.source_key_bytes() == key, letter.reason
        # The coordinates of the bad record itself (for a duplicate: the second copy, not the original).
        assert (letter.source_partition, letter.source_offset) == (partition, offset), letter.reason
        assert letter.detail, letter.reason

    # The worker is still up, and nothing further arrives on the dead-letter topic.
    assert worker.proc is not None and worker.proc.poll() is None
    assert worker.health()[0] == 200
    assert len(read_all(settings.kafka_bootstrap, settings.topic_dead_letter, expected=len(expected))) == len(expected)


def test_a_record_as_large_as_the_broker_takes_is_dead_lettered_cut_and_the_worker_goes_on(unique_env, start_worker):
    """A ~1 MB input's dead letter with its whole original would be over Kafka's record limit and
    fail its batch forever; it is cut to MAX_ORIGINAL_BYTES, flagged and sized instead."""
    settings = load_settings(**{k[4:].lower(): v for k, v in unique_env.items()})
    create_topics(settings)
    worker = start_worker(unique_env)
    producer = make_producer(settings.kafka_bootstrap, compression_type=None)
    huge = os.urandom(1_000_000)  # incompressible: close to the broker's default limit of 1 MiB per batch
    meta = producer.send(settings.topic_goal_events, key=b"huge", value=huge).get(timeout=30)
    producer.send(
        settings.topic_goal_events,
        key=b"user-after",
        value=goal_event("user-after", goal="file-claim").model_dump_json().encode(),
    ).get(timeout=30)
    producer.close()

    wait_until(
        lambda: worker.metric("ces_goal_events_total", goal="file-claim", type="completed") == 1.0,
        timeout_s=60,
        what="the goal event after the huge record",
    )
    [record] = read_all(settings.kafka_bootstrap, settings.topic_dead_letter, expected=1)
    letter = DeadLetter.model_validate_json(record.value)
    assert (letter.reason.value, letter.source_partition, letter.source_offset) == (
        "oversize",
        meta.partition,
        meta.offset,
    )
    assert (letter.truncated, letter.original_size) == (True, len(huge))
    assert letter.original_bytes() == huge[:MAX_ORIGINAL_BYTES]
    assert worker.metric("ces_events_invalid_total", topic=settings.topic_goal_events, reason="oversize") == 1.0
