"""Tests for the ``ces-stream`` command line as a subprocess (no broker: every case fails or ends before Kafka)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from stream.infra.local_services import free_port
from tests.harness import write_registry
from tests.paths import PROJECT_ROOT

pytestmark = pytest.mark.external  # runs ces-stream as a subprocess

MASK = "**********"


def run_cli(*args: str, env: dict[str, str] | None = None, timeout_s: float = 60.0) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CES_")}
    # A closed local port: should anything reach for Kafka, it fails at once instead of hanging.
    clean["CES_KAFKA_BOOTSTRAP"] = f"127.0.0.1:{free_port()}"
    return subprocess.run(
        [sys.executable, "-m", "stream.tools.cli", *args],
        env={**clean, **(env or {})},
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )


def test_worker_with_an_invalid_registry_exits_2_naming_file_goal_and_field(tmp_path):
    goals = write_registry(
        tmp_path / "bad-goals.yaml",
        [
            {"slug": "download-invoice", "scale": {"kind": "five_point"}},
            {"slug": "pay-bill", "scale": {"kind": "nine_point"}},
        ],
    )
    result = run_cli("worker", env={"CES_GOALS_FILE": str(goals)})
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("ces-stream: ")
    assert str(goals) in result.stderr
    assert "goal 'pay-bill'" in result.stderr
    assert "scale.kind" in result.stderr
    assert "nine_point" in result.stderr
    assert "download-invoice" not in result.stderr  # the valid goal is not blamed
    assert "Traceback" not in result.stderr


def test_worker_with_a_missing_registry_exits_2_naming_the_file(tmp_path):
    missing = tmp_path / "nowhere" / "goals.yaml"
    result = run_cli("worker", env={"CES_GOALS_FILE": str(missing)})
    assert result.returncode == 2
    assert f"{missing}: goal registry file not found" in result.stderr
    assert "Traceback" not in result.stderr


def test_config_prints_every_setting_with_secrets_masked():
    env = {
        "CES_PSEUDONYM_KEY": "pseudo-s3cret",
        "CES_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "CES_KAFKA_SASL_MECHANISM": "SCRAM-SHA-256",
        "CES_KAFKA_SASL_USERNAME": "ces-user",
        "CES_KAFKA_SASL_PASSWORD": "hunter2",
        "CES_WINDOWS": "10m,1h",
        "CES_WEB_PORT": "7070",
    }
    result = run_cli("config", env=env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines and all(line.startswith("CES_") and "=" in line for line in lines)
    values = dict(line.split("=", 1) for line in lines)
    assert len(values) == len(lines)
    assert values["CES_PSEUDONYM_KEY"] == MASK
    assert values["CES_KAFKA_SASL_PASSWORD"] == MASK
    assert values["CES_KAFKA_SASL_USERNAME"] == "ces-user"
    assert values["CES_WINDOWS"] == "10m,1h"
    assert values["CES_WEB_PORT"] == "7070"
    assert "hunter2" not in result.stdout + result.stderr
    assert "pseudo-s3cret" not in result.stdout + result.stderr


def test_config_prints_empty_for_unset_values():
    result = run_cli("config")
    assert result.returncode == 0, result.stderr
    values = dict(line.split("=", 1) for line in result.stdout.splitlines())
    assert values["CES_KAFKA_SASL_PASSWORD"] == ""
    assert values["CES_KAFKA_SASL_MECHANISM"] == ""
    assert values["CES_PSEUDONYM_KEY"] == MASK
    assert values["CES_STORE"] == "memory://"
    assert "None" not in values.values()


@pytest.mark.parametrize("command", [["config"], ["worker"], ["topics", "create"], ["kafka", "status"]])
def test_a_bad_web_port_exits_2_naming_the_variable(command):
    result = run_cli(*command, env={"CES_WEB_PORT": "abc"})
    assert result.returncode == 2
    assert "CES_WEB_PORT" in result.stderr
    assert "valid integer" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_kafka_status_with_a_remote_bootstrap_uses_it_as_it_is():
    result = run_cli("kafka", "status", env={"CES_KAFKA_BOOTSTRAP": "kafka.example.com:9092"})
    assert result.returncode == 0, result.stderr
    assert "is not a local broker" in result.stdout


def test_kafka_status_of_a_stopped_local_broker_exits_1(tmp_path):
    port = free_port(pair=True)
    result = run_cli(
        "kafka", "status", env={"CES_KAFKA_BOOTSTRAP": f"127.0.0.1:{port}", "CES_LOCAL_KAFKA_DIR": str(tmp_path)}
    )
    assert result.returncode == 1, result.stderr
    assert "stopped" in result.stdout
    assert f"127.0.0.1:{port}" in result.stdout


def test_kafka_start_on_a_taken_port_names_the_process_holding_it(tmp_path):
    port = free_port(pair=True)
    with socket.socket() as holder:  # a client connected to itself on the port (the incident): no broker answers
        holder.bind(("127.0.0.1", port))
        holder.connect(("127.0.0.1", port))
        result = run_cli(
            "kafka", "start", env={"CES_KAFKA_BOOTSTRAP": f"127.0.0.1:{port}", "CES_LOCAL_KAFKA_DIR": str(tmp_path)}
        )
    assert result.returncode == 2
    this_process = f"{Path('/proc/self/comm').read_text().strip()} (pid {os.getpid()})"
    assert f"ces-stream: port {port} on 127.0.0.1 is in use by {this_process}" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unknown_command_is_a_usage_error():
    result = run_cli("frobnicate")
    assert result.returncode == 2
    assert "usage:" in result.stderr
