"""Inferred abandonment: a started goal whose deadline passes with no end is expired, even for a quiet user.

The prompt engine expires a user's timed-out goals (``expire_open_goals``) whenever a
record of that user is decided. When no record comes, the expiry timer sends one: an
expiry record for the user to ``<app_id>-user-events``, on the user's own partition, so
the expiry is decided in order with the user's other records and replays like them.
The deadlines are indexed in memory (:class:`ExpiryTimers`), derived from the user
table and rebuilt after every rebalance, beside the stages.
"""

from __future__ import annotations

import asyncio
import heapq
import json
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

from faust.types import AppT

from stream.ces.intake import Envelope, EnvelopeKind, partition_for, user_id_from_record
from stream.ces.registry import GoalRegistry
from stream.ces.users import PromptDecision, UserState, expire_open_goals, may_have_deadlines, next_deadline_s
from stream.infra.record_reader import RecordReader
from stream.pipeline.faust_internals import BatchSender
from stream.pipeline.stage_helpers import HAND_BACK_EVERY_S, on_signal, owned_partitions, stop_the_worker
from stream.settings import Settings

log = logging.getLogger(__name__)

#: Users read between two looks at the clock while the index is rebuilt.
CHECK_TIME_EVERY = 1000


class ExpiryTimers:
    """In-memory index of inferred-abandonment deadlines, derived from the user table.

    It holds the raw user id (needed to address a prompt) only in memory, never in
    state; after a restart the index is rebuilt from the table without it, and the
    expiry timer reads the id back from the started event (``stream.infra.record_reader``).
    """

    def __init__(self) -> None:
        self._heaps: dict[int, list[tuple[float, str]]] = defaultdict(list)
        self.user_ids: dict[str, str] = {}

    def push(self, partition: int, deadline_s: float, user_ref: str, user_id: str | None) -> None:
        heapq.heappush(self._heaps[partition], (deadline_s, user_ref))
        if user_id is not None:
            self.user_ids[user_ref] = user_id

    def pop_due(self, partition: int, now_s: float) -> list[str]:
        heap = self._heaps.get(partition, [])
        due: list[str] = []
        while heap and heap[0][0] <= now_s:
            due.append(heapq.heappop(heap)[1])
        return list(dict.fromkeys(due))

    def clear(self) -> None:
        self._heaps.clear()
        self.user_ids.clear()


def expiry_payload(user_id: str | None) -> bytes:
    """The body of an expiry record: the raw user id to address a prompt to, if known."""
    return json.dumps({"user_id": user_id}).encode()


class UserExpiry:
    """The expiry timer of the user stage and the decisions on the expiry records it sends.

    :param topic_name: ``<app_id>-user-events``: the timer's records go there, and started
        events are read back from there.
    :param load_state: the stored state of a user on its partition (the user stage's table).
    """

    def __init__(
        self,
        app: AppT,
        settings: Settings,
        registry: GoalRegistry,
        topic_name: str,
        reader: RecordReader,
        load_state: Callable[[str, int], UserState],
    ) -> None:
        self.app = app
        self.registry = registry
        self.topic_name = topic_name
        self.reader = reader
        self.load_state = load_state
        self.partitions = settings.topic_partitions
        self.timers = ExpiryTimers()
        self._rebuilding: asyncio.Future[None] | None = None
        on_signal(app.on_partitions_revoked, self.stop_rebuild)
        on_signal(app.on_before_shutdown, self.stop_rebuild)
        app.timer(settings.tick_interval_seconds, name=f"{settings.app_id}.expiry-timer")(self.expire_due_goals)

    def arm(self, partition: int, state: UserState, user_ref: str, user_id: str | None) -> None:
        """Index the user's next deadline (if any goal is open) after a record of theirs was decided."""
        deadline = next_deadline_s(state)
        if deadline is not None:
            self.timers.push(partition, deadline, user_ref, user_id)

    def decide(
        self, state: UserState, env: Envelope, user_ref: str, offset: int, now_s: float, rates: dict[str, float]
    ) -> tuple[str | None, list[PromptDecision]]:
        """An expiry record: the user's timed-out goals are abandoned. Returns the raw user id it carried."""
        user_id: str | None = json.loads(env.payload).get("user_id")
        expired = expire_open_goals(
            state, now_s, self.registry, offset=offset, user_ref=user_ref, user_id=user_id, rates=rates
        )
        return user_id, expired

    async def recipient_of(self, state: UserState, partition: int, user_ref: str, now_s: float) -> str | None:
        """The raw user id, read back from the started event of a due open goal (never stored)."""
        for goal in sorted(state.open_goals.values(), key=lambda og: og.deadline_s):
            if goal.deadline_s > now_s:
                break
            record = await self.reader.read(self.topic_name, partition, goal.offset)
            user_id = user_id_from_record(*record, user_ref, goal.event_id) if record else None
            if user_id is not None:
                return user_id
        return None

    async def expire_due_goals(self) -> None:
        """Fire inferred abandonment even when no further events arrive for that user."""
        if self.app.rebalancing:
            return
        now_s = time.time()
        timers = self.timers
        out = BatchSender(self.app)
        for partition in owned_partitions(self.app, self.topic_name):
            for user_ref in timers.pop_due(partition, now_s):
                state = self.load_state(user_ref, partition)
                deadline = next_deadline_s(state)
                if deadline is None:
                    timers.user_ids.pop(user_ref, None)  # the goal ended normally
                    continue
                if deadline > now_s:
                    timers.push(partition, deadline, user_ref, None)
                    continue
                user_id = timers.user_ids.pop(user_ref, None)
                if user_id is None:  # opened before this worker started: ask the started event
                    user_id = await self.recipient_of(state, partition, user_ref, now_s)
                env = Envelope(EnvelopeKind.expiry, self.topic_name, partition, -1, None, expiry_payload(user_id))
                out.add(self.topic_name, user_ref.encode(), env.encode(), partition)
        await out.send()

    def forget(self) -> None:
        self.stop_rebuild()
        self.timers.clear()

    def forget_user(self, user_ref: str) -> None:
        """An erased user: drop the raw user id held in memory (a deadline left in the heap finds no state)."""
        self.timers.user_ids.pop(user_ref, None)

    def start_rebuild(self, stored_states: Iterator[tuple[bytes, bytes | None]], owned: set[int]) -> None:
        """Derive the deadline index again from the owned users' stored states, beside the stages (after a rebalance)."""
        self.stop_rebuild()
        app = self.app
        generation = app.consumer_generation_id

        def assignment_holds() -> bool:
            return not app.rebalancing and app.consumer_generation_id == generation

        self._rebuilding = asyncio.ensure_future(
            self._rebuild_or_stop_the_worker(stored_states, owned, assignment_holds)
        )

    def stop_rebuild(self, sender: object = None, *args: Any, **kwargs: Any) -> None:
        """Stop a rebuild under way (its RocksDB iterators hold their databases open)."""
        if self._rebuilding is not None:
            self._rebuilding.cancel()
            self._rebuilding = None

    async def _rebuild_or_stop_the_worker(
        self, stored_states: Iterator[tuple[bytes, bytes | None]], owned: set[int], assignment_holds: Callable[[], bool]
    ) -> None:
        try:
            await self.rebuild(stored_states, owned, assignment_holds)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a stored state that does not decode: this worker cannot go on
            log.critical(
                "the inferred-abandonment index could not be rebuilt: %r; the worker stops", exc, exc_info=True
            )
            await stop_the_worker(self.app, exc)

    async def rebuild(
        self,
        stored_states: Iterator[tuple[bytes, bytes | None]],
        owned: set[int],
        assignment_holds: Callable[[], bool] = lambda: True,
    ) -> None:
        """Derive the deadline index again from the owned users' stored states (raw ids unknown).

        It reads every stored user after every rebalance, so it hands the event loop back every
        few milliseconds and the stages start at once instead of waiting for it (2 s at a million
        users): a deadline that passed before its user is read fires at the first tick after.
        Only the states that can hold an open goal are decoded. It stops when the assignment
        changes: the rebalance's end rebuilds the index again.
        """
        started = time.monotonic()
        hand_back_at = time.perf_counter() + HAND_BACK_EVERY_S
        read = armed = 0
        for raw_key, data in stored_states:
            if read % CHECK_TIME_EVERY == 0 and time.perf_counter() >= hand_back_at:
                await asyncio.sleep(0)
                if not assignment_holds():
                    log.info("the inferred-abandonment index rebuild stopped by a rebalance after %d users", read)
                    return
                hand_back_at = time.perf_counter() + HAND_BACK_EVERY_S
            read += 1
            if not data or not may_have_deadlines(data):
                continue
            user_ref = raw_key.decode()
            partition = partition_for(user_ref, self.partitions)
            if partition in owned:
                self.arm(partition, UserState.from_bytes(data), user_ref, None)
                armed += 1
        log.info(
            "inferred-abandonment index rebuilt: %d stored users read, %d with an open goal, in %.1f s",
            read,
            armed,
            time.monotonic() - started,
        )
