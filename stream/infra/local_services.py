"""Server processes on this machine (Prometheus, Alertmanager, a worker) and the ports they listen on.

One way to start such a process with its log, wait until its HTTP readiness path answers,
and stop it (SIGTERM, then SIGKILL); and one way to choose a free port for it.

Free ports are chosen outside the kernel's ephemeral range (the source ports of outgoing
connections): a client retrying a connection to a port in that range can be given that very
port as its own source port (a TCP self-connection), and a server starting there later finds
it taken. Ports the OS hands out on ``bind(("127.0.0.1", 0))`` all lie in that range.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import time
import urllib.request
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Self

from stream.errors import LocalServiceError

EPHEMERAL_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
DEFAULT_EPHEMERAL_RANGE = (32768, 60999)  # Linux's default, when the file cannot be read
LOWEST_FREE_PORT = 20000  # below it lie the usual ports of local servers (Prometheus 9090, Grafana 3000, ...)
HIGHEST_PORT = 65535
PORT_ATTEMPTS = 200

# Its own generator: a test that seeds `random` must not make parallel sessions choose the same ports.
_port_choice = random.Random(os.urandom(16))
# Ports handed out lately, maybe not bound yet: two calls in a row must not give the same one.
_given_ports: deque[int] = deque(maxlen=256)


# -- ports -------------------------------------------------------------------------------------
def ephemeral_port_range(path: Path | None = None) -> tuple[int, int]:
    """The kernel's range of source ports for outgoing connections (inclusive)."""
    try:
        low, high = (int(value) for value in (path or EPHEMERAL_RANGE_FILE).read_text().split())
    except (OSError, ValueError):
        return DEFAULT_EPHEMERAL_RANGE
    return low, high


def port_intervals(pair: bool = False) -> list[range]:
    """The ports a server may take: from 20000 up, outside the ephemeral range (with ``pair``, port + 1 too)."""
    low, high = ephemeral_port_range()
    span = 2 if pair else 1
    below = range(LOWEST_FREE_PORT, low - span + 1)  # port + span - 1 < low
    above = range(max(LOWEST_FREE_PORT, high + 1), HIGHEST_PORT - span + 2)
    return [interval for interval in (below, above) if len(interval)]


def can_bind(host: str, port: int, reuse_address: bool = False) -> bool:
    """Whether a TCP server could listen on ``host:port`` now.

    ``reuse_address`` binds as servers do (SO_REUSEADDR, as Java's and Go's listeners set it):
    closed connections waiting in TIME_WAIT do not count then; without it they do.
    """
    with socket.socket() as probe:
        if reuse_address:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def free_port(pair: bool = False, host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host``, outside the ephemeral range (with ``pair``, port + 1 is free too).

    Chosen at random, so that parallel test sessions rarely try the same one.
    """
    intervals = port_intervals(pair)
    if not intervals:
        low, high = ephemeral_port_range()
        raise LocalServiceError(
            f"no port from {LOWEST_FREE_PORT} up lies outside the ephemeral range {low}-{high} ({EPHEMERAL_RANGE_FILE})"
        )
    weights = [len(interval) for interval in intervals]
    for _ in range(PORT_ATTEMPTS):
        port = _port_choice.choice(_port_choice.choices(intervals, weights)[0])
        taken = {port, port + 1} if pair else {port}
        if taken.isdisjoint(_given_ports) and all(can_bind(host, p) for p in taken):
            _given_ports.extend(taken)
            return port
    raise LocalServiceError(f"no free port on {host} after {PORT_ATTEMPTS} attempts")


def _socket_inodes(port: int) -> set[str]:
    """Inodes of the TCP sockets (IPv4 and IPv6, any state) whose local port is ``port``."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            # fields: sl, local address:port (hex), remote address:port, state, ..., inode (10th)
            if len(fields) > 9 and int(fields[1].rpartition(":")[2], 16) == port and fields[9] != "0":
                inodes.add(fields[9])
    return inodes


def port_user(port: int) -> str | None:
    """The process holding a socket on local TCP port ``port``, as "name (pid N)"; None when not found.

    Read from /proc: the socket's inode in /proc/net/tcp, then the process with that socket among
    its file descriptors. Not found: another user's process (unreadable without root, also for
    ``ss -p``), or a socket that is only bound (neither listening nor connected: not in the table).
    """
    inodes = _socket_inodes(port)
    if not inodes:
        return None
    links = {f"socket:[{inode}]" for inode in inodes}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            descriptors = list((proc / "fd").iterdir())
        except OSError:
            continue  # gone, or not ours to read
        for fd in descriptors:
            with contextlib.suppress(OSError):
                if os.readlink(fd) in links:
                    return f"{(proc / 'comm').read_text().strip()} (pid {proc.name})"
    return None


# -- processes ---------------------------------------------------------------------------------
def _die_with_parent() -> None:
    """In the child, before exec: on Linux, SIGTERM it when its parent dies, even by SIGKILL."""
    try:
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # not Linux: the parent's own stop still ends the child


def prometheus_argv(
    config_file: Path, storage_dir: Path, port: int, *options: str, binary: str = "prometheus"
) -> list[str]:
    return [
        binary,
        f"--config.file={config_file}",
        f"--storage.tsdb.path={storage_dir}",
        f"--web.listen-address=127.0.0.1:{port}",
        *options,
    ]


def alertmanager_argv(
    config_file: Path, storage_dir: Path, port: int, *options: str, binary: str = "prometheus-alertmanager"
) -> list[str]:
    return [
        binary,
        f"--config.file={config_file}",
        f"--storage.path={storage_dir}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",  # a single Alertmanager: no gossip port to take
        *options,
    ]


class LocalService:
    """A server process on this machine: its argv, its log file, started, ready, stopped.

    Ready means that ``GET http://127.0.0.1:{port}{ready_path}`` answers 200 (Prometheus and
    Alertmanager: ``/-/ready``). Stopping sends SIGTERM, then SIGKILL after a timeout. As a
    context manager it is started and waited for on entry and stopped on exit, also when it
    never became ready.

    :param own_session: start it in its own session, so a terminal's Ctrl-C reaches only this process.
    :param die_with_parent: on Linux, the kernel sends it SIGTERM when this process dies, even by SIGKILL.
    :param append_log: append to ``log_file`` instead of starting it afresh.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_file: Path,
        *,
        port: int | None = None,
        ready_path: str = "/-/ready",
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        append_log: bool = False,
        own_session: bool = False,
        die_with_parent: bool = False,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_file = log_file
        self.port = port
        self.ready_path = ready_path
        self.env = env
        self.cwd = cwd
        self.append_log = append_log
        self.own_session = own_session
        self.die_with_parent = die_with_parent
        self.process: subprocess.Popen[bytes] | None = None
        self._sigterm_sent = False

    @property
    def url(self) -> str:
        if self.port is None:
            raise LocalServiceError(f"{self.name} listens on no port")
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> Self:
        """Start the process (without waiting for it to be ready)."""
        with open(self.log_file, "ab" if self.append_log else "wb") as log:  # the child keeps its own descriptor
            try:
                self.process = subprocess.Popen(
                    self.argv,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env=self.env,
                    cwd=self.cwd,
                    start_new_session=self.own_session,
                    preexec_fn=_die_with_parent if self.die_with_parent else None,
                )
            except OSError as exc:
                raise LocalServiceError(f"cannot run {self.argv[0]}: {exc}") from None
        self._sigterm_sent = False
        return self

    def answers(self) -> bool:
        """Whether the readiness path answers 200 now."""
        try:
            with urllib.request.urlopen(self.url + self.ready_path, timeout=2) as response:
                return response.status == 200
        except OSError:  # refused, or an HTTP error status such as 503
            return False

    def wait_ready(self, timeout_s: float = 60.0, interval_s: float = 0.2) -> None:
        """Return once the readiness path answers; raise with the log's tail when it exits or the time is up."""
        deadline = time.monotonic() + timeout_s
        while not self.answers():
            if self.process is None or self.process.poll() is not None:
                code = self.process.returncode if self.process is not None else "(not started)"
                raise LocalServiceError(f"{self.name} exited with code {code}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise LocalServiceError(
                    f"{self.name} not ready at {self.url}{self.ready_path} within {timeout_s:.0f} s:\n{self.log_tail()}"
                )
            time.sleep(interval_s)

    def terminate(self) -> None:
        """Send SIGTERM, without waiting (to stop several processes at once).

        Once only: a second SIGTERM would cut short the process's own clean-up, e.g. a Python
        child whose handler has already run and been reset (the simulator's summary).
        """
        if self.running and not self._sigterm_sent:
            assert self.process is not None
            self.process.terminate()
            self._sigterm_sent = True

    def stop(self, timeout_s: float = 20.0) -> None:
        """SIGTERM, then SIGKILL when it has not exited after ``timeout_s``; reaps the process."""
        if self.process is None:
            return
        self.terminate()
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def log_tail(self, chars: int = 2000) -> str:
        """The end of the log (a Prometheus log can be long: only the end is read)."""
        try:
            with open(self.log_file, "rb") as log:
                log.seek(max(0, log.seek(0, os.SEEK_END) - chars))
                return log.read().decode(errors="replace")
        except OSError:
            return f"(no log at {self.log_file})"

    def __enter__(self) -> Self:
        self.start()
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
