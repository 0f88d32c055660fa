"""Answer counts per segment: per outcome (completed, abandoned, abandoned_inferred) and per channel.

CES measured only at completion looks better than the truth: users who gave up found the
goal hard. So every answer is counted three times in its bucket: in the blended figures,
under the outcome that triggered its prompt and under the channel where the goal was
attempted. The segments hold the answer part of :class:`~stream.ces.goals.buckets.BucketCounts`
only (no prompts, no outcomes) and are additive like it: a segment's counts over all
outcomes (or all channels) sum to the blended answer counts.

Pure: no Faust, no Kafka.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from schemas.common import Channel
from stream.ces.registry import Sentiment

OUTCOMES = ("completed", "abandoned", "abandoned_inferred")
#: The outcomes at which a user left the goal without completing it.
EXIT_OUTCOMES = ("abandoned", "abandoned_inferred")
CHANNELS = tuple(channel.value for channel in Channel)
#: The strata of the CES corrected for non-response (:mod:`stream.ces.goals.nonresponse`): outcome x channel.
STRATA: dict[tuple[str, str], str] = {
    (outcome, channel): f"{outcome}/{channel}" for outcome in OUTCOMES for channel in CHANNELS
}
#: A stratum's outcome and channel by its name.
STRATUM_PARTS: dict[str, tuple[str, str]] = {name: parts for parts, name in STRATA.items()}

# Canonical plain-str names; looking a StrEnum member up here also returns the plain str.
_OUTCOME_NAMES: dict[str, str] = {name: name for name in OUTCOMES}
_CHANNEL_NAMES: dict[str, str] = {name: name for name in CHANNELS}


def outcome_name(outcome: str) -> str:
    """The plain name of an outcome (a ``PromptOutcome`` member works too).

    :raises ValueError: for an unknown outcome.
    """
    return _name_in(_OUTCOME_NAMES, outcome, "outcome")


def channel_name(channel: str) -> str:
    """The plain name of a channel (a ``Channel`` member works too).

    :raises ValueError: for an unknown channel.
    """
    return _name_in(_CHANNEL_NAMES, channel, "channel")


def stratum_name(outcome: str, channel: str) -> str:
    """The name of an outcome x channel stratum, ``completed/web``.

    :raises ValueError: for an unknown outcome or channel.
    """
    try:
        return STRATA[(outcome, channel)]
    except KeyError:
        return STRATA[(outcome_name(outcome), channel_name(channel))]


def _name_in(names: dict[str, str], value: str, what: str) -> str:
    try:
        return names[value]
    except KeyError:
        raise ValueError(f"unknown {what} {value!r}; expected one of {', '.join(names)}") from None


@dataclass(slots=True, eq=False)
class AnswerCounts:
    """Additive answer counts of one segment: per score, per sentiment, and the score sum."""

    scores: dict[int, int] = field(default_factory=dict)
    positive: int = 0
    neutral: int = 0
    negative: int = 0
    score_sum: int = 0

    def add(self, score: int, sentiment: Sentiment) -> Sentiment:
        """Count one answer; returns its sentiment as a member.

        :raises ValueError: for a sentiment that is not a ``Sentiment`` (a plain str equal to a
            member's value is accepted).
        """
        if sentiment is Sentiment.positive:
            self.positive += 1
        elif sentiment is Sentiment.negative:
            self.negative += 1
        elif sentiment is Sentiment.neutral:
            self.neutral += 1
        else:
            return self.add(score, Sentiment(sentiment))  # anything else is a bug upstream
        self.scores[score] = self.scores.get(score, 0) + 1
        self.score_sum += score
        return sentiment

    def merge(self, other: AnswerCounts) -> None:
        add_counts(self.scores, other.scores)
        self.positive += other.positive
        self.neutral += other.neutral
        self.negative += other.negative
        self.score_sum += other.score_sum

    def subtract(self, other: AnswerCounts) -> None:
        """The inverse of :meth:`merge`; scores that reach zero are dropped."""
        subtract_counts(self.scores, other.scores)
        self.positive -= other.positive
        self.neutral -= other.neutral
        self.negative -= other.negative
        self.score_sum -= other.score_sum

    @property
    def answers(self) -> int:
        return self.positive + self.neutral + self.negative

    def copy(self) -> AnswerCounts:
        return AnswerCounts(dict(self.scores), self.positive, self.neutral, self.negative, self.score_sum)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AnswerCounts):
            return NotImplemented
        return (
            self.positive == other.positive
            and self.neutral == other.neutral
            and self.negative == other.negative
            and self.score_sum == other.score_sum
            and {s: c for s, c in self.scores.items() if c} == {s: c for s, c in other.scores.items() if c}
        )

    # Mutable, so unhashable; mypy wants object's method signature for __hash__, but None is the idiom.
    __hash__ = None  # type: ignore[assignment]

    def to_json_obj(self) -> dict[str, Any]:
        """``{"s": {"5": 2}, "p": 2, "u": 0, "n": 0}`` with zero counts left out (as in ``BucketCounts``)."""
        obj: dict[str, Any] = {}
        scores = {str(score): count for score, count in self.scores.items() if count}
        if scores:
            obj["s"] = scores
        for key, value in (("p", self.positive), ("u", self.neutral), ("n", self.negative)):
            if value:
                obj[key] = value
        return obj

    @classmethod
    def from_json_obj(cls, obj: Any) -> AnswerCounts:
        """Read what :meth:`to_json_obj` wrote.

        :raises ValueError: on an unknown key, a bad count, or sentiments that do not add up to the scores.
        """
        if not isinstance(obj, Mapping):
            raise ValueError(f"answer counts must be a JSON object, not {type(obj).__name__}")
        unknown = set(obj) - {"s", "p", "u", "n"}
        if unknown:
            raise ValueError(f"answer counts: unknown keys {sorted(unknown)}")
        raw_scores = obj.get("s", {})
        if not isinstance(raw_scores, Mapping):
            raise ValueError("answer counts: 's' must be an object")
        scores = {int(key): count_of(key, value) for key, value in raw_scores.items()}
        counts = cls(
            scores={score: count for score, count in scores.items() if count},
            positive=count_of("p", obj.get("p", 0)),
            neutral=count_of("u", obj.get("u", 0)),
            negative=count_of("n", obj.get("n", 0)),
            score_sum=sum(score * count for score, count in scores.items()),
        )
        if counts.answers != sum(scores.values()):
            raise ValueError(
                f"answer counts: positive+neutral+negative = {counts.answers} "
                f"but the scores count {sum(scores.values())} answers"
            )
        return counts


def add_counts(into: dict[Any, int], other: Mapping[Any, int]) -> None:
    """Add ``other``'s counts into ``into``, key by key."""
    for key, count in other.items():
        into[key] = into.get(key, 0) + count


def subtract_counts(into: dict[Any, int], other: Mapping[Any, int]) -> None:
    """Take ``other``'s counts out of ``into`` (the inverse of :func:`add_counts`); keys that reach zero go."""
    for key, count in other.items():
        left = into.get(key, 0) - count
        if left:
            into[key] = left
        else:
            into.pop(key, None)


def count_of(key: str, value: Any) -> int:
    """A stored count: a non-negative int (bool is an int subclass; a count of True is corrupt, not 1).

    :raises ValueError: for anything else.
    """
    if type(value) is not int or value < 0:
        raise ValueError(f"bucket counts: {key!r} must be a non-negative integer, not {value!r}")
    return value


# Segments are stored as dicts name -> AnswerCounts; these keep those dicts additive.


def merge_segments(into: dict[str, AnswerCounts], other: Mapping[str, AnswerCounts]) -> None:
    for name, counts in other.items():
        held = into.get(name)
        if held is None:
            into[name] = counts.copy()
        else:
            held.merge(counts)


def subtract_segments(into: dict[str, AnswerCounts], other: Mapping[str, AnswerCounts]) -> None:
    for name, counts in other.items():
        held = into.get(name)
        if held is None:  # the caller broke the merge-before-subtract rule
            raise ValueError(f"segment {name!r} subtracted but never merged")
        held.subtract(counts)
        if not held.answers:
            del into[name]


def copy_segments(segments: Mapping[str, AnswerCounts]) -> dict[str, AnswerCounts]:
    return {name: counts.copy() for name, counts in segments.items()}


def segments_equal(a: Mapping[str, AnswerCounts], b: Mapping[str, AnswerCounts]) -> bool:
    names = {name for name, counts in a.items() if counts.answers} | {
        name for name, counts in b.items() if counts.answers
    }
    empty = AnswerCounts()
    return all(a.get(name, empty) == b.get(name, empty) for name in names)


def segments_to_json(
    segments: Mapping[str, AnswerCounts], short_names: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The segments as JSON, keyed by their short name (``None``: by their own name)."""
    return {
        name if short_names is None else short_names[name]: counts.to_json_obj()
        for name, counts in segments.items()
        if counts.answers
    }


def segments_from_json(
    obj: Any, names_by_short: Mapping[str, str] | re.Pattern[str], what: str
) -> dict[str, AnswerCounts]:
    """Read :func:`segments_to_json`: keys by their short names, or names that fullmatch a pattern."""
    if not isinstance(obj, Mapping):
        raise ValueError(f"bucket counts: {what} must be an object")
    out: dict[str, AnswerCounts] = {}
    for short, value in obj.items():
        if isinstance(names_by_short, re.Pattern):
            name = short if isinstance(short, str) and names_by_short.fullmatch(short) else None
        else:
            name = names_by_short.get(short)
        if name is None:
            raise ValueError(f"bucket counts: unknown {what} key {short!r}")
        counts = AnswerCounts.from_json_obj(value)
        if counts.answers:
            out[name] = counts
    return out


def sum_segments(segments: Mapping[str, AnswerCounts], names: tuple[str, ...]) -> AnswerCounts:
    """The answer counts of several segments together (e.g. every exit outcome)."""
    total = AnswerCounts()
    for name in names:
        counts = segments.get(name)
        if counts is not None:
            total.merge(counts)
    return total


# The strata (outcome x channel) are cells of three counts, [outcomes, answers, positive answers].


def add_cells(into: dict[str, list[int]], other: Mapping[str, list[int]]) -> None:
    """Add ``other``'s ``[outcomes, answers, positive]`` cells into ``into``, stratum by stratum."""
    for name, cell in other.items():
        held = into.get(name)
        if held is None:
            into[name] = list(cell)
        else:
            held[0] += cell[0]
            held[1] += cell[1]
            held[2] += cell[2]


def subtract_cells(into: dict[str, list[int]], other: Mapping[str, list[int]]) -> None:
    """The inverse of :func:`add_cells`; ``other`` must have been added before. Cells that reach zero go."""
    for name, cell in other.items():
        held = into[name]  # merged before: the caller's rule
        held[0] -= cell[0]
        held[1] -= cell[1]
        held[2] -= cell[2]
        if not any(held):
            del into[name]


def nonzero_cells(strata: dict[str, list[int]]) -> dict[str, list[int]]:
    """The cells with a count (equality ignores empty ones)."""
    return {name: cell for name, cell in strata.items() if any(cell)}
