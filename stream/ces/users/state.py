"""Per-user state of the prompt engine and answer joiner.

One :class:`UserState` per pseudonymous user lives in a Faust table keyed by
``user_ref`` and is written to its changelog once per batch per touched user, so it is
kept small: msgpack with parts by position, UUIDs as 16 bytes, repeated strings and times as
small ints, empty parts left out (formats 2 and 3, :mod:`~stream.ces.users.state_codec`), and
:meth:`UserState.prune` bounding every collection. States stored as JSON (format 1, short
keys) still load. It never holds a raw user id.

Besides cooldown stamps, open goals and pending prompts it remembers every decision it
made, with the source offset of the input that caused it (``seen_events``, ``answered``). That
record is what makes the decisions exact under at-least-once delivery: when an input
arrives again, the recorded decision is re-emitted with the original offset instead of
being taken twice (see ``prompting`` and ``answering``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson

from stream.ces.users import state_codec
from stream.ces.users.goal_records import OpenGoal, SeenEvent
from stream.ces.users.prompt_records import AnsweredPrompt, PendingPrompt, PromptDisplay
from stream.ces.users.state_codec import Decoder, Encoder, pairs, record

#: Seconds after a prompt's expiry within which an answer still counts (clock skew, slow networks).
ANSWER_GRACE_S = 60.0

#: How long the id of a processed goal event is remembered to tell duplicates from new events.
SEEN_EVENTS_KEEP_S = 48 * 3600.0

#: How long an answered prompt id is remembered to reject a second answer.
ANSWERED_KEEP_S = 7 * 86_400.0

# Hard caps, so one very active (or hostile) user cannot grow a record without bound.
MAX_SEEN_EVENTS = 256
MAX_ANSWERED = 256
MAX_PENDING = 32
MAX_OPEN_GOALS = 64
MAX_GOAL_STAMPS = 256
MAX_DISPLAYS = 256
MAX_BUDGET_STAMPS = 64  # the largest budget a goal may set

# The version of the JSON form (format 1, its ``v``): still read, no longer written (see to_bytes).
_FORMAT_VERSION = 1

_Record = TypeVar("_Record")


@dataclass(slots=True)
class UserState:
    """Everything the prompt engine and the answer joiner keep about one user.

    :param last_prompt_at_s: event time of the last prompt on any goal (user cooldown).
    :param last_prompt_by_goal: event time of the last prompt per goal (user+goal cooldown).
    :param open_goals: started, not yet finished goals by slug (inferred abandonment).
    :param pending: prompts sent and not answered, by prompt id.
    :param answered: accepted answers by prompt id.
    :param seen_events: decisions taken per goal-event id.
    :param last_offset: highest source offset processed for this user (-1: none).
    :param displays: prompts the app reported shown or dismissed, by prompt id.
    :param dismissed_by_goal: event time of the dismissal of the user's latest prompt per goal
        (the cooldown after a dismissal); dropped when the goal prompts again.
    :param prompt_stamps: event times of the user's prompts of every kind, oldest first (the survey budget).
    :param last_nps_at_s: event time of the user's last NPS prompt (NPS is asked once per period).
    :param high_effort_at_s: answer time of the user's latest negative (high-effort) CES answer, for the
        split of NPS by recent effort.
    """

    last_prompt_at_s: float | None = None
    last_prompt_by_goal: dict[str, float] = field(default_factory=dict)
    open_goals: dict[str, OpenGoal] = field(default_factory=dict)
    pending: dict[str, PendingPrompt] = field(default_factory=dict)
    answered: dict[str, AnsweredPrompt] = field(default_factory=dict)
    seen_events: dict[str, SeenEvent] = field(default_factory=dict)
    last_offset: int = -1
    displays: dict[str, PromptDisplay] = field(default_factory=dict)
    dismissed_by_goal: dict[str, float] = field(default_factory=dict)
    prompt_stamps: list[float] = field(default_factory=list)
    last_nps_at_s: float | None = None
    high_effort_at_s: float | None = None

    def note_offset(self, offset: int) -> None:
        """Remember ``offset`` as processed (keeps the highest)."""
        if offset > self.last_offset:
            self.last_offset = offset

    def is_empty(self) -> bool:
        """True when nothing is left worth storing; the caller may delete the table key."""
        return (
            self.last_prompt_at_s is None
            and not self.last_prompt_by_goal
            and not self.open_goals
            and not self.pending
            and not self.answered
            and not self.seen_events
            and not self.displays
            and not self.dismissed_by_goal
            and not self.prompt_stamps
            and self.last_nps_at_s is None
            and self.high_effort_at_s is None
        )

    def prompts_since(self, since_s: float) -> int:
        """How many of the user's prompts (any goal, any kind) were after ``since_s`` (like a cooldown, a
        prompt exactly a period ago no longer counts)."""
        return sum(1 for at_s in self.prompt_stamps if at_s > since_s)

    def stamp_prompt(self, at_s: float) -> None:
        """Remember a prompt at event time ``at_s`` for the survey budget (kept in time order)."""
        stamps = self.prompt_stamps
        stamps.append(at_s)
        if len(stamps) > 1 and stamps[-2] > at_s:
            stamps.sort()
        if len(stamps) > MAX_BUDGET_STAMPS:
            del stamps[: len(stamps) - MAX_BUDGET_STAMPS]

    def prune(
        self,
        now_s: float,
        *,
        cooldown_keep_s: float,
        answer_grace_s: float = ANSWER_GRACE_S,
        answered_keep_s: float = ANSWERED_KEEP_S,
        seen_keep_s: float = SEEN_EVENTS_KEEP_S,
        budget_keep_s: float = 0.0,
        nps_keep_s: float = 0.0,
        high_effort_keep_s: float = 0.0,
    ) -> None:
        """Drop what no decision can need any more, then cap every collection.

        :param now_s: the current (record) time.
        :param cooldown_keep_s: the longest cooldown in force (user or any user+goal);
            older prompt stamps can no longer suppress anything.
        :param answer_grace_s: pending prompts are kept this long after their expiry.
        :param answered_keep_s: how long answered prompt ids are kept.
        :param seen_keep_s: how long decided goal-event ids are kept (and the longest an
            open goal may stay past its deadline without being expired).
        :param budget_keep_s: the longest survey budget period (prompt stamps older than it count nowhere).
        :param nps_keep_s: the NPS period (an older NPS prompt no longer holds NPS back).
        :param high_effort_keep_s: how long a high-effort CES answer puts NPS answers in its group.
        """
        if self.last_prompt_at_s is not None and self.last_prompt_at_s < now_s - cooldown_keep_s:
            self.last_prompt_at_s = None
        self.last_prompt_by_goal = _newest(
            {goal: at_s for goal, at_s in self.last_prompt_by_goal.items() if at_s >= now_s - cooldown_keep_s},
            key=lambda at_s: at_s,
            limit=MAX_GOAL_STAMPS,
        )
        self.open_goals = _newest(
            {goal: og for goal, og in self.open_goals.items() if og.deadline_s >= now_s - seen_keep_s},
            key=lambda og: og.started_at_s,
            limit=MAX_OPEN_GOALS,
        )
        self.pending = _newest(
            {pid: p for pid, p in self.pending.items() if p.expires_at_s + answer_grace_s >= now_s},
            key=lambda p: p.created_at_s,
            limit=MAX_PENDING,
        )
        self.answered = _newest(
            {pid: a for pid, a in self.answered.items() if a.recorded_at_s >= now_s - answered_keep_s},
            key=lambda a: a.recorded_at_s,
            limit=MAX_ANSWERED,
        )
        self.seen_events = _newest(
            {eid: s for eid, s in self.seen_events.items() if s.recorded_at_s >= now_s - seen_keep_s},
            key=lambda s: s.recorded_at_s,
            limit=MAX_SEEN_EVENTS,
        )
        if self.displays:
            self.displays = _newest(
                {pid: d for pid, d in self.displays.items() if d.recorded_at_s >= now_s - answered_keep_s},
                key=lambda d: d.recorded_at_s,
                limit=MAX_DISPLAYS,
            )
        if self.prompt_stamps and self.prompt_stamps[0] < now_s - budget_keep_s:
            self.prompt_stamps = [at_s for at_s in self.prompt_stamps if at_s >= now_s - budget_keep_s]
        if self.last_nps_at_s is not None and self.last_nps_at_s < now_s - nps_keep_s:
            self.last_nps_at_s = None
        if self.high_effort_at_s is not None and self.high_effort_at_s < now_s - high_effort_keep_s:
            self.high_effort_at_s = None
        if self.dismissed_by_goal:
            self.dismissed_by_goal = _newest(
                {goal: at_s for goal, at_s in self.dismissed_by_goal.items() if at_s >= now_s - cooldown_keep_s},
                key=lambda at_s: at_s,
                limit=MAX_GOAL_STAMPS,
            )

    def to_json_obj(self) -> dict[str, Any]:
        """Return a compact JSON-safe dict; empty parts are left out.

        Keys: ``v`` format version, ``lp`` last prompt, ``lg`` last prompt per goal,
        ``og`` open goals (``oe``: those kept for measured effort only), ``pp`` pending prompts, ``an`` answered,
        ``se`` seen events, ``lo`` last offset, ``pd`` prompts shown or dismissed, ``dg`` dismissals per goal,
        ``ps`` prompt stamps (the survey budget), ``ln`` last NPS prompt, ``he`` latest high-effort CES answer.
        Entries are positional lists (see each class's ``to_json_obj``).
        """
        obj: dict[str, Any] = {"v": _FORMAT_VERSION}
        if self.last_prompt_at_s is not None:
            obj["lp"] = self.last_prompt_at_s
        if self.last_prompt_by_goal:
            obj["lg"] = dict(self.last_prompt_by_goal)
        if self.open_goals:
            # Goals with an inferred-abandonment deadline under "og", those kept only for measured
            # effort under "oe": a rebalance rebuilds the deadline index from "og" alone.
            inferring = {goal: og.to_json_obj() for goal, og in self.open_goals.items() if og.infers}
            if inferring:
                obj["og"] = inferring
            timed_only = {goal: og.to_json_obj() for goal, og in self.open_goals.items() if not og.infers}
            if timed_only:
                obj["oe"] = timed_only
        if self.pending:
            obj["pp"] = {pid: p.to_json_obj() for pid, p in self.pending.items()}
        if self.answered:
            obj["an"] = {pid: a.to_json_obj() for pid, a in self.answered.items()}
        if self.seen_events:
            obj["se"] = {eid: s.to_json_obj() for eid, s in self.seen_events.items()}
        if self.last_offset >= 0:
            obj["lo"] = self.last_offset
        if self.displays:
            obj["pd"] = {pid: d.to_json_obj() for pid, d in self.displays.items()}
        if self.dismissed_by_goal:
            obj["dg"] = dict(self.dismissed_by_goal)
        if self.prompt_stamps:
            obj["ps"] = list(self.prompt_stamps)
        if self.last_nps_at_s is not None:
            obj["ln"] = self.last_nps_at_s
        if self.high_effort_at_s is not None:
            obj["he"] = self.high_effort_at_s
        return obj

    def to_bytes(self, *, json: bool = False) -> bytes:
        """The stored form, format 2, or 3 when a record carries an app version
        (:mod:`~stream.ces.users.state_codec`); with ``json``, format 1
        (:meth:`to_json_obj` as JSON: what versions before format 2 read, ``CES_USER_STATE_FORMAT``).

        The parts of :meth:`to_json_obj` by position, ``None`` where empty: 0 the base time,
        1 ``lp``, 2 ``lg``, 3 ``og``, 4 ``oe``, 5 ``pp``, 6 ``an``, 7 ``se``, 8 ``lo``, 9 ``pd``,
        10 ``dg``, 11 ``ps``, 12 ``ln``, 13 ``he``. A dict is one flat list of keys and values,
        a record its ``to_packed`` list.
        """
        if json:
            return orjson.dumps(self.to_json_obj())
        enc = Encoder()
        opt_time = enc.opt_time
        # In slot order, as they are read: each text may refer to the ones before it. Empty parts are
        # tested here rather than in the helpers: most users have most parts empty.
        open_goals, infers = self.open_goals, False
        if open_goals:
            infers = any(og.infers for og in open_goals.values())
        slots = [
            None,  # the base time, known once every time is written
            opt_time(self.last_prompt_at_s),
            _packed_times(enc, self.last_prompt_by_goal) if self.last_prompt_by_goal else None,
            _packed(enc, {goal: og for goal, og in open_goals.items() if og.infers}) if infers else None,
            _packed(enc, {goal: og for goal, og in open_goals.items() if not og.infers}) if open_goals else None,
            _packed(enc, self.pending) if self.pending else None,
            _packed(enc, self.answered) if self.answered else None,
            _packed(enc, self.seen_events) if self.seen_events else None,
            None if self.last_offset == -1 else self.last_offset,
            _packed(enc, self.displays) if self.displays else None,
            _packed_times(enc, self.dismissed_by_goal) if self.dismissed_by_goal else None,
            list(map(enc.time, self.prompt_stamps)) if self.prompt_stamps else None,
            opt_time(self.last_nps_at_s),
            opt_time(self.high_effort_at_s),
        ]
        return enc.pack(state_codec.HAS_DEADLINES if infers else 0, slots)

    @classmethod
    def from_bytes(cls, data: bytes) -> UserState:
        """Read what :meth:`to_bytes` wrote, or a state stored as JSON (format 1, :meth:`to_json_obj`).

        :raises ValueError: on bytes that are neither, an unknown format, or a malformed state.
        """
        if state_codec.is_compact(data):
            return cls._from_packed(data)
        if data[:1] and data[:1] < b" " and data[:1] not in b"\t\n\r":
            # A control character starts no JSON: a format this version does not know.
            raise ValueError(f"user state format {data[0]:#04x} is not supported")
        return cls.from_json_obj(orjson.loads(data))

    @classmethod
    def _from_packed(cls, data: bytes) -> UserState:
        _flags, slots = state_codec.unpack(data)
        try:
            base_ms, lp, lg, og, oe, pp, an, se, lo, pd, dg, ps, ln, he = record(slots, 0, 14) + [None] * (
                14 - len(slots)
            )
            dec = Decoder(base_ms)
            time, opt_time = dec.time, dec.opt_time
            # Read in the order written: each text may refer to the ones before it.
            last_prompt_at_s = opt_time(lp)
            last_prompt_by_goal = _unpacked_times(dec, lg)
            open_goals = _unpacked(dec, og, OpenGoal.from_packed)
            if oe is not None:
                open_goals.update(_unpacked(dec, oe, OpenGoal.measured_only_from_packed))
            return cls(
                last_prompt_at_s=last_prompt_at_s,
                last_prompt_by_goal=last_prompt_by_goal,
                open_goals=open_goals,
                pending=_unpacked(dec, pp, PendingPrompt.from_packed),
                answered=_unpacked(dec, an, AnsweredPrompt.from_packed),
                seen_events=_unpacked(dec, se, SeenEvent.from_packed),
                last_offset=-1 if lo is None else int(lo),
                displays=_unpacked(dec, pd, PromptDisplay.from_packed),
                dismissed_by_goal=_unpacked_times(dec, dg),
                prompt_stamps=list(map(time, ps)) if ps else [],
                last_nps_at_s=opt_time(ln),
                high_effort_at_s=opt_time(he),
            )
        except (TypeError, ValueError, IndexError, OverflowError) as exc:
            raise ValueError(f"malformed user state: {exc}") from exc

    @classmethod
    def from_json_obj(cls, obj: dict[str, Any]) -> UserState:
        """Read what :meth:`to_json_obj` wrote.

        :raises ValueError: on a newer format version or a malformed entry.
        """
        if not isinstance(obj, dict):
            raise ValueError(f"user state must be a JSON object, not {type(obj).__name__}")
        version = obj.get("v", _FORMAT_VERSION)
        if version != _FORMAT_VERSION:
            raise ValueError(f"user state format version {version!r} is not supported")
        try:
            return cls(
                last_prompt_at_s=None if obj.get("lp") is None else float(obj["lp"]),
                last_prompt_by_goal={str(g): float(t) for g, t in obj.get("lg", {}).items()},
                open_goals={
                    **{str(g): OpenGoal.from_json_obj(v, infers=False) for g, v in obj.get("oe", {}).items()},
                    **{str(g): OpenGoal.from_json_obj(v) for g, v in obj.get("og", {}).items()},
                },
                pending={str(p): PendingPrompt.from_json_obj(v) for p, v in obj.get("pp", {}).items()},
                answered={str(p): AnsweredPrompt.from_json_obj(v) for p, v in obj.get("an", {}).items()},
                seen_events={str(e): SeenEvent.from_json_obj(v) for e, v in obj.get("se", {}).items()},
                last_offset=int(obj.get("lo", -1)),
                displays={str(p): PromptDisplay.from_json_obj(v) for p, v in obj.get("pd", {}).items()},
                dismissed_by_goal={str(g): float(t) for g, t in obj.get("dg", {}).items()},
                prompt_stamps=[float(t) for t in obj.get("ps", ())],
                last_nps_at_s=None if obj.get("ln") is None else float(obj["ln"]),
                high_effort_at_s=None if obj.get("he") is None else float(obj["he"]),
            )
        except (TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"malformed user state: {exc}") from exc


def may_have_deadlines(data: bytes) -> bool:
    """Whether a stored state (:meth:`UserState.to_bytes`) can hold an inferred-abandonment deadline,
    without decoding it.

    Rebuilding the deadline index after a rebalance reads every stored user, and most users
    have no such goal open: they are skipped at the cost of a byte test. In formats 2 and 3 the flags
    byte says it (:data:`~stream.ces.users.state_codec.HAS_DEADLINES`, exact). A state stored
    as JSON (format 1) without such a goal has no ``"og"`` key (goals kept for measured effort
    only are under ``"oe"``: they need no timer); a false positive there (the text elsewhere)
    only costs a decode.
    """
    if state_codec.is_compact(data):
        return len(data) > 1 and bool(data[1] & state_codec.HAS_DEADLINES)
    return b'"og":' in data


def _packed(enc: Encoder, records: dict[str, Any]) -> list[Any] | None:
    """A dict of records as one flat list, each key before its record (``None`` when empty)."""
    text = enc.text
    flat: list[Any] = []
    for key, value in records.items():
        flat.append(text(key))
        flat.append(value.to_packed(enc))
    return flat or None


def _packed_times(enc: Encoder, times: dict[str, float]) -> list[Any]:
    """A dict of times by goal as one flat list."""
    text, time = enc.text, enc.time
    flat: list[Any] = []
    for goal, at_s in times.items():
        flat.append(text(goal))
        flat.append(time(at_s))
    return flat


def _unpacked(dec: Decoder, flat: Any, read: Callable[[Any, Decoder], _Record]) -> dict[str, _Record]:
    """What :func:`_packed` wrote, each record read by ``read``."""
    records: dict[str, _Record] = {}
    if flat is not None:
        text = dec.text
        for key, value in pairs(flat):
            name = text(key)  # before its record, as written (an assignment reads its right side first)
            records[name] = read(value, dec)
    return records


def _unpacked_times(dec: Decoder, flat: Any) -> dict[str, float]:
    """What :func:`_packed_times` wrote."""
    times: dict[str, float] = {}
    if flat is not None:
        text, time = dec.text, dec.time
        for goal, at_s in pairs(flat):
            times[text(goal)] = time(at_s)
    return times


def _newest(items: dict[str, Any], *, key: Any, limit: int) -> dict[str, Any]:
    """Keep at most ``limit`` entries, the ones with the highest ``key(value)``, in their order."""
    if len(items) <= limit:
        return items
    keep = set(sorted(items, key=lambda k: (key(items[k]), k), reverse=True)[:limit])
    return {k: v for k, v in items.items() if k in keep}
