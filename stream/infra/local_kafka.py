"""A real single-node Apache Kafka (KRaft) on 127.0.0.1, built from Maven Central jars.

No Docker needed: ``mvn`` copies the runtime jars of ``org.apache.kafka:kafka_2.13``
(pinned in ``deploy/kafka/pom.xml``) into a cache once, then ``java kafka.Kafka``
runs the broker with ``deploy/kafka/server.properties``. Start is idempotent: a
broker already answering on the port is reused.
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from stream.errors import LocalKafkaError
from stream.infra.broker_security import SaslSslListener
from stream.infra.local_services import can_bind, port_user

PROJECT_ROOT = Path(__file__).resolve().parents[2]
KAFKA_DEPLOY_DIR = PROJECT_ROOT / "deploy" / "kafka"
READY_LINE = "Kafka Server started"
LOCAL_HOSTS = ("127.0.0.1", "localhost")
JVM_OPTIONS = (
    "-Xms256m",
    "-Xmx768m",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-Djava.awt.headless=true",
)


@dataclass(frozen=True)
class BrokerStatus:
    running: bool
    bootstrap: str
    pid: int | None
    log_file: Path


def parse_local_bootstrap(bootstrap: str) -> tuple[str, int] | None:
    """(host, port) when ``bootstrap`` is one broker on this machine, else None."""
    servers = [s.strip() for s in bootstrap.split(",") if s.strip()]
    if len(servers) != 1:
        return None
    host, _, port = servers[0].rpartition(":")
    if host not in LOCAL_HOSTS or not port.isdigit():
        return None
    return host, int(port)


def local_broker_for(bootstrap: str, cache_dir: Path) -> LocalKafka | None:
    """The local broker ``bootstrap`` names (one broker on this machine), else None: a remote one is used as it is."""
    local = parse_local_bootstrap(bootstrap)
    if local is None:
        return None
    host, port = local
    return LocalKafka(cache_dir, port=port, host="127.0.0.1" if host == "localhost" else host)


def port_open(host: str, port: int, timeout_s: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def kafka_version() -> str:
    """The Kafka version pinned in the pom (one source of truth)."""
    pom = KAFKA_DEPLOY_DIR / "pom.xml"
    if not pom.is_file():
        raise LocalKafkaError(
            f"{pom} not found: the local broker runs from a source checkout of ces-stream "
            "(or point CES_KAFKA_BOOTSTRAP at a running broker)"
        )
    text = pom.read_text()
    start = text.index("<kafka.version>") + len("<kafka.version>")
    return text[start : text.index("</kafka.version>", start)].strip()


class LocalKafka:
    """Provision, start, stop and inspect the local broker.

    :param home: cache directory for jars and broker data.
    :param port: the client port (PLAINTEXT); the KRaft controller listens on ``port + 1``.
    :param security: when given, the client port is a SASL_SSL listener with SCRAM users
        instead (``stream.infra.broker_security``); the controller stays PLAINTEXT.
    """

    def __init__(
        self, home: Path, port: int = 29092, host: str = "127.0.0.1", security: SaslSslListener | None = None
    ) -> None:
        self.home = home.expanduser()
        self.host = host
        self.port = port
        self.security = security
        self.version = kafka_version()
        self.libs_dir = self.home / f"libs-{self.version}"
        self.broker_dir = self.home / f"broker-{port}"
        self.data_dir = self.broker_dir / "data"
        self.log_file = self.broker_dir / "broker.log"
        self.pid_file = self.broker_dir / "broker.pid"

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    # -- provisioning ---------------------------------------------------
    def ensure_jars(self) -> Path:
        """Copy the broker's runtime jars from Maven Central into the cache (once)."""
        if self.libs_dir.is_dir() and any(self.libs_dir.glob("kafka_2.13-*.jar")):
            return self.libs_dir
        for tool in ("java", "mvn"):
            if shutil.which(tool) is None:
                raise LocalKafkaError(
                    f"'{tool}' not found on PATH: the local Kafka broker needs Java 17+ and Apache Maven "
                    "(or point CES_KAFKA_BOOTSTRAP at another broker, or use Docker: docker compose up)"
                )
        staging = self.home / f".libs-{self.version}.partial"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        cmd = [
            "mvn",
            "-q",
            "-B",
            "-f",
            str(KAFKA_DEPLOY_DIR / "pom.xml"),
            "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={staging}",
        ]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            raise LocalKafkaError(
                f"mvn could not fetch Kafka {self.version}:\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
            )
        staging.rename(self.libs_dir)  # atomic: a half-filled cache is never used
        return self.libs_dir

    def _java(self, *args: str) -> list[str]:
        return [
            "java",
            *JVM_OPTIONS,
            f"-Dkafka.logs.dir={self.broker_dir}",
            f"-Dlog4j2.configurationFile={KAFKA_DEPLOY_DIR / 'log4j2.properties'}",
            "-cp",
            f"{self.libs_dir}/*",
            *args,
        ]

    def _overrides(self) -> list[str]:
        controller = self.port + 1
        values = {
            "controller.quorum.voters": f"1@{self.host}:{controller}",
            "listeners": f"PLAINTEXT://{self.host}:{self.port},CONTROLLER://{self.host}:{controller}",
            "advertised.listeners": f"PLAINTEXT://{self.host}:{self.port}",
            "log.dirs": str(self.data_dir),
        }
        if self.security is not None:
            values.update(self.security.broker_properties(self.host, self.port, controller))
        out: list[str] = []
        for key, value in values.items():
            out += ["--override", f"{key}={value}"]
        return out

    def _format_storage(self) -> None:
        if (self.data_dir / "meta.properties").exists():
            return
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        props = self.broker_dir / "format.properties"
        base = (KAFKA_DEPLOY_DIR / "server.properties").read_text()
        overrides = self._overrides()
        extra = "\n".join(overrides[i + 1] for i in range(0, len(overrides), 2))
        props.write_text(base + "\n" + extra + "\n")
        users = self.security.format_arguments() if self.security is not None else []
        result = subprocess.run(
            self._java(
                "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(props), "--ignore-formatted", *users
            ),
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise LocalKafkaError(f"formatting KRaft storage failed:\n{result.stdout}{result.stderr}")

    # -- lifecycle ------------------------------------------------------
    def _pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        # When this process started the broker, an exited broker is a zombie until reaped, and
        # kill(pid, 0) would still find it: reap it first (another process's child: nothing to reap).
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        try:
            os.kill(pid, 0)
        except OSError:
            return None
        return pid

    def status(self) -> BrokerStatus:
        pid = self._pid()
        return BrokerStatus(port_open(self.host, self.port), self.bootstrap, pid, self.log_file)

    def start(self, timeout_s: float = 120.0) -> BrokerStatus:
        """Start the broker unless one already answers; wait until it accepts clients."""
        if port_open(self.host, self.port):
            return self.status()
        self.check_ports_free()
        self.ensure_jars()
        self.broker_dir.mkdir(parents=True, exist_ok=True)
        self._format_storage()
        with open(self.log_file, "w") as log:
            proc = subprocess.Popen(
                self._java("kafka.Kafka", str(KAFKA_DEPLOY_DIR / "server.properties"), *self._overrides()),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # outlives the CLI that started it
            )
        self.pid_file.write_text(str(proc.pid))
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise LocalKafkaError(f"Kafka exited with code {proc.returncode}:\n{self._log_tail()}")
            if READY_LINE in self.log_file.read_text(errors="replace") and port_open(self.host, self.port):
                return self.status()
            time.sleep(0.2)
        raise LocalKafkaError(f"Kafka did not become ready within {timeout_s:.0f} s:\n{self._log_tail()}")

    def check_ports_free(self) -> None:
        """Raise, naming the process, when the client or the controller port cannot be listened on.

        Checked as the broker binds (SO_REUSEADDR: connections in TIME_WAIT from the last run do
        not count), so Kafka's own "Address already in use" deep in its log becomes one plain line.
        """
        for port, role in ((self.port, "the client port"), (self.port + 1, "the KRaft controller port")):
            if not can_bind(self.host, port, reuse_address=True):
                raise LocalKafkaError(
                    f"port {port} on {self.host} is in use by {port_user(port) or 'another process'}; the local "
                    f"broker needs it ({role}): stop that process, or choose another port in CES_KAFKA_BOOTSTRAP"
                )

    def stop(self, timeout_s: float = 30.0) -> bool:
        """Stop the broker this cache started. Returns False when none was running."""
        pid = self._pid()
        if pid is None:
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self._pid() is not None:
            time.sleep(0.2)
        if self._pid() is not None:
            os.kill(pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)
        return True

    def _log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no broker log)"
