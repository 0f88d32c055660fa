"""The NPS baseline gap: a window's NPS minus that of the rest of the baseline window, two independent groups.

Exact values on constructed counts, the adjusted-Wald arithmetic written out (docs/domain.md, "The NPS interval"),
and GoalWindows setting it on the gap windows only, once both sides hold the goal's alerting.min_answers.
"""

from __future__ import annotations

import math

import pytest

from stream.ces.goals import REST, BucketCounts
from stream.ces.goals.figure_parts import nps_json
from stream.ces.goals.fold import bucket_start
from stream.ces.goals.goal_windows import GoalWindows
from stream.ces.goals.nps import nps_baseline_gap, nps_difference
from stream.ces.goals.partials import Partial, PartialKey
from stream.ces.goals.segments import AnswerCounts
from stream.ces.goals.windows import plan_windows
from stream.ces.registry.loader import load_registry
from stream.ces.registry.scales import scale_of
from tests.harness import write_registry

Z95 = 1.959963984540054
NPS_SCALE = scale_of("zero_to_ten", 0, 10, False, frozenset({9, 10}))


def counts(promoters: int, passives: int, detractors: int) -> AnswerCounts:
    out = AnswerCounts()
    out.positive, out.neutral, out.negative = promoters, passives, detractors
    return out


def test_the_gap_is_the_window_against_the_rest_of_the_baseline_with_the_adjusted_wald_interval():
    # The window: 25 promoters, 30 passives, 45 detractors (NPS -0.20); the baseline holds it and 1000/600/400
    # more (the rest: NPS 0.30). The gap is -0.50; the interval is centred on the adjusted NPS' difference.
    gap = nps_baseline_gap(counts(25, 30, 45), counts(1025, 630, 445), 0.95, 40)
    assert gap is not None
    difference, lower, upper = gap
    assert difference == pytest.approx(-0.5, abs=1e-15)
    var_a = ((25.75 + 45.75) / 103 - (20 / 103) ** 2) / 103
    var_b = ((1000.75 + 400.75) / 2003 - (600 / 2003) ** 2) / 2003
    centre = -20 / 103 - 600 / 2003
    half = Z95 * math.sqrt(var_a + var_b)
    assert lower == pytest.approx(centre - half, abs=1e-12)
    assert upper == pytest.approx(centre + half, abs=1e-12)
    assert (round(lower, 4), round(upper, 4)) == (-0.6539, -0.3336)
    assert gap == nps_difference((25, 30, 45), (1000, 600, 400), 0.95, 40)


def test_a_steady_goal_has_a_gap_whose_interval_holds_0():
    # The worked example's mix in the window and in the rest: a gap of 0 exactly, 0 within the interval.
    difference, lower, upper = nps_baseline_gap(counts(50, 30, 20), counts(550, 330, 220), 0.99, 40)  # type: ignore[misc]
    assert difference == 0.0 and lower < 0 < upper


@pytest.mark.parametrize(
    ("recent", "window"),
    [
        ((20, 10, 9), (520, 310, 209)),  # 39 answers in the window: one short of 40
        ((20, 10, 10), (39, 20, 20)),  # 39 in the rest
        ((20, 10, 10), (10, 10, 10)),  # the window is not part of the baseline: no figure, not a negative count
    ],
)
def test_no_gap_until_both_sides_hold_the_minimum(recent, window):
    assert nps_baseline_gap(counts(*recent), counts(*window), 0.99, 40) is None


def test_the_minimum_must_be_at_least_one():
    with pytest.raises(ValueError, match="min_answers"):
        nps_baseline_gap(counts(1, 0, 0), counts(2, 0, 0), 0.99, 0)


@pytest.fixture
def windows(tmp_path) -> GoalWindows:
    path = write_registry(
        tmp_path / "goals.yaml",
        [{"slug": "buy", "scale": {"kind": "five_point"}, "nps_moment": True, "alerting": {"min_answers": 40}}],
        nps={},
    )
    specs = plan_windows([600, 3600, 86400])
    w = GoalWindows(load_registry(path), specs, 8, 0.95, baseline_window="24h", gap_windows=("1h",))
    w.owned = set(range(8))
    return w


def feed(w: GoalWindows, at_s: int, promoters: int, passives: int, detractors: int) -> None:
    bucket = BucketCounts()
    nps = bucket.nps_part()
    for score, n in ((10, promoters), (7, passives), (3, detractors)):
        for _ in range(n):
            nps.add_answer(score, NPS_SCALE.classify(score), "web", REST)
    for resolution_s in sorted({spec.resolution_s for spec in w.window_specs}):  # every window's buckets
        key = PartialKey(0, "buy", resolution_s, bucket_start(at_s, resolution_s))
        assert w.merged.update(key, Partial(at_s, bucket.copy()))


def test_goal_windows_set_the_gap_on_the_gap_windows_once_both_sides_hold_the_goals_minimum(windows):
    t0 = 1_700_006_400
    feed(windows, t0, 1000, 600, 400)  # the rest of the day
    feed(windows, t0 + 20 * 3600, 25, 30, 45)  # the last hour
    rows = {spec.name: fig for _, spec, fig in windows.goal_rows("buy", t0 + 20 * 3600 + 120)}
    assert rows["1h"].nps is not None
    assert rows["1h"].nps.baseline_gap == nps_difference((25, 30, 45), (1000, 600, 400), 0.95, 40)
    assert nps_json(rows["1h"].nps)["baseline_gap"]["difference"] == pytest.approx(-0.5)
    # Not a gap window, nor the baseline itself.
    assert rows["10m"].nps is not None and rows["10m"].nps.baseline_gap is None
    assert rows["24h"].nps is not None and rows["24h"].nps.baseline_gap is None


def test_goal_windows_leave_the_gap_out_with_too_few_answers_in_the_window(windows):
    t0 = 1_700_006_400
    feed(windows, t0, 1000, 600, 400)
    feed(windows, t0 + 20 * 3600, 10, 10, 19)  # 39 answers
    rows = {spec.name: fig for _, spec, fig in windows.goal_rows("buy", t0 + 20 * 3600 + 120)}
    assert rows["1h"].nps is not None and rows["1h"].nps.baseline_gap is None
