"""SASL_SSL with SCRAM-SHA-512 against a real broker (issue 14, "Security").

The module starts its own local Kafka whose only client listener is SASL_SSL (a CA and a
broker certificate made here, SCRAM users created at storage format time), then runs a worker
with ``CES_KAFKA_SECURITY_PROTOCOL=SASL_SSL``: it must read goal events and answers, write
prompts, its internal streams and comments, and export the right figures, all through that
listener. A wrong password must stop the worker at once with a one-line message, and the
password must never show in a log, in ``ces-stream config`` or in an error.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from stream.errors import KafkaAccessError, KafkaAuthenticationError
from stream.infra.broker_security import SaslSslListener, ScramUser
from stream.infra.kafka_config import client_options
from stream.infra.local_kafka import LocalKafka
from stream.infra.local_services import free_port
from stream.infra.preflight import check_kafka_access
from stream.infra.producer import emit_answer, emit_goal_event, make_producer
from stream.infra.topics import create_topics
from stream.observability.log_secrets import unmask_secrets
from stream.tools import cli
from tests.harness import (
    PROJECT_ROOT,
    TopicReader,
    WorkerProcess,
    make_answer,
    make_goal_event,
    settings_from_env,
    wait_until,
    worker_env,
    write_registry,
)
from tests.tls import make_test_pki

pytestmark = pytest.mark.integration

GOAL = "secure-claim"
USER = "ces-worker"


@dataclass(frozen=True)
class SecureBroker:
    bootstrap: str
    ca_pem: Path
    password: str  # of USER


@pytest.fixture(scope="module")
def secure_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    """A local Kafka whose client port speaks only SASL_SSL with SCRAM-SHA-512, on free ports."""
    for tool in ("java", "openssl", "keytool"):
        if shutil.which(tool) is None:
            pytest.skip(f"'{tool}' not found: the secured local broker needs Java and openssl")
    pki = make_test_pki(tmp_path_factory.mktemp("pki"))
    password = secrets.token_hex(16)
    security = SaslSslListener(
        keystore=pki.keystore,
        truststore=pki.truststore,
        store_password=pki.password,
        broker_user=ScramUser("broker", secrets.token_hex(16)),
        users=(ScramUser(USER, password),),
    )
    cache = Path(os.environ.get("CES_LOCAL_KAFKA_DIR", "~/.cache/ces-stream/kafka")).expanduser()
    broker = LocalKafka(cache, port=free_port(pair=True), security=security)
    shutil.rmtree(broker.broker_dir, ignore_errors=True)
    try:
        broker.start()
        yield SecureBroker(broker.bootstrap, pki.ca_pem, password)
    finally:
        broker.stop()
        shutil.rmtree(broker.broker_dir, ignore_errors=True)


def secure_env(broker: SecureBroker, password: str, tmp_path: Path) -> dict[str, str]:
    goals = write_registry(
        tmp_path / "goals.yaml",
        [
            {
                "slug": GOAL,
                "scale": {"kind": "five_point"},
                "triggers": {"completed": True, "abandoned": True, "inferred_abandonment": {"enabled": False}},
            }
        ],
    )
    return {
        **worker_env(broker.bootstrap, f"t{uuid.uuid4().hex[:10]}", partitions=2),
        "CES_GOALS_FILE": str(goals),
        "CES_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "CES_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "CES_KAFKA_SASL_USERNAME": USER,
        "CES_KAFKA_SASL_PASSWORD": password,
        "CES_KAFKA_SSL_CAFILE": str(broker.ca_pem),
    }


def test_worker_reads_and_writes_through_sasl_ssl(secure_broker, start_worker, tmp_path):
    env = secure_env(secure_broker, secure_broker.password, tmp_path)
    settings = settings_from_env(env)
    assert set(create_topics(settings).values()) == {"created"}  # kafka-python's admin, through SASL_SSL
    worker = start_worker(env)
    options = {k: v for k, v in client_options(settings).items() if k != "bootstrap_servers"}
    producer = make_producer(settings.kafka_bootstrap, **options)
    prompts = TopicReader(settings.kafka_bootstrap, settings.topic_survey_prompts, **options)
    comments = TopicReader(settings.kafka_bootstrap, settings.topic_feedback_comments, **options)
    try:
        sent = {
            "completed": [f"c{i}" for i in range(6)],
            "abandoned": [f"a{i}" for i in range(3)],
            "started": [f"s{i}" for i in range(4)],
        }
        for event_type, users in sent.items():
            for user in users:
                emit_goal_event(producer, make_goal_event(GOAL, event_type, user), topic=settings.topic_goal_events)
        producer.flush()
        for event_type, users in sent.items():
            wait_until(
                lambda: worker.metric("ces_goal_events_total", goal=GOAL, type=event_type) == len(users),
                timeout_s=30,
                what=f"{len(users)} {event_type} events counted",
            )

        # A prompt for every completion and explicit abandonment, none for a start.
        asked = set(sent["completed"]) | set(sent["abandoned"])
        prompts.wait_for(lambda ps: len(ps) >= len(asked), timeout_s=30, what="a prompt per outcome")
        assert sorted(p["user_id"] for p in prompts.records) == sorted(asked)

        # Answers back through SASL_SSL: completions easy (5), exits hard (2), one with a comment.
        for prompt in prompts.records:
            easy = prompt["user_id"].startswith("c")
            comment = {"comment": "Too many steps."} if prompt["user_id"] == "a0" else {}
            emit_answer(producer, make_answer(prompt, 5 if easy else 2, **comment), topic=settings.topic_survey_answers)
        producer.flush()

        # The figures went through both internal streams and the tables' changelogs.
        def window(name: str) -> float | None:
            return worker.metric(name, goal=GOAL, window="1h")

        wait_until(
            lambda: window("ces_goal_answers") == 9,
            timeout_s=30,
            what="9 answers in the 1h window",
            describe=lambda: {n: window(n) for n in ("ces_goal_answers", "ces_goal_prompts")},
        )
        assert window("ces_goal_prompts") == 9
        assert window("ces_goal_positive_answers") == 6
        assert window("ces_goal_ces_ratio") == pytest.approx(6 / 9)
        assert worker.metric("ces_survey_answers_total", goal=GOAL, sentiment="negative") == 3
        comments.wait_for(lambda cs: len(cs) >= 1, timeout_s=30, what="the comment forwarded")
        assert [(c["comment"], c["score"]) for c in comments.records] == [("Too many steps.", 2)]
    finally:
        producer.close()
        prompts.close()
        comments.close()

    log = worker.log_path.read_text(errors="replace")
    assert f"Authenticated as {USER} via SCRAM-SHA-512" in log  # Faust's own clients logged in
    assert secure_broker.password not in log


def test_wrong_password_stops_the_worker_at_once(secure_broker, tmp_path):
    wrong = secrets.token_hex(16)
    env = secure_env(secure_broker, wrong, tmp_path)
    worker = WorkerProcess(env, log_path=tmp_path / "worker-wrong-password.log", cwd=tmp_path)
    started = time.monotonic()
    worker.launch()
    try:
        wait_until(
            lambda: worker.proc.poll() is not None, timeout_s=30, what="the worker to exit", describe=worker.log_tail
        )
    finally:
        worker.stop()
    took = time.monotonic() - started
    log = worker.log_path.read_text(errors="replace")
    assert worker.proc.returncode == 2, log
    last = log.strip().splitlines()[-1]
    assert last.startswith("ces-stream: Kafka authentication failed"), log
    assert f"user '{USER}'" in last and secure_broker.bootstrap in last and "SCRAM-SHA-512" in last
    assert "Traceback" not in log
    assert wrong not in log and secure_broker.password not in log
    print(f"wrong password: worker exited {worker.proc.returncode} after {took:.1f} s")


def test_preflight_names_the_failure_without_the_password(secure_broker, tmp_path):
    env = secure_env(secure_broker, secure_broker.password, tmp_path)
    check_kafka_access(settings_from_env(env), timeout_s=10)  # the right password passes

    wrong = secrets.token_hex(16)
    started = time.monotonic()
    with pytest.raises(KafkaAuthenticationError) as refused:
        check_kafka_access(settings_from_env({**env, "CES_KAFKA_SASL_PASSWORD": wrong}), timeout_s=10)
    assert time.monotonic() - started < 5  # refused at once, not retried
    assert "invalid credentials" in str(refused.value) and wrong not in str(refused.value)

    # A broker certificate the client cannot verify (no CA file: the system CAs) is not retried either.
    untrusted = {k: v for k, v in env.items() if k != "CES_KAFKA_SSL_CAFILE"}
    with pytest.raises(KafkaAccessError, match="could not be verified") as untrusted_error:
        check_kafka_access(settings_from_env(untrusted), timeout_s=10)
    assert not isinstance(untrusted_error.value, KafkaAuthenticationError)
    assert secure_broker.password not in str(untrusted_error.value)


def test_config_masks_the_password(secure_broker, tmp_path):
    env = {**os.environ, **secure_env(secure_broker, secure_broker.password, tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "stream.tools.cli", "config"],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "CES_KAFKA_SASL_PASSWORD=**********" in result.stdout.splitlines()
    assert f"CES_KAFKA_SASL_USERNAME={USER}" in result.stdout.splitlines()
    assert secure_broker.password not in result.stdout + result.stderr


DEBUG_LOGGERS = ("", "kafka", "aiokafka", "faust", "mode", "stream")


@pytest.fixture
def debug_log(tmp_path: Path) -> Iterator[Path]:
    """Every logger of ours and of our libraries at DEBUG, into one file, for the test's duration."""
    path = tmp_path / "debug.log"
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    loggers = [logging.getLogger(name) for name in DEBUG_LOGGERS]
    levels = [logger.level for logger in loggers]
    root = logging.getLogger()
    root.addHandler(handler)
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
    try:
        yield path
    finally:
        root.removeHandler(handler)
        handler.close()
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
        unmask_secrets()


def test_debug_logs_of_every_library_never_show_the_password(
    secure_broker, start_worker, tmp_path, monkeypatch, debug_log
):
    """Issue 25: kafka-python logs its whole configuration at DEBUG; no log line may carry the password.

    In-process, through the CLI (which installs the masking): ``topics create`` (aiokafka preflight and
    kafka-python's admin, which logs its configuration) and ``erase`` (kafka-python's producer), every
    logger at DEBUG. Then a worker at ``--loglevel debug`` (Faust, mode, aiokafka, the root) handling events.
    """
    env = secure_env(secure_broker, secure_broker.password, tmp_path)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert cli.main(["topics", "create"]) == 0
    assert cli.main(["erase", "--user", "someone-to-forget"]) == 0
    text = debug_log.read_text(errors="replace")
    # The libraries did log at DEBUG, their configuration included: the masking had something to do.
    assert "kafka.admin.client DEBUG Starting KafkaAdminClient with configuration" in text
    assert "'sasl_plain_password': '**********'" in text
    assert any(line.startswith("aiokafka") for line in text.splitlines())
    assert secure_broker.password not in text

    worker = start_worker(env, loglevel="debug")
    settings = settings_from_env(env)
    options = {k: v for k, v in client_options(settings).items() if k != "bootstrap_servers"}
    producer = make_producer(settings.kafka_bootstrap, **options)
    try:
        for i in range(3):
            emit_goal_event(producer, make_goal_event(GOAL, "completed", f"d{i}"), topic=settings.topic_goal_events)
        producer.flush()
    finally:
        producer.close()
    wait_until(
        lambda: worker.metric("ces_goal_events_total", goal=GOAL, type="completed") == 3,
        timeout_s=60,
        what="3 events counted by the DEBUG worker",
    )
    worker.stop()
    log = worker.log_path.read_text(errors="replace")
    # Faust's format names no logger: aiokafka's SASL exchange and mode's service lines show DEBUG was on.
    assert "[DEBUG] Request to" in log and "SaslAuthenticateRequest" in log and "[DEBUG] [^--" in log
    assert secure_broker.password not in log
    assert secure_broker.password not in debug_log.read_text(errors="replace")


BENCH_SMALL = ("--events", "200", "--goals", "2", "--rate", "20", "--duration", "2", "--warmup", "1", "--scrapes", "1")


def test_bench_runs_through_sasl_ssl(secure_broker, tmp_path):
    """``ces-stream bench`` uses the security settings for all its clients and for its worker."""
    env = {**os.environ, **secure_env(secure_broker, secure_broker.password, tmp_path)}
    env["CES_WEB_PORT"] = str(free_port())
    result = subprocess.run(
        [sys.executable, "-m", "stream.tools.cli", "bench", *BENCH_SMALL, "--json"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    figures = json.loads(result.stdout[result.stdout.index("{") :])
    prompt = figures["phases"]["prompt"]
    # Every event decided through the secured broker: a small backlog may be decided before /health is ready.
    assert prompt["events"] + prompt["decided_before_ready"] == int(BENCH_SMALL[1])
    assert figures["answers_counted"] > 0
    assert secure_broker.password not in result.stdout + result.stderr
