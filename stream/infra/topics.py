"""The topics ces-stream reads and writes, and their creation (safe to run again)."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass

from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType
from kafka.errors import TopicAlreadyExistsError

from stream.errors import TopicLayoutError
from stream.infra.kafka_config import client_options
from stream.infra.preflight import check_kafka_access
from stream.settings import Settings

HOUR_MS = 3_600_000
# How long topic creation waits for the new topics to have a leader on every partition.
TOPICS_READY_TIMEOUT_MS = 60_000
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    replication_factor: int
    configs: dict[str, str]


def user_events_topic(settings: Settings) -> str:
    """Goal events and answers re-keyed by pseudonymous user (internal)."""
    return f"{settings.app_id}-user-events"


def goal_partials_topic(settings: Settings) -> str:
    """Per-partition partial aggregates keyed by goal (internal)."""
    return f"{settings.app_id}-goal-partials"


def topic_specs(settings: Settings) -> list[TopicSpec]:
    """Every topic that is not a table changelog, with partitions, cleanup policy and retention.

    Faust creates its changelogs itself; the internal streams are created here too, before
    the worker subscribes to them, so a first start on a fresh broker gets their partitions.
    """
    anonymous = str(int(settings.topic_retention_hours * HOUR_MS))
    personal = str(int(settings.raw_id_retention_hours * HOUR_MS))
    dead_letter_retention = str(int(settings.dead_letter_retention_hours * HOUR_MS))

    def spec(name: str, retention_ms: str, cleanup: str = "delete") -> TopicSpec:
        configs = {"cleanup.policy": cleanup, "retention.ms": retention_ms}
        return TopicSpec(name, settings.topic_partitions, settings.topic_replication_factor, configs)

    return [
        # Internal: the re-keyed inputs (raw user ids in the values) and the per-partition partials (anonymous).
        spec(user_events_topic(settings), personal),
        spec(goal_partials_topic(settings), anonymous),
        # Personal data (raw user ids, free text): an erasure cannot reach them, their retention can
        # (docs/personal-data.md).
        spec(settings.topic_goal_events, personal),
        spec(settings.topic_survey_answers, personal),
        spec(settings.topic_prompt_events, personal),
        spec(settings.topic_survey_prompts, personal),
        spec(settings.topic_feedback_comments, personal),
        spec(settings.topic_high_effort_answers, personal),
        spec(settings.topic_erasure_requests, personal),
        spec(settings.topic_dead_letter, dead_letter_retention),
        # Keyed by goal|window|start: compaction keeps the latest revision of each summary.
        spec(settings.topic_goal_summaries, anonymous, cleanup="compact,delete"),
        # Keyed by goal|channel|version: a verdict written again after a crash replaces the first.
        spec(settings.topic_release_verdicts, anonymous, cleanup="compact,delete"),
    ]


def self_partitioned_topics(settings: Settings) -> list[str]:
    """The topics whose records ces-stream sends to a partition it computes (a hash modulo
    ``CES_TOPIC_PARTITIONS``), and the table changelogs that must line up with them."""
    app = settings.app_id
    return [
        user_events_topic(settings),
        goal_partials_topic(settings),
        f"{app}-users-changelog",
        f"{app}-erasures-changelog",
        f"{app}-partials-changelog",
        f"{app}-goal-partials-changelog",
        f"{app}-release-verdicts-changelog",
    ]


def check_partitions(admin: KafkaAdminClient, settings: Settings, existing: set[str]) -> None:
    """Refuse to start on internal topics made with another partition count.

    Sending to partition 5 of a 2-partition topic fails on every batch, and re-partitioning
    would move keys away from the state that belongs to them: neither may happen silently.

    :raises TopicLayoutError: naming the topics, their partition counts and the ways out.
    """
    names = [name for name in self_partitioned_topics(settings) if name in existing]
    if not names:
        return
    wrong = {
        d["name"]: len(d["partitions"])
        for d in admin.describe_topics(names)
        if len(d["partitions"]) != settings.topic_partitions
    }
    if wrong:
        found = ", ".join(f"{name} has {count}" for name, count in sorted(wrong.items()))
        raise TopicLayoutError(
            f"internal topics were made with another partition count than CES_TOPIC_PARTITIONS="
            f"{settings.topic_partitions}: {found}. Set CES_TOPIC_PARTITIONS to the count they have, or start "
            f"afresh with another CES_APP_ID (or delete the topics named {settings.app_id}-*: their state goes too)"
        )


def config_differences(admin: KafkaAdminClient, specs: list[TopicSpec]) -> dict[str, str]:
    """The existing topics whose retention or cleanup policy is not what ces-stream would create.

    :returns: name -> what differs, e.g. ``retention.ms is 604800000, CES_* wants 86400000``.
    """
    if not specs:
        return {}
    resources = [ConfigResource(ConfigResourceType.TOPIC, spec.name, dict.fromkeys(spec.configs)) for spec in specs]
    described = admin.describe_configs(resources, config_filter="all").get("topic", {})
    out: dict[str, str] = {}
    for spec in specs:
        found = described.get(spec.name, {})
        wrong = [
            f"{key} is {found.get(key, {}).get('value')}, wanted {value}"
            for key, value in spec.configs.items()
            if found.get(key, {}).get("value") != value
        ]
        if wrong:
            out[spec.name] = "; ".join(wrong)
    return out


def create_topics(settings: Settings) -> dict[str, str]:
    """Create every missing topic; safe to run again. Returns name -> 'created' | 'exists' | 'differs: ...'.

    An existing topic whose retention or cleanup policy differs from the settings is reported, not
    changed: a longer retention may be a deliberate legal hold, a shorter one a cost decision, and
    neither is ces-stream's to overrule at start. ``kafka-configs.sh --alter`` changes it.

    The first contact with the cluster (the worker, ``ces-stream topics create``, ``run`` and
    ``bench`` start here), so it checks access first.

    :raises KafkaAuthenticationError: a broker refused the SASL credentials (at once).
    :raises KafkaAccessError: no broker answered within 30 s, or its certificate is not trusted.
    :raises TopicLayoutError: when an internal topic exists with another partition count.
    """
    check_kafka_access(settings)
    admin = KafkaAdminClient(client_id=f"{settings.app_id}-admin", **client_options(settings))
    try:
        existing = set(admin.list_topics())
        check_partitions(admin, settings, existing)
        result: dict[str, str] = {}
        wanted = {}
        specs = topic_specs(settings)
        for spec in specs:
            if spec.name in existing:
                result[spec.name] = "exists"
            else:
                wanted[spec.name] = {
                    "num_partitions": spec.partitions,
                    "replication_factor": spec.replication_factor,
                    "configs": spec.configs,
                }
        if wanted:
            # another process may create them between list and create
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics(wanted, timeout_ms=30_000)
            # Not create_topics(wait_for_metadata=True): kafka-python 3.0 then waits its own 10 s, whatever
            # timeout it was given, and a broker that has just started can take longer to elect the leaders.
            admin.wait_for_topics(list(wanted), timeout_ms=TOPICS_READY_TIMEOUT_MS)
            result.update(dict.fromkeys(wanted, "created"))
        differing = config_differences(admin, [spec for spec in specs if spec.name in existing])
        for name, what in differing.items():
            result[name] = f"differs: {what} (not changed)"
            log.warning("topic %s: %s; not changed (kafka-configs.sh --alter changes it)", name, what)
        return result
    finally:
        admin.close()
