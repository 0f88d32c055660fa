"""Repeated warnings and errors at a bounded rate: one line per kind and interval, with a count.

While the broker is unreachable every Kafka client of a worker retries every 100 ms and
logs each failure: a 30-second outage wrote thousands of lines. A kind is the logger and
the message template (``record.msg`` before its arguments are filled in), so "Unable
connect to node with id 1" and "... id 2" are one kind. The first record of a kind is
logged; the rest within ``interval_s`` are counted, and the next one logged after that
says how many were left out. CRITICAL records always pass: they are rare and say why a
worker stops. aiokafka's INFO records about failures are limited the same way (its other
INFO records, the rebalance steps, are not): when the broker comes back it reports each
failed offset commit at INFO ("OffsetCommit failed ... will find new
coordinator and retry"), 75-150 lines within a second (issue 25).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

# Loggers whose INFO records about failures repeat per retry while the broker is away or coming back.
LIMITED_INFO_LOGGERS = ("aiokafka",)


def _a_retried_failure(record: logging.LogRecord) -> bool:
    """An INFO record of a Kafka client about a failure it retries (its rebalance lines stay unlimited)."""
    return record.name.startswith(LIMITED_INFO_LOGGERS) and "failed" in str(record.msg)


@dataclass
class _Kind:
    logged_at: float
    left_out: int = 0


class RepeatLimit(logging.Filter):
    """A handler filter that lets one WARNING/ERROR record (or aiokafka INFO failure) per kind through per ``interval_s``.

    :param interval_s: how long after a logged record the same kind is only counted.
    :param clock: monotonic seconds (a test passes its own).
    """

    def __init__(self, interval_s: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.interval_s = interval_s
        self.clock = clock
        self._kinds: dict[tuple[str, int, str], _Kind] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.CRITICAL or record.levelno < logging.INFO:
            return True
        if record.levelno < logging.WARNING and not _a_retried_failure(record):
            return True
        key = (record.name, record.levelno, str(record.msg))
        now = self.clock()
        kind = self._kinds.get(key)
        if kind is None:
            if len(self._kinds) >= 10_000:  # messages built without a template: keep the memory bounded
                self._kinds.clear()
            self._kinds[key] = _Kind(now)
            return True
        if now - kind.logged_at < self.interval_s:
            kind.left_out += 1
            return False
        if kind.left_out:
            record.msg = f"{record.msg} [and {kind.left_out} more like it in the last {now - kind.logged_at:.0f} s]"
        kind.logged_at, kind.left_out = now, 0
        return True


def limit_repeats(logger: logging.Logger, interval_s: float) -> RepeatLimit:
    """Put one :class:`RepeatLimit` on every handler of ``logger`` (the root logger, once set up)."""
    limit = RepeatLimit(interval_s)
    for handler in logger.handlers:
        if not any(isinstance(f, RepeatLimit) for f in handler.filters):
            handler.addFilter(limit)
    return limit
