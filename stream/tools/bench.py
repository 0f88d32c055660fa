"""``ces-stream bench``: throughput and latency of a real worker against the real broker.

One run, in this order, on fresh topics and a fresh consumer group:

1. **Ceiling**: the pre-produced goal events read by a bare aiokafka consumer
   (``getmany`` + ``json.loads``): what any Python consumer could do here.
2. **Worker throughput**: a ``ces-stream worker`` subprocess processes the same
   backlog (intake, re-key, user-stage decisions); events/s until every event
   has its prompt decision.
3. **Decision latency**: goal events at a fixed rate, after a warm-up at that rate;
   latency is the prompt's Kafka record timestamp minus the event's ``occurred_at``
   (p50/p95/p99/max), with the worker's CPU share over the phase.
4. **Scrape**: ``/metrics`` of that worker, owning every goal (200 by default).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import yaml

from stream.infra.kafka_config import aiokafka_options, client_options
from stream.infra.topics import create_topics
from stream.settings import Settings, load_settings

LATENCY_GOAL = "latency-probe"


@dataclass
class BenchOptions:
    events: int = 50_000
    goals: int = 200
    rate: float = 1000.0
    duration_s: float = 20.0
    warmup_s: float = 5.0
    scrapes: int = 20


def _registry(path: Path, goals: int) -> Path:
    def goal(slug: str, rate: float) -> dict:
        return {
            "slug": slug,
            "display_name": {"en": slug, "nl": slug},
            "question": {"en": "How easy was it?", "nl": "Hoe makkelijk was het?"},
            "follow_up_question": {"en": "Why?", "nl": "Waarom?"},
            "scale": {"kind": "five_point"},
            "sampling": {"rate": rate},
            "cooldowns": {"user_goal_seconds": 0},
            "target_ces_ratio": 0.8,
        }

    document = {
        "version": 1,
        "defaults": {"user_cooldown_seconds": 0},
        "goals": [goal(f"goal-{i:03d}", 0.25) for i in range(goals)] + [goal(LATENCY_GOAL, 1.0)],
    }
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


# The backlog's mix per goal: a fifth of the attempts are abandoned; half on web, the rest on the apps.
BACKLOG_CHANNELS = ("web", "ios", "web", "android")


def _event(
    goal: str, user: str, occurred_at: datetime, *, event_type: str = "completed", channel: str = "web"
) -> bytes:
    return json.dumps(
        {
            "event_id": str(uuid.uuid4()),
            "type": event_type,
            "goal": goal,
            "user_id": user,
            "occurred_at": occurred_at.isoformat(),
            "channel": channel,
            "locale": "en",
        }
    ).encode()


def _produce_backlog(settings: Settings, options: BenchOptions) -> None:
    from kafka import KafkaProducer

    producer = KafkaProducer(**client_options(settings), linger_ms=20, batch_size=256_000, compression_type="lz4")
    now = datetime.now(UTC)
    for i in range(options.events):
        user = f"bench-user-{i}"
        attempt = i // options.goals  # the goal's n-th attempt
        event = _event(
            f"goal-{i % options.goals:03d}",
            user,
            now,
            event_type="abandoned" if attempt % 5 == 4 else "completed",
            channel=BACKLOG_CHANNELS[attempt % len(BACKLOG_CHANNELS)],
        )
        producer.send(settings.topic_goal_events, key=user.encode(), value=event)
    producer.flush()
    producer.close()


def _answer_every_prompt(settings: Settings, worker: _Worker, timeout_s: float = 120) -> int:
    """Answer every prompt the worker made (scores 1..5 in turn), so the window figures and their
    split by outcome and channel are filled before /metrics is timed. Returns the answers counted."""
    from kafka import KafkaConsumer, KafkaProducer

    prompted = worker.counter_sum("ces_survey_prompts")
    consumer = KafkaConsumer(
        settings.topic_survey_prompts,
        **client_options(settings),
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    producer = KafkaProducer(**client_options(settings), linger_ms=20, batch_size=256_000)
    deadline = time.monotonic() + timeout_s
    answered = 0
    try:
        while answered < prompted and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500, max_records=10_000).values():
                for record in records:
                    prompt = json.loads(record.value)
                    answer = {
                        "answer_id": str(uuid.uuid4()),
                        "prompt_id": prompt["prompt_id"],
                        "user_id": prompt["user_id"],
                        "goal": prompt["goal"],
                        "score": 1 + answered % 5,
                        "answered_at": datetime.now(UTC).isoformat(),
                        "channel": "web",
                    }
                    producer.send(settings.topic_survey_answers, key=record.key, value=json.dumps(answer).encode())
                    answered += 1
        producer.flush()
    finally:
        producer.close()
        consumer.close()
    while worker.counter_sum("ces_survey_answers") < answered and time.monotonic() < deadline:
        time.sleep(1.0)
    return int(worker.counter_sum("ces_survey_answers"))


async def _ceiling(settings: Settings, count: int) -> float:
    """Events/s of a bare aiokafka consumer over the same backlog."""
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
        started = None
        while seen < count:
            batches = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            if started is None and batches:
                started = time.perf_counter()
            for records in batches.values():
                for record in records:
                    json.loads(record.value)
                    seen += 1
        return count / (time.perf_counter() - (started or time.perf_counter()))
    finally:
        await consumer.stop()


class _Worker:
    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.port = int(env["CES_WEB_PORT"])
        self.log = open(log_path, "wb")  # noqa: SIM115 (the process's log: open as long as the process runs)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "stream.tools.cli", "worker", "--loglevel", "warning"],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def get(self, path: str) -> bytes:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=10) as response:
            return response.read()

    def wait_ready(self, timeout_s: float = 120) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("worker exited during start; see its log")
            try:
                if json.loads(self.get("/health")).get("ready"):
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError("worker not ready")

    def decisions(self) -> float:
        """Prompt decisions taken so far (prompts + suppressions) from /metrics."""
        return self.counter_sum("ces_survey_prompts", "ces_survey_prompts_suppressed")

    def counter_sum(self, *families: str) -> float:
        """The sum over every series of the named counter families (names without ``_total``)."""
        from prometheus_client.parser import text_string_to_metric_families

        total = 0.0
        for family in text_string_to_metric_families(self.get("/metrics").decode()):
            if family.name in families:
                total += sum(s.value for s in family.samples if s.name.endswith("_total"))
        return total

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


async def _latency(settings: Settings, options: BenchOptions, worker_pid: int) -> tuple[list[float], float | None]:
    """Produce at a fixed rate; return prompt record time minus ``occurred_at`` (s) and the worker's CPU share.

    The load comes from an aiokafka producer with a 5 ms linger (Kafka 4's default for
    producers), paced in 5 ms ticks, so the generator itself stays light; ``occurred_at``
    is taken just before each send, so the producer's own batching counts as latency.
    Events sent during the first ``warmup_s`` warm the worker up and are not counted.
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
        total = int(options.rate * (options.warmup_s + options.duration_s))
        sending = True

        async def read_prompts() -> None:
            while sending or (len(latencies) < len(measured)):
                for records in (await consumer.getmany(timeout_ms=200)).values():
                    for record in records:
                        user = json.loads(record.value)["user_id"]
                        if user in measured:
                            latencies.append(record.timestamp / 1000 - sent_at[user])

        reader = asyncio.ensure_future(read_prompts())
        cpu_before = _cpu_seconds(worker_pid)
        started = time.perf_counter()
        sent = 0
        while sent < total:
            due = min(total, int((time.perf_counter() - started) * options.rate) + 1)
            for i in range(sent, due):
                user = f"latency-user-{uuid.uuid4().hex[:12]}"
                occurred = datetime.now(UTC)
                sent_at[user] = occurred.timestamp()
                if i >= options.rate * options.warmup_s:
                    measured.add(user)
                await producer.send(
                    settings.topic_goal_events, key=user.encode(), value=_event(LATENCY_GOAL, user, occurred)
                )
            sent = due
            await asyncio.sleep(0.005)
        await producer.flush()
        elapsed = time.perf_counter() - started
        cpu_after = _cpu_seconds(worker_pid)
        sending = False
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(reader, timeout=60)
        share = (cpu_after - cpu_before) / elapsed if cpu_before is not None and cpu_after is not None else None
        return latencies, share
    finally:
        await producer.stop()
        await consumer.stop()


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process (Linux /proc), or None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def security_env(settings: Settings) -> dict[str, str]:
    """The connection's security settings as ``CES_*`` variables, for the bench's own worker and clients."""
    names = ("kafka_security_protocol", "kafka_sasl_mechanism", "kafka_sasl_username", "kafka_ssl_cafile")
    env = {f"CES_{name.upper()}": str(getattr(settings, name)) for name in names if getattr(settings, name)}
    if settings.kafka_sasl_password is not None:
        env["CES_KAFKA_SASL_PASSWORD"] = settings.kafka_sasl_password.get_secret_value()
    return env


def run_bench(settings: Settings, options: BenchOptions) -> dict[str, float]:
    """Run every phase and return the figures (also printed)."""
    tag = f"bench{int(time.time())}"
    work = Path(tempfile.mkdtemp(prefix="ces-bench-"))
    env = {
        **os.environ,
        "CES_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        **security_env(settings),
        "CES_APP_ID": tag,
        "CES_TOPIC_PARTITIONS": str(settings.topic_partitions),
        "CES_GOALS_FILE": str(_registry(work / "goals.yaml", options.goals)),
        "CES_WEB_PORT": str(settings.web_port),
        "CES_WEB_HOST": "127.0.0.1",
        **{
            f"CES_TOPIC_{name.upper()}": f"{tag}.{name.replace('_', '-')}"
            for name in (
                "goal_events",
                "survey_answers",
                "survey_prompts",
                "goal_summaries",
                "feedback_comments",
                "dead_letter",
                "erasure_requests",
            )
        },
    }
    run = load_settings(
        **{k[4:].lower(): v for k, v in env.items() if k.startswith("CES_") and k[4:].lower() in Settings.model_fields}
    )
    create_topics(run)
    print(
        f"producing {options.events} goal events over {options.goals} goals into {run.topic_goal_events} ...",
        flush=True,
    )
    _produce_backlog(run, options)
    ceiling = asyncio.run(_ceiling(run, options.events))
    print(f"ceiling  aiokafka getmany + json.loads: {ceiling:,.0f} events/s", flush=True)

    worker = _Worker(env, work / "worker.log")
    try:
        worker.wait_ready()
        started = time.perf_counter()
        while worker.decisions() < options.events:
            time.sleep(1.0)  # a scrape costs the worker ~50 ms: poll gently
        throughput = options.events / (time.perf_counter() - started)
        print(
            f"worker   intake + re-key + prompt decisions: {throughput:,.0f} events/s "
            f"({throughput / ceiling:.1%} of the ceiling)",
            flush=True,
        )

        latencies, cpu_share = asyncio.run(_latency(run, options, worker.proc.pid))
        figures = {"ceiling_events_per_s": ceiling, "worker_events_per_s": throughput}
        if cpu_share is not None:
            figures["latency_phase_worker_cpu"] = cpu_share
        if latencies:
            for name, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99)):
                figures[f"latency_{name}_s"] = _percentile(latencies, q)
            figures["latency_max_s"] = max(latencies)
            cpu = f", worker CPU {cpu_share:.0%} of a core" if cpu_share is not None else ""
            print(
                f"latency  at {options.rate:.0f} events/s for {options.duration_s:.0f} s after {options.warmup_s:.0f} s warm-up "
                f"({len(latencies)} prompts): p50 {figures['latency_p50_s'] * 1000:.1f} ms, "
                f"p95 {figures['latency_p95_s'] * 1000:.1f} ms, p99 {figures['latency_p99_s'] * 1000:.1f} ms, "
                f"max {figures['latency_max_s'] * 1000:.1f} ms{cpu}",
                flush=True,
            )

        answered = _answer_every_prompt(run, worker)
        figures["answers_counted"] = answered
        print(f"answers  {answered:,} answers counted (every prompt answered; outcomes and channels mixed)", flush=True)

        durations = []
        size = 0
        for _ in range(options.scrapes):
            t0 = time.perf_counter()
            size = len(worker.get("/metrics"))
            durations.append(time.perf_counter() - t0)
        figures["scrape_p50_s"] = statistics.median(durations)
        figures["scrape_max_s"] = max(durations)
        print(
            f"scrape   /metrics with {options.goals + 1} goals x {len(run.windows)} windows "
            f"(split by outcome and channel on {len(run.split_window_names())}): "
            f"p50 {figures['scrape_p50_s'] * 1000:.1f} ms, max {figures['scrape_max_s'] * 1000:.1f} ms, {size:,} bytes",
            flush=True,
        )
        return figures
    finally:
        worker.stop()
