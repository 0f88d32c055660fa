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
from collections import deque
from collections.abc import Callable
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


class _Sending:
    """The records of one ``submit``: their outcomes, settled on the event loop, and the future that carries them.

    The future is resolved when every record is settled, or when the time is up (those not yet
    acknowledged then count as not acknowledged in time).
    """

    __slots__ = ("done", "left", "outcomes", "timer")

    def __init__(self, count: int, done: asyncio.Future[list[BaseException | None]]) -> None:
        self.outcomes: list[BaseException | None] = [TimeoutError("no acknowledgement in time")] * count
        self.left = count
        self.done = done
        self.timer: asyncio.TimerHandle | None = None

    def settle(self, index: int, outcome: BaseException | None) -> None:
        self.outcomes[index] = outcome
        self.left -= 1
        if self.left == 0:
            self.finish()

    def finish(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        if not self.done.done():
            self.done.set_result(list(self.outcomes))


class _Completions:
    """Acknowledgements collected in Kafka's threads and settled on the event loop in one call per burst.

    A call_soon_threadsafe per record would wake the loop once per record; this wakes it once for
    all that completed since it last ran.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._lock = threading.Lock()
        self._items: list[tuple[_Sending, int, BaseException | None]] = []

    def add(self, sending: _Sending, index: int, outcome: BaseException | None) -> None:
        with self._lock:
            self._items.append((sending, index, outcome))
            first = len(self._items) == 1
        if first:
            self._loop.call_soon_threadsafe(self._settle)

    def _settle(self) -> None:
        with self._lock:
            items, self._items = self._items, []
        for sending, index, outcome in items:
            sending.settle(index, outcome)


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
        # send() is called on the event loop; kafka-python's send may block (metadata, a full buffer), so
        # one thread hands the records to it, as many as are waiting at a time.
        self._outbox: deque[tuple[list[OutRecord], int, _Sending, _Completions]] = deque()
        self._wake = threading.Event()
        self._completions: _Completions | None = None
        self._thread = threading.Thread(target=self._run, name="gateway-producer", daemon=True)

    @property
    def connected(self) -> bool:
        return self._producer is not None

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        if self._connect():
            self._send_forever()

    def _connect(self) -> bool:
        """Connect, trying again until connected (True) or stopped (False)."""
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
            return True
        return False

    def _send_forever(self) -> None:
        producer = self._producer
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._stop.is_set():
                return
            while self._outbox:
                records, timestamp_ms, sending, completions = self._outbox.popleft()
                for index, record in enumerate(records):
                    try:
                        sent = producer.send(
                            record.topic, key=record.key, value=record.value, timestamp_ms=timestamp_ms
                        )
                    except Exception as exc:
                        completions.add(sending, index, exc)
                        continue
                    sent.add_callback(lambda _metadata, s=sending, i=index, c=completions: c.add(s, i, None))
                    sent.add_errback(lambda exc, s=sending, i=index, c=completions: c.add(s, i, exc))

    async def send(self, records: list[OutRecord], timestamp_ms: int) -> list[BaseException | None]:
        """Produce ``records`` and wait for the broker's acknowledgement of each (at most the produce timeout).

        :returns: per record None (acknowledged) or what went wrong (never raises for a record).
        """
        return await self.submit(records, timestamp_ms)

    def submit(self, records: list[OutRecord], timestamp_ms: int) -> asyncio.Future[list[BaseException | None]]:
        """Hand ``records`` to the producer; the future resolves as :meth:`send` returns (on the event loop)."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[list[BaseException | None]] = loop.create_future()
        if self._producer is None:
            done.set_result([Unavailable(self.last_error or "the producer is not connected yet") for _ in records])
            return done
        if self._completions is None:
            self._completions = _Completions(loop)
        sending = _Sending(len(records), done)
        sending.timer = loop.call_later(self.timeout_s + 1.0, sending.finish)
        self._outbox.append((records, timestamp_ms, sending, self._completions))
        self._wake.set()
        return done

    def close(self, timeout_s: float) -> None:
        self._wake.set()  # the sending thread sees the stop and ends
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
