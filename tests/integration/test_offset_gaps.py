"""Legitimate holes in the offsets, through the real broker: they are read back, found empty, and counted.

A transactional producer's commit markers take an offset each and are never delivered,
so an input written in transactions has a hole after every transaction. The stages'
continuity guard must read such holes back, find no record in them and go on, counting
them as ``no_records``, never as skipped records.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest
from kafka import KafkaProducer

from stream.infra.record_reader import RecordReader
from stream.infra.topics import create_topics
from tests.harness import make_goal_event, settings_from_env, wait_until, worker_env, write_registry

pytestmark = pytest.mark.integration

TRANSACTIONS = 5
PER_TRANSACTION = 3
LAST_OFFSET = (TRANSACTIONS - 1) * (PER_TRANSACTION + 1) + PER_TRANSACTION - 1  # the last data record


def produce_in_transactions(bootstrap: str, topic: str, goal: str) -> list[str]:
    """TRANSACTIONS transactions of PER_TRANSACTION completions each, all on partition 0."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, transactional_id=f"tx-{uuid.uuid4().hex[:8]}")
    producer.init_transactions()
    users = []
    for t in range(TRANSACTIONS):
        producer.begin_transaction()
        for i in range(PER_TRANSACTION):
            user = f"tx{t}-{i}"
            users.append(user)
            event = make_goal_event(goal, "completed", user)
            producer.send(topic, key=user.encode(), value=event.model_dump_json().encode(), partition=0)
        producer.commit_transaction()
    producer.close()
    return users


@pytest.fixture
def env(kafka_bootstrap, tmp_path):
    registry = write_registry(tmp_path / "goals.yaml", [{"slug": "tx-goal", "scale": {"kind": "five_point"}}])
    env = {**worker_env(kafka_bootstrap, f"t{uuid.uuid4().hex[:10]}", partitions=2), "CES_GOALS_FILE": str(registry)}
    create_topics(settings_from_env(env))
    return env


def test_reading_a_range_back_skips_transaction_markers(env, kafka_bootstrap):
    settings = settings_from_env(env)
    produce_in_transactions(kafka_bootstrap, settings.topic_goal_events, "tx-goal")

    async def read():
        reader = RecordReader(settings)
        try:
            # A range ends at a record that exists (a hole ends at the record that showed it).
            everything = await reader.read_range(settings.topic_goal_events, 0, 0, LAST_OFFSET, limit=1000)
            marker = PER_TRANSACTION  # the first commit marker sits right after the first transaction
            hole = await reader.read_range(settings.topic_goal_events, 0, marker, marker + 1, limit=10)
            return everything, hole
        finally:
            await reader.stop()

    everything, hole = asyncio.run(read())
    offsets = [record.offset for record in everything]
    # Data records only: each transaction's records, then one offset taken by its marker.
    data = [t * (PER_TRANSACTION + 1) + i for t in range(TRANSACTIONS) for i in range(PER_TRANSACTION)]
    assert offsets == data[:-1] and data[-1] == LAST_OFFSET
    assert hole == []


def test_a_transactional_input_is_counted_exactly_and_its_holes_are_no_records(env, kafka_bootstrap, start_worker):
    settings = settings_from_env(env)
    worker = start_worker(env)
    users = produce_in_transactions(kafka_bootstrap, settings.topic_goal_events, "tx-goal")

    def completed() -> float:
        return worker.metric("ces_goal_outcomes", goal="tx-goal", window="1h", outcome="completed") or 0.0

    wait_until(
        lambda: completed() == len(users),
        timeout_s=90,
        what="every transactional completion counted",
        describe=completed,
    )
    topic = settings.topic_goal_events
    # A hole before each transaction but the first (the last marker has no record after it).
    assert worker.metric("ces_offset_gaps_total", topic=topic, verdict="no_records") == TRANSACTIONS - 1
    assert worker.metric("ces_offset_gaps_total", topic=topic, verdict="records_read_back") == 0.0
    assert worker.metric("ces_offset_gap_records_total", topic=topic) == 0.0
