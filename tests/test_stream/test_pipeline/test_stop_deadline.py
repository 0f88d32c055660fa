"""StopDeadline and bound_signal_stops: SIGTERM/SIGINT start a countdown that ends in exit code 75."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import threading

from stream.pipeline.faust_internals import bound_signal_stops
from stream.pipeline.stop_deadline import EX_TEMPFAIL, StopDeadline
from tests.paths import PROJECT_ROOT


def test_the_deadline_exits_with_ex_tempfail_once_its_time_is_up():
    exited = threading.Event()
    codes: list[int] = []

    def exit(code: int) -> None:
        codes.append(code)
        exited.set()

    deadline = StopDeadline(0.05, exit=exit)
    assert not deadline.armed
    deadline.arm("SIGTERM")
    deadline.arm("SIGINT")  # a second signal does not start a second countdown
    assert exited.wait(5)
    assert codes == [EX_TEMPFAIL]


def test_a_cancelled_deadline_does_not_exit():
    codes: list[int] = []
    deadline = StopDeadline(0.05, exit=codes.append)
    deadline.arm("SIGTERM")
    deadline.cancel()
    assert deadline._timer is not None
    deadline._timer.join(5)
    assert codes == []


class FakeWorker:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def _on_sigterm(self) -> None:
        self.calls.append("term")

    def _on_sigint(self) -> None:
        self.calls.append("int")


class FakeDeadline:
    def __init__(self) -> None:
        self.causes: list[str] = []

    def arm(self, cause: str) -> None:
        self.causes.append(cause)


def test_sigterm_and_sigint_arm_the_deadline_then_stop_as_before():
    worker, deadline = FakeWorker(), FakeDeadline()
    bound_signal_stops(worker, deadline)
    worker._on_sigterm()
    worker._on_sigint()
    assert deadline.causes == [signal.SIGTERM.name, signal.SIGINT.name]
    assert worker.calls == ["term", "int"]


def test_the_handlers_mode_installs_are_the_bound_ones():
    # mode-streaming's Worker installs self._on_sigterm / self._on_sigint at start: a version that renamed
    # them would leave the deadline unarmed.
    from mode.worker import Worker

    assert callable(Worker._on_sigterm) and callable(Worker._on_sigint)
    import inspect

    source = inspect.getsource(Worker._install_signal_handlers_unix)
    assert "self._on_sigterm" in source and "self._on_sigint" in source


SCRIPT = textwrap.dedent("""
    import logging, time
    from stream.pipeline.stop_deadline import StopDeadline

    logging.basicConfig(level=logging.INFO)
    StopDeadline(0.3).arm("SIGTERM")
    while True:
        time.sleep(10)  # a stop that never ends; the loop is not even running
""")


def test_a_stop_that_never_ends_exits_the_process_with_ex_tempfail():
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == EX_TEMPFAIL
    assert "did not stop within 0.3 s of SIGTERM; exiting now with code 75" in result.stderr
