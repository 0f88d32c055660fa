"""Never stuck, never silent: a stage that cannot go on makes the worker exit non-zero, and nothing is lost.

The fault is real: the broker refuses the prompts topic's records (its ``max.message.bytes`` is
set below a prompt's size), so the user stage's batch cannot be produced. Faust's default would
restart the agent past its unacked batch and keep the worker running with nothing committed;
ces-stream exits for its supervisor instead. Once the topic takes records again, a new worker
re-reads the batch from the last commit and the prompt goes out.
"""

from __future__ import annotations

import uuid

import pytest
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient

from stream.infra.producer import emit_goal_event, make_producer
from stream.infra.topics import create_topics
from tests.harness import TopicReader, make_goal_event, settings_from_env, worker_env, write_registry

pytestmark = pytest.mark.integration


def set_max_message_bytes(bootstrap: str, topic: str, value: int) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.alter_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic, configs={"max.message.bytes": str(value)})]
        )
    finally:
        admin.close()


def test_an_output_the_broker_refuses_stops_the_worker_non_zero_and_loses_nothing(
    kafka_bootstrap, tmp_path, start_worker
):
    goals = write_registry(tmp_path / "goals.yaml", [{"slug": "pay-bill", "scale": {"kind": "five_point"}}])
    env = {**worker_env(kafka_bootstrap, f"t{uuid.uuid4().hex[:10]}"), "CES_GOALS_FILE": str(goals)}
    settings = settings_from_env(env)
    create_topics(settings)
    set_max_message_bytes(kafka_bootstrap, settings.topic_survey_prompts, 64)  # a prompt is ~600 bytes
    worker = start_worker(env, name="refused")

    producer = make_producer(kafka_bootstrap)
    emit_goal_event(
        producer, make_goal_event("pay-bill", "completed", "user-crash-1"), topic=settings.topic_goal_events
    )
    producer.flush()
    assert worker.proc is not None
    returncode = worker.proc.wait(timeout=90)
    log = worker.log_path.read_text(errors="replace")
    assert returncode != 0, log[-3000:]
    assert "stage " in log and ".users crashed" in log and "MessageSizeTooLarge" in log, log[-3000:]

    set_max_message_bytes(kafka_bootstrap, settings.topic_survey_prompts, 1_048_588)  # Kafka's default
    prompts = TopicReader(kafka_bootstrap, settings.topic_survey_prompts)
    try:
        start_worker(env, name="after")
        found = prompts.wait_for(
            lambda got: [p for p in got if p["user_id"] == "user-crash-1"],
            timeout_s=60,
            what="the prompt of the batch the crashed worker could not send",
        )
        assert len(found) == 1
    finally:
        prompts.close()
        producer.close()
