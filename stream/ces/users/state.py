"""Per-user state of the prompt engine and answer joiner.

One :class:`UserState` per pseudonymous user lives in a Faust table keyed by
``user_ref`` and is written to its changelog once per batch per touched user, so it is
kept small: a compact JSON object with short keys, empty parts left out, and
:meth:`UserState.prune` bounding every collection. It never holds a raw user id.

Besides cooldown stamps, open goals and pending prompts it remembers every decision it
made, with the source offset of the input that caused it (``seen_events``, ``answered``). That
record is what makes the decisions exact under at-least-once delivery: when an input
arrives again, the recorded decision is re-emitted with the original offset instead of
being taken twice (see ``prompting`` and ``answering``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from stream.ces.users.prompt_records import (
    OLD_SURVEY,
    UNKNOWN_CHANNEL,
    AnsweredPrompt,
    PendingPrompt,
    PromptDisplay,
    channel_in,
    trailing,
    trailing_at,
)

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

_FORMAT_VERSION = 1


@dataclass(slots=True)
class OpenGoal:
    """A started goal that has not completed or been abandoned yet.

    :param event_id: id of the ``started`` event (the identity of its inferred abandonment).
    :param started_at_s: ``occurred_at`` of the started event.
    :param deadline_s: when it counts as abandoned (started + inferred-abandonment timeout).
    :param locale: the started event's locale, for the prompt asked at the deadline.
    :param offset: source offset of the started event (an expiry at an earlier offset cannot close it).
    :param channel: the started event's channel (the answer to an inferred abandonment counts there).
    :param first_started_at_s: ``occurred_at`` of the attempt's first start (measured effort runs
        from it); ``None`` when this start was the first.
    :param starts: how many ``started`` events this attempt had (more than one: a retry).
    :param infers: whether its deadline is an inferred abandonment (else it is kept for measured
        effort only, and forgotten at the deadline). Not in the list: such goals are stored under
        another key of the state (``oe``, see :func:`may_have_deadlines`).
    """

    event_id: str
    started_at_s: float
    deadline_s: float
    locale: str
    offset: int
    channel: str = UNKNOWN_CHANNEL
    first_started_at_s: float | None = None
    starts: int = 1
    infers: bool = True

    @property
    def attempt_started_at_s(self) -> float:
        """When the attempt began: its first start."""
        return self.started_at_s if self.first_started_at_s is None else self.first_started_at_s

    def to_json_obj(self) -> list[Any]:
        obj = [self.event_id, self.started_at_s, self.deadline_s, self.locale, self.offset, self.channel]
        if self.starts > 1:  # a retried attempt only: most open goals were started once
            obj += [self.first_started_at_s, self.starts]
        return obj

    @classmethod
    def from_json_obj(cls, obj: list[Any], infers: bool = True) -> OpenGoal:
        event_id, started_at_s, deadline_s, locale, offset, *rest = obj
        first = None if len(rest) < 2 or rest[1] is None else float(rest[1])
        starts = int(rest[2]) if len(rest) > 2 else 1
        return cls(
            str(event_id),
            float(started_at_s),
            float(deadline_s),
            str(locale),
            int(offset),
            channel_in(rest),
            first,
            starts,
            infers,
        )


@dataclass(slots=True)
class SeenEvent:
    """The decision taken for one goal event, recorded under its ``event_id``.

    For a completed/abandoned event: its outcome fact and, if one was made, the prompt.
    For a started event: nothing until its inferred abandonment fires; then ``outcome``
    becomes ``abandoned_inferred``, ``at_s`` the deadline and ``expired_offset`` the
    offset of the input that triggered the expiry.

    :param offset: source offset of the event.
    :param goal: goal slug.
    :param at_s: bucket time of the facts (``occurred_at``, or the deadline when expired).
    :param outcome: the outcome counted, ``None`` for a started event still open (or closed).
    :param prompt_id: the prompt made, if any.
    :param suppressed: the ``SuppressionReason`` value when no prompt was made for an outcome.
    :param expired_offset: offset of the input that expired a started event.
    :param recorded_at_s: ``now_s`` when the decision was taken (for pruning).
    :param duration_s: for a timed completion, seconds from the attempt's first start.
    :param retried: for a timed completion, whether the attempt had more than one start.
    :param channel: the channel of an inferred abandonment's attempt (its outcome's stratum, when its
        expiry is replayed); ``""`` otherwise: a goal event delivered again brings its own.
    :param survey: the question of the prompt made (``SurveyKind`` value).
    """

    offset: int
    goal: str
    at_s: float
    outcome: str | None = None
    prompt_id: str | None = None
    suppressed: str | None = None
    expired_offset: int | None = None
    recorded_at_s: float = 0.0
    duration_s: float | None = None
    retried: bool = False
    channel: str = ""
    survey: str = OLD_SURVEY

    def to_json_obj(self) -> list[Any]:
        obj = [
            self.offset,
            self.goal,
            self.at_s,
            self.outcome,
            self.prompt_id,
            self.suppressed,
            self.expired_offset,
            self.recorded_at_s,
        ]
        # Timed completions, expiries (their channel) and other surveys than CES only.
        return obj + trailing(
            [self.duration_s, int(self.retried), self.channel, self.survey], [None, 0, "", OLD_SURVEY]
        )

    @classmethod
    def from_json_obj(cls, obj: list[Any]) -> SeenEvent:
        offset, goal, at_s, outcome, prompt_id, suppressed, expired_offset, recorded, *rest = obj
        return cls(
            int(offset),
            str(goal),
            float(at_s),
            None if outcome is None else str(outcome),
            None if prompt_id is None else str(prompt_id),
            None if suppressed is None else str(suppressed),
            None if expired_offset is None else int(expired_offset),
            float(recorded),
            None if not rest or rest[0] is None else float(rest[0]),
            bool(trailing_at(rest, 1, False)),
            str(trailing_at(rest, 2, "")),
            str(trailing_at(rest, 3, OLD_SURVEY)),
        )


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

    def to_bytes(self) -> bytes:
        """The stored form: :meth:`to_json_obj` as compact JSON."""
        return orjson.dumps(self.to_json_obj())

    @classmethod
    def from_bytes(cls, data: bytes) -> UserState:
        """Read what :meth:`to_bytes` wrote.

        :raises ValueError: on bytes that are not JSON, or a state :meth:`from_json_obj` refuses.
        """
        return cls.from_json_obj(orjson.loads(data))

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
    """Whether a stored state (``to_json_obj`` as JSON) can hold an inferred-abandonment deadline,
    without decoding it.

    A state without an open goal that infers abandonment has no ``"og"`` key (goals kept for
    measured effort only are under ``"oe"``: they need no timer). Rebuilding the deadline
    index after a rebalance reads every stored user, and most users have no such goal open:
    they are skipped at the cost of a byte search. A false positive (the text elsewhere) only
    costs a decode.
    """
    return b'"og":' in data


def _newest(items: dict[str, Any], *, key: Any, limit: int) -> dict[str, Any]:
    """Keep at most ``limit`` entries, the ones with the highest ``key(value)``, in their order."""
    if len(items) <= limit:
        return items
    keep = set(sorted(items, key=lambda k: (key(items[k]), k), reverse=True)[:limit])
    return {k: v for k, v in items.items() if k in keep}
