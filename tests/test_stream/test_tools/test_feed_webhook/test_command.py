"""``ces-stream feed-webhook`` as a subprocess, before it reaches Kafka: refusals and a stop while starting."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from stream.infra.local_services import free_port
from stream.tools.cli import COMMANDS
from tests.harness import wait_until
from tests.paths import PROJECT_ROOT

pytestmark = pytest.mark.external  # runs ces-stream as a subprocess

URL = "https://hooks.slack.com/services/T000/B000/XXXXSECRETXXXX"


def clean_env(**env: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CES_")}
    # A closed local port: nothing answers, so the start waits for the broker (or fails at once).
    clean["CES_KAFKA_BOOTSTRAP"] = f"127.0.0.1:{free_port()}"
    return {**clean, **env}


def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stream.tools.cli", *args],
        env=clean_env(**env),
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_it_is_a_command():
    assert "feed-webhook" in [command.name for command in COMMANDS]


def test_without_a_webhook_url_it_refuses_to_start_saying_what_to_set():
    result = run_cli("feed-webhook")
    assert result.returncode == 2
    assert result.stderr.startswith("ces-stream: CES_FEED_WEBHOOK_URL is not set")
    assert "Traceback" not in result.stderr


def test_a_url_that_is_not_http_is_refused_without_showing_it():
    result = run_cli("feed-webhook", CES_FEED_WEBHOOK_URL="hooks.slack.com/services/T000/B000/XXXXSECRETXXXX")
    assert result.returncode == 2
    assert "CES_FEED_WEBHOOK_URL" in result.stderr and "XXXXSECRETXXXX" not in result.stderr


def test_config_masks_the_webhook_url():
    result = run_cli("config", CES_FEED_WEBHOOK_URL=URL)
    assert result.returncode == 0
    assert "CES_FEED_WEBHOOK_URL=**********" in result.stdout.splitlines()
    assert "XXXXSECRETXXXX" not in result.stdout + result.stderr


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_while_it_waits_for_an_absent_broker_ends_it_at_once_with_0(tmp_path, signum):
    log = tmp_path / "feed.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "stream.tools.cli", "feed-webhook"],
            env=clean_env(CES_FEED_WEBHOOK_URL=URL),
            cwd=PROJECT_ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            # Nothing answers on the port: the broker check retries for 30 s from this line on.
            wait_until(lambda: b"checking access to Kafka" in log.read_bytes(), timeout_s=20, what="the broker check")
            started = time.monotonic()
            proc.send_signal(signum)
            assert proc.wait(10) == 0, log.read_text()
            assert time.monotonic() - started < 3
        finally:
            if proc.poll() is None:
                proc.kill()
    text = log.read_text()
    assert "stopped while starting" in text
    assert "XXXXSECRETXXXX" not in text
