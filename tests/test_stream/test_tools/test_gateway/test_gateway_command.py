"""``ces-stream gateway`` as a subprocess, without a broker: refusals, the token helper, a prompt stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from stream.ces.gateway import TokenClaims, verify_token
from stream.infra.local_services import free_port
from stream.tools.cli import COMMANDS
from tests.harness import wait_until
from tests.paths import PROJECT_ROOT

pytestmark = pytest.mark.external  # runs ces-stream as a subprocess

SECRET = "gateway-secret-XXXXSECRETXXXX-0123456789"


def clean_env(**env: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CES_")}
    clean["CES_KAFKA_BOOTSTRAP"] = f"127.0.0.1:{free_port()}"  # nothing answers there
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
    assert "gateway" in [command.name for command in COMMANDS]


def test_without_a_token_secret_it_refuses_to_start_saying_what_to_set():
    result = run_cli("gateway")
    assert result.returncode == 2
    assert result.stderr.startswith("ces-stream: CES_GATEWAY_TOKEN_SECRET is not set")


def test_a_short_secret_is_refused_without_showing_it():
    result = run_cli("gateway", CES_GATEWAY_TOKEN_SECRET="XXXXSHORTXXXX")
    assert result.returncode == 2
    assert "CES_GATEWAY_TOKEN_SECRET" in result.stderr and "XXXXSHORTXXXX" not in result.stderr


def test_the_token_helper_prints_a_token_the_gateway_accepts():
    result = run_cli("gateway", "token", "--user", "customer-4711", "--ttl", "120", CES_GATEWAY_TOKEN_SECRET=SECRET)
    assert result.returncode == 0, result.stderr
    claims = verify_token(result.stdout.strip(), [SECRET.encode()], time.time(), 86400)
    assert isinstance(claims, TokenClaims) and claims.user_id == "customer-4711"
    assert 100 < claims.expires_s - time.time() <= 120


def test_the_token_helper_needs_a_user():
    result = run_cli("gateway", "token", CES_GATEWAY_TOKEN_SECRET=SECRET)
    assert result.returncode == 2 and "--user" in result.stderr


def test_config_masks_the_gateway_secrets():
    result = run_cli("config", CES_GATEWAY_TOKEN_SECRET=SECRET, CES_GATEWAY_API_KEY=SECRET[::-1])
    assert result.returncode == 0
    assert "CES_GATEWAY_TOKEN_SECRET=**********" in result.stdout.splitlines()
    assert "XXXXSECRETXXXX" not in result.stdout + result.stderr


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_while_the_broker_is_absent_ends_it_at_once_with_0(tmp_path, signum):
    port, metrics_port = free_port(), free_port()
    log = tmp_path / "gateway.log"
    env = clean_env(
        CES_GATEWAY_TOKEN_SECRET=SECRET,
        CES_GATEWAY_PORT=str(port),
        CES_GATEWAY_METRICS_PORT=str(metrics_port),
        CES_GATEWAY_HOST="127.0.0.1",
        CES_WEB_HOST="127.0.0.1",
    )
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "stream.tools.cli", "gateway"],
            env=env,
            cwd=PROJECT_ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:

            def serving() -> bool:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/health", timeout=2)
                except urllib.error.HTTPError as exc:
                    return exc.code == 503  # up, not ready: no broker
                except OSError:
                    return False
                return False

            wait_until(serving, timeout_s=30, what="the gateway serving")
            started = time.monotonic()
            proc.send_signal(signum)
            assert proc.wait(10) == 0, log.read_text()
            assert time.monotonic() - started < 3
        finally:
            if proc.poll() is None:
                proc.kill()
    assert "gateway: stopped" in log.read_text()
    assert "XXXXSECRETXXXX" not in log.read_text()
