"""RepeatLimit: one line per kind and interval, with the count of those left out."""

from __future__ import annotations

import logging

from stream.observability.log_limits import RepeatLimit, limit_repeats


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def record(msg: str, *args: object, level: int = logging.ERROR, name: str = "aiokafka.client") -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, args, None)


def test_a_repeated_kind_is_logged_once_per_interval_then_with_the_count_left_out() -> None:
    clock = Clock()
    limit = RepeatLimit(30.0, clock)
    passed = []
    for second in range(65):  # ten failures a second, like a client retrying every 100 ms
        clock.now = 1000.0 + second
        for node in range(10):
            r = record("Unable connect to node with id %s: %s", node, "refused")
            if limit.filter(r):
                passed.append((second, r.getMessage()))
    assert [s for s, _ in passed] == [0, 30, 60]
    assert passed[0][1] == "Unable connect to node with id 0: refused"
    assert passed[1][1] == "Unable connect to node with id 0: refused [and 299 more like it in the last 30 s]"
    assert passed[2][1].endswith("[and 299 more like it in the last 30 s]")


def test_kinds_are_apart_by_logger_level_and_template_and_our_info_and_critical_always_pass() -> None:
    limit = RepeatLimit(30.0, Clock())
    assert limit.filter(record("a %s", 1)) and limit.filter(record("b %s", 1))
    assert limit.filter(record("a %s", 1, name="faust")) and limit.filter(record("a %s", 1, level=logging.WARNING))
    assert not limit.filter(record("a %s", 2))
    assert all(limit.filter(record("progress %s", i, level=logging.INFO, name="faust")) for i in range(5))
    assert all(limit.filter(record("stage %s crashed", i, level=logging.CRITICAL)) for i in range(5))


def test_limit_repeats_filters_every_handler_of_the_logger_once(caplog) -> None:
    logger = logging.getLogger("test-log-limits")
    handler = logging.Handler()
    logger.addHandler(handler)
    try:
        limit_repeats(logger, 30.0)
        limit_repeats(logger, 30.0)
        assert sum(isinstance(f, RepeatLimit) for f in handler.filters) == 1
    finally:
        logger.removeHandler(handler)


def test_aiokafkas_info_retries_are_limited_too() -> None:
    # When the broker comes back, aiokafka reports every failed commit at INFO: 75-150 lines a second (issue 25).
    clock = Clock()
    limit = RepeatLimit(30.0, clock)
    template = "OffsetCommit failed for group %s due to a coordinator error (%s), will find new coordinator and retry"
    name = "aiokafka.consumer.group_coordinator"
    passed = [limit.filter(record(template, "g", "NotCoordinatorForGroupError", level=logging.INFO, name=name))]
    passed += [
        limit.filter(record(template, "g", "NotCoordinatorForGroupError", level=logging.INFO, name=name))
        for _ in range(149)
    ]
    assert passed.count(True) == 1
    clock.now += 30
    again = record(template, "g", "NotCoordinatorForGroupError", level=logging.INFO, name=name)
    assert limit.filter(again) and again.getMessage().endswith("[and 149 more like it in the last 30 s]")
    assert limit.filter(record("debug %s", 1, level=logging.DEBUG, name=name))
    rebalance = "Setting newly assigned partitions %s for group %s"
    assert all(limit.filter(record(rebalance, i, "g", level=logging.INFO, name=name)) for i in range(5))
