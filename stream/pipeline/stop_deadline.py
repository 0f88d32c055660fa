"""Stop means stop: after SIGTERM or SIGINT the worker exits within ``CES_SHUTDOWN_TIMEOUT_SECONDS``.

Faust's graceful stop waits for every stream to ack what it holds, commits, flushes the
producer and leaves the group: each step waits on the broker, and with the broker down
some wait for ever (aiokafka retries a commit until it succeeds) or a minute (the consumer
thread's stop). Past the deadline the process exits at once with :data:`EX_TEMPFAIL`.
Nothing is committed past what the stages processed (they ack only after their outputs
went out), so the next worker replays what this one could not commit, and the idempotent
updates keep the figures exact.

The timer runs on a thread of its own: it fires even while the event loop is blocked.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

EX_TEMPFAIL = 75  # sysexits.h: a temporary failure; the next worker picks up from the last commit
THREAD_NAME = "ces-stop-deadline"  # how a test run finds a deadline a test left armed


class StopDeadline:
    """Exits the process ``timeout_s`` after :meth:`arm` unless it has exited by then.

    Used for every stop that must end: a signal (:data:`EX_TEMPFAIL`) and a stage crash
    (``EX_SOFTWARE``, see :func:`stream.pipeline.stage_helpers.stop_the_worker`).

    :param exit_code: the process's exit code when the deadline passes.
    :param exit: what ends the process (``os._exit``; a test passes its own).
    """

    def __init__(
        self, timeout_s: float, exit_code: int = EX_TEMPFAIL, exit: Callable[[int], object] = os._exit
    ) -> None:
        self.timeout_s = timeout_s
        self.exit_code = exit_code
        self._exit = exit
        self._timer: threading.Timer | None = None
        self.armed_at: float | None = None

    @property
    def armed(self) -> bool:
        return self._timer is not None

    def arm(self, cause: str) -> None:
        """Start the countdown (once: a second signal does not move the deadline)."""
        if self._timer is not None:
            return
        self.armed_at = time.monotonic()
        log.info(
            "%s: stopping; a stop that takes over %g s ends with exit code %s", cause, self.timeout_s, self.exit_code
        )
        timer = threading.Timer(self.timeout_s, self._expire, args=(cause,))
        timer.daemon = True
        timer.name = THREAD_NAME
        self._timer = timer
        timer.start()

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()

    def _expire(self, cause: str) -> None:
        log.critical(
            "the worker did not stop within %g s of %s; exiting now with code %s (what it did not commit is "
            "replayed by the next worker)",
            self.timeout_s,
            cause,
            self.exit_code,
        )
        logging.shutdown()
        self._exit(self.exit_code)
