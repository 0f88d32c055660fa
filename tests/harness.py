"""Helpers for integration tests: per-test settings, worker subprocesses, waits.

Free ports come from ``stream.infra.local_services.free_port`` (outside the kernel's
ephemeral port range); tests import it from there.

Workers run as subprocesses (Faust's worker installs signal handlers and owns
its event loop), each with a unique app id and a free web port, and tests wait
for readiness or for a metric to reach a value instead of sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC
from pathlib import Path
from typing import Any, TypeVar

from prometheus_client.parser import text_string_to_metric_families

from stream.infra.local_services import free_port

PROJECT_ROOT = Path(__file__).resolve().parent.parent
T = TypeVar("T")


def wait_until(
    check: Callable[[], T],
    *,
    timeout_s: float = 60.0,
    interval_s: float = 0.2,
    what: str = "condition",
    describe: Callable[[], Any] | None = None,
) -> T:
    """Poll ``check`` until it returns a truthy value; fail with ``what`` after ``timeout_s``.

    ``describe`` says what the state was at the timeout (e.g. the values being waited on).
    """
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval_s)
    state = f"; state: {describe()!r}" if describe is not None else ""
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what} (last value: {last!r}){state}")


def worker_env(bootstrap: str, tag: str, partitions: int = 4) -> dict[str, str]:
    """CES_* variables giving one test its own consumer group and topics."""
    return {
        "CES_KAFKA_BOOTSTRAP": bootstrap,
        "CES_APP_ID": tag,
        "CES_TOPIC_GOAL_EVENTS": f"{tag}.goal-events",
        "CES_TOPIC_SURVEY_ANSWERS": f"{tag}.survey-answers",
        "CES_TOPIC_SURVEY_PROMPTS": f"{tag}.survey-prompts",
        "CES_TOPIC_PROMPT_EVENTS": f"{tag}.prompt-events",
        "CES_TOPIC_GOAL_SUMMARIES": f"{tag}.goal-summaries",
        "CES_TOPIC_FEEDBACK_COMMENTS": f"{tag}.feedback-comments",
        "CES_TOPIC_HIGH_EFFORT_ANSWERS": f"{tag}.high-effort-answers",
        "CES_TOPIC_RELEASE_VERDICTS": f"{tag}.release-verdicts",
        "CES_TOPIC_DEAD_LETTER": f"{tag}.dead-letter",
        "CES_TOPIC_ERASURE_REQUESTS": f"{tag}.erasure-requests",
        "CES_TOPIC_PARTITIONS": str(partitions),
        "CES_GOALS_FILE": str(PROJECT_ROOT / "deploy" / "goals.yaml"),
        "CES_STORE": "memory://",
        "CES_TICK_INTERVAL_SECONDS": "1",
        "CES_PSEUDONYM_KEY": "test-pseudonym-key",
    }


class WorkerProcess:
    """One ``ces-stream worker`` subprocess with its own web port."""

    __test__ = False  # not a test class, despite living next to tests

    def __init__(self, env: dict[str, str], *, log_path: Path, cwd: Path, loglevel: str = "info") -> None:
        self.port = free_port()
        self.loglevel = loglevel
        self.env = {**os.environ, **env, "CES_WEB_PORT": str(self.port), "CES_WEB_HOST": "127.0.0.1"}
        # The worker runs this checkout's code (a git worktree's), not whatever the venv's editable install points at.
        self.env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), self.env.get("PYTHONPATH")]))
        self.log_path = log_path
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, ready_timeout_s: float = 90.0) -> None:
        self.launch()
        self.wait_ready(ready_timeout_s)

    def launch(self) -> None:
        """Start the process without waiting for it (for a worker expected to fail)."""
        self._log = open(self.log_path, "ab")  # noqa: SIM115 (the process's log: open as long as the process runs)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "stream.tools.cli", "worker", "--loglevel", self.loglevel],
            env=self.env,
            cwd=self.cwd,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )

    def wait_ready(self, timeout_s: float = 90.0) -> None:
        def ready() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"worker exited with {self.proc.returncode}:\n{self.log_tail()}")
            return self.health()[0] == 200

        try:
            wait_until(ready, timeout_s=timeout_s, what="worker /health ready")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- worker log ---\n{self.log_tail()}") from None

    def get(self, path: str) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=10) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return 0, b""

    def health(self) -> tuple[int, dict[str, Any]]:
        status, body = self.get("/health")
        try:
            return status, json.loads(body) if body else {}
        except ValueError:
            return status, {}

    def samples(self) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        """Every sample of /metrics as (name, labels) -> value."""
        status, body = self.get("/metrics")
        if status != 200:
            return {}
        out: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
        for family in text_string_to_metric_families(body.decode()):
            for sample in family.samples:
                out[(sample.name, frozenset(sample.labels.items()))] = sample.value
        return out

    def metric(self, name: str, **labels: str) -> float | None:
        return self.samples().get((name, frozenset(labels.items())))

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout_s: float = 30.0) -> None:
        """SIGTERM and wait: a clean shutdown commits offsets and flushes the producer."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def dump_stacks(self, timeout_s: float = 15.0) -> None:
        """Ask the worker (SIGUSR1, mode's handler) to write every thread's stack and asyncio task to its log.

        For a test that failed: a worker that stalled shows where it waits.
        """
        if self.proc is None or self.proc.poll() is not None:
            return
        before = self.log_path.stat().st_size
        self.proc.send_signal(signal.SIGUSR1)
        sizes = [before]

        def written_and_settled() -> bool:
            sizes.append(self.log_path.stat().st_size)
            return sizes[-1] > before and sizes[-1] == sizes[-2]

        with contextlib.suppress(AssertionError):  # a diagnostic only: the test has failed already
            wait_until(written_and_settled, timeout_s=timeout_s, interval_s=0.5, what="the stack dump")

    def kill(self) -> None:
        """SIGKILL: a crash, with whatever was not yet committed replayed on restart."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def write_registry(
    path: Path, goals: list[dict[str, Any]], *, nps: dict[str, Any] | None = None, **defaults: Any
) -> Path:
    """Write a goal registry YAML for one test; each goal needs only a slug and a scale kind.

    Missing texts are filled in (nl and en); ``defaults`` go under ``defaults:``; ``nps`` is the
    registry's NPS block (its texts filled in too).
    Example: ``write_registry(tmp_path / "goals.yaml", [{"slug": "g", "scale": {"kind": "five_point"},
    "sampling": {"rate": 1.0}}], user_cooldown_seconds=0)``.
    """
    import yaml

    texts = {"en": "How easy was it?", "nl": "Hoe makkelijk was het?"}
    full_goals = []
    for goal in goals:
        full = {
            "display_name": {"en": goal["slug"], "nl": goal["slug"]},
            "question": texts,
            "follow_up_question": {"en": "Why?", "nl": "Waarom?"},
            "sampling": {"rate": 1.0},
            "cooldowns": {"user_goal_seconds": 0},
            "target_ces_ratio": 0.8,
            **goal,
        }
        full_goals.append(full)
    document: dict[str, Any] = {"version": 1, "defaults": {"user_cooldown_seconds": 0, **defaults}, "goals": full_goals}
    if nps is not None:
        document["nps"] = {
            "question": {"en": "How likely are you to recommend us?", "nl": "Hoe waarschijnlijk beveelt u ons aan?"},
            "follow_up_question": {"en": "Why that score?", "nl": "Waarom dat cijfer?"},
            **nps,
        }
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


class TopicReader:
    """Reads a topic from the beginning and keeps every record it has seen (JSON-decoded values).

    ``options`` go to kafka-python's consumer as they are (e.g. SASL and TLS options).
    """

    def __init__(self, bootstrap: str, topic: str, **options: Any) -> None:
        from kafka import KafkaConsumer

        self.records: list[Any] = []
        self.consumer = KafkaConsumer(
            topic,
            bootstrap_servers=bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            group_id=None,
            consumer_timeout_ms=200,
            **options,
        )

    def poll(self) -> list[Any]:
        for batch in self.consumer.poll(timeout_ms=200).values():
            for record in batch:
                self.records.append(json.loads(record.value) if record.value else None)
        return self.records

    def wait_for(
        self, check: Callable[[list[Any]], Any], *, timeout_s: float = 60.0, what: str = "records"
    ) -> list[Any]:
        wait_until(lambda: check(self.poll()), timeout_s=timeout_s, interval_s=0.05, what=what)
        return self.records

    def close(self) -> None:
        self.consumer.close()


def settings_from_env(env: dict[str, str]) -> Any:
    """The Settings a worker started with ``env`` will use."""
    from stream.settings import load_settings

    return load_settings(**{key[4:].lower(): value for key, value in env.items() if key.startswith("CES_")})


def make_goal_event(goal: str, event_type: str, user_id: str, **fields: Any) -> Any:
    """A valid GoalEvent happening now (override any field)."""
    import uuid
    from datetime import datetime

    from schemas import GoalEvent

    values: dict[str, Any] = {
        "event_id": uuid.uuid4(),
        "type": event_type,
        "goal": goal,
        "user_id": user_id,
        "occurred_at": datetime.now(UTC),
        "channel": "web",
        "locale": "en",
    }
    return GoalEvent(**{**values, **fields})


def make_answer(prompt: dict[str, Any], score: int, **fields: Any) -> Any:
    """A valid SurveyAnswer to a prompt read from the prompts topic, answered now."""
    import uuid
    from datetime import datetime

    from schemas import SurveyAnswer

    values: dict[str, Any] = {
        "answer_id": uuid.uuid4(),
        "prompt_id": prompt["prompt_id"],
        "user_id": prompt["user_id"],
        "goal": prompt["goal"],
        "score": score,
        "answered_at": datetime.now(UTC),
        "channel": "web",
    }
    return SurveyAnswer(**{**values, **fields})


def make_prompt_event(prompt: dict[str, Any], kind: str, **fields: Any) -> Any:
    """A valid PromptEvent (``kind`` shown or dismissed) for a prompt read from the prompts topic, happening now."""
    import uuid
    from datetime import datetime

    from schemas import PromptEvent

    values: dict[str, Any] = {
        "event_id": uuid.uuid4(),
        "type": kind,
        "prompt_id": prompt["prompt_id"],
        "user_id": prompt["user_id"],
        "goal": prompt["goal"],
        "occurred_at": datetime.now(UTC),
        "channel": "web",
    }
    return PromptEvent(**{**values, **fields})


class GoalTraffic:
    """One test's goal registry, topics, worker env and producer: the base of the traffic a test sends.

    :param goals: the registry's goals (see :func:`write_registry`).
    :param env: more ``CES_*`` variables for the worker.
    """

    def __init__(self, kafka_bootstrap: str, tmp_path: Path, goals: list[dict[str, Any]], **env: str) -> None:
        import uuid

        from stream.infra.producer import make_producer
        from stream.infra.topics import create_topics

        registry = write_registry(tmp_path / "goals.yaml", goals)
        self.env = {
            **worker_env(kafka_bootstrap, f"t{uuid.uuid4().hex[:10]}"),
            "CES_GOALS_FILE": str(registry),
            **env,
        }
        self.settings = settings_from_env(self.env)
        create_topics(self.settings)
        self.producer = make_producer(kafka_bootstrap, linger_ms=20)

    def close(self) -> None:
        self.producer.close()


Closable = TypeVar("Closable", bound=GoalTraffic)


@contextlib.contextmanager
def closing_all(make: Callable[..., Closable]) -> Iterator[Callable[..., Closable]]:
    """A factory for a fixture to hand out: everything it made is closed when the test ends."""
    made: list[Closable] = []

    def tracked(**kwargs: str) -> Closable:
        made.append(make(**kwargs))
        return made[-1]

    try:
        yield tracked
    finally:
        for item in made:
            item.close()


class OtherStage:
    """Another task on the event loop, counting the turns it gets while the code under test runs.

    ``async with OtherStage() as other: ...``; afterwards ``other.turns`` says how often the
    code under test handed the loop back (0: it held the loop for its whole length).
    """

    def __init__(self) -> None:
        self.turns = 0
        self._running = True
        self._task: asyncio.Future[None] | None = None

    async def _run(self) -> None:
        while self._running:
            self.turns += 1
            await asyncio.sleep(0)

    async def __aenter__(self) -> OtherStage:
        self._task = asyncio.ensure_future(self._run())
        await asyncio.sleep(0)  # its first turn, before the code under test
        self.turns = 0
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._running = False
        if self._task is not None:
            await self._task
