"""The benchmark's phases. Each returns a :class:`Figure`: events, seconds and the CPU seconds
of the process that did the work (the worker; for the ceiling, the bench's own consumer).

Every Kafka client here is built from the run's Settings with ``stream.infra.kafka_config``,
so the security settings (SASL, TLS) hold for each of them as for the worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from stream.infra.kafka_config import aiokafka_options, client_options
from stream.settings import Settings
from stream.tools.bench.population import LATENCY_GOAL, PlannedEvent, answers_to, encode_event
from stream.tools.bench.worker import BenchError, BenchWorker, counter_sum, gauge_sum

WAIT_S = 900.0


@dataclass
class Figure:
    """One phase's measurement."""

    phase: str
    what: str
    events: int
    seconds: float
    cpu_seconds: float
    detail: dict[str, Any] = field(default_factory=dict)
    a_rate: bool = True  # False: a duration (start) or a count of requests (scrape), not a throughput

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0

    @property
    def events_per_cpu_s(self) -> float:
        return self.events / self.cpu_seconds if self.cpu_seconds > 0 else 0.0

    def as_json(self) -> dict[str, Any]:
        rates = {"events_per_s": round(self.events_per_s, 1), "events_per_cpu_s": round(self.events_per_cpu_s, 1)}
        return {
            "what": self.what,
            "events": self.events,
            "seconds": round(self.seconds, 3),
            "cpu_seconds": round(self.cpu_seconds, 3),
            **(rates if self.a_rate else {}),
            **self.detail,
        }


def produce(settings: Settings, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    """Produce ``(key, value)`` records and wait until the broker has them all."""
    from kafka import KafkaProducer

    producer = KafkaProducer(**client_options(settings), linger_ms=20, batch_size=256_000, compression_type="lz4")
    try:
        for key, value in records:
            producer.send(topic, key=key, value=value)
        producer.flush()
    finally:
        producer.close()


def produce_backlog(settings: Settings, events: list[PlannedEvent]) -> None:
    now = datetime.now(UTC)
    produce(settings, settings.topic_goal_events, [(e.user.encode(), encode_event(e, now)) for e in events])


async def ceiling(settings: Settings, count: int) -> Figure:
    """A bare aiokafka consumer (``getmany`` + ``json.loads``) over the goal-event backlog."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        settings.topic_goal_events,
        **aiokafka_options(settings),
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_partition_fetch_bytes=8 * 1024 * 1024,
    )
    await consumer.start()
    try:
        seen = 0
        started = cpu0 = None
        deadline = time.monotonic() + WAIT_S
        while seen < count and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            if started is None and batches:
                started, cpu0 = time.perf_counter(), time.process_time()
            for records in batches.values():
                for record in records:
                    json.loads(record.value)
                    seen += 1
        if seen < count or started is None or cpu0 is None:
            raise BenchError(f"the ceiling consumer read {seen} of {count} events")
        return Figure(
            "ceiling",
            "bare aiokafka consumer: getmany + json.loads",
            count,
            time.perf_counter() - started,
            time.process_time() - cpu0,
        )
    finally:
        await consumer.stop()


def prompt_path(worker: BenchWorker, count: int, ready_at: float) -> Figure:
    """From /health ready until every backlog event has its prompt decision (prompt or suppression)."""
    cpu0, before = worker.cpu(), worker.decisions()
    started = max(ready_at, time.monotonic())
    done_at, _ = worker.wait_for("decisions", count, WAIT_S)
    return Figure(
        "prompt",
        "goal-event backlog: intake, re-key, prompt decisions",
        int(count - before),
        done_at - started,
        worker.cpu() - cpu0,
        {"decided_before_ready": int(before)},
    )


def read_prompts(settings: Settings, expected: int, timeout_s: float = WAIT_S) -> list[dict[str, Any]]:
    """Every prompt on the prompts topic (as many as the worker says it made)."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(
        settings.topic_survey_prompts,
        **client_options(settings),
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    prompts: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(prompts) < expected and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500, max_records=10_000).values():
                prompts.extend(json.loads(record.value) for record in records)
    finally:
        consumer.close()
    if len(prompts) < expected:
        raise BenchError(f"read {len(prompts)} of the {expected} prompts the worker counted")
    return prompts


def answer_records(prompts: list[dict[str, Any]]) -> tuple[list[tuple[bytes, bytes]], list[tuple[bytes, bytes]]]:
    """The answers as the worker gets them (contract only) and as the peer gets them (with the outcome)."""
    ours, peers = [], []
    for answer in answers_to(prompts, datetime.now(UTC)):
        key = answer["user_id"].encode()
        peers.append((key, json.dumps(answer).encode()))
        contract = {k: v for k, v in answer.items() if k != "outcome"}
        ours.append((key, json.dumps(contract).encode()))
    return ours, peers


ANSWER_SERIES = ("ces_survey_answers_total", "ces_events_invalid_total", "ces_goal_answers")


def answers_taken(settings: Settings, samples: list[tuple[str, dict[str, str], float]]) -> tuple[float, float, float]:
    """(counted by the user stage, dead-lettered, in the goal windows' longest window) in one scrape.

    Dead-lettered: e.g. an answer to a prompt a newer one of the same user replaced.
    """
    counted = counter_sum(samples, "ces_survey_answers")  # samples of ANSWER_SERIES
    dead = counter_sum(samples, "ces_events_invalid", topic=settings.topic_survey_answers)
    longest = max(settings.window_specs(), key=lambda spec: spec.duration_s).name
    return counted, dead, gauge_sum(samples, "ces_goal_answers", window=longest)


def answer_path(settings: Settings, worker: BenchWorker, answers: list[tuple[bytes, bytes]]) -> Figure:
    """Stop the worker, produce one answer per prompt as a backlog, start it again, and time from /health ready
    until every answer is taken (counted or dead-lettered) and the counted ones are in the goal windows."""
    worker.stop()
    produce(settings, settings.topic_survey_answers, answers)
    worker.launch()
    ready_at = worker.wait_ready()
    restart_s = ready_at - worker.launched_at
    cpu0 = worker.cpu()
    counted, dead, _ = answers_taken(settings, worker.scrape(*ANSWER_SERIES))
    polls_from = len(worker.scrape_seconds)
    before = counted + dead
    deadline = time.monotonic() + WAIT_S
    taken_at = None
    while True:
        counted, dead, windowed = answers_taken(settings, worker.scrape(*ANSWER_SERIES))
        if taken_at is None and counted + dead >= len(answers):
            taken_at = time.monotonic()
        if taken_at is not None and windowed >= counted:
            break
        if time.monotonic() > deadline:
            raise BenchError(
                f"the worker took {counted + dead:.0f} of {len(answers)} answers, {windowed:.0f} in its windows; "
                f"log: {worker.log_path}"
            )
        time.sleep(1.0)  # a scrape costs the worker tens of ms: poll gently
    done_at = time.monotonic()
    # The polls above are /metrics scrapes while the goal windows change: most goals computed anew each time.
    polls = worker.scrape_seconds[polls_from:]
    return Figure(
        "answer",
        "answer backlog: intake, re-key, join with the prompt, dedupe, goal windows",
        int(len(answers) - before),
        done_at - ready_at,
        worker.cpu() - cpu0,
        {
            "answers_sent": len(answers),
            "answers_counted": int(counted),
            "answers_dead_lettered": int(dead),
            "taken_before_ready": int(before),
            "taken_s": round(taken_at - ready_at, 2),
            "restart_to_ready_s": round(restart_s, 2),
            "scrapes_meanwhile": len(polls),
            "scrape_meanwhile_p50_ms": round(statistics.median(polls) * 1000, 1),
            "scrape_meanwhile_max_ms": round(max(polls) * 1000, 1),
        },
    )


def scrape(worker: BenchWorker, scrapes: int, goals: int) -> Figure:
    durations = []
    size = 0
    cpu0 = worker.cpu()
    for _ in range(scrapes):
        t0 = time.perf_counter()
        size = len(worker.get("/metrics", timeout_s=60))
        durations.append(time.perf_counter() - t0)
    return Figure(
        "scrape",
        f"/metrics with {goals + 1} goals (scrapes, not events)",
        scrapes,
        sum(durations),
        worker.cpu() - cpu0,
        {
            "p50_ms": round(statistics.median(durations) * 1000, 1),
            "max_ms": round(max(durations) * 1000, 1),
            "bytes": size,
        },
        a_rate=False,
    )


def _probe_event(user: str) -> bytes:
    return encode_event(PlannedEvent(user, LATENCY_GOAL, "completed", "web"), datetime.now(UTC))


def changelog_state(settings: Settings, table: str) -> tuple[int, int]:
    """(keys, bytes) of a table's changelog once compacted: the newest record of each key, its key and value bytes.

    Read from the topic, not the broker's files: those also hold the older versions until
    compaction runs, and their size depends on when it last did.
    """
    from kafka import KafkaConsumer, TopicPartition

    topic = f"{settings.app_id}-{table}-changelog"
    consumer = KafkaConsumer(**client_options(settings), group_id=None, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        newest: dict[bytes, int] = {}
        deadline = time.monotonic() + WAIT_S
        while any(consumer.position(tp) < ends[tp] for tp in partitions):
            if time.monotonic() > deadline:
                raise BenchError(f"could not read {topic} to its end within {WAIT_S} s")
            for records in consumer.poll(timeout_ms=1000, max_records=50_000).values():
                for record in records:
                    if record.value is None:  # a deletion
                        newest.pop(record.key, None)
                    else:
                        newest[record.key] = len(record.key or b"") + len(record.value)
        return len(newest), sum(newest.values())
    finally:
        consumer.close()


def start(settings: Settings, worker: BenchWorker, users_in_state: int) -> Figure:
    """kill -9 the worker, start it again at once (same static member id); a new event waits for it.

    Times, from the kill: /health ready, and the new event's prompt decision by the new process.
    Also the size of the user states in their changelog, from before the kill.
    """
    user = f"start-probe-{uuid.uuid4().hex[:12]}"
    worker.wait_idle()  # every user's state written (and committed) before the crash
    states, state_bytes = changelog_state(settings, "users")
    worker.kill()
    killed_at = time.monotonic()
    produce(settings, settings.topic_goal_events, [(user.encode(), _probe_event(user))])
    worker.launch()
    ready_at = worker.wait_ready()
    deadline = time.monotonic() + WAIT_S
    while True:
        with contextlib.suppress(OSError):
            if worker.decisions() >= 1:
                break
        if time.monotonic() > deadline:
            raise BenchError(f"the restarted worker decided nothing; log: {worker.log_path}")
        time.sleep(0.1)
    first_at = time.monotonic()
    return Figure(
        "start",
        f"kill -9 and restart with {users_in_state:,} users in state ({settings.store})",
        1,
        first_at - killed_at,
        worker.cpu(),
        {
            "store": settings.store,
            "users_in_state": users_in_state,
            "ready_s": round(ready_at - killed_at, 2),
            "first_event_s": round(first_at - killed_at, 2),
            "user_states_in_changelog": states,
            "changelog_bytes_per_user": round(state_bytes / states) if states else 0,
        },
        a_rate=False,
    )


@dataclass(frozen=True)
class SteadyLoad:
    rate: float
    duration_s: float
    warmup_s: float


async def steady(settings: Settings, load: SteadyLoad, worker: BenchWorker) -> Figure:
    """Goal events of new users at a fixed rate; latency is the prompt's record time minus ``occurred_at``.

    The load comes from an aiokafka producer with a 5 ms linger, paced in 5 ms ticks;
    ``occurred_at`` is taken just before each send, so the producer's batching counts as
    latency. Events of the first ``warmup_s`` warm the worker up and are not measured.
    """
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    consumer = AIOKafkaConsumer(**aiokafka_options(settings), group_id=None, enable_auto_commit=False)
    producer = AIOKafkaProducer(**aiokafka_options(settings), linger_ms=5)
    await consumer.start()
    await producer.start()
    try:
        partitions = [TopicPartition(settings.topic_survey_prompts, p) for p in range(settings.topic_partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_end(*partitions)
        for tp in partitions:
            await consumer.position(tp)  # pin "end" now: only prompts made after this point count
        sent_at: dict[str, float] = {}
        measured: set[str] = set()
        latencies: list[float] = []
        total = int(load.rate * (load.warmup_s + load.duration_s))
        warm = int(load.rate * load.warmup_s)
        state = {"sending": True}

        async def read_prompts() -> None:
            while state["sending"] or len(latencies) < len(measured):
                for records in (await consumer.getmany(timeout_ms=200)).values():
                    for record in records:
                        user = json.loads(record.value)["user_id"]
                        if user in measured:
                            latencies.append(record.timestamp / 1000 - sent_at[user])

        reader = asyncio.ensure_future(read_prompts())
        started = time.perf_counter()
        cpu0 = measured_from = None
        sent = 0
        while sent < total:
            due = min(total, int((time.perf_counter() - started) * load.rate) + 1)
            for i in range(sent, due):
                if i == warm:
                    cpu0, measured_from = worker.cpu(), time.perf_counter()
                user = f"steady-{uuid.uuid4().hex[:12]}"
                occurred = datetime.now(UTC)
                sent_at[user] = occurred.timestamp()
                if i >= warm:
                    measured.add(user)
                await producer.send(
                    settings.topic_goal_events, key=user.encode(), value=_probe_event_at(user, occurred)
                )
            sent = due
            await asyncio.sleep(0.005)
        await producer.flush()
        sending_s = time.perf_counter() - (measured_from or started)
        state["sending"] = False
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(reader, timeout=60)
        # Until the last measured prompt came back: a worker that fell behind pays its catching up here.
        seconds = time.perf_counter() - (measured_from or started)
        cpu = worker.cpu() - (cpu0 if cpu0 is not None else 0.0)
        return Figure(
            "steady",
            f"{load.rate:,.0f} goal events/s of new users, all prompted, after {load.warmup_s:.0f} s warm-up",
            len(measured),
            seconds,
            cpu,
            {
                "rate": load.rate,
                "prompts_seen": len(latencies),
                "sending_s": round(sending_s, 2),
                "cpu_share_of_a_core": round(cpu / seconds, 3) if seconds > 0 else None,
                **latency_percentiles(latencies),
            },
        )
    finally:
        await producer.stop()
        await consumer.stop()


def _probe_event_at(user: str, occurred: datetime) -> bytes:
    return encode_event(PlannedEvent(user, LATENCY_GOAL, "completed", "web"), occurred)


def latency_percentiles(latencies: list[float]) -> dict[str, float]:
    if not latencies:
        return {}
    ordered = sorted(latencies)
    out = {
        f"{name}_ms": ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000
        for name, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))
    }
    out["max_ms"] = ordered[-1] * 1000
    return {k: round(v, 1) for k, v in out.items()}
