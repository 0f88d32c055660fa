"""Consumer lag from Faust's consumer bookkeeping (a stand-in consumer, no broker)."""

from __future__ import annotations

from faust.types import TP

from stream.pipeline.faust_internals import consumer_lag, partition_offsets

TOPICS = {"in", "internal"}


class FakeConsumer:
    def __init__(self, highwater: dict[TP, int | None], committed: dict[TP, int], read: dict[TP, int]) -> None:
        self._highwater = highwater
        self._committed_offset = committed
        self._read_offset = read

    def assignment(self) -> set[TP]:
        return set(self._highwater)

    def highwater(self, tp: TP) -> int | None:
        value = self._highwater[tp]
        if value == -1:
            raise KeyError(tp)  # Faust raises while a partition was never fetched
        return value


def test_lag_counts_from_the_committed_offset_even_when_everything_was_read():
    # A stuck partition: read to the end, committed far behind. That is lag, not done.
    stuck = TP("in", 0)
    consumer = FakeConsumer({stuck: 10_000}, committed={stuck: 5_277}, read={stuck: 9_999})
    assert consumer_lag(partition_offsets(consumer, TOPICS), TOPICS) == {"in": 10_000 - 5_277, "internal": 0}


def test_lag_sums_partitions_per_topic_and_skips_other_topics():
    consumer = FakeConsumer(
        {TP("in", 0): 100, TP("in", 1): 50, TP("internal", 0): 7, TP("changelog", 0): 1_000},
        committed={TP("in", 0): 90, TP("in", 1): 50, TP("internal", 0): 3, TP("changelog", 0): 0},
        read={},
    )
    assert consumer_lag(partition_offsets(consumer, TOPICS), TOPICS) == {"in": 10, "internal": 4}


def test_without_a_commit_lag_counts_from_what_was_read_or_from_the_start():
    read_only, untouched = TP("in", 0), TP("in", 1)
    consumer = FakeConsumer({read_only: 100, untouched: 30}, committed={}, read={read_only: 79})
    assert consumer_lag(partition_offsets(consumer, TOPICS), TOPICS)["in"] == (100 - 80) + 30


def test_partitions_without_a_known_high_water_mark_are_left_out():
    consumer = FakeConsumer({TP("in", 0): None, TP("in", 1): -1, TP("in", 2): 12}, committed={TP("in", 2): 2}, read={})
    assert consumer_lag(partition_offsets(consumer, TOPICS), TOPICS)["in"] == 10
