"""The producer keeps metadata for every topic a stage sends to (the cause of the stall of issue 9).

aiokafka 0.14 tracks a topic for metadata refreshes only when a send finds it missing from
the cache; a refresh asks for the tracked topics alone and replaces the cache. A topic known
from the first full fetch but never tracked drops out, and a batch queued for it at that
moment waits out the request timeout while Faust's commit waits for it: the worker stalls.
``track_topic`` (what BatchSender calls before every send) keeps the topic in every refresh.
"""

from __future__ import annotations

import uuid

import pytest
from aiokafka import AIOKafkaProducer
from kafka import KafkaAdminClient
from kafka.admin import NewTopic

from stream.pipeline.faust_internals import track_topic

pytestmark = pytest.mark.integration


@pytest.fixture
def two_topics(kafka_bootstrap):
    names = [f"t{uuid.uuid4().hex[:10]}.{n}" for n in ("sent-to", "other")]
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        admin.create_topics([NewTopic(name, num_partitions=2, replication_factor=1) for name in names])
    finally:
        admin.close()
    return names


async def started_producer(bootstrap: str) -> AIOKafkaProducer:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    # A refresh while no topic is tracked asks for all of them (the worker's start does one):
    # every topic is in the cache, none tracked.
    await producer.client.force_metadata_update()
    return producer


async def test_without_tracking_a_refresh_for_another_topic_drops_the_one_sent_to(kafka_bootstrap, two_topics):
    sent_to, other = two_topics
    producer = await started_producer(kafka_bootstrap)
    try:
        await producer.send_and_wait(sent_to, b"v", partition=0)  # known from the cache: not tracked
        assert producer.client.cluster.partitions_for_topic(sent_to)
        await producer.client.add_topic(other)  # now only `other` is tracked, and the refresh replaces the cache
        assert producer.client.cluster.partitions_for_topic(sent_to) is None, (
            "aiokafka keeps untracked topics now: track_topic may no longer be needed"
        )
    finally:
        await producer.stop()


async def test_a_tracked_topic_stays_in_every_refresh(kafka_bootstrap, two_topics):
    sent_to, other = two_topics
    producer = await started_producer(kafka_bootstrap)
    try:
        await track_topic(producer, sent_to)
        await producer.send_and_wait(sent_to, b"v", partition=0)
        await producer.client.add_topic(other)
        assert producer.client.cluster.partitions_for_topic(sent_to) == {0, 1}
        assert (await producer.send_and_wait(sent_to, b"w", partition=1)).partition == 1
    finally:
        await producer.stop()
