"""The NPS window gauges and the survey info gauge of /metrics: values, and series only where they belong.

The worked example of issue 21: 100 NPS answers, 20 detractors (0-6), 30 passives (7-8) and 50 promoters
(9-10), an NPS of (50 - 20) / 100 = 0.3 exactly.
"""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from stream.ces.goals import HIGH_EFFORT, REST
from stream.ces.goals.buckets import BucketCounts
from stream.ces.goals.nps import nps_difference, nps_interval, nps_window_figures
from stream.ces.goals.stats import figures
from stream.ces.goals.windows import WindowSpec
from stream.ces.registry.scales import Sentiment, scale_of
from stream.observability.metrics import CesMetrics
from stream.observability.nps_exposition import NPS_FAMILY_DOCS
from stream.observability.window_exposition import SURVEY_INFO_GAUGE
from tests.window_rows import RowsSource

CONFIDENCE = 0.99
MIN_ANSWERS = 30
FIVE_POINT = (1, 2, 3, 4, 5)
NPS_SCALE = scale_of("zero_to_ten", 0, 10, False, frozenset({9, 10}))
HOUR, DAY = WindowSpec("1h", 3600, 60), WindowSpec("24h", 86400, 300)
WORKED_EXAMPLE = [0, 3, 5, 6] * 5 + [7, 8] * 15 + [9, 10] * 25
"""20 detractors, 30 passives, 50 promoters."""


def counts_with_nps(*parts: tuple[list[int], str, str], prompts: int = 0, ces: tuple[int, ...] = (5, 4, 1)):
    """A window's counts: the goal's own answers ``ces``, and NPS answers per (scores, channel, effort group)."""
    counts = BucketCounts()
    for score in ces:
        sentiment = Sentiment.positive if score >= 4 else Sentiment.negative if score <= 2 else Sentiment.neutral
        counts.add_answer(score, sentiment, "completed", "web")
    nps = counts.nps_part()
    for scores, channel, group in parts:
        for score in scores:
            nps.add_answer(score, NPS_SCALE.classify(score), channel, group)
    nps.prompts += prompts
    return counts


def window(counts: BucketCounts, *, split: bool):
    """The figures as GoalWindows.figures_of makes them: the split on the split windows only."""
    fig = figures(counts, FIVE_POINT, 1, CONFIDENCE, segment_min_answers=MIN_ANSWERS if split else None)
    if counts.nps is not None and not counts.nps.is_empty():
        fig.nps = nps_window_figures(counts.nps, CONFIDENCE, MIN_ANSWERS)
    return fig


def rendered(rows, surveys=None) -> dict[tuple[str, frozenset], float]:
    metrics = CesMetrics(goals=["g", "h"], input_topics=[], consumed_topics=[], surveys=surveys)
    metrics.windows.source = RowsSource(rows)
    out = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for sample in family.samples:
            key = (sample.name, frozenset(sample.labels.items()))
            assert key not in out, f"duplicate series {key}"
            out[key] = sample.value
    return out


def on(goal="g", window="1h", **labels):
    return frozenset({"goal": goal, "window": window, **labels}.items())


def nps_series(samples, **labels):
    wanted = set(labels.items())
    return {key: value for key, value in samples.items() if key[0] in NPS_FAMILY_DOCS and wanted <= set(key[1])}


def test_the_worked_example_is_an_nps_of_0_3_exactly_with_its_bands_and_interval():
    samples = rendered([("g", DAY, window(counts_with_nps((WORKED_EXAMPLE, "web", REST), prompts=125), split=False))])
    day = on(window="24h")
    assert samples[("ces_goal_nps", day)] == 0.3
    assert samples[("ces_goal_nps_answers", day)] == 100
    bands = {dict(key[1])["band"]: value for key, value in samples.items() if key[0] == "ces_goal_nps_answers_by_band"}
    assert bands == {"detractor": 20, "passive": 30, "promoter": 50}
    assert (samples[("ces_goal_nps_lower", day)], samples[("ces_goal_nps_upper", day)]) == nps_interval(
        50, 30, 20, CONFIDENCE
    )
    assert samples[("ces_goal_nps_prompts", day)] == 125
    assert samples[("ces_goal_nps_response_ratio", day)] == 0.8
    # The goal's own question keeps its figures: 3 answers, 2 of them positive.
    assert samples[("ces_goal_answers", day)] == 3 and samples[("ces_goal_positive_answers", day)] == 2


def test_a_goal_without_nps_has_no_nps_series_at_all():
    plain = counts_with_nps()
    plain.nps = None  # a goal that is no NPS moment
    samples = rendered(
        [
            ("h", HOUR, window(plain, split=True)),
            ("h", DAY, window(plain, split=False)),
            ("g", HOUR, window(counts_with_nps((WORKED_EXAMPLE, "web", REST)), split=True)),
        ]
    )
    assert nps_series(samples, goal="h") == {}
    assert nps_series(samples, goal="g")  # the other goal's are there
    assert samples[("ces_goal_answers", on("h"))] == 3


def test_without_answers_no_nps_and_without_prompts_no_response_ratio():
    prompted_only = window(counts_with_nps(prompts=4), split=True)
    answered_only = window(counts_with_nps(([9, 9, 0], "web", REST)), split=True)
    samples = rendered([("g", HOUR, prompted_only), ("g", DAY, answered_only)])
    hour, day = on(), on(window="24h")
    assert samples[("ces_goal_nps_answers", hour)] == 0 and samples[("ces_goal_nps_prompts", hour)] == 4
    assert samples[("ces_goal_nps_response_ratio", hour)] == 0
    for name in ("ces_goal_nps", "ces_goal_nps_lower", "ces_goal_nps_upper"):
        assert (name, hour) not in samples
    assert samples[("ces_goal_nps_answers_by_band", on(band="promoter"))] == 0
    assert not [key for key in nps_series(samples, window="1h") if key[0].endswith(("_by_channel", "_by_effort"))]
    assert samples[("ces_goal_nps", day)] == pytest.approx(1 / 3)
    assert ("ces_goal_nps_response_ratio", day) not in samples
    assert samples[("ces_goal_nps_prompts", day)] == 0


def split_example(high_effort: list[int]) -> BucketCounts:
    """The worked example on web (the rest), and ``high_effort`` answers on iOS."""
    return counts_with_nps((WORKED_EXAMPLE, "web", REST), (high_effort, "ios", HIGH_EFFORT), prompts=200)


def test_the_split_gauges_are_on_the_split_windows_only():
    counts = split_example([0, 6, 7, 9, 10])
    samples = rendered([("g", HOUR, window(counts, split=True)), ("g", DAY, window(counts, split=False))])
    assert samples[("ces_goal_nps_answers_by_channel", on(channel="web"))] == 100
    assert samples[("ces_goal_nps_by_channel", on(channel="web"))] == 0.3
    assert samples[("ces_goal_nps_by_channel", on(channel="ios"))] == 0.0  # 2 promoters, 2 detractors of 5
    lower, upper = nps_interval(2, 1, 2, CONFIDENCE)
    assert samples[("ces_goal_nps_lower_by_channel", on(channel="ios"))] == lower
    assert samples[("ces_goal_nps_upper_by_channel", on(channel="ios"))] == upper
    assert ("ces_goal_nps_answers_by_channel", on(channel="android")) not in samples  # no NPS answers there
    # Blended on both windows, the split on the split window only.
    assert samples[("ces_goal_nps_answers", on(window="24h"))] == 105
    assert not [key for key in nps_series(samples, window="24h") if key[0].endswith(("_by_channel", "_by_effort"))]
    # 5 high-effort answers are fewer than the 30 the effort split needs: no effort series, no gap.
    assert not [key for key in samples if key[0].endswith("_by_effort") or "high_effort_gap" in key[0]]


def test_the_effort_split_and_its_gap_once_both_groups_hold_their_minimum():
    high_effort = [0, 2, 4, 6, 6, 7, 8, 9, 10, 10] * 3  # 30 answers: 15 detractors, 6 passives, 9 promoters
    counts = split_example(high_effort)
    samples = rendered([("g", HOUR, window(counts, split=True)), ("g", DAY, window(counts, split=False))])
    assert samples[("ces_goal_nps_by_effort", on(group="high_effort"))] == (9 - 15) / 30
    assert samples[("ces_goal_nps_by_effort", on(group="rest"))] == 0.3
    assert samples[("ces_goal_nps_answers_by_effort", on(group="high_effort"))] == 30
    assert samples[("ces_goal_nps_answers_by_effort", on(group="rest"))] == 100
    difference, lower, upper = nps_difference((9, 6, 15), (50, 30, 20), CONFIDENCE, MIN_ANSWERS)
    assert samples[("ces_goal_nps_high_effort_gap", on())] == difference == pytest.approx(-0.5)
    assert samples[("ces_goal_nps_high_effort_gap_lower", on())] == lower
    assert samples[("ces_goal_nps_high_effort_gap_upper", on())] == upper < 0
    assert ("ces_goal_nps_high_effort_gap", on(window="24h")) not in samples


def test_the_survey_info_names_each_owned_goals_own_question():
    rows = [("g", HOUR, window(counts_with_nps(), split=False))]
    samples = rendered(rows, surveys={"g": "csat", "h": "ces"})
    info = {key: value for key, value in samples.items() if key[0] == SURVEY_INFO_GAUGE}
    # h is not owned here: its owner exports it, like its window gauges.
    assert info == {(SURVEY_INFO_GAUGE, frozenset({"goal": "g", "survey": "csat"}.items())): 1.0}
    rows.append(("h", HOUR, window(counts_with_nps(), split=False)))
    samples = rendered(rows, {"g": "csat", "h": "ces"})
    info = {dict(key[1])["goal"]: dict(key[1])["survey"] for key in samples if key[0] == SURVEY_INFO_GAUGE}
    assert info == {"g": "csat", "h": "ces"}
    # Without the registry's kinds (tests, tools) no survey info at all.
    assert not [key for key in rendered(rows) if key[0] == SURVEY_INFO_GAUGE]


def test_the_nps_baseline_gap_is_written_where_the_window_has_it():
    """On a gap window (any, split or not) once GoalWindows set it; nowhere else."""
    fig = window(counts_with_nps(([10] * 25 + [7] * 30 + [3] * 45, "web", REST)), split=False)
    assert fig.nps is not None
    fig.nps.baseline_gap = nps_difference((25, 30, 45), (1000, 600, 400), CONFIDENCE, 40)
    other = window(counts_with_nps(([10] * 25, "web", REST)), split=False)
    samples = rendered([("g", HOUR, fig), ("h", HOUR, other)])
    expected = fig.nps.baseline_gap
    assert samples[("ces_goal_nps_baseline_gap", on())] == expected[0]
    assert samples[("ces_goal_nps_baseline_gap_lower", on())] == expected[1]
    assert samples[("ces_goal_nps_baseline_gap_upper", on())] == expected[2]
    assert not [key for key in samples if key[0].startswith("ces_goal_nps_baseline_gap") and key[1] == on(goal="h")]
