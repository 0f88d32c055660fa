"""The gateway's Kafka clients: a producer for the inputs and dead letters, a group-less reader of the prompts.

Both connect in threads of their own and keep trying until they are connected, so the API is up
while the broker is not: until the producer is connected, and whenever the broker does not
acknowledge a record within ``CES_GATEWAY_PRODUCE_TIMEOUT_SECONDS``, a POST is answered 503. The
producer's delivery timeout is that same time, so a record answered 503 is given up by the
producer too (it is not written later behind the client's back; a record the broker did write but
whose acknowledgement was lost comes again when the client retries, and the workers de-duplicate it).

The reader is not in a consumer group: every gateway instance reads every partition of the prompts
topic (fan-out, so a user may connect to any instance), from ``now - replay window``, so that after
a restart the unexpired prompts are there for a stream that resumes. It reads the answers and prompt
events topics too, only to learn which prompts are closed.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from stream.ces.gateway import Closure, PromptRecord, read_closure, read_prompt
from stream.infra.kafka_config import client_options
from stream.infra.producer import make_producer
from stream.settings import Settings

log = logging.getLogger(__name__)
# Connect attempts back off from the first to the longest wait.
FIRST_RETRY_S = 0.5
LONGEST_RETRY_S = 5.0
BOOTSTRAP_TIMEOUT_MS = 5000
LINGER_MS = 2
# A send() waits at most this long for metadata or buffer space (then the record counts as unavailable).
MAX_BLOCK_MS = 1000
POLL_TIMEOUT_MS = 200
POLL_MAX_RECORDS = 2000


class Unavailable(Exception):
    """No producer is connected yet."""


@dataclass(frozen=True, slots=True)
class OutRecord:
    """A record to produce."""

    topic: str
    key: bytes | None
    value: bytes


def _settle(future: asyncio.Future[BaseException | None], outcome: BaseException | None) -> None:
    if not future.done():
        future.set_result(outcome)


class GatewayProducer:
    """A kafka-python producer (acks=all, idempotent) whose sends are awaited on the event loop.

    :param topics: the topics it writes (their metadata is fetched before it counts as connected).
    :param stop: set when the gateway stops: a connect attempt in progress gives up.
    """

    def __init__(self, settings: Settings, topics: tuple[str, ...], stop: threading.Event) -> None:
        self.timeout_s = settings.gateway_produce_timeout_seconds
        self.last_error = ""
        self._settings = settings
        self._topics = topics
        self._stop = stop
        self._producer: Any = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gateway-send")
        self._thread = threading.Thread(target=self._connect, name="gateway-producer-connect", daemon=True)

    @property
    def connected(self) -> bool:
        return self._producer is not None

    def start(self) -> None:
        self._thread.start()

    def _connect(self) -> None:
        options = client_options(self._settings)
        bootstrap = options.pop("bootstrap_servers")
        timeout_ms = int(self.timeout_s * 1000)
        wait_s = FIRST_RETRY_S
        while not self._stop.is_set():
            producer = None
            try:
                producer = make_producer(
                    bootstrap,
                    client_id=f"{self._settings.app_id}-gateway",
                    acks="all",
                    enable_idempotence=True,
                    linger_ms=LINGER_MS,
                    delivery_timeout_ms=timeout_ms,
                    request_timeout_ms=timeout_ms - LINGER_MS,
                    max_block_ms=MAX_BLOCK_MS,
                    bootstrap_timeout_ms=BOOTSTRAP_TIMEOUT_MS,
                    reconnect_backoff_max_ms=int(self._settings.kafka_reconnect_backoff_max_seconds * 1000),
                    **options,
                )
                for topic in self._topics:  # metadata now, so that no send waits for it
                    producer.partitions_for(topic)
            except Exception as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("gateway: the producer cannot connect yet (%s); trying again", self.last_error)
                if producer is not None:
                    producer.close(timeout=0)
                self._stop.wait(wait_s)
                wait_s = min(wait_s * 2, LONGEST_RETRY_S)
                continue
            self.last_error = ""
            self._producer = producer
            log.info("gateway: the producer is connected")
            return

    async def send(self, records: list[OutRecord], timestamp_ms: int) -> list[BaseException | None]:
        """Produce ``records`` and wait for the broker's acknowledgement of each (at most the produce timeout).

        :returns: per record None (acknowledged) or what went wrong (never raises for a record).
        """
        producer = self._producer
        if producer is None:
            return [Unavailable(self.last_error or "the producer is not connected yet") for _ in records]
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[BaseException | None]] = [loop.create_future() for _ in records]

        def send_all() -> None:
            for record, future in zip(records, futures, strict=True):
                try:
                    sent = producer.send(record.topic, key=record.key, value=record.value, timestamp_ms=timestamp_ms)
                except Exception as exc:
                    loop.call_soon_threadsafe(_settle, future, exc)
                    continue
                sent.add_callback(lambda _metadata, f=future: loop.call_soon_threadsafe(_settle, f, None))
                sent.add_errback(lambda exc, f=future: loop.call_soon_threadsafe(_settle, f, exc))

        await loop.run_in_executor(self._executor, send_all)
        await asyncio.wait(futures, timeout=self.timeout_s + 1.0)
        return [f.result() if f.done() else TimeoutError("no acknowledgement in time") for f in futures]

    def close(self, timeout_s: float) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        if self._producer is not None:
            try:
                self._producer.close(timeout=timeout_s)
            except Exception as exc:
                log.warning("gateway: the producer did not close cleanly (%s)", type(exc).__name__)


Deliver = Callable[[list[tuple[str, PromptRecord]], list[tuple[str, Closure]], int], None]
"""Takes what one poll read: (user ref, prompt) pairs, (user ref, closure) pairs, and the unreadable prompt records."""


class PromptReader:
    """Reads the prompts (and the closing answers and prompt events) of every partition, in a thread.

    :param replay_s: how far back it starts reading when it (re)connects.
    :param user_ref: the pseudonymous reference of a user id (the buffer's key).
    :param deliver: called in this thread with what each poll read.
    """

    def __init__(
        self,
        settings: Settings,
        replay_s: float,
        user_ref: Callable[[str], str],
        deliver: Deliver,
        stop: threading.Event,
    ) -> None:
        self.prompts_topic = settings.topic_survey_prompts
        self.closing_topics = (settings.topic_survey_answers, settings.topic_prompt_events)
        self.replay_s = replay_s
        self.caught_up = False
        self.assigned = 0
        self.last_poll = time.monotonic()
        self.last_error = ""
        self._settings = settings
        self._user_ref = user_ref
        self._deliver = deliver
        self._stop = stop
        self._thread = threading.Thread(target=self._run, name="gateway-prompts", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout_s: float) -> None:
        if self._thread.ident is not None:  # started
            self._thread.join(timeout_s)

    def _run(self) -> None:
        wait_s = FIRST_RETRY_S
        while not self._stop.is_set():
            consumer = None
            try:
                consumer = self._connect()
                wait_s = FIRST_RETRY_S
                self._read(consumer)
            except Exception as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("gateway: the prompts cannot be read yet (%s); trying again", self.last_error)
                self._stop.wait(wait_s)
                wait_s = min(wait_s * 2, LONGEST_RETRY_S)
            finally:
                if consumer is not None:
                    try:
                        consumer.close(autocommit=False, timeout_ms=1000)
                    except Exception as exc:
                        log.warning("gateway: the prompt reader did not close cleanly (%s)", type(exc).__name__)

    def _connect(self) -> Any:
        consumer = KafkaConsumer(
            group_id=None,
            client_id=f"{self._settings.app_id}-gateway",
            enable_auto_commit=False,
            bootstrap_timeout_ms=BOOTSTRAP_TIMEOUT_MS,
            fetch_max_wait_ms=250,
            reconnect_backoff_max_ms=int(self._settings.kafka_reconnect_backoff_max_seconds * 1000),
            **client_options(self._settings),
        )
        try:
            partitions = []
            for topic in (self.prompts_topic, *self.closing_topics):
                found = consumer.partitions_for_topic(topic)
                if not found and topic == self.prompts_topic:
                    raise LookupError(
                        f"topic {topic} does not exist (a worker's start or `ces-stream topics create` makes it)"
                    )
                partitions += [TopicPartition(topic, p) for p in sorted(found or ())]
            consumer.assign(partitions)
            start_ms = int((time.time() - self.replay_s) * 1000)
            starts = consumer.offsets_for_times(dict.fromkeys(partitions, start_ms))
            for tp in partitions:
                found_offset = starts.get(tp)
                if found_offset is None:
                    consumer.seek_to_end(tp)
                else:
                    consumer.seek(tp, found_offset.offset)
            self._ends = consumer.end_offsets(partitions)
        except Exception:
            consumer.close(autocommit=False, timeout_ms=1000)
            raise
        self.assigned = len(partitions)
        self.last_error = ""
        log.info(
            "gateway: reading %d partitions of %s and the closing topics from %.0f s back",
            self.assigned,
            self.prompts_topic,
            self.replay_s,
        )
        return consumer

    def _read(self, consumer: Any) -> None:
        while not self._stop.is_set():
            batches = consumer.poll(timeout_ms=POLL_TIMEOUT_MS, max_records=POLL_MAX_RECORDS)
            self.last_poll = time.monotonic()
            prompts: list[tuple[str, PromptRecord]] = []
            closures: list[tuple[str, Closure]] = []
            unreadable = 0
            for tp, records in batches.items():
                for record in records:
                    if tp.topic == self.prompts_topic:
                        prompt = read_prompt(tp.partition, record.offset, record.value)
                        if prompt is None:
                            unreadable += 1
                        else:
                            prompts.append((self._user_ref(prompt.user_id), prompt))
                    else:
                        closure = read_closure(record.value)
                        if closure is not None:
                            closures.append((self._user_ref(closure.user_id), closure))
            if prompts or closures or unreadable:
                self._deliver(prompts, closures, unreadable)
            if not self.caught_up:
                self.caught_up = all(consumer.position(tp) >= end for tp, end in self._ends.items())
                if self.caught_up:
                    log.info("gateway: the prompts of the replay window are read")
