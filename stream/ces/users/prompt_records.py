"""What the user state keeps of each prompt: sent and pending, answered, shown or dismissed.

Records of :class:`~stream.ces.users.state.UserState`, stored as positional lists: JSON
lists in format 1 (``to_json_obj``), the same lists with texts and times made compact in
format 2 (``to_packed``, see :mod:`~stream.ces.users.state_codec`); fields added later are
trailing and optional, so older records still load.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stream.ces.users.state_codec import FORMAT_3, Decoder, Encoder, record

#: Channel of open goals, prompts and answers recorded before channels were kept (read as a
#: trailing list element, so older records still load); the answer's own channel stands in.
UNKNOWN_CHANNEL = ""


#: The survey of records written before survey kinds existed: they were all CES.
OLD_SURVEY = "ces"


def channel_in(rest: list[Any]) -> str:
    """The channel at the head of a record's trailing elements, :data:`UNKNOWN_CHANNEL` without one."""
    return str(rest[0]) if rest else UNKNOWN_CHANNEL


def trailing(values: list[Any], defaults: list[Any]) -> list[Any]:
    """A record's optional trailing elements, without the defaults at the end (most records have none)."""
    end = len(values)
    while end and values[end - 1] == defaults[end - 1]:
        end -= 1
    return values[:end]


def trailing_at(rest: list[Any], index: int, default: Any) -> Any:
    """The trailing element at ``index``, or ``default`` when the record is shorter (older or trimmed)."""
    return rest[index] if len(rest) > index else default


@dataclass(slots=True)
class PendingPrompt:
    """A prompt sent and not answered yet, with the scale it was asked on.

    The scale is copied from the goal's configuration at prompt time, so an answer is
    judged by the scale the user saw even if the registry changed since.

    :param goal: goal slug.
    :param outcome: the outcome that triggered it (completed, abandoned, abandoned_inferred).
    :param created_at_s: ``now_s`` when it was created (the prompt's ``created_at``).
    :param expires_at_s: the prompt's ``expires_at``.
    :param scale_kind: ``ScaleKind`` value.
    :param positive: the scale's positive points, sorted.
    :param min_score: lowest point.
    :param max_score: highest point.
    :param inverted: whether the scale is inverted (1 = very little effort).
    :param locale: locale the question was asked in.
    :param event_id: id of the triggering goal event.
    :param channel: channel of the goal attempt (``Channel`` value); :data:`UNKNOWN_CHANNEL`
        in records written before channels were kept.
    :param effort_band: the duration band of a timed completion (its answer counts there too);
        ``""`` when the attempt was not timed.
    :param survey: the question asked (``SurveyKind`` value): the goal's own, or ``nps`` at its moment.
    :param app_version: the goal event's ``app_version`` (``""``: none), so the answer can be read per release.
    """

    goal: str
    outcome: str
    created_at_s: float
    expires_at_s: float
    scale_kind: str
    positive: tuple[int, ...]
    min_score: int
    max_score: int
    inverted: bool
    locale: str
    event_id: str
    channel: str = UNKNOWN_CHANNEL
    effort_band: str = ""
    survey: str = OLD_SURVEY
    app_version: str = ""

    def to_json_obj(self) -> list[Any]:
        obj = [
            self.goal,
            self.outcome,
            self.created_at_s,
            self.expires_at_s,
            self.scale_kind,
            list(self.positive),
            self.min_score,
            self.max_score,
            int(self.inverted),
            self.locale,
            self.event_id,
            self.channel,
        ]
        # Optional parts (timed completions, other surveys than CES, the app version) only where they are set.
        return obj + trailing([self.effort_band, self.survey, self.app_version], ["", OLD_SURVEY, ""])

    @classmethod
    def from_json_obj(cls, obj: list[Any]) -> PendingPrompt:
        goal, outcome, created, expires, kind, positive, low, high, inverted, locale, event_id, *rest = obj
        return cls(
            str(goal),
            str(outcome),
            float(created),
            float(expires),
            str(kind),
            tuple(int(p) for p in positive),
            int(low),
            int(high),
            bool(inverted),
            str(locale),
            str(event_id),
            channel_in(rest),
            str(trailing_at(rest, 1, "")),
            str(trailing_at(rest, 2, OLD_SURVEY)),
            str(trailing_at(rest, 3, "")),
        )

    def to_packed(self, enc: Encoder) -> list[Any]:
        text, time = enc.text, enc.time
        obj = [
            text(self.goal),
            text(self.outcome),
            time(self.created_at_s),
            time(self.expires_at_s),
            text(self.scale_kind),
            self.positive,  # a tuple packs as an array
            self.min_score,
            self.max_score,
            self.inverted,
            text(self.locale),
            text(self.event_id),
            text(self.channel),
        ]
        rest = trailing([self.effort_band, self.survey, self.app_version], ["", OLD_SURVEY, ""])
        if len(rest) > 2:
            enc.require(FORMAT_3)  # a reader of format 2 would refuse the longer record
        obj += map(text, rest)
        return obj

    @classmethod
    def from_packed(cls, obj: Any, dec: Decoder) -> PendingPrompt:
        goal, outcome, created, expires, kind, positive, low, high, inverted, locale, event_id, channel, *rest = record(
            obj, 12, 3
        )
        text, time = dec.text, dec.time
        return cls(
            text(goal),
            text(outcome),
            time(created),
            time(expires),
            text(kind),
            tuple(map(int, positive)),
            int(low),
            int(high),
            bool(inverted),
            text(locale),
            text(event_id),
            text(channel),
            text(rest[0]) if rest else "",
            text(rest[1]) if len(rest) > 1 else OLD_SURVEY,
            text(rest[2]) if len(rest) > 2 else "",
        )


@dataclass(slots=True)
class AnsweredPrompt:
    """The accepted answer to a prompt: enough to re-emit its fact and comment exactly.

    :param answer_id: id of the accepted answer; another id for the same prompt is a duplicate.
    :param offset: source offset of the accepted answer (facts are re-emitted with it).
    :param score: the score.
    :param sentiment: its classification (``Sentiment`` value) on the prompt's scale.
    :param answered_at_s: ``answered_at`` (bucket time of the fact).
    :param goal: goal slug of the prompt.
    :param outcome: outcome that triggered the prompt.
    :param locale: locale the prompt was asked in.
    :param recorded_at_s: ``now_s`` when accepted (for pruning).
    :param channel: channel the answer was counted under (:data:`UNKNOWN_CHANNEL` in records
        written before channels were kept).
    :param effort_band: the duration band the answer was counted under (``""``: not timed).
    :param survey: the question answered (``SurveyKind`` value).
    :param effort_group: an NPS answer's group in the split by recent effort (``""`` for others).
    :param comment_id: the comment-only record joined to this answer (sent after the score), ``""``: none.
    :param comment_offset: its source offset (the comment is re-sent when that record is replayed).
    :param app_version: the app version of the goal event its prompt was for (``""``: none).
    """

    answer_id: str
    offset: int
    score: int
    sentiment: str
    answered_at_s: float
    goal: str
    outcome: str
    locale: str
    recorded_at_s: float
    channel: str = UNKNOWN_CHANNEL
    effort_band: str = ""
    survey: str = OLD_SURVEY
    effort_group: str = ""
    comment_id: str = ""
    comment_offset: int = -1
    app_version: str = ""

    def _trailing(self) -> list[Any]:
        """The optional parts after the channel, without the defaults at the end (one order for both forms)."""
        parts = [
            self.effort_band,
            self.survey,
            self.effort_group,
            self.comment_id,
            self.comment_offset,
            self.app_version,
        ]
        return trailing(parts, ["", OLD_SURVEY, "", "", -1, ""])

    def to_json_obj(self) -> list[Any]:
        obj = [
            self.answer_id,
            self.offset,
            self.score,
            self.sentiment,
            self.answered_at_s,
            self.goal,
            self.outcome,
            self.locale,
            self.recorded_at_s,
            self.channel,
        ]
        return obj + self._trailing()

    @classmethod
    def from_json_obj(cls, obj: list[Any]) -> AnsweredPrompt:
        answer_id, offset, score, sentiment, answered_at_s, goal, outcome, locale, recorded, *rest = obj
        return cls(
            str(answer_id),
            int(offset),
            int(score),
            str(sentiment),
            float(answered_at_s),
            str(goal),
            str(outcome),
            str(locale),
            float(recorded),
            channel_in(rest),
            str(trailing_at(rest, 1, "")),
            str(trailing_at(rest, 2, OLD_SURVEY)),
            str(trailing_at(rest, 3, "")),
            str(trailing_at(rest, 4, "")),
            int(trailing_at(rest, 5, -1)),
            str(trailing_at(rest, 6, "")),
        )

    def to_packed(self, enc: Encoder) -> list[Any]:
        text, time = enc.text, enc.time
        obj = [
            text(self.answer_id),
            self.offset,
            self.score,
            text(self.sentiment),
            time(self.answered_at_s),
            text(self.goal),
            text(self.outcome),
            text(self.locale),
            time(self.recorded_at_s),
            text(self.channel),
        ]
        rest = self._trailing()
        # The trailing texts, then the comment's offset (an int) when it is kept, then the app version.
        obj += map(text, rest[:4])
        obj += rest[4:5]
        if len(rest) > 5:
            enc.require(FORMAT_3)  # a reader of format 2 would refuse the longer record
            obj.append(text(rest[5]))
        return obj

    @classmethod
    def from_packed(cls, obj: Any, dec: Decoder) -> AnsweredPrompt:
        answer_id, offset, score, sentiment, answered_at_s, goal, outcome, locale, recorded, channel, *rest = record(
            obj, 10, 6
        )
        text, time = dec.text, dec.time
        answered = cls(
            text(answer_id),
            int(offset),
            int(score),
            text(sentiment),
            time(answered_at_s),
            text(goal),
            text(outcome),
            text(locale),
            time(recorded),
            text(channel),
        )
        if rest:  # in the order written: each text may refer to the ones before it
            answered.effort_band = text(rest[0])
            answered.survey = text(rest[1]) if len(rest) > 1 else OLD_SURVEY
            answered.effort_group = text(rest[2]) if len(rest) > 2 else ""
            answered.comment_id = text(rest[3]) if len(rest) > 3 else ""
            answered.comment_offset = int(rest[4]) if len(rest) > 4 else -1
            answered.app_version = text(rest[5]) if len(rest) > 5 else ""
        return answered


@dataclass(frozen=True, slots=True)
class RecordedPromptEvent:
    """A prompt event counted for a prompt: its id, its source offset (facts are re-emitted with
    it) and its event time (the bucket time of its fact)."""

    event_id: str
    offset: int
    at_s: float

    def to_json_obj(self) -> list[Any]:
        return [self.event_id, self.offset, self.at_s]

    @classmethod
    def from_json_obj(cls, obj: list[Any]) -> RecordedPromptEvent:
        event_id, offset, at_s = obj
        return cls(str(event_id), int(offset), float(at_s))

    def to_packed(self, enc: Encoder) -> list[Any]:
        return [enc.text(self.event_id), self.offset, enc.time(self.at_s)]

    @classmethod
    def from_packed(cls, obj: Any, dec: Decoder) -> RecordedPromptEvent:
        event_id, offset, at_s = record(obj, 3)
        return cls(dec.text(event_id), int(offset), dec.time(at_s))


@dataclass(slots=True)
class PromptDisplay:
    """What the app reported of one prompt (``schemas.PromptEvent``): shown, dismissed, each counted once.

    :param goal: goal slug of the prompt.
    :param expires_at_s: the prompt's ``expires_at`` (a later event is refused, as a late answer is).
    :param recorded_at_s: ``now_s`` of the last event recorded (for pruning).
    :param shown: the ``shown`` event counted, if any.
    :param dismissed: the ``dismissed`` event counted, if any.
    :param survey: the prompt's question (``SurveyKind`` value).
    """

    goal: str
    expires_at_s: float
    recorded_at_s: float
    shown: RecordedPromptEvent | None = None
    dismissed: RecordedPromptEvent | None = None
    survey: str = OLD_SURVEY

    def to_json_obj(self) -> list[Any]:
        obj = [
            self.goal,
            self.expires_at_s,
            self.recorded_at_s,
            None if self.shown is None else self.shown.to_json_obj(),
            None if self.dismissed is None else self.dismissed.to_json_obj(),
        ]
        return obj + trailing([self.survey], [OLD_SURVEY])

    @classmethod
    def from_json_obj(cls, obj: list[Any]) -> PromptDisplay:
        goal, expires_at_s, recorded_at_s, shown, dismissed, *rest = obj
        return cls(
            str(goal),
            float(expires_at_s),
            float(recorded_at_s),
            None if shown is None else RecordedPromptEvent.from_json_obj(shown),
            None if dismissed is None else RecordedPromptEvent.from_json_obj(dismissed),
            str(trailing_at(rest, 0, OLD_SURVEY)),
        )

    def to_packed(self, enc: Encoder) -> list[Any]:
        obj = [
            enc.text(self.goal),
            enc.time(self.expires_at_s),
            enc.time(self.recorded_at_s),
            None if self.shown is None else self.shown.to_packed(enc),
            None if self.dismissed is None else self.dismissed.to_packed(enc),
        ]
        obj += map(enc.text, trailing([self.survey], [OLD_SURVEY]))
        return obj

    @classmethod
    def from_packed(cls, obj: Any, dec: Decoder) -> PromptDisplay:
        goal, expires_at_s, recorded_at_s, shown, dismissed, *rest = record(obj, 5, 1)
        return cls(
            dec.text(goal),
            dec.time(expires_at_s),
            dec.time(recorded_at_s),
            None if shown is None else RecordedPromptEvent.from_packed(shown, dec),
            None if dismissed is None else RecordedPromptEvent.from_packed(dismissed, dec),
            dec.text(rest[0]) if rest else OLD_SURVEY,
        )
