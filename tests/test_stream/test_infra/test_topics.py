"""Tests for stream.infra.topics.topic_specs: names, partitions, cleanup policies and retention (no broker)."""

from __future__ import annotations

import os

import pytest

from stream.infra.topics import HOUR_MS, goal_partials_topic, topic_specs, user_events_topic
from stream.settings import ENV_PREFIX, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in list(os.environ):
        if name.startswith(ENV_PREFIX):
            monkeypatch.delenv(name)


@pytest.fixture
def settings():
    return load_settings(
        app_id="ces-test",
        topic_goal_events="in.goal-events",
        topic_survey_answers="in.survey-answers",
        topic_survey_prompts="out.survey-prompts",
        topic_prompt_events="in.prompt-events",
        topic_goal_summaries="out.goal-summaries",
        topic_feedback_comments="out.feedback-comments",
        topic_high_effort_answers="out.high-effort-answers",
        topic_release_verdicts="out.release-verdicts",
        topic_dead_letter="out.dead-letter",
        topic_erasure_requests="in.erasure-requests",
        topic_partitions=6,
        topic_replication_factor=3,
        topic_retention_hours=48,
        raw_id_retention_hours=24,
        dead_letter_retention_hours=720,
    )


def by_name(settings):
    return {spec.name: spec for spec in topic_specs(settings)}


def test_internal_topic_names_follow_the_app_id(settings):
    assert user_events_topic(settings) == "ces-test-user-events"
    assert goal_partials_topic(settings) == "ces-test-goal-partials"


def test_every_topic_is_listed_once(settings):
    names = [spec.name for spec in topic_specs(settings)]
    assert len(names) == len(set(names))
    assert set(names) == {
        "ces-test-user-events",
        "ces-test-goal-partials",
        "in.goal-events",
        "in.survey-answers",
        "in.prompt-events",
        "out.survey-prompts",
        "out.goal-summaries",
        "out.release-verdicts",
        "out.feedback-comments",
        "out.high-effort-answers",
        "out.dead-letter",
        "in.erasure-requests",
    }


def test_internal_topics_come_first(settings):
    # Created before the worker subscribes to them.
    assert [spec.name for spec in topic_specs(settings)][:2] == ["ces-test-user-events", "ces-test-goal-partials"]


def test_partitions_and_replication_come_from_the_settings(settings):
    for spec in topic_specs(settings):
        assert spec.partitions == 6, spec.name
        assert spec.replication_factor == 3, spec.name


@pytest.mark.parametrize(
    ("name", "cleanup", "retention_ms"),
    [
        # Raw user ids or free text: CES_RAW_ID_RETENTION_HOURS.
        ("ces-test-user-events", "delete", str(24 * 3_600_000)),
        ("in.goal-events", "delete", str(24 * 3_600_000)),
        ("in.survey-answers", "delete", str(24 * 3_600_000)),
        ("in.prompt-events", "delete", str(24 * 3_600_000)),
        ("out.survey-prompts", "delete", str(24 * 3_600_000)),
        ("out.feedback-comments", "delete", str(24 * 3_600_000)),
        ("out.high-effort-answers", "delete", str(24 * 3_600_000)),
        ("in.erasure-requests", "delete", str(24 * 3_600_000)),
        # Anonymous figures: CES_TOPIC_RETENTION_HOURS.
        ("ces-test-goal-partials", "delete", str(48 * 3_600_000)),
        ("out.goal-summaries", "compact,delete", str(48 * 3_600_000)),
        ("out.dead-letter", "delete", str(720 * 3_600_000)),
    ],
)
def test_cleanup_policy_and_retention(settings, name, cleanup, retention_ms):
    assert by_name(settings)[name].configs == {"cleanup.policy": cleanup, "retention.ms": retention_ms}


@pytest.mark.parametrize(
    ("hours", "expected_ms"),
    [(1, "3600000"), (0.5, "1800000"), (168, "604800000"), (1.25, "4500000"), (0.0001, "360")],
)
def test_retention_ms_from_fractional_hours(hours, expected_ms):
    s = load_settings(topic_retention_hours=hours, raw_id_retention_hours=hours, dead_letter_retention_hours=hours)
    for spec in topic_specs(s):
        assert spec.configs["retention.ms"] == expected_ms
        assert spec.configs["retention.ms"].isdigit()  # Kafka wants an integer, never "3600000.0"


def test_defaults_give_a_week_and_thirty_days():
    s = load_settings()
    specs = by_name(s)
    assert HOUR_MS == 3_600_000
    assert specs["ces.goal-events"].configs["retention.ms"] == str(168 * HOUR_MS)
    assert specs["ces.dead-letter"].configs["retention.ms"] == str(720 * HOUR_MS)
    assert specs["ces.erasure-requests"].configs["retention.ms"] == str(168 * HOUR_MS)
    assert specs["ces-stream-user-events"].partitions == 8


def test_specs_do_not_share_config_dicts(settings):
    specs = topic_specs(settings)
    specs[0].configs["retention.ms"] = "1"
    assert all(spec.configs["retention.ms"] != "1" for spec in specs[1:])


def test_every_topic_with_raw_user_ids_has_the_raw_id_retention(settings):
    """docs/personal-data.md lists these; their retention is how long an erased user's records last there."""
    personal = {"ces-test-user-events", "in.goal-events", "in.survey-answers", "out.survey-prompts"}
    personal |= {"out.feedback-comments", "out.high-effort-answers", "in.erasure-requests", "in.prompt-events"}
    specs = by_name(settings)
    assert {name for name, spec in specs.items() if spec.configs["retention.ms"] == str(24 * HOUR_MS)} == personal


class FakeAdmin:
    """describe_configs as kafka-python 3 answers it: {"topic": {name: {config: {"value": ...}}}}."""

    def __init__(self, configs: dict[str, dict[str, str]]) -> None:
        self.configs = configs

    def describe_configs(self, resources, config_filter):
        assert config_filter == "all"
        return {"topic": {r.name: {k: {"value": v} for k, v in self.configs[r.name].items()} for r in resources}}


def test_config_differences_name_what_differs_and_nothing_else(settings):
    from stream.infra.topics import config_differences

    specs = [spec for spec in topic_specs(settings) if spec.name in ("out.survey-prompts", "out.goal-summaries")]
    admin = FakeAdmin(
        {
            "out.survey-prompts": {"cleanup.policy": "delete", "retention.ms": "1"},
            "out.goal-summaries": {"cleanup.policy": "compact,delete", "retention.ms": str(48 * HOUR_MS)},
        }
    )
    assert config_differences(admin, specs) == {"out.survey-prompts": f"retention.ms is 1, wanted {24 * HOUR_MS}"}
    assert config_differences(admin, []) == {}
