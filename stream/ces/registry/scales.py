"""Answer scales: which points exist and how a score is classified.

Every goal answers on one of five scale kinds (docs/domain.md, "Scales"). Whether a score
counts as positive is configuration per goal (the ``positive`` set); whether it is
negative follows from the neutral point: below it, or above it on an inverted scale
where 1 means "very little effort". Everything else is neutral.

Worked example (five-point, positive {4, 5}): 1 and 2 are negative, 3 is neutral.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from schemas.survey_prompt import ScaleKind, ScaleLabel, ScaleSpec


class Sentiment(StrEnum):
    """How one answer counts in the CES figures."""

    positive = "positive"
    neutral = "neutral"
    negative = "negative"


@dataclass(frozen=True, slots=True)
class Scale:
    """One goal's answer scale: its points, direction and positive (low-effort) answers."""

    kind: ScaleKind
    min_score: int
    max_score: int
    inverted: bool
    positive: frozenset[int]
    negative: frozenset[int] | None = None
    """The negative points when the kind fixes them (NPS: the detractors, 0..6); None: the points on the
    difficult side of the neutral point."""

    def __post_init__(self) -> None:
        if self.min_score >= self.max_score:
            raise ValueError(f"min_score {self.min_score} must be below max_score {self.max_score}")
        outside = sorted(point for point in self.positive if not self.contains(point))
        if outside:
            raise ValueError(
                f"positive points {outside} are outside the {self.kind} scale ({self.min_score}..{self.max_score})"
            )

    @property
    def points(self) -> tuple[int, ...]:
        """Every score of the scale, lowest first."""
        return tuple(range(self.min_score, self.max_score + 1))

    @property
    def most_negative(self) -> int:
        """The "very difficult" point: the lowest score, or the highest when inverted."""
        return self.max_score if self.inverted else self.min_score

    @property
    def neutral_point(self) -> float:
        """The midpoint between the ends; a point on it is neither easy nor difficult."""
        return (self.min_score + self.max_score) / 2

    def contains(self, score: int) -> bool:
        """Tell whether ``score`` is a point of this scale.

        :param score: the answered score.
        :returns: True for an int within ``min_score..max_score`` (a bool is not a score).
        """
        # bool is a subclass of int; True must not pass as the score 1.
        return type(score) is int and self.min_score <= score <= self.max_score

    def classify(self, score: int) -> Sentiment:
        """Classify one score.

        :param score: a point of this scale.
        :returns: positive if in ``positive``; negative if on the difficult side of the
            neutral point (below it, above it when inverted); else neutral.
        :raises ValueError: when the score is not a point of the scale.
        """
        if not self.contains(score):
            raise ValueError(f"{score!r} is not a point of the {self.kind} scale ({self.min_score}..{self.max_score})")
        if score in self.positive:
            return Sentiment.positive
        if self.negative is not None:
            return Sentiment.negative if score in self.negative else Sentiment.neutral
        difficult = score > self.neutral_point if self.inverted else score < self.neutral_point
        return Sentiment.negative if difficult else Sentiment.neutral

    def bands(self) -> dict[Sentiment, tuple[int, ...]]:
        """The points of each band (negative, neutral, positive), lowest first; a band may be empty."""
        bands: dict[Sentiment, list[int]] = {
            sentiment: [] for sentiment in (Sentiment.negative, Sentiment.neutral, Sentiment.positive)
        }
        for point in self.points:
            bands[self.classify(point)].append(point)
        return {sentiment: tuple(points) for sentiment, points in bands.items()}

    def to_spec(self, labels: Mapping[int, str]) -> ScaleSpec:
        """Describe the scale for a survey prompt.

        :param labels: label text per scale point (any subset of the points).
        :returns: the schemas ScaleSpec, labels sorted by value.
        :raises ValueError: when a label is for a value that is not a point of the scale.
        """
        outside = sorted(value for value in labels if not self.contains(value))
        if outside:
            raise ValueError(
                f"labels for {outside} are outside the {self.kind} scale ({self.min_score}..{self.max_score})"
            )
        return ScaleSpec(
            kind=self.kind,
            min_score=self.min_score,
            max_score=self.max_score,
            inverted=self.inverted,
            labels=[ScaleLabel(value=value, label=labels[value]) for value in sorted(labels)],
        )


# kind -> (min, max, inverted, positive); docs/domain.md "Scales". Keyed by value, not member name.
_DEFAULT_SCALE_TABLE: dict[str, tuple[int, int, bool, frozenset[int]]] = {
    "five_point": (1, 5, False, frozenset({4, 5})),
    "seven_point": (1, 7, False, frozenset({5, 6, 7})),
    "five_point_inverted": (1, 5, True, frozenset({1, 2})),
    "ten_point": (1, 10, False, frozenset({8, 9, 10})),
    "emoticon": (1, 3, False, frozenset({3})),
    # NPS: promoters 9-10, passives 7-8, detractors 0-6 (below the midpoint would make 5 and 6 passives).
    "zero_to_ten": (0, 10, False, frozenset({9, 10})),
    "yes_no": (0, 1, False, frozenset({1})),
}
_FIXED_NEGATIVE: dict[str, frozenset[int]] = {"zero_to_ten": frozenset(range(7))}
"""Kinds whose negative points are fixed, not the difficult side of the midpoint."""
FIXED_POSITIVE_KINDS = frozenset({ScaleKind.zero_to_ten})
"""Kinds whose positive points are part of their definition (NPS promoters), not configurable."""

_DEFAULT_SCALES: dict[ScaleKind, Scale] = {
    ScaleKind(kind): Scale(ScaleKind(kind), *row, negative=_FIXED_NEGATIVE.get(kind))
    for kind, row in _DEFAULT_SCALE_TABLE.items()
}


def scale_of(kind: str, min_score: int, max_score: int, inverted: bool, positive: frozenset[int]) -> Scale:
    """Rebuild a scale from its stored parts (a pending prompt keeps them), with the kind's fixed
    negative points if it has them.

    :raises ValueError: for an unknown kind or points outside the range.
    """
    return Scale(ScaleKind(kind), min_score, max_score, inverted, positive, _FIXED_NEGATIVE.get(str(kind)))


def default_scale(kind: ScaleKind) -> Scale:
    """Return the default scale of a kind (docs/domain.md).

    :param kind: the scale kind.
    :returns: the scale with its default positive set (e.g. five_point: 1..5, {4, 5}).
    """
    return _DEFAULT_SCALES[ScaleKind(kind)]
