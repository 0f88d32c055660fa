"""stream.infra.local_services: free ports outside the ephemeral range, who holds a port, a local server process."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import pytest

from stream.errors import LocalKafkaError, LocalServiceError
from stream.infra import local_services
from stream.infra.local_kafka import LocalKafka
from stream.infra.local_services import (
    DEFAULT_EPHEMERAL_RANGE,
    LocalService,
    can_bind,
    ephemeral_port_range,
    free_port,
    port_user,
)

THIS_PROCESS = f"{Path('/proc/self/comm').read_text().strip()} (pid {os.getpid()})"


def _range_file(monkeypatch, tmp_path: Path, text: str) -> None:
    path = tmp_path / "ip_local_port_range"
    path.write_text(text)
    monkeypatch.setattr(local_services, "EPHEMERAL_RANGE_FILE", path)
    monkeypatch.setattr(local_services, "_given_ports", local_services.deque(maxlen=256))  # this range only


@pytest.mark.parametrize(("text", "expected"), [("32768\t60999\n", (32768, 60999)), ("10000 50000", (10000, 50000))])
def test_the_ephemeral_range_is_read_from_the_kernel_file(tmp_path, text, expected):
    (tmp_path / "range").write_text(text)
    assert ephemeral_port_range(tmp_path / "range") == expected


@pytest.mark.parametrize("text", [None, "", "not numbers", "1 2 3"], ids=["missing", "empty", "garbage", "three"])
def test_an_unreadable_range_file_means_linux_default(tmp_path, text):
    if text is not None:
        (tmp_path / "range").write_text(text)
    assert ephemeral_port_range(tmp_path / "range") == DEFAULT_EPHEMERAL_RANGE == (32768, 60999)


def test_free_ports_lie_outside_the_kernels_ephemeral_range():
    low, high = ephemeral_port_range()
    ports = [free_port() for _ in range(200)]
    assert all(not low <= port <= high and port >= local_services.LOWEST_FREE_PORT for port in ports)
    assert len(set(ports)) == len(ports)  # handed out lately: never twice


def test_free_ports_follow_the_range_file(monkeypatch, tmp_path):
    _range_file(monkeypatch, tmp_path, "20000 64000\n")
    assert all(64000 < free_port() <= 65535 for _ in range(50))
    _range_file(monkeypatch, tmp_path, "25000 65535\n")
    assert all(20000 <= free_port() < 25000 for _ in range(50))


def test_a_pair_lies_wholly_outside_the_range_and_both_ports_are_free(monkeypatch, tmp_path):
    _range_file(monkeypatch, tmp_path, "20002 65533\n")  # outside: 20000, 20001, 65534, 65535
    pairs = {free_port(pair=True) for _ in range(2)}
    assert pairs == {20000, 65534}
    for port in pairs:
        assert can_bind("127.0.0.1", port + 1)


def test_a_taken_port_is_not_handed_out(monkeypatch, tmp_path):
    _range_file(monkeypatch, tmp_path, "20001 65535\n")  # outside: 20000 only
    with socket.socket() as holder:
        if not can_bind("127.0.0.1", 20000):
            pytest.skip("port 20000 is taken on this machine")
        holder.bind(("127.0.0.1", 20000))
        with pytest.raises(LocalServiceError, match="no free port"):
            free_port()


def test_no_port_outside_the_range_is_an_error(monkeypatch, tmp_path):
    _range_file(monkeypatch, tmp_path, "1024 65535\n")
    with pytest.raises(LocalServiceError, match="outside the ephemeral range 1024-65535"):
        free_port()


def test_the_user_of_a_listening_port_is_named():
    with socket.socket() as server:
        server.bind(("127.0.0.1", free_port()))
        server.listen()
        assert port_user(server.getsockname()[1]) == THIS_PROCESS


def test_a_port_nobody_holds_has_no_user():
    assert port_user(free_port()) is None


def test_time_wait_connections_block_a_plain_bind_but_not_a_servers():
    """After a broker stops, its closed connections linger in TIME_WAIT: a restart must not call the port taken."""
    port = free_port()
    with socket.socket() as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Java's listeners (Kafka's) set it
        server.bind(("127.0.0.1", port))
        server.listen()
        client = socket.create_connection(("127.0.0.1", port))
        accepted, _ = server.accept()
        accepted.close()  # the server side closes first: its end waits in TIME_WAIT
        client.close()
    assert can_bind("127.0.0.1", port, reuse_address=True)
    assert not can_bind("127.0.0.1", port)


def test_kafka_start_names_the_process_on_the_controller_port(tmp_path):
    broker = LocalKafka(tmp_path, port=free_port(pair=True))
    with socket.socket() as other:
        other.bind(("127.0.0.1", broker.port + 1))
        other.listen()
        with pytest.raises(LocalKafkaError) as error:
            broker.start()
    assert f"port {broker.port + 1} on 127.0.0.1 is in use by {THIS_PROCESS}" in str(error.value)
    assert "KRaft controller port" in str(error.value)
    assert not broker.broker_dir.exists()  # failed before anything was written


def test_kafka_start_names_a_client_that_connected_to_itself_on_the_broker_port(tmp_path):
    """The incident: a client retrying 127.0.0.1:N got N as its own source port, and the broker could not bind N."""
    broker = LocalKafka(tmp_path, port=free_port(pair=True))
    with socket.socket() as client:
        client.bind(("127.0.0.1", broker.port))
        client.connect(("127.0.0.1", broker.port))  # TCP simultaneous open with itself: connected, nobody listens
        assert client.getpeername() == client.getsockname()
        with pytest.raises(
            LocalKafkaError, match=rf"port {broker.port} on 127.0.0.1 is in use by .*\(pid {os.getpid()}\)"
        ):
            broker.start()


def test_kafka_start_says_another_process_when_the_holder_cannot_be_found(tmp_path, monkeypatch):
    monkeypatch.setattr("stream.infra.local_kafka.port_user", lambda port: None)
    broker = LocalKafka(tmp_path, port=free_port(pair=True))
    with socket.socket() as other:
        other.bind(("127.0.0.1", broker.port))
        with pytest.raises(LocalKafkaError, match=f"port {broker.port} on 127.0.0.1 is in use by another process"):
            broker.start()


# -- LocalService ------------------------------------------------------------------------------
def _http_server(tmp_path: Path, port: int, delay_s: float = 0.0) -> LocalService:
    """A Python HTTP server on ``port`` after ``delay_s``; "/" answers 200 (a directory listing)."""
    script = f"import time, http.server; time.sleep({delay_s}); print('serving', flush=True); http.server.test(http.server.SimpleHTTPRequestHandler, port={port}, bind='127.0.0.1')"
    return LocalService(
        "http", [sys.executable, "-c", script], tmp_path / "http.log", port=port, ready_path="/", cwd=tmp_path
    )


@pytest.mark.external  # starts a Python subprocess
def test_a_service_is_ready_when_its_path_answers_and_stopped_on_exit(tmp_path):
    port = free_port()
    with _http_server(tmp_path, port, delay_s=0.5) as service:
        assert service.running
        assert service.url == f"http://127.0.0.1:{port}"
        assert service.answers()
        pid = service.pid
    assert not service.running
    assert service.process is not None and service.process.returncode is not None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert "serving" in (tmp_path / "http.log").read_text()


@pytest.mark.external  # starts a Python subprocess
def test_a_service_that_exits_fails_with_its_log(tmp_path):
    service = LocalService(
        "broken", [sys.executable, "-c", "print('bad flag'); raise SystemExit(3)"], tmp_path / "b.log", port=free_port()
    )
    with pytest.raises(LocalServiceError, match=r"broken exited with code 3:\nbad flag"), service:
        pass


@pytest.mark.external  # starts a Python subprocess
def test_a_service_never_ready_is_stopped_and_named_with_its_log(tmp_path):
    service = LocalService(
        "silent",
        [sys.executable, "-c", "import time; print('starting', flush=True); time.sleep(60)"],
        tmp_path / "s.log",
        port=free_port(),
    )
    service.start()
    with pytest.raises(
        LocalServiceError, match=r"silent not ready at http://127.0.0.1:\d+/-/ready within 1 s:\nstarting"
    ):
        service.wait_ready(timeout_s=1.0)
    service.stop()
    assert not service.running


@pytest.mark.external  # starts a Python subprocess
def test_stop_kills_a_process_that_ignores_sigterm(tmp_path):
    script = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); time.sleep(60)"
    )
    service = LocalService("stubborn", [sys.executable, "-c", script], tmp_path / "k.log").start()
    local_services.time.sleep(0.5)  # let it install the handler
    service.stop(timeout_s=0.5)
    assert service.process is not None and service.process.returncode == -9


@pytest.mark.external  # starts a Python subprocess
def test_stop_after_terminate_lets_the_process_finish_its_clean_up(tmp_path):
    """`ces-stream run` sends every child SIGTERM first, then waits for each: no second SIGTERM in between."""
    script = (
        "import signal, sys, time\n"
        "signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))\n"
        "print('up', flush=True)\n"
        "try:\n    time.sleep(60)\n"
        "finally:\n    signal.signal(signal.SIGTERM, signal.SIG_DFL)\n    time.sleep(1)\n    print('summary')\n"
    )
    service = LocalService("simulator", [sys.executable, "-c", script], tmp_path / "sim.log").start()
    local_services.time.sleep(0.5)  # let it install the handler
    service.terminate()
    local_services.time.sleep(0.2)  # inside its clean-up now, with SIGTERM's default action back
    service.stop(timeout_s=10)
    assert service.process is not None and service.process.returncode == 0
    assert (tmp_path / "sim.log").read_text() == "up\nsummary\n"


@pytest.mark.external  # starts a Python subprocess
def test_a_missing_binary_is_named(tmp_path):
    with pytest.raises(LocalServiceError, match="cannot run /nonexistent/prometheus"):
        LocalService("prometheus", ["/nonexistent/prometheus"], tmp_path / "p.log").start()


@pytest.mark.external  # starts a Python subprocess
def test_the_log_is_appended_when_asked(tmp_path):
    log = tmp_path / "w.log"
    log.write_text("earlier run\n")
    service = LocalService("w", [sys.executable, "-c", "print('this run')"], log, append_log=True).start()
    assert service.process is not None and service.process.wait(30) == 0
    assert log.read_text() == "earlier run\nthis run\n"
