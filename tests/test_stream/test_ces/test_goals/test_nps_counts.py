"""The NPS part of a bucket: counted apart from the goal's own question, additive, stored compactly."""

from __future__ import annotations

import random

import pytest

from stream.ces.goals import HIGH_EFFORT, NPS, REST, AnswerFact, BucketCounts, PromptEventFact, PromptFact, fold_facts
from stream.ces.goals.nps import nps_figures
from stream.ces.goals.nps_counts import NpsCounts
from stream.ces.registry import Sentiment
from stream.ces.registry.scales import scale_of

T = 1_750_000_020.0
NPS_SCALE = scale_of("zero_to_ten", 0, 10, False, frozenset({9, 10}))


def _nps_answer(score: int, channel: str = "web", group: str = REST, at_s: float = T) -> AnswerFact:
    return AnswerFact("g", at_s, score, NPS_SCALE.classify(score), "completed", channel, "", NPS, group)


def _worked_example() -> list[AnswerFact]:
    """100 answers: 20 detractors, 30 passives, 50 promoters (issue 21: NPS +30)."""
    scores = [0, 3, 5, 6] * 5 + [7, 8] * 15 + [9, 10] * 25
    return [_nps_answer(score) for score in scores]


def test_the_worked_example_gives_nps_plus_30_and_leaves_the_goals_own_figures_alone() -> None:
    ((_, bucket),) = fold_facts(_worked_example(), [60]).items()
    assert bucket.answers == 0 and bucket.prompts == 0  # the goal's own question saw nothing
    nps = bucket.nps
    assert nps is not None and (nps.positive, nps.neutral, nps.negative) == (50, 30, 20)
    figures = nps_figures(nps.positive, nps.neutral, nps.negative, 0.95)
    assert figures.nps == 0.3
    assert (figures.promoter_share, figures.passive_share, figures.detractor_share) == (0.5, 0.3, 0.2)


def test_nps_prompts_and_prompt_events_count_apart_from_the_goals_own() -> None:
    facts = [
        PromptFact("g", T, "completed", NPS),
        PromptFact("g", T, "completed", "ces"),
        PromptEventFact("g", T, "shown", NPS),
        PromptEventFact("g", T, "dismissed", "ces"),
    ]
    ((_, bucket),) = fold_facts(facts, [60]).items()
    assert (bucket.prompts, bucket.shown, bucket.dismissed) == (1, 0, 1)
    assert bucket.nps is not None and (bucket.nps.prompts, bucket.nps.shown, bucket.nps.dismissed) == (1, 1, 0)


def test_nps_counts_merge_and_subtract_exactly_in_any_order() -> None:
    rng = random.Random(21)
    facts = [
        _nps_answer(rng.randint(0, 10), rng.choice(["web", "ios", "android"]), rng.choice([HIGH_EFFORT, REST]))
        for _ in range(300)
    ]
    whole = fold_facts(facts, [60])[("g", 60, int(T // 60) * 60)]
    parts = [fold_facts(facts[i::3], [60])[("g", 60, int(T // 60) * 60)] for i in range(3)]
    total = BucketCounts()
    for part in reversed(parts):
        total.merge(part)
    assert total == whole
    total.subtract(parts[0])
    rest = parts[1].copy()
    rest.merge(parts[2])
    assert total == rest
    # The splits hold every answer once.
    assert whole.nps is not None
    assert sum(c.answers for c in whole.nps.by_channel.values()) == whole.nps.answers == 300
    assert sum(c.answers for c in whole.nps.by_effort.values()) == 300


def test_the_stored_form_round_trips_and_older_records_have_no_nps() -> None:
    facts = [*_worked_example(), _nps_answer(10, "ios", HIGH_EFFORT), PromptFact("g", T, "completed", NPS)]
    ((_, bucket),) = fold_facts(facts, [60]).items()
    stored = bucket.to_json_obj()
    assert set(stored) == {"np"} and set(stored["np"]) == {"s", "p", "u", "n", "q", "bc", "be"}
    assert BucketCounts.from_json_obj(stored) == bucket
    older = BucketCounts.from_json_obj({"s": {"5": 1}, "p": 1})
    assert older.nps is None and older == BucketCounts.from_json_obj(older.to_json_obj())
    # An empty NPS part equals none at all.
    assert BucketCounts(nps=NpsCounts()) == BucketCounts()


@pytest.mark.parametrize(
    "bad", [{"np": {"x": 1}}, {"np": {"p": 2, "s": {"9": 1}}}, {"np": {"be": {"z": {"s": {"9": 1}, "p": 1}}}}]
)
def test_a_bad_nps_record_is_refused(bad: dict) -> None:
    with pytest.raises(ValueError):
        BucketCounts.from_json_obj(bad)


def test_an_unknown_effort_group_is_a_bug_not_a_count() -> None:
    counts = NpsCounts()
    with pytest.raises(ValueError, match="effort group"):
        counts.add_answer(9, Sentiment.positive, "web", "medium")
    assert counts == NpsCounts()
