"""Reading a whole topic once, without a consumer group: what a report or a page's query reads.

A consumer with no group id commits nothing and joins no group, so it never disturbs the workers.
It reads every partition from a time on (or from the beginning) up to the end offsets taken at the
start of the read, so records written meanwhile do not keep it going.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from stream.errors import CesError
from stream.infra.kafka_config import client_options
from stream.settings import Settings

POLL_TIMEOUT_MS = 500


def read_topic(
    settings: Settings,
    topic: str,
    *,
    since: datetime | None = None,
    timeout_s: float = 120.0,
    connect_timeout_s: float | None = None,
) -> Iterator[Any]:
    """Every record of ``topic`` (kafka-python ``ConsumerRecord``) from ``since`` (None: the beginning) up to the
    end offsets at the start of the read, partition by partition in offset order.

    :param connect_timeout_s: how long to wait for the broker at first (kafka-python's default if None).
    :raises CesError: when the broker cannot be reached, the topic does not exist, or the read takes over
        ``timeout_s``.
    """
    from kafka import KafkaConsumer, TopicPartition
    from kafka.errors import KafkaError

    deadline = time.monotonic() + timeout_s
    options: dict[str, Any] = (
        {} if connect_timeout_s is None else {"bootstrap_timeout_ms": int(connect_timeout_s * 1000)}
    )
    try:
        consumer = KafkaConsumer(
            **client_options(settings),
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            allow_auto_create_topics=False,
            **options,
        )
    except KafkaError as exc:
        raise CesError(f"cannot read {topic} from {settings.kafka_bootstrap}: {exc}") from exc
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            raise CesError(f"topic {topic} does not exist (or is not readable) at {settings.kafka_bootstrap}")
        assigned = [TopicPartition(topic, partition) for partition in sorted(partitions)]
        consumer.assign(assigned)
        end = consumer.end_offsets(assigned)
        remaining = set()
        if since is None:
            consumer.seek_to_beginning(*assigned)
            remaining = {tp for tp in assigned if consumer.position(tp) < end[tp]}
        else:
            starts = consumer.offsets_for_times(dict.fromkeys(assigned, int(since.timestamp() * 1000)))
            for tp in assigned:
                found = starts.get(tp)
                if found is not None and found.offset < end[tp]:  # None: no record from then on
                    consumer.seek(tp, found.offset)
                    remaining.add(tp)
        consumer.pause(*(tp for tp in assigned if tp not in remaining))
        while remaining:
            if time.monotonic() > deadline:
                raise CesError(f"reading {topic} took over {timeout_s:.0f} s; {len(remaining)} partitions unfinished")
            for tp, records in consumer.poll(timeout_ms=POLL_TIMEOUT_MS).items():
                for record in records:
                    if record.offset >= end[tp]:
                        break
                    yield record
            done = {tp for tp in remaining if consumer.position(tp) >= end[tp]}
            if done:
                consumer.pause(*done)
                remaining -= done
    except KafkaError as exc:
        raise CesError(f"reading {topic} at {settings.kafka_bootstrap} failed: {exc}") from exc
    finally:
        consumer.close()
