"""The worker's SIGTERM and SIGINT start a :class:`~stream.pipeline.stop_deadline.StopDeadline`."""

from __future__ import annotations

import signal
from typing import Any


def bound_signal_stops(worker: Any, deadline: Any) -> None:
    """Arm ``deadline`` when ``worker`` (a ``faust.Worker``, not yet started) gets SIGTERM or SIGINT.

    Must run before the worker starts: mode installs its signal handlers at start, from
    these attributes.
    """
    # checked: mode-streaming 0.7.1 (Worker._install_signal_handlers_unix adds self._on_sigint and
    # self._on_sigterm as the loop's SIGINT/SIGTERM handlers; both schedule Worker.stop)
    for name, sig in (("_on_sigterm", signal.SIGTERM), ("_on_sigint", signal.SIGINT)):
        original = getattr(worker, name)

        def handler(original: Any = original, sig: signal.Signals = sig) -> None:
            deadline.arm(sig.name)
            original()

        setattr(worker, name, handler)
