"""Bucket counts, facts and the batch fold."""

from __future__ import annotations

import json

import pytest

from schemas.survey_prompt import PromptOutcome
from stream.ces.goals.buckets import (
    OUTCOMES,
    AnswerFact,
    BucketCounts,
    OutcomeFact,
    PromptFact,
)
from stream.ces.goals.fold import bucket_start, fold_facts
from stream.ces.registry.scales import Sentiment


def counts_of(*answers: tuple[int, Sentiment], prompts: int = 0, outcomes: tuple[str, ...] = ()) -> BucketCounts:
    counts = BucketCounts()
    for score, sentiment in answers:
        counts.add_answer(score, sentiment, "completed", "web")
    for _ in range(prompts):
        counts.add_prompt()
    for outcome in outcomes:
        counts.add_outcome(outcome)
    return counts


def test_outcomes_are_the_three_prompt_outcomes():
    assert OUTCOMES == ("completed", "abandoned", "abandoned_inferred")
    assert set(OUTCOMES) == {outcome.value for outcome in PromptOutcome}


def test_add_answer_counts_score_sentiment_and_sum():
    counts = counts_of(
        (5, Sentiment.positive), (5, Sentiment.positive), (3, Sentiment.neutral), (1, Sentiment.negative)
    )
    assert counts.scores == {5: 2, 3: 1, 1: 1}
    assert (counts.positive, counts.neutral, counts.negative) == (2, 1, 1)
    assert counts.score_sum == 14
    assert counts.answers == 4


def test_add_answer_accepts_the_plain_sentiment_string_and_rejects_others():
    counts = BucketCounts()
    counts.add_answer(4, "positive", "completed", "web")  # type: ignore[arg-type]
    assert counts.positive == 1
    with pytest.raises(ValueError):
        counts.add_answer(4, "great", "completed", "web")  # type: ignore[arg-type]
    assert counts.answers == 1 and counts.scores == {4: 1}


def test_add_outcome_accepts_enum_members_and_stores_plain_names():
    counts = counts_of(outcomes=("completed",))
    counts.add_outcome(PromptOutcome.abandoned_inferred)
    assert counts.outcomes == {"completed": 1, "abandoned_inferred": 1}
    assert all(type(name) is str for name in counts.outcomes)
    assert json.dumps(counts.to_json_obj())  # JSON-safe


def test_add_outcome_rejects_unknown_outcome():
    with pytest.raises(ValueError, match="unknown outcome 'gave_up'"):
        BucketCounts().add_outcome("gave_up")


def test_merge_adds_everything_in_place_and_leaves_other_alone():
    left = counts_of((5, Sentiment.positive), prompts=2, outcomes=("completed",))
    right = counts_of((5, Sentiment.positive), (2, Sentiment.negative), prompts=1, outcomes=("completed", "abandoned"))
    right_before = right.copy()
    left.merge(right)
    assert left == counts_of(
        (5, Sentiment.positive),
        (5, Sentiment.positive),
        (2, Sentiment.negative),
        prompts=3,
        outcomes=("completed", "completed", "abandoned"),
    )
    assert right == right_before


def test_subtract_undoes_merge_and_drops_zero_entries():
    base = counts_of((4, Sentiment.positive), prompts=1)
    delta = counts_of((2, Sentiment.negative), prompts=2, outcomes=("abandoned",))
    total = base.copy()
    total.merge(delta)
    total.subtract(delta)
    assert total == base
    assert total.scores == {4: 1} and total.outcomes == {}


def test_copy_is_independent():
    original = counts_of((4, Sentiment.positive), outcomes=("completed",))
    duplicate = original.copy()
    duplicate.add_answer(4, Sentiment.positive, "completed", "web")
    duplicate.add_outcome("completed")
    assert original.scores == {4: 1} and original.outcomes == {"completed": 1}
    assert duplicate != original


def test_equality_ignores_zero_entries_but_not_counts():
    assert BucketCounts(scores={3: 0}, outcomes={"abandoned": 0}) == BucketCounts()
    assert counts_of(prompts=1) != BucketCounts()
    assert counts_of((3, Sentiment.neutral)) != counts_of((3, Sentiment.negative))
    assert BucketCounts() != object()


def test_is_empty():
    assert BucketCounts().is_empty()
    assert BucketCounts(scores={2: 0}).is_empty()
    assert not counts_of(prompts=1).is_empty()
    assert not counts_of(outcomes=("abandoned",)).is_empty()
    assert not counts_of((1, Sentiment.negative)).is_empty()


def test_json_round_trip_is_compact_and_exact():
    counts = counts_of(
        (5, Sentiment.positive),
        (5, Sentiment.positive),
        (1, Sentiment.negative),
        prompts=4,
        outcomes=("completed", "abandoned_inferred", "abandoned_inferred"),
    )
    obj = counts.to_json_obj()
    segment = {"s": {"5": 2, "1": 1}, "p": 2, "n": 1}
    assert obj == {
        **segment,
        "q": 4,
        "o": {"c": 1, "i": 2},
        "bo": {"c": segment},
        "bc": {"w": segment},
        "st": {"cw": [0, 3, 2]},
    }
    restored = BucketCounts.from_json_obj(json.loads(json.dumps(obj)))
    assert restored == counts
    assert restored.score_sum == 11
    assert BucketCounts().to_json_obj() == {}
    assert BucketCounts.from_json_obj({}) == BucketCounts()


@pytest.mark.parametrize(
    "obj",
    [
        [],
        {"x": 1},
        {"p": -1, "s": {"5": -1}},
        {"q": 1.5},
        {"q": True},
        {"s": {"five": 1}, "p": 1},
        {"s": []},
        {"o": {"z": 1}},
        {"s": {"5": 2}, "p": 1},  # sentiments do not add up to the scores
    ],
)
def test_from_json_obj_rejects_corrupt_records(obj):
    with pytest.raises(ValueError):
        BucketCounts.from_json_obj(obj)


@pytest.mark.parametrize(
    ("at_s", "resolution_s", "start_s"),
    [
        (0.0, 60, 0),
        (59.999, 60, 0),
        (60.0, 60, 60),  # a fact exactly on the edge opens the next bucket
        (1_700_000_000.5, 60, 1_699_999_980),
        (1_700_000_000.5, 300, 1_699_999_800),
        (1_700_000_000.5, 3600, 1_699_999_200),
    ],
)
def test_bucket_start_floors_to_the_resolution(at_s, resolution_s, start_s):
    assert bucket_start(at_s, resolution_s) == start_s
    assert type(bucket_start(at_s, resolution_s)) is int


def test_fold_facts_gives_one_delta_per_touched_bucket_and_every_fact_once_per_resolution():
    facts = [
        AnswerFact("download-invoice", 3599.0, 5, Sentiment.positive, "completed", "web"),
        AnswerFact("download-invoice", 3600.0, 2, Sentiment.negative, "completed", "web"),  # on the hour edge
        AnswerFact("download-invoice", 3659.0, 4, Sentiment.positive, "completed", "web"),
        PromptFact("download-invoice", 3601.0, "completed"),
        OutcomeFact("download-invoice", 3601.0, "completed"),
        OutcomeFact("file-claim", 100.0, "abandoned"),
    ]
    deltas = fold_facts(facts, (60, 300, 3600))

    assert set(deltas) == {
        ("download-invoice", 60, 3540),
        ("download-invoice", 60, 3600),
        ("download-invoice", 300, 3300),
        ("download-invoice", 300, 3600),
        ("download-invoice", 3600, 0),
        ("download-invoice", 3600, 3600),
        ("file-claim", 60, 60),
        ("file-claim", 300, 0),
        ("file-claim", 3600, 0),
    }
    assert deltas[("download-invoice", 60, 3600)] == counts_of(
        (2, Sentiment.negative), (4, Sentiment.positive), prompts=1, outcomes=("completed",)
    )
    assert deltas[("download-invoice", 3600, 0)] == counts_of((5, Sentiment.positive))
    for resolution_s in (60, 300, 3600):
        total = BucketCounts()
        for (goal, res, _), delta in deltas.items():
            if goal == "download-invoice" and res == resolution_s:
                total.merge(delta)
        assert total.answers == 3 and total.prompts == 1 and total.outcomes == {"completed": 1}


def test_fold_facts_rolled_up_resolutions_equal_folding_directly():
    facts = [
        AnswerFact("g", float(at_s), 1 + at_s % 5, Sentiment.neutral, "completed", "web") for at_s in range(0, 7200, 37)
    ] + [OutcomeFact("g", float(at_s), "abandoned") for at_s in range(0, 7200, 101)]
    together = fold_facts(facts, (60, 300, 3600))
    for resolution_s in (300, 3600):
        alone = fold_facts(facts, (resolution_s,))
        assert alone == {key: delta for key, delta in together.items() if key[1] == resolution_s}


def test_fold_facts_handles_resolutions_that_are_not_multiples_of_the_finest():
    facts = [
        AnswerFact("g", 130.0, 3, Sentiment.neutral, "completed", "web"),
        AnswerFact("g", 10.0, 3, Sentiment.neutral, "completed", "web"),
    ]
    deltas = fold_facts(iter(facts), [90, 60, 60])
    assert set(deltas) == {("g", 60, 120), ("g", 60, 0), ("g", 90, 90), ("g", 90, 0)}


def test_fold_facts_of_nothing_is_empty():
    assert fold_facts([], (60, 300)) == {}


def test_fold_facts_does_not_share_deltas_between_resolutions():
    deltas = fold_facts([PromptFact("g", 5.0, "completed")], (60, 300))
    deltas[("g", 60, 0)].add_prompt()
    assert deltas[("g", 300, 0)].prompts == 1


@pytest.mark.parametrize("resolutions_s", [(0,), (60, -60), (60.0,)])
def test_fold_facts_rejects_bad_resolutions(resolutions_s):
    with pytest.raises(ValueError):
        fold_facts([PromptFact("g", 5.0, "completed")], resolutions_s)


def test_fold_facts_rejects_what_is_not_a_fact():
    with pytest.raises(TypeError):
        fold_facts([("g", 5.0)], (60,))  # type: ignore[list-item]
