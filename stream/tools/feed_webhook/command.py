"""``ces-stream feed-webhook``: deliver ``ces.high-effort-answers`` to a webhook (Slack or plain JSON).

A long-running process of its own (consumer group ``<CES_APP_ID>-feed-webhook``; scale it apart
from the workers, up to the topic's partitions). Each record is POSTed with
``Idempotency-Key: <answer_id>`` and its offset committed only once the webhook took it (2xx) or
it was dead-lettered; records are delivered in order per partition, at least once. What a
failed POST leads to is :mod:`stream.ces.feed.retry`; the loop is
:mod:`stream.tools.feed_webhook.loop`.

SIGTERM and SIGINT stop it within a few seconds, a hanging webhook or an absent broker
notwithstanding: waits end at once, a POST in flight is abandoned (its record comes again), what
was finished is committed, and it exits 0. One that cannot go on (no webhook URL, a topic that
does not exist, credentials Kafka refuses) says why and exits 2.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from kafka import KafkaConsumer
from kafka.errors import KafkaError

from stream.ces.feed import RetryPolicy
from stream.ces.registry import GoalRegistry, load_registry
from stream.errors import CesError
from stream.infra.kafka_config import client_options
from stream.infra.preflight import check_kafka_access
from stream.infra.producer import make_producer
from stream.observability.log_limits import limit_repeats
from stream.observability.metrics import FeedWebhookMetrics
from stream.settings import Settings
from stream.tools.feed_webhook.delivery import Delivery, SharedRateLimits
from stream.tools.feed_webhook.http_post import WebhookPoster
from stream.tools.feed_webhook.loop import FeedLoop
from stream.tools.feed_webhook.server import FeedServer

log = logging.getLogger(__name__)
CLOSE_TIMEOUT_S = 2.0
# A dead letter's send waits at most this long for the broker's metadata (then it is tried again).
PRODUCER_MAX_BLOCK_MS = 5000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The sub-command's options."""
    parser.add_argument("--loglevel", default="info", choices=("debug", "info", "warning", "error"))


class _Interrupted(BaseException):
    """A stop signal while starting: the start is abandoned at once."""


class StopSignals:
    """SIGTERM and SIGINT set :attr:`event`; while :meth:`interrupting`, they also abandon what is running."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self._interrupting = False

    def install(self) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._on_signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.event.set()
        if self._interrupting:
            raise _Interrupted

    @contextmanager
    def interrupting(self) -> Iterator[None]:
        """Steps that may block for long without looking at the event (the broker check, metadata)."""
        self._interrupting = True
        try:
            if self.event.is_set():
                raise _Interrupted
            yield
        finally:
            self._interrupting = False


def webhook_url(settings: Settings) -> str:
    """The webhook URL, or a clear refusal to start without one."""
    if settings.feed_webhook_url is None:
        raise CesError(
            "CES_FEED_WEBHOOK_URL is not set: set it to the webhook to deliver ces.high-effort-answers to "
            "(docs/operations.md, section Feed webhook)"
        )
    return settings.feed_webhook_url.get_secret_value()


def configure_logging(loglevel: str, settings: Settings) -> None:
    logging.basicConfig(
        level=loglevel.upper(), format="[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s"
    )
    if loglevel != "debug":  # kafka-python tells every connection attempt at INFO
        logging.getLogger("kafka").setLevel(logging.WARNING)
    if settings.log_repeat_seconds > 0:  # a webhook or broker outage would otherwise write a line per attempt
        limit_repeats(logging.getLogger(), settings.log_repeat_seconds)


def display_names(registry: GoalRegistry) -> dict[str, str]:
    """slug -> the goal's English display name (its first one when it has no English one)."""
    return {goal.slug: goal.display_name.get("en") or next(iter(goal.display_name.values())) for goal in registry.goals}


def make_consumer(settings: Settings) -> Any:
    """The feed's consumer: its own group, commits by hand, a new group starts at the oldest record."""
    try:
        return KafkaConsumer(
            group_id=f"{settings.app_id}-feed-webhook",
            client_id=f"{settings.app_id}-feed-webhook",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=int(settings.session_timeout_seconds * 1000),
            heartbeat_interval_ms=int(settings.heartbeat_interval_seconds * 1000),
            reconnect_backoff_max_ms=int(settings.kafka_reconnect_backoff_max_seconds * 1000),
            **client_options(settings),
        )
    except KafkaError as exc:
        raise CesError(f"the feed webhook's Kafka consumer could not start: {type(exc).__name__}: {exc}") from None


def require_topics(consumer: Any, settings: Settings) -> None:
    """Both topics the feed uses must exist: it never creates them."""
    try:
        existing = consumer.topics()
    except KafkaError as exc:
        raise CesError(f"the topics could not be listed: {type(exc).__name__}: {exc}") from None
    missing = [t for t in (settings.topic_high_effort_answers, settings.topic_dead_letter) if t not in existing]
    if missing:
        what = (
            f"topic {missing[0]} does not exist" if len(missing) == 1 else f"topics {', '.join(missing)} do not exist"
        )
        raise CesError(f"{what}: `ces-stream topics create` (or a worker's start) makes them")


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Deliver until SIGTERM or SIGINT (exit 0).

    :raises CesError: when it cannot start or go on (exit 2).
    """
    url = webhook_url(settings)
    configure_logging(args.loglevel, settings)
    registry = load_registry(settings.goals_file)
    signals = StopSignals()
    signals.install()
    consumer = producer = server = None
    try:
        with signals.interrupting():
            log.info("feed webhook: checking access to Kafka at %s", settings.kafka_bootstrap)
            check_kafka_access(settings)
            consumer = make_consumer(settings)
            require_topics(consumer, settings)
            options = client_options(settings)
            producer = make_producer(
                options.pop("bootstrap_servers"), acks="all", max_block_ms=PRODUCER_MAX_BLOCK_MS, **options
            )
        metrics = FeedWebhookMetrics(registry.slugs)
        delivery = Delivery(
            poster=WebhookPoster(url, settings.feed_webhook_timeout_seconds),
            producer=producer,
            dead_letter_topic=settings.topic_dead_letter,
            feed_format=settings.feed_webhook_format,
            policy=RetryPolicy(
                initial_backoff_s=settings.feed_webhook_backoff_initial_seconds,
                max_backoff_s=settings.feed_webhook_backoff_max_seconds,
                give_up_s=settings.feed_webhook_give_up_seconds,
            ),
            limits=SharedRateLimits(settings.feed_webhook_rate_per_goal_per_minute),
            metrics=metrics,
            registry_goals=display_names(registry),
            max_bytes=settings.max_event_bytes,
        )
        loop = FeedLoop(consumer, settings.topic_high_effort_answers, delivery.deliver, signals.event)
        try:
            server = FeedServer(
                settings.web_host, settings.feed_webhook_metrics_port, metrics, lambda: loop.last_poll, loop.assigned
            )
        except OSError as exc:
            raise CesError(f"CES_FEED_WEBHOOK_METRICS_PORT {settings.feed_webhook_metrics_port}: {exc}") from None
        log.info(
            "feed webhook: delivering %s to the webhook (%s format, at most %g per goal a minute); /metrics on port %d",
            settings.topic_high_effort_answers,
            settings.feed_webhook_format,
            settings.feed_webhook_rate_per_goal_per_minute,
            server.port,
        )
        loop.run()
    except _Interrupted:
        log.info("feed webhook: stopped while starting")
        return 0
    finally:
        _close(consumer, producer, server)
    log.info("feed webhook: stopped")
    return 0


def _close(consumer: Any, producer: Any, server: FeedServer | None) -> None:
    """Close what was opened, each within its bound (the broker may be down, the webhook hanging)."""
    if server is not None:
        server.close()
    if producer is not None:
        try:
            producer.close(timeout=CLOSE_TIMEOUT_S)
        except Exception as exc:
            log.warning("feed webhook: the producer did not close cleanly (%s)", type(exc).__name__)
    if consumer is not None:
        try:
            consumer.close(autocommit=False, timeout_ms=CLOSE_TIMEOUT_S * 1000)
        except Exception as exc:
            log.warning("feed webhook: the consumer did not close cleanly (%s)", type(exc).__name__)
