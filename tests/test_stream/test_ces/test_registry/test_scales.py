"""Scales: points, direction, and how each score is classified (docs/domain.md "Scales")."""

from collections import Counter
from dataclasses import replace

import pytest

from schemas.survey_prompt import ScaleKind, ScaleLabel
from stream.ces.registry.scales import Scale, Sentiment, default_scale

POS, NEU, NEG = Sentiment.positive, Sentiment.neutral, Sentiment.negative

# kind -> expected class of every point, lowest first (the defaults of docs/domain.md).
DEFAULT_CLASSES = {
    "five_point": [NEG, NEG, NEU, POS, POS],
    "five_point_inverted": [POS, POS, NEU, NEG, NEG],
    "seven_point": [NEG, NEG, NEG, NEU, POS, POS, POS],
    "ten_point": [NEG, NEG, NEG, NEG, NEG, NEU, NEU, POS, POS, POS],
    "emoticon": [NEG, NEU, POS],
    # NPS: detractors 0-6, passives 7-8, promoters 9-10 (fixed, not the midpoint rule).
    "zero_to_ten": [NEG] * 7 + [NEU, NEU, POS, POS],
    "yes_no": [NEG, POS],
}
LOWEST = {"zero_to_ten": 0, "yes_no": 0}


def _table(classes_by_kind: dict[str, list[Sentiment]]) -> list[tuple[str, int, Sentiment]]:
    return [
        (kind, score, expected)
        for kind, classes in classes_by_kind.items()
        for score, expected in enumerate(classes, start=LOWEST.get(kind, 1))
    ]


@pytest.mark.parametrize(("kind", "score", "expected"), _table(DEFAULT_CLASSES))
def test_default_scale_classifies_every_point(kind: str, score: int, expected: Sentiment) -> None:
    assert default_scale(ScaleKind(kind)).classify(score) is expected


def test_table_covers_every_scale_kind() -> None:
    assert set(DEFAULT_CLASSES) == {kind.value for kind in ScaleKind}


@pytest.mark.parametrize("kind", list(DEFAULT_CLASSES))
def test_bands_hold_every_point_once_by_its_class(kind: str) -> None:
    scale = default_scale(ScaleKind(kind))
    bands = scale.bands()
    assert sorted(p for points in bands.values() for p in points) == list(scale.points)
    assert all(scale.classify(p) is band for band, points in bands.items() for p in points)


def test_a_stored_nps_scale_keeps_its_fixed_detractors() -> None:
    from stream.ces.registry.scales import scale_of

    stored = scale_of("zero_to_ten", 0, 10, False, frozenset({9, 10}))
    assert [stored.classify(p) for p in stored.points] == DEFAULT_CLASSES["zero_to_ten"]


@pytest.mark.parametrize(
    ("kind", "min_score", "max_score", "inverted", "positive"),
    [
        ("five_point", 1, 5, False, {4, 5}),
        ("seven_point", 1, 7, False, {5, 6, 7}),
        ("five_point_inverted", 1, 5, True, {1, 2}),
        ("ten_point", 1, 10, False, {8, 9, 10}),
        ("emoticon", 1, 3, False, {3}),
    ],
)
def test_default_scale_matches_domain(
    kind: str, min_score: int, max_score: int, inverted: bool, positive: set[int]
) -> None:
    scale = default_scale(ScaleKind(kind))
    assert scale == Scale(ScaleKind(kind), min_score, max_score, inverted, frozenset(positive))
    assert scale.points == tuple(range(min_score, max_score + 1))


@pytest.mark.parametrize(
    ("score", "expected"),
    [(1, NEG), (2, NEG), (3, NEG), (4, NEU), (5, NEU), (6, POS), (7, POS)],
)
def test_custom_positive_set_on_seven_point(score: int, expected: Sentiment) -> None:
    # Seed 001: on a 7-point scale 6 and up is "good"; 5 then counts as neutral, not negative.
    scale = replace(default_scale(ScaleKind.seven_point), positive=frozenset({6, 7}))
    assert scale.classify(score) is expected


def test_worked_example_classes() -> None:
    # The worked example (docs/domain.md): 40x5, 20x4, 5x3, 15x2, 20x1 -> 60 positive, 5 neutral, 35 negative.
    scale = default_scale(ScaleKind.five_point)
    answers = [5] * 40 + [4] * 20 + [3] * 5 + [2] * 15 + [1] * 20
    counts = Counter(scale.classify(score) for score in answers)
    assert counts == {POS: 60, NEU: 5, NEG: 35}
    assert sum(1 for score in answers if score == scale.most_negative) == 20


@pytest.mark.parametrize(
    ("kind", "most_negative", "neutral_point"),
    [
        ("five_point", 1, 3.0),
        ("seven_point", 1, 4.0),
        ("five_point_inverted", 5, 3.0),
        ("ten_point", 1, 5.5),
        ("emoticon", 1, 2.0),
    ],
)
def test_most_negative_and_neutral_point(kind: str, most_negative: int, neutral_point: float) -> None:
    scale = default_scale(ScaleKind(kind))
    assert scale.most_negative == most_negative
    assert scale.neutral_point == neutral_point
    assert scale.classify(most_negative) is NEG


@pytest.mark.parametrize(
    ("kind", "score", "expected"),
    [
        ("five_point", 1, True),
        ("five_point", 5, True),
        ("five_point", 0, False),
        ("five_point", 6, False),
        ("ten_point", 10, True),
        ("ten_point", 11, False),
        ("emoticon", 3, True),
        ("emoticon", 4, False),
        ("seven_point", -1, False),
        ("five_point", True, False),  # a bool is not a score
        ("five_point", 3.0, False),  # neither is a float
        ("five_point", "3", False),
    ],
)
def test_contains(kind: str, score: object, expected: bool) -> None:
    assert default_scale(ScaleKind(kind)).contains(score) is expected  # type: ignore[arg-type]


@pytest.mark.parametrize("score", [0, 6, True])
def test_classify_rejects_scores_outside_the_scale(score: int) -> None:
    with pytest.raises(ValueError, match="is not a point of the five_point scale"):
        default_scale(ScaleKind.five_point).classify(score)


@pytest.mark.parametrize(
    ("min_score", "max_score", "positive", "message"),
    [
        (5, 5, frozenset({5}), "must be below"),
        (5, 1, frozenset({4}), "must be below"),
        (1, 5, frozenset({4, 6}), r"positive points \[6\] are outside"),
    ],
)
def test_scale_rejects_inconsistent_fields(
    min_score: int, max_score: int, positive: frozenset[int], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        Scale(ScaleKind.five_point, min_score, max_score, False, positive)


def test_to_spec_sorts_labels_and_keeps_the_scale() -> None:
    spec = default_scale(ScaleKind.five_point_inverted).to_spec({5: "Very much effort", 1: "Very little effort"})
    assert spec.kind is ScaleKind.five_point_inverted
    assert (spec.min_score, spec.max_score, spec.inverted) == (1, 5, True)
    assert spec.labels == [
        ScaleLabel(value=1, label="Very little effort"),
        ScaleLabel(value=5, label="Very much effort"),
    ]


def test_to_spec_without_labels() -> None:
    spec = default_scale(ScaleKind.ten_point).to_spec({})
    assert (spec.kind, spec.min_score, spec.max_score, spec.inverted, spec.labels) == (
        ScaleKind.ten_point,
        1,
        10,
        False,
        [],
    )


def test_to_spec_rejects_labels_outside_the_scale() -> None:
    with pytest.raises(ValueError, match=r"labels for \[4\] are outside the emoticon scale"):
        default_scale(ScaleKind.emoticon).to_spec({1: "Unhappy", 4: "Ecstatic"})
