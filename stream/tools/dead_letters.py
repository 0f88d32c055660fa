"""``ces-stream dead-letters``: what went to the dead-letter topic, and sending it back once the cause is fixed.

``summary`` counts the dead letters of the last hours per source topic and reason. ``replay`` writes
the original records of the chosen dead letters back to their source topic (or ``--to``), with their
original key and, as record time, the time the worker first saw them, so the intake judges their
lateness as it did then: an input refused as ``unknown_goal`` goes back once the goal is in the
registry, a high-effort answer the feed webhook could not deliver (``undeliverable``,
``delivery_timed_out``) goes back to ``ces.high-effort-answers`` once the webhook is fixed. Replaying
is safe to repeat: the workers de-duplicate inputs by their ids, and a webhook receiver by the
``Idempotency-Key``. A dead letter whose original was cut (``truncated``, over the size limit) cannot
be replayed and is counted apart. Nothing the records hold (user ids, comments) is printed.
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from pydantic import ValidationError

from schemas import DeadLetter, DeadLetterReason
from stream.errors import CesError
from stream.infra.kafka_config import client_options
from stream.infra.preflight import check_kafka_access
from stream.infra.producer import make_producer
from stream.infra.topic_read import read_topic
from stream.settings import Settings

REASONS = tuple(reason.value for reason in DeadLetterReason)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="{summary,replay}")
    summary = actions.add_parser("summary", help="count the dead letters per source topic and reason")
    replay = actions.add_parser("replay", help="write chosen dead letters' originals back to their source topic")
    for sub in (summary, replay):
        sub.add_argument("--hours", type=float, default=24.0, help="the dead letters of the last hours (default 24)")
    replay.add_argument("--source-topic", required=True, help="replay the dead letters read from this topic")
    replay.add_argument(
        "--reason", action="append", required=True, choices=REASONS, help="replay those with this reason (repeatable)"
    )
    replay.add_argument("--to", default=None, help="write them to this topic instead of the source topic")
    replay.add_argument("--dry-run", action="store_true", help="count what would be replayed, write nothing")


@dataclass
class Selection:
    """The dead letters chosen for a replay, and what of the topic was left aside."""

    chosen: list[DeadLetter] = field(default_factory=list)
    truncated: int = 0
    """Chosen by source topic and reason, but their original was cut: not replayable."""
    unreadable: int = 0
    """Records of the dead-letter topic that are no DeadLetter."""


def parse_letters(values: Iterable[bytes | None]) -> tuple[list[DeadLetter], int]:
    """The dead letters among record values, and how many values were none."""
    letters, unreadable = [], 0
    for value in values:
        try:
            letters.append(DeadLetter.model_validate_json(value or b""))
        except ValidationError:
            unreadable += 1
    return letters, unreadable


def select(letters: Iterable[DeadLetter], source_topic: str, reasons: Sequence[str]) -> Selection:
    """The dead letters from ``source_topic`` with one of ``reasons``, in the order they were written."""
    wanted = set(reasons)
    selection = Selection()
    for letter in letters:
        if letter.source_topic != source_topic or letter.reason.value not in wanted:
            continue
        if letter.truncated:
            selection.truncated += 1
        else:
            selection.chosen.append(letter)
    return selection


def summary_rows(letters: Iterable[DeadLetter]) -> list[tuple[str, str, int]]:
    """``(source topic, reason, count)``, most first."""
    counts = Counter((letter.source_topic, letter.reason.value) for letter in letters)
    return [(topic, reason, count) for (topic, reason), count in counts.most_common()]


def read_letters(settings: Settings, hours: float) -> tuple[list[DeadLetter], int]:
    """The dead letters written in the last ``hours``, and how many records of the topic were none."""
    since = datetime.now(UTC) - timedelta(hours=hours)
    records = read_topic(settings, settings.topic_dead_letter, since=since)
    return parse_letters(record.value for record in records)


def replay(settings: Settings, letters: Sequence[DeadLetter], topic: str, timeout_s: float = 60.0) -> None:
    """Write the originals of ``letters`` to ``topic`` with their keys and first-seen times; wait for Kafka.

    :raises CesError: when Kafka cannot be reached or refuses a record.
    """
    options = client_options(settings)
    producer = make_producer(options.pop("bootstrap_servers"), acks="all", **options)
    try:
        for letter in letters:
            producer.send(
                topic,
                key=letter.source_key_bytes(),
                value=letter.original_bytes(),
                timestamp_ms=int(letter.received_at.timestamp() * 1000),
            )
        producer.flush(timeout=timeout_s)
    except Exception as exc:  # kafka-python raises its own errors and timeouts
        raise CesError(f"replaying to {topic} failed: {exc}") from exc
    finally:
        producer.close(timeout=5)


def run(settings: Settings, args: argparse.Namespace) -> int:
    check_kafka_access(settings)
    letters, unreadable = read_letters(settings, args.hours)
    if args.action == "summary":
        print(f"dead letters of the last {args.hours:g} h in {settings.topic_dead_letter}: {len(letters)}")
        for topic, reason, count in summary_rows(letters):
            print(f"  {count:>8}  {topic}  {reason}")
        if unreadable:
            print(f"  {unreadable:>8}  records that are no dead letter (skipped)")
        return 0
    selection = select(letters, args.source_topic, args.reason)
    target = args.to or args.source_topic
    verb = "would replay" if args.dry_run else "replayed"
    if not args.dry_run and selection.chosen:
        replay(settings, selection.chosen, target)
    reasons = ", ".join(sorted(set(args.reason)))
    print(f"{verb} {len(selection.chosen)} records from {args.source_topic} ({reasons}) to {target}")
    if selection.truncated:
        print(f"{selection.truncated} more were cut at the size limit when dead-lettered: not replayable")
    return 0
