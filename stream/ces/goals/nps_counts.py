"""The NPS part of a goal's bucket: answers to the NPS question asked at the goal's moments.

Counted apart from the goal's own question (CES or CSAT), so neither figure is mixed into the
other: promoters (9-10) are the positive answers, passives (7-8) the neutral ones, detractors
(0-6) the negative ones. Split by the channel of the goal attempt and by recent effort (the
user had a high-effort CES answer in ``nps.high_effort.window_seconds`` before, or not). Plain
additive integers like every bucket count, so partials merge exactly in any order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from stream.ces.goals.facts import HIGH_EFFORT, REST
from stream.ces.goals.segments import (
    AnswerCounts,
    channel_name,
    copy_segments,
    count_of,
    merge_segments,
    segments_equal,
    segments_from_json,
    segments_to_json,
    subtract_segments,
)
from stream.ces.registry import Sentiment

_JSON_CHANNEL_KEYS: dict[str, str] = {"web": "w", "ios": "i", "android": "a", "other": "o"}
_CHANNELS_BY_JSON_KEY: dict[str, str] = {short: name for name, short in _JSON_CHANNEL_KEYS.items()}
_JSON_GROUP_KEYS: dict[str, str] = {HIGH_EFFORT: "h", REST: "r"}
_GROUPS_BY_JSON_KEY: dict[str, str] = {short: name for name, short in _JSON_GROUP_KEYS.items()}
_KEYS = frozenset({"s", "p", "u", "n", "q", "sh", "di", "bc", "be"})


@dataclass(slots=True, eq=False)
class NpsCounts(AnswerCounts):
    """NPS answers per score and band, the NPS prompts sent, shown and dismissed, and the splits.

    ``by_channel`` splits the answers by the goal attempt's channel, ``by_effort`` by recent
    effort (:data:`~stream.ces.goals.facts.HIGH_EFFORT` or :data:`~stream.ces.goals.facts.REST`).
    Zero entries may be absent; equality ignores them.
    """

    prompts: int = 0
    shown: int = 0
    dismissed: int = 0
    by_channel: dict[str, AnswerCounts] = field(default_factory=dict)
    by_effort: dict[str, AnswerCounts] = field(default_factory=dict)

    def add_answer(self, score: int, sentiment: Sentiment, channel: str, effort_group: str) -> None:
        """Count one NPS answer, blended and in its channel and effort group.

        :raises ValueError: for an unknown channel or effort group.
        """
        if effort_group and effort_group not in _JSON_GROUP_KEYS:
            raise ValueError(f"unknown effort group {effort_group!r}; expected {HIGH_EFFORT} or {REST}")
        segment = _segment(self.by_channel, channel_name(channel))
        sentiment = self.add(score, sentiment)
        segment.add(score, sentiment)
        if effort_group:
            _segment(self.by_effort, effort_group).add(score, sentiment)

    def add_prompt_event(self, kind: str) -> None:
        """Count one NPS prompt the app reported ``shown`` or ``dismissed``."""
        if kind == "shown":
            self.shown += 1
        elif kind == "dismissed":
            self.dismissed += 1
        else:
            raise ValueError(f"unknown prompt event {kind!r}; expected shown or dismissed")

    def merge(self, other: AnswerCounts, *, segments: bool = True) -> None:
        """Add ``other`` in, in place; without ``segments`` the splits stay out."""
        AnswerCounts.merge(self, other)
        assert isinstance(other, NpsCounts)
        self.prompts += other.prompts
        self.shown += other.shown
        self.dismissed += other.dismissed
        if segments and other.by_channel:
            merge_segments(self.by_channel, other.by_channel)
        if segments and other.by_effort:
            merge_segments(self.by_effort, other.by_effort)

    def subtract(self, other: AnswerCounts) -> None:
        """Take ``other`` out again (the inverse of :meth:`merge`)."""
        AnswerCounts.subtract(self, other)
        assert isinstance(other, NpsCounts)
        self.prompts -= other.prompts
        self.shown -= other.shown
        self.dismissed -= other.dismissed
        if other.by_channel:
            subtract_segments(self.by_channel, other.by_channel)
        if other.by_effort:
            subtract_segments(self.by_effort, other.by_effort)

    def is_empty(self) -> bool:
        return not (self.answers or self.prompts or self.shown or self.dismissed)

    def copy(self, *, segments: bool = True) -> NpsCounts:
        return NpsCounts(
            dict(self.scores),
            self.positive,
            self.neutral,
            self.negative,
            self.score_sum,
            self.prompts,
            self.shown,
            self.dismissed,
            copy_segments(self.by_channel) if segments else {},
            copy_segments(self.by_effort) if segments else {},
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, NpsCounts):
            return NotImplemented
        return (
            AnswerCounts.__eq__(self, other)
            and (self.prompts, self.shown, self.dismissed) == (other.prompts, other.shown, other.dismissed)
            and segments_equal(self.by_channel, other.by_channel)
            and segments_equal(self.by_effort, other.by_effort)
        )

    __hash__ = None  # mutable

    def to_json_obj(self) -> dict[str, Any]:
        """The answer counts' keys (s, p, u, n) and q = prompts, sh / di = shown / dismissed,
        bc = by channel (w, i, a, o), be = by recent effort (h = high effort, r = the rest)."""
        obj = AnswerCounts.to_json_obj(self)
        for key, value in (("q", self.prompts), ("sh", self.shown), ("di", self.dismissed)):
            if value:
                obj[key] = value
        if self.by_channel:
            obj["bc"] = segments_to_json(self.by_channel, _JSON_CHANNEL_KEYS)
        if self.by_effort:
            obj["be"] = segments_to_json(self.by_effort, _JSON_GROUP_KEYS)
        return obj

    @classmethod
    def from_json_obj(cls, obj: Any) -> NpsCounts:
        """Read what :meth:`to_json_obj` wrote.

        :raises ValueError: on an unknown key or a bad count.
        """
        if not isinstance(obj, Mapping):
            raise ValueError(f"NPS counts must be a JSON object, not {type(obj).__name__}")
        unknown = set(obj) - _KEYS
        if unknown:
            raise ValueError(f"NPS counts: unknown keys {sorted(unknown)}")
        answers = AnswerCounts.from_json_obj({key: value for key, value in obj.items() if key in ("s", "p", "u", "n")})
        return cls(
            answers.scores,
            answers.positive,
            answers.neutral,
            answers.negative,
            answers.score_sum,
            count_of("q", obj.get("q", 0)),
            count_of("sh", obj.get("sh", 0)),
            count_of("di", obj.get("di", 0)),
            segments_from_json(obj.get("bc", {}), _CHANNELS_BY_JSON_KEY, "NPS answers by channel"),
            segments_from_json(obj.get("be", {}), _GROUPS_BY_JSON_KEY, "NPS answers by recent effort"),
        )


def _segment(segments: dict[str, AnswerCounts], name: str) -> AnswerCounts:
    counts = segments.get(name)
    if counts is None:
        counts = segments[name] = AnswerCounts()
    return counts
