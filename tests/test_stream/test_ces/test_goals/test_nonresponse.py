"""The CES corrected for non-response: strata weighed by attempts, thin ones merged, never extrapolated."""

from __future__ import annotations

import random

import pytest

from stream.ces.goals import OUTCOMES
from stream.ces.goals.buckets import AnswerFact, BucketCounts, OutcomeFact, PromptFact
from stream.ces.goals.fold import fold_facts
from stream.ces.goals.nonresponse import corrected_ces, silent_bounds, stratum_cells
from stream.ces.goals.stats import figures, z_score
from stream.ces.registry import Sentiment

Z = z_score(0.99)
FIVE_POINT = (1, 2, 3, 4, 5)


def correct(cells, *, asked=OUTCOMES, min_answers=10, prompts=0, outcomes=None):
    """``corrected_ces`` with the totals the cells imply (a complete window)."""
    totals: dict[str, int] = {}
    for name, (attempts, _, _) in cells.items():
        outcome = name.split("/")[0]
        totals[outcome] = totals.get(outcome, 0) + attempts
    return corrected_ces(
        cells,
        outcomes=totals if outcomes is None else outcomes,
        answers=sum(cell[1] for cell in cells.values()),
        positive=sum(cell[2] for cell in cells.values()),
        prompts=prompts,
        asked=asked,
        min_answers=min_answers,
        z=Z,
    )


def worked_example() -> BucketCounts:
    """800 completions answering 30 % with CES 0.85, 200 abandonments answering 10 % with CES 0.40."""
    counts = BucketCounts()
    for outcome, attempts, answers, positive in (("completed", 800, 240, 204), ("abandoned", 200, 20, 8)):
        for _ in range(attempts):
            counts.add_outcome(outcome, "web")
            counts.add_prompt()
        for i in range(answers):
            good = i < positive
            counts.add_answer(5 if good else 1, Sentiment.positive if good else Sentiment.negative, outcome, "web")
    return counts


def test_the_worked_example_is_0_815_blended_and_0_76_corrected_exactly() -> None:
    fig = figures(worked_example(), FIVE_POINT, 1, 0.99, segment_min_answers=30)
    assert fig.segments is not None
    correction = fig.segments.non_response
    assert correction is not None
    assert round(fig.ces_ratio, 3) == 0.815
    assert correction.ces_ratio == 0.76
    assert [(s.outcome, s.channel, s.weight, s.ces_ratio) for s in correction.strata] == [
        ("completed", "web", 0.8, 0.85),
        ("abandoned", "web", 0.2, 0.4),
    ]
    assert correction.lower < 0.76 < correction.upper
    # 212 positive of 1 000 prompts; 740 prompts unanswered.
    assert (correction.if_silent_dissatisfied, correction.if_silent_satisfied) == (0.212, 0.952)
    assert correction.complete and correction.thin == () and correction.unasked_attempts == 0


def test_the_interval_is_the_stratified_normal_one_with_adjusted_shares() -> None:
    correction = correct({"completed/web": (800, 240, 204), "abandoned/web": (200, 20, 8)})
    variance = 0.0
    for weight, positive, answers in ((0.8, 204, 240), (0.2, 8, 20)):
        share = (positive + Z * Z / 2) / (answers + Z * Z)
        variance += weight * weight * share * (1 - share) / answers
    margin = Z * variance**0.5
    assert correction.lower == pytest.approx(0.76 - margin, abs=1e-12)
    assert correction.upper == pytest.approx(0.76 + margin, abs=1e-12)


def test_equal_response_everywhere_changes_nothing() -> None:
    # Every stratum answers at the same rate: the weights by attempts are the weights by answers.
    correction = correct(
        {"completed/web": (500, 50, 40), "completed/ios": (300, 30, 15), "abandoned/web": (200, 20, 5)}
    )
    assert correction.ces_ratio == pytest.approx((40 + 15 + 5) / 100, abs=1e-12)


def test_a_thin_channel_is_merged_with_the_other_channels_of_its_outcome() -> None:
    correction = correct(
        {"completed/web": (600, 60, 48), "completed/ios": (200, 4, 1), "abandoned/web": (200, 20, 8)},
    )
    assert [(s.outcome, s.channel, s.attempts, s.answers, s.positive) for s in correction.strata] == [
        ("completed", "all", 800, 64, 49),
        ("abandoned", "web", 200, 20, 8),
    ]
    assert correction.ces_ratio == pytest.approx(0.8 * 49 / 64 + 0.2 * 0.4, abs=1e-12)


def test_a_thin_exit_outcome_is_merged_with_the_other_exit_outcome() -> None:
    correction = correct(
        {
            "completed/web": (800, 100, 80),
            "abandoned/web": (100, 6, 1),
            "abandoned_inferred/web": (100, 6, 2),
        }
    )
    assert [(s.outcome, s.channel, s.attempts, s.answers) for s in correction.strata] == [
        ("completed", "web", 800, 100),
        ("exits", "all", 200, 12),
    ]
    assert correction.ces_ratio == pytest.approx(0.8 * 0.8 + 0.2 * 3 / 12, abs=1e-12)


def test_a_stratum_still_thin_leaves_the_figure_out_and_names_it() -> None:
    correction = correct(
        {"completed/web": (800, 100, 80), "abandoned/web": (200, 3, 0)}, asked=("completed", "abandoned")
    )
    assert correction.ces_ratio is None and correction.lower is None and correction.upper is None
    assert correction.thin == ("abandoned/all",)  # its channels merged first, and still thin
    assert [s.weight for s in correction.strata] == [0.0, 0.0]


def test_attempts_never_answered_at_all_are_thin_not_ignored() -> None:
    correction = correct(
        {"completed/web": (800, 100, 80), "abandoned/web": (200, 0, 0)}, asked=("completed", "abandoned")
    )
    assert correction.ces_ratio is None and correction.thin


def test_attempts_at_outcomes_the_goal_does_not_ask_about_are_not_weighed() -> None:
    correction = correct({"completed/web": (800, 100, 80), "abandoned/web": (200, 0, 0)}, asked=("completed",))
    assert correction.ces_ratio == 0.8
    assert correction.unasked_attempts == 200
    assert [s.outcome for s in correction.strata] == ["completed"]


def test_counts_from_before_the_strata_leave_the_figure_out() -> None:
    # 100 outcomes in the window were counted without a channel (an older worker's decisions).
    correction = correct({"completed/web": (800, 100, 80)}, outcomes={"completed": 900})
    assert not correction.complete and correction.ces_ratio is None and correction.strata == ()


def test_no_attempts_no_figure() -> None:
    correction = correct({})
    assert correction.ces_ratio is None and correction.thin == () and correction.complete


@pytest.mark.parametrize(
    ("positive", "answers", "prompts", "bounds"),
    [
        (30, 40, 100, (0.3, 0.9)),
        (0, 0, 10, (0.0, 1.0)),
        (5, 12, 10, (5 / 12, 5 / 12)),  # answers to prompts of the window before: nobody silent
        (5, 5, 0, None),
    ],
)
def test_the_silent_bounds(positive, answers, prompts, bounds) -> None:
    assert silent_bounds(positive, answers, prompts) == bounds


def test_the_correction_of_summed_windows_is_that_of_the_sum() -> None:
    # Random facts over many buckets: the cells add up, so the correction of the sum of the buckets
    # equals the one computed from the facts directly.
    rng = random.Random(7)
    facts = []
    for _ in range(3000):
        at_s = 60.0 * rng.randrange(60)
        outcome = rng.choice(OUTCOMES)
        channel = rng.choice(("web", "ios"))
        facts.append(OutcomeFact("g", at_s, outcome, channel))
        if rng.random() < 0.5:
            facts.append(PromptFact("g", at_s, outcome))
            if rng.random() < (0.4 if outcome == "completed" else 0.15):
                score = rng.choice((1, 2, 3, 4, 5)) if outcome == "completed" else rng.choice((1, 1, 2, 5))
                sentiment = Sentiment.positive if score >= 4 else Sentiment.negative
                facts.append(AnswerFact("g", at_s + 30, score, sentiment, outcome, channel))
    whole = BucketCounts()
    for delta in fold_facts(facts, (60,)).values():
        whole.merge(delta)
    direct: dict[str, list[int]] = {}
    for fact in facts:
        if isinstance(fact, OutcomeFact):
            direct.setdefault(f"{fact.outcome}/{fact.channel}", [0, 0, 0])[0] += 1
        elif isinstance(fact, AnswerFact):
            cell = direct.setdefault(f"{fact.outcome}/{fact.channel}", [0, 0, 0])
            cell[1] += 1
            cell[2] += fact.sentiment is Sentiment.positive
    cells = stratum_cells(whole.strata)
    assert cells == {name: tuple(cell) for name, cell in direct.items()}
    correction = corrected_ces(
        cells,
        outcomes=whole.outcomes,
        answers=whole.answers,
        positive=whole.positive,
        prompts=whole.prompts,
        asked=OUTCOMES,
        min_answers=10,
        z=Z,
    )
    assert correction.complete and correction.ces_ratio is not None
    # Exits answer less and are harder: the correction lowers the CES.
    assert correction.ces_ratio < whole.positive / whole.answers


def test_the_strata_survive_the_json_round_trip() -> None:
    counts = worked_example()
    again = BucketCounts.from_json_obj(counts.to_json_obj())
    assert again == counts
    assert again.strata == {"completed/web": [800, 240, 204], "abandoned/web": [200, 20, 8]}
    assert stratum_cells(again.strata) == {
        "completed/web": (800, 240, 204),
        "abandoned/web": (200, 20, 8),
    }


def test_a_malformed_stratum_is_refused() -> None:
    for bad in ({"zz": [1, 0, 0]}, {"cw": [1, 2]}, {"cw": [1, 2, 3]}, {"cw": [1, -1, 0]}):
        with pytest.raises(ValueError, match=r"stratum|non-negative"):
            BucketCounts.from_json_obj({"st": bad})


def test_an_outcome_without_a_channel_counts_outside_the_strata() -> None:
    counts = BucketCounts()
    counts.add_outcome("completed")
    assert counts.outcomes == {"completed": 1} and counts.strata == {}
