"""Shared test fixtures: one real Kafka broker per test session, workers as subprocesses.

The broker is, in this order: ``CES_TEST_BOOTSTRAP`` when set; a testcontainers
Kafka when a Docker engine answers; else the local Apache Kafka from Maven
Central jars (``stream.infra.local_kafka``), started once on a free port. Unit tests
never touch it: only tests that ask for ``kafka_bootstrap`` start it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import cast

import pytest
from filelock import FileLock

from stream.infra.local_kafka import LocalKafka
from stream.infra.local_services import free_port
from stream.pipeline import stop_deadline
from tests.browser import CHROMIUM_NAMES
from tests.harness import WorkerProcess, worker_env

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _docker_engine_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """host:port of a real Kafka broker, shared by the whole session."""
    explicit = os.environ.get("CES_TEST_BOOTSTRAP")
    if explicit:
        yield explicit
        return
    if _docker_engine_answers():
        from testcontainers.community.kafka import KafkaContainer

        with KafkaContainer("confluentinc/cp-kafka:7.6.1").with_kraft() as container:
            yield container.get_bootstrap_server()
        return
    if os.environ.get("PYTEST_XDIST_WORKER"):
        yield shared_local_broker(tmp_path_factory.getbasetemp().parent)
        return
    broker = fresh_local_broker(free_port(pair=True))
    broker.start()
    try:
        yield broker.bootstrap
    finally:
        broker.stop()
        shutil.rmtree(broker.broker_dir, ignore_errors=True)


def local_broker(port: int) -> LocalKafka:
    # Jars are cached across sessions; broker data is per session.
    return LocalKafka(Path(os.environ.get("CES_LOCAL_KAFKA_DIR", "~/.cache/ces-stream/kafka")), port=port)


def fresh_local_broker(port: int) -> LocalKafka:
    """The local broker on ``port``, with the data an earlier run may have left removed."""
    broker = local_broker(port)
    shutil.rmtree(broker.broker_dir, ignore_errors=True)
    return broker


SHARED_BROKER_RECORD = "shared-broker.json"


def shared_local_broker(run_dir: Path) -> str:
    """One broker for all pytest-xdist processes of a run: the first that needs it starts it.

    ``run_dir`` is the run's temporary directory, shared by its processes; the controller
    stops the broker when the run ends (``pytest_sessionfinish``), as the process that
    started it may finish first while the other still uses it.
    """
    record = run_dir / SHARED_BROKER_RECORD
    with FileLock(run_dir / "shared-broker.lock"):
        if not record.exists():
            broker = fresh_local_broker(free_port(pair=True))
            broker.start()
            record.write_text(json.dumps({"port": broker.port}))
        port = int(json.loads(record.read_text())["port"])
    return f"127.0.0.1:{port}"


def pytest_sessionfinish(session: pytest.Session) -> None:
    """The controller of a pytest-xdist run stops the broker its processes shared."""
    config = session.config
    if hasattr(config, "workerinput") or not getattr(config.option, "numprocesses", None):
        return
    record = config._tmp_path_factory.getbasetemp() / SHARED_BROKER_RECORD
    if record.exists():
        broker = local_broker(int(json.loads(record.read_text())["port"]))
        broker.stop()
        shutil.rmtree(broker.broker_dir, ignore_errors=True)


@pytest.fixture
def unique_env(kafka_bootstrap: str, request: pytest.FixtureRequest) -> dict[str, str]:
    """CES_* variables for one test: its own app id (consumer group) and topics."""
    return worker_env(kafka_bootstrap, f"t{uuid.uuid4().hex[:10]}")


INTEGRATION_DIR = PROJECT_ROOT / "tests" / "integration"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test under tests/integration needs the broker: mark it, so `-m "not integration"` leaves it out."""
    for item in items:
        if INTEGRATION_DIR in item.path.parents:
            item.add_marker(pytest.mark.integration)


def pytest_runtest_setup(item: pytest.Item) -> None:
    """A test marked ``external("tool")`` is skipped where that tool is not installed (CI installs them all)."""
    for mark in item.iter_markers("external"):
        for tool in mark.args:
            if not any(shutil.which(name) for name in EXTERNAL_TOOL_NAMES.get(tool, (tool,))):
                pytest.skip(f"{tool} is not installed")


EXTERNAL_TOOL_NAMES = {"chromium": CHROMIUM_NAMES}


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Keep each phase's report on the item, so fixtures can tell whether the test failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(autouse=True)
def no_stop_deadline_left_armed() -> Iterator[None]:
    """A stop deadline armed in the test process would end the whole run later with its exit code."""
    yield
    left = [t for t in threading.enumerate() if t.name == stop_deadline.THREAD_NAME and t.is_alive()]
    for timer in left:
        cast(threading.Timer, timer).cancel()
    assert not left, "the test armed a StopDeadline in the test process; replace it (see test_continuity_guard)"


@pytest.fixture
def start_worker(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Callable[..., WorkerProcess]]:
    """Factory: start a ``ces-stream worker`` subprocess and wait until /health is ready.

    When the test fails, each worker still running writes its threads' stacks and asyncio
    tasks to its log (kept under the test's tmp_path) before it is stopped.
    """
    workers: list[WorkerProcess] = []

    def start(
        env: dict[str, str], *, name: str = "w", ready_timeout_s: float = 90.0, loglevel: str = "info"
    ) -> WorkerProcess:
        worker = WorkerProcess(
            env, log_path=tmp_path / f"worker-{name}-{len(workers)}.log", cwd=tmp_path, loglevel=loglevel
        )
        workers.append(worker)
        worker.start(ready_timeout_s=ready_timeout_s)
        return worker

    yield start
    call_report = getattr(request.node, "report_call", None)
    if call_report is not None and call_report.failed:
        for worker in workers:
            worker.dump_stacks()
    for worker in workers:
        worker.stop()


@pytest.fixture
def own_broker() -> Iterator[object]:
    """A broker of the test's own, to stop and start (the session's broker serves other tests)."""
    from stream.infra.local_kafka import LocalKafka

    broker = LocalKafka(Path("~/.cache/ces-stream/kafka"), port=free_port(pair=True))
    shutil.rmtree(broker.broker_dir, ignore_errors=True)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
        shutil.rmtree(broker.broker_dir, ignore_errors=True)
