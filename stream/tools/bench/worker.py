"""The benchmark's worker: a ``ces-stream worker`` subprocess, its CPU time and its counters.

The subprocess inherits the bench's environment (``PYTHONPATH`` included), so it runs the
same code as the bench. CPU time is utime + stime of the process from ``/proc/PID/stat``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from stream.errors import CesError


class BenchError(CesError):
    """A benchmark phase could not finish (the worker died, or a wait timed out)."""


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc), 0.0 where /proc is missing."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def parse_sample(line: str) -> tuple[str, dict[str, str], float]:
    """One exposition line, ``name{a="x",b="y"} value``, as (name, labels, value) (label values without escapes)."""
    head, _, value = line.rpartition(" ")
    name, _, rest = head.partition("{")
    labels = {}
    for pair in rest.rstrip("}").split('",'):
        key, sep, label = pair.partition('="')
        if sep:
            labels[key] = label.rstrip('"')
    return name, labels, float(value)


def counter_sum(samples: list[tuple[str, dict[str, str], float]], *families: str, topic: str | None = None) -> float:
    """The sum of the named counter families' series in one scrape (optionally of one ``topic`` label)."""
    names = {f"{family}_total" for family in families}
    return sum(v for name, labels, v in samples if name in names and (topic is None or labels.get("topic") == topic))


def gauge_sum(samples: list[tuple[str, dict[str, str], float]], name: str, **labels: str) -> float:
    """The sum of a gauge's series in one scrape whose labels include ``labels``."""
    return sum(v for n, ls, v in samples if n == name and all(ls.get(k) == x for k, x in labels.items()))


class BenchWorker:
    """One worker subprocess; ``restart`` keeps its port (so its static member id) and its data dir."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.port = int(env["CES_WEB_PORT"])
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.launched_at = 0.0
        # Wall seconds of every /metrics request of :meth:`scrape` (the polls during a phase: scrapes under traffic).
        self.scrape_seconds: list[float] = []

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def launch(self) -> None:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "stream.tools.cli", "worker", "--loglevel", "warning"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        self.launched_at = time.monotonic()

    def cpu(self) -> float:
        return cpu_seconds(self.pid)

    def get(self, path: str, timeout_s: float = 10) -> bytes:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=timeout_s) as response:
            body: bytes = response.read()
            return body

    def _check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise BenchError(f"the worker exited with {self.proc.returncode}; its log: {self.log_path}")

    def ready(self) -> bool:
        self._check_alive()
        try:
            return bool(json.loads(self.get("/health")).get("ready"))
        except urllib.error.HTTPError as exc:
            return bool(json.loads(exc.read() or b"{}").get("ready"))
        except (OSError, ValueError):
            return False

    def wait_ready(self, timeout_s: float = 600) -> float:
        """Wait for /health ready; return the monotonic time it was seen ready."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.ready():
                return time.monotonic()
            time.sleep(0.1)
        raise BenchError(f"the worker was not ready within {timeout_s:.0f} s; its log: {self.log_path}")

    def scrape(self, *names: str) -> list[tuple[str, dict[str, str], float]]:
        """The samples of the named series in one /metrics scrape: (name, labels, value).

        Only the lines of those names are parsed: a scrape of 200 goals is megabytes, and the
        bench shares the machine with the worker it measures.
        """
        self._check_alive()
        wanted = tuple(f"{name}{{" for name in names) + tuple(f"{name} " for name in names)
        out = []
        started = time.perf_counter()
        body = self.get("/metrics")
        self.scrape_seconds.append(time.perf_counter() - started)
        for line in body.decode().splitlines():
            if line.startswith(wanted):
                out.append(parse_sample(line))
        return out

    def counters(self, *families: str, topic: str | None = None) -> float:
        """The sum over every series of the named counter families (names without ``_total``).

        With ``topic``, only the series whose ``topic`` label is that topic.
        """
        return counter_sum(self.scrape(*(f"{family}_total" for family in families)), *families, topic=topic)

    def wait_idle(self, timeout_s: float = 180) -> float:
        """Wait until the worker has no consumer lag on any topic (a phase starts from an idle worker).

        Returns the seconds waited. The lag is from the committed offset, so it reaches 0 up to a
        commit interval after the work is done.
        """
        started = time.monotonic()
        while time.monotonic() - started < timeout_s:
            if sum(value for _, _, value in self.scrape("ces_consumer_lag_messages")) <= 0:
                break
            time.sleep(1.0)
        return time.monotonic() - started

    def decisions(self) -> float:
        """Prompt decisions taken so far (prompts + suppressions)."""
        return self.counters("ces_survey_prompts", "ces_survey_prompts_suppressed")

    def wait_for(self, read: str, target: float, timeout_s: float, interval_s: float = 1.0) -> tuple[float, float]:
        """Poll ``read`` (a method name) until it reaches ``target``; return (monotonic time, value)."""
        deadline = time.monotonic() + timeout_s
        value = 0.0
        while time.monotonic() < deadline:
            value = getattr(self, read)()
            if value >= target:
                return time.monotonic(), value
            time.sleep(interval_s)  # a scrape costs the worker tens of ms: poll gently
        raise BenchError(f"{read} reached {value:.0f} of {target:.0f} within {timeout_s:.0f} s; log: {self.log_path}")

    def stop(self, timeout_s: float = 60) -> None:
        """SIGTERM and wait (a clean stop commits offsets and flushes)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def kill(self) -> None:
        """SIGKILL: a crash."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
