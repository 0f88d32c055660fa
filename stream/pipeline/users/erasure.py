"""Erasure in the user stage: a user's state is deleted, and records from before the request cannot bring it back.

An erasure request reaches the user stage on the user's partition of ``<app_id>-user-events``,
in order with what the intake forwarded before it. But the intake reads three input topics,
and Kafka orders records only within one partition of one topic: a goal event the app sent
just before the request can be forwarded after it (a crash replays the uncommitted inputs of
every topic, a backlog on the goal events delays them by hours). Such a record would build the
erased user's state again.

So the stage keeps, per erased user, the erasure's Kafka record time (a *marker*: pseudonym ->
time, nothing else) in the ``erasures`` table. A goal event or answer of that user whose source
record is older than the marker happened before the request: it is decided on an empty scratch
state, so its facts still reach the anonymous figures exactly once (partials count each source
offset once), but nothing of it is kept or sent (no state, no prompt, no comment, no dead letter
with the user's bytes). Markers are deleted after ``CES_RAW_ID_RETENTION_HOURS``: by then every
input record from before the request has left its topic. Records a producer timestamps with a
clock skewed by more than the gap between the event and the request can be misordered.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from faust.types import AppT

from stream.ces.intake import Envelope, EnvelopeKind, partition_for
from stream.pipeline.faust_internals import BatchSender
from stream.pipeline.stage_helpers import owned_partitions, raw_table
from stream.pipeline.stage_types import Output
from stream.settings import Settings

HOUR_S = 3600.0


class Discard:
    """An :class:`~stream.pipeline.stage_types.Output` that keeps nothing: what a record from before its user's
    erasure would send or store."""

    def add(self, topic: str, key: bytes | None, value: bytes | None, partition: int | None = None) -> None:
        return None

    def put(self, table: object, partition: int, key: bytes, value: bytes | None) -> None:
        return None


class UserErasure:
    """The ``erasures`` table of markers, an in-memory index of the owned ones, and their pruner.

    :param topic_name: ``<app_id>-user-events`` (the markers live on its partitions).
    """

    def __init__(self, app: AppT, settings: Settings, topic_name: str) -> None:
        self.app = app
        self.topic_name = topic_name
        self.partitions = settings.topic_partitions
        self.keep_s = settings.raw_id_retention_hours * HOUR_S
        self.table = raw_table(app, "erasures", settings)
        self.markers: dict[str, float] = {}  # user_ref -> erasure record time, for the owned partitions
        app.timer(max(60.0, settings.tick_interval_seconds), name=f"{settings.app_id}.erasures-pruner")(self.prune)

    def mark(self, out: Output, partition: int, user_ref: str, env: Envelope, now_s: float) -> None:
        """Record that ``user_ref`` was erased by the request in ``env`` (its record time, else now)."""
        at_s = max(env.source_timestamp or now_s, self.markers.get(user_ref, 0.0))
        self.markers[user_ref] = at_s
        out.put(self.table, partition, user_ref.encode(), repr(at_s).encode())

    def from_before(self, user_ref: str, env: Envelope) -> bool:
        """Whether ``env`` (a goal event or an answer) was produced before its user's erasure."""
        at_s = self.markers.get(user_ref)
        if at_s is None or env.kind not in (EnvelopeKind.goal_event, EnvelopeKind.answer):
            return False
        return env.source_timestamp is None or env.source_timestamp < at_s

    async def prune(self) -> None:
        """Delete markers older than the inputs' retention (no record from before them is left to read)."""
        if self.app.rebalancing:
            return
        cutoff_s = time.time() - self.keep_s
        owned = owned_partitions(self.app, self.topic_name)
        out = BatchSender(self.app)
        for user_ref, at_s in list(self.markers.items()):
            partition = partition_for(user_ref, self.partitions)
            if at_s < cutoff_s and partition in owned:
                out.put(self.table, partition, user_ref.encode(), None)
                del self.markers[user_ref]
        await out.send()

    def rebuild(self, stored: Iterable[tuple[bytes, bytes | None]], owned: set[int]) -> None:
        """Derive the index again from the owned markers (after every rebalance)."""
        self.markers.clear()
        for raw_key, data in stored:
            user_ref = raw_key.decode()
            if data and partition_for(user_ref, self.partitions) in owned:
                self.markers[user_ref] = float(data)
