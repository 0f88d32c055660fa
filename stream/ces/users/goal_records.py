"""What the user state keeps of each goal event: the open goals and the decisions recorded.

Records of :class:`~stream.ces.users.state.UserState`, like the prompt records in
:mod:`~stream.ces.users.prompt_records`: a positional JSON list (format 1) and a packed list
(format 2, :mod:`~stream.ces.users.state_codec`) each; fields added later are trailing and
optional, so older records still load.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stream.ces.users.prompt_records import OLD_SURVEY, UNKNOWN_CHANNEL, channel_in, trailing, trailing_at
from stream.ces.users.state_codec import Decoder, Encoder, record


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

    def to_packed(self, enc: Encoder) -> list[Any]:
        """Format 2: as :meth:`to_json_obj` (``infers`` is where the goal is stored), the retry
        part trimmed by value, so a first start is kept even without a retry."""
        text, time = enc.text, enc.time
        obj: list[Any] = [
            text(self.event_id),
            time(self.started_at_s),
            time(self.deadline_s),
            text(self.locale),
            self.offset,
            text(self.channel),
        ]
        rest = trailing([self.first_started_at_s, self.starts], [None, 1])
        if rest:  # a retried attempt (or a first start kept without a retry)
            obj.append(enc.opt_time(self.first_started_at_s))
            obj += rest[1:]
        return obj

    @classmethod
    def measured_only_from_packed(cls, obj: Any, dec: Decoder) -> OpenGoal:
        """Read a goal stored apart, for measured effort only (``oe``)."""
        return cls.from_packed(obj, dec, infers=False)

    @classmethod
    def from_packed(cls, obj: Any, dec: Decoder, infers: bool = True) -> OpenGoal:
        event_id, started_at_s, deadline_s, locale, offset, channel, *rest = record(obj, 6, 2)
        text, time = dec.text, dec.time
        return cls(
            text(event_id),
            time(started_at_s),
            time(deadline_s),
            text(locale),
            int(offset),
            text(channel),
            dec.opt_time(rest[0]) if rest else None,
            int(rest[1]) if len(rest) > 1 else 1,
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

    def to_packed(self, enc: Encoder) -> list[Any]:
        text, opt_text, time = enc.text, enc.opt_text, enc.time
        obj = [
            self.offset,
            text(self.goal),
            time(self.at_s),
            opt_text(self.outcome),
            opt_text(self.prompt_id),
            opt_text(self.suppressed),
            self.expired_offset,
            time(self.recorded_at_s),
        ]
        rest = trailing([self.duration_s, self.retried, self.channel, self.survey], [None, False, "", OLD_SURVEY])
        if rest:  # a duration (not a time: a float or nothing), whether retried, then texts
            obj += [None if self.duration_s is None else float(self.duration_s), *rest[1:2]]
            obj += map(text, rest[2:])
        return obj

    @classmethod
    def from_packed(cls, obj: Any, dec: Decoder) -> SeenEvent:
        offset, goal, at_s, outcome, prompt_id, suppressed, expired_offset, recorded, *rest = record(obj, 8, 4)
        text, opt_text, time = dec.text, dec.opt_text, dec.time
        seen = cls(
            int(offset),
            text(goal),
            time(at_s),
            opt_text(outcome),
            opt_text(prompt_id),
            opt_text(suppressed),
            None if expired_offset is None else int(expired_offset),
            time(recorded),
        )
        if rest:
            duration = rest[0]
            if duration is not None and type(duration) is not float:
                raise ValueError(f"duration {duration!r} is not a float")
            seen.duration_s = duration
            seen.retried = bool(rest[1]) if len(rest) > 1 else False
            seen.channel = text(rest[2]) if len(rest) > 2 else ""
            seen.survey = text(rest[3]) if len(rest) > 3 else OLD_SURVEY
        return seen
