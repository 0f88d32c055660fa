"""A worker refuses to start on internal topics made with another partition count, and says why.

Its stages send to partition hash % CES_TOPIC_PARTITIONS of those topics: with fewer
partitions every batch would fail (the agents crash and restart forever), and with more the
keys would move away from their state.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest
from kafka import KafkaAdminClient
from kafka.admin import NewTopic

from stream.errors import TopicLayoutError
from stream.infra.topics import create_topics, user_events_topic
from tests.harness import settings_from_env, wait_until, worker_env

pytestmark = pytest.mark.integration


def test_an_internal_topic_with_another_partition_count_stops_the_worker_at_start(kafka_bootstrap, tmp_path):
    env = worker_env(kafka_bootstrap, f"t{uuid.uuid4().hex[:10]}", partitions=4)
    settings = settings_from_env(env)
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        admin.create_topics([NewTopic(user_events_topic(settings), num_partitions=2, replication_factor=1)])
    finally:
        admin.close()
    with pytest.raises(TopicLayoutError, match=f"{user_events_topic(settings)} has 2"):
        create_topics(settings)
    result = subprocess.run(
        [sys.executable, "-m", "stream.tools.cli", "worker"],
        env={**os.environ, **env},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "CES_TOPIC_PARTITIONS=4" in result.stderr and "has 2" in result.stderr


def test_matching_internal_topics_pass(kafka_bootstrap):
    settings = settings_from_env(worker_env(kafka_bootstrap, f"t{uuid.uuid4().hex[:10]}", partitions=4))
    assert set(create_topics(settings).values()) == {"created"}
    assert set(create_topics(settings).values()) == {"exists"}


def test_an_existing_topic_with_another_retention_is_reported_not_changed(kafka_bootstrap):
    """Issue 25: topics with raw user ids get CES_RAW_ID_RETENTION_HOURS; one made otherwise is named, left alone."""
    env = worker_env(kafka_bootstrap, f"t{uuid.uuid4().hex[:10]}", partitions=4)
    settings = settings_from_env({**env, "CES_RAW_ID_RETENTION_HOURS": "24"})
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        admin.create_topics(
            [
                NewTopic(
                    settings.topic_survey_prompts,
                    num_partitions=4,
                    replication_factor=1,
                    topic_configs={"retention.ms": str(30 * 24 * 3_600_000)},
                )
            ]
        )
        wait_until(lambda: settings.topic_survey_prompts in admin.list_topics(), timeout_s=30, what="the topic listed")
    finally:
        admin.close()
    result = create_topics(settings)
    prompts = result.pop(settings.topic_survey_prompts)
    assert prompts.startswith("differs: retention.ms is 2592000000, wanted 86400000"), prompts
    assert set(result.values()) == {"created"}
    again = create_topics(settings)
    assert again[settings.topic_survey_prompts] == prompts  # still not changed
    assert {v for k, v in again.items() if k != settings.topic_survey_prompts} == {"exists"}
