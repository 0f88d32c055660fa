"""The small pieces of Faust plumbing the stages share (Faust internals live only in this package).

Every private attribute of Faust, mode or aiokafka used below carries a ``checked:``
comment with the version it was read and tested against (``VERIFIED_VERSIONS``); the
worker warns at start when other versions are installed, and the unit tests in
``tests/test_stream/test_pipeline/test_faust_internals.py`` exercise each use. Its modules:
``streams`` (batches, acks, table writes), ``sending`` (``BatchSender``), ``recovery`` (the
rebalance races), ``continuity_guard`` and ``offsets`` (lag and progress per partition).


- ``batches`` drains a stream's channel queue directly instead of iterating the
  stream: Faust's per-event stream machinery (and ``take_events``, which also waits
  its full ``within`` before every batch) cost more than our whole decision.

- ``BatchSender`` sends a stage's output records (and its table changelog records)
  as one Kafka record batch per topic partition through aiokafka's batch API, instead
  of Faust's record-by-record sends (a future, a channel and a buffer hop each).

- ``seek_uncommitted_to_beginning`` rewinds partitions with no committed offset when
  Faust seeks back to the committed offsets: aiokafka's ``seek_to_committed`` leaves
  them where the fetcher stands, so records fetched and then dropped were lost (issue 9).

- ``ContinuityGuard`` checks that a stage receives every offset of a partition and
  reads any hole back before the stage acks past it; Faust's own gap handling
  commits past such a hole when a partition has no committed offset.

- Table writes find their changelog partition through the "current event" context
  variable that stream iteration sets (``faust.streams._current_event``). Our stages
  write once per batch, and timers write with no event at all, so they name the
  partition explicitly instead (``writing_to_partition``).

- ``hold_stream_until_seeked`` closes a race in Faust's recovery, ``consumer_lag``
  reads the committed and read offsets Faust keeps.

- ``install_reconnect_backoff`` gives every aiokafka client a bounded, jittered wait
  between attempts to connect (the producer's sender otherwise retried thousands of
  times a second with the broker down, issue 25); ``bound_signal_stops`` starts the
  worker's stop deadline on SIGTERM and SIGINT; ``install_fetch_limits`` sets Kafka's
  ``fetch.min.bytes`` and ``fetch.max.wait.ms`` of the stream consumer (Faust fixes them).

- ``install_eager_dispatch`` hands each fetched record to the conductor without the four
  asyncio tasks per record of Faust's fetch loop when the hand-off need not wait (``dispatch``).

- ``install_batched_changelog_reading`` replays the tables' changelogs at a start or rebalance
  over runs of queued records, without Faust's per-record task, debug formatting and
  end-of-recovery sums; ``install_table_manager_start_without_wait`` drops the table manager's
  fixed second of waiting before recovery (``start``).

- ``install_settings_reads_once`` reads the two Faust settings the conductor reads per
  record (``producer_threaded``, ``Event``) once per object (``settings_reads``).

- ``stored_reader`` reads a key on a known partition straight from its database (a read
  through the table outside stream iteration asks every partition's database);
  ``stored_items`` walks a table's stored records as of a moment, a slice at a time while
  the stages write the table, without Faust's per-record decoding (``stored``).
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable

from stream.pipeline.faust_internals.continuity_guard import ContinuityGuard, RecoveredEvent
from stream.pipeline.faust_internals.dispatch import install_eager_dispatch
from stream.pipeline.faust_internals.fetch import install_fetch_limits
from stream.pipeline.faust_internals.offsets import consumer_lag, partition_offsets
from stream.pipeline.faust_internals.reconnect import install_reconnect_backoff
from stream.pipeline.faust_internals.recovery import hold_stream_until_seeked, seek_uncommitted_to_beginning
from stream.pipeline.faust_internals.sending import BatchSender, track_topic
from stream.pipeline.faust_internals.settings_reads import install_settings_reads_once
from stream.pipeline.faust_internals.signals import bound_signal_stops
from stream.pipeline.faust_internals.start import (
    install_batched_changelog_reading,
    install_table_manager_start_without_wait,
)
from stream.pipeline.faust_internals.stored import stored_items, stored_reader
from stream.pipeline.faust_internals.streams import ack, batches, writing_to_partition

__all__ = [
    "VERIFIED_VERSIONS",
    "BatchSender",
    "ContinuityGuard",
    "RecoveredEvent",
    "ack",
    "batches",
    "bound_signal_stops",
    "consumer_lag",
    "hold_stream_until_seeked",
    "install_batched_changelog_reading",
    "install_eager_dispatch",
    "install_fetch_limits",
    "install_reconnect_backoff",
    "install_settings_reads_once",
    "install_table_manager_start_without_wait",
    "partition_offsets",
    "seek_uncommitted_to_beginning",
    "stored_items",
    "stored_reader",
    "track_topic",
    "unverified_versions",
    "writing_to_partition",
]

# Every use of a Faust or aiokafka internal below was read and tested against these
# versions (constraints.txt pins them for the tested set). Another version may move
# or change any of them; the worker says so at start (``unverified_versions``).
VERIFIED_VERSIONS = {"faust-streaming": "0.15.3", "aiokafka": "0.14.0", "mode-streaming": "0.7.1"}


def unverified_versions(installed: Callable[[str], str] = importlib.metadata.version) -> list[str]:
    """One line per installed package whose version differs from the one the internals were verified on."""
    problems = []
    for package, verified in VERIFIED_VERSIONS.items():
        try:
            found = f"{installed(package)} is installed"
        except importlib.metadata.PackageNotFoundError:
            found = "is not installed"
        if found != f"{verified} is installed":
            problems.append(f"{package} {found}; ces-stream's Faust plumbing was verified on {verified}")
    return problems
