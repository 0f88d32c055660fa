"""Tests for stream.ces.users.sampling: sticky decisions and the adaptive rate controller."""

from __future__ import annotations

import math

import pytest

from stream.ces.intake.pseudonym import pseudonymise
from stream.ces.users.sampling import PRIOR_RESPONSE_RATIO, AdaptiveRate, sample_point, sticky_sample

KEY = b"sampling-test-key"
USERS = [pseudonymise(f"user-{i}", KEY) for i in range(10_000)]


@pytest.mark.parametrize("rate", [0.05, 0.25, 0.5, 0.8])
def test_sticky_sample_share_matches_rate(rate: float) -> None:
    share = sum(sticky_sample(ref, "download-invoice", rate) for ref in USERS) / len(USERS)
    assert abs(share - rate) <= 0.02


def test_sticky_sample_is_deterministic() -> None:
    first = [sticky_sample(ref, "view-policy", 0.5) for ref in USERS]
    second = [sticky_sample(ref, "view-policy", 0.5) for ref in USERS]
    assert first == second


def test_sticky_sample_is_monotone_in_rate() -> None:
    for ref in USERS[:2000]:
        if sticky_sample(ref, "file-claim", 0.2):
            assert sticky_sample(ref, "file-claim", 0.4)


def test_sticky_sample_goals_are_independent() -> None:
    a = [sticky_sample(ref, "download-invoice", 0.5) for ref in USERS]
    b = [sticky_sample(ref, "view-policy", 0.5) for ref in USERS]
    agree = sum(x == y for x, y in zip(a, b, strict=False)) / len(USERS)
    assert abs(agree - 0.5) <= 0.03


@pytest.mark.parametrize(("rate", "expected"), [(0.0, False), (1.0, True)])
def test_sticky_sample_edges(rate: float, expected: bool) -> None:
    assert all(sticky_sample(ref, "g", rate) is expected for ref in USERS[:1000])


@pytest.mark.parametrize("rate", [-0.1, 1.01, math.nan])
def test_sticky_sample_rejects_bad_rate(rate: float) -> None:
    with pytest.raises(ValueError):
        sticky_sample(USERS[0], "g", rate)


def test_sample_point_in_unit_interval() -> None:
    points = [sample_point(ref, "g") for ref in USERS]
    assert all(0.0 <= p < 1.0 for p in points)
    assert sample_point("00", "g") == sample_point("00", "g")


@pytest.mark.parametrize(
    ("events_per_day", "response", "target", "min_rate", "max_rate"),
    [
        (10_000, 0.2, 200, 0.01, 1.0),  # 200 / 2000 = 0.1
        (1_000, 0.5, 100, 0.01, 1.0),  # 0.2
        (100, 0.3, 200, 0.01, 1.0),  # 6.67 -> max 1.0
        (1_000_000, 0.3, 10, 0.01, 1.0),  # 3.3e-5 -> min 0.01
        (5_000, 0.4, 100, 0.01, 0.03),  # 0.05 -> max 0.03
    ],
)
def test_adaptive_rate_converges_to_clamped_target(
    events_per_day: int, response: float, target: int, min_rate: float, max_rate: float
) -> None:
    controller = AdaptiveRate(target_answers_per_day=target, min_rate=min_rate, max_rate=max_rate, half_life_s=3600)
    interval_s = 3600.0
    events = round(events_per_day * interval_s / 86_400)
    per_day = events * 86_400 / interval_s  # what the controller can see at this resolution
    prompts = 1000
    answers = round(prompts * response)
    for _ in range(24 * 3):  # three days of hourly intervals
        controller.observe(interval_s, events=events, prompts=prompts, answers=answers)
    expected = min(max_rate, max(min_rate, target / (per_day * response)))
    assert controller.rate == pytest.approx(expected, rel=1e-3)
    assert min_rate <= controller.rate <= max_rate


def test_adaptive_rate_follows_a_change_in_volume() -> None:
    controller = AdaptiveRate(target_answers_per_day=300, half_life_s=1800)
    for _ in range(600):
        controller.observe(60, events=10, prompts=100, answers=30)  # 14400/day * 0.3 -> 0.0694
    before = controller.rate
    for _ in range(600):
        controller.observe(60, events=40, prompts=100, answers=30)  # 4x the traffic
    assert before == pytest.approx(300 / (14_400 * 0.3), rel=1e-3)
    assert controller.rate == pytest.approx(before / 4, rel=1e-3)


def test_adaptive_rate_cold_start_and_prior() -> None:
    controller = AdaptiveRate(target_answers_per_day=100, min_rate=0.05, max_rate=0.9)
    assert controller.rate == 0.9  # nothing seen yet
    assert controller.response_ratio == PRIOR_RESPONSE_RATIO
    controller.observe(3600, events=100)  # 2400/day, no prompts: prior ratio kept
    assert controller.response_ratio == PRIOR_RESPONSE_RATIO
    assert controller.rate == pytest.approx(100 / (2400 * 0.3))


def test_adaptive_rate_ignores_empty_intervals_and_zero_traffic() -> None:
    controller = AdaptiveRate(target_answers_per_day=100, min_rate=0.05, max_rate=0.9)
    assert controller.observe(0, events=50) == 0.9
    assert controller.events_per_day is None
    controller.observe(60, events=0)
    assert controller.rate == 0.9  # no traffic: no basis to lower the rate


def test_adaptive_rate_dict_round_trip() -> None:
    controller = AdaptiveRate(target_answers_per_day=120, min_rate=0.02, max_rate=0.5, half_life_s=900)
    controller.observe(60, events=7, prompts=3, answers=1)
    restored = AdaptiveRate.from_dict(controller.to_dict())
    assert restored == controller
    assert restored.rate == controller.rate


@pytest.mark.parametrize(
    "kwargs",
    [
        {"target_answers_per_day": 0},
        {"target_answers_per_day": 10, "min_rate": 0.5, "max_rate": 0.1},
        {"target_answers_per_day": 10, "max_rate": 1.5},
        {"target_answers_per_day": 10, "half_life_s": 0},
    ],
)
def test_adaptive_rate_rejects_bad_configuration(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        AdaptiveRate(**kwargs)


def test_adaptive_rates_feed_each_named_count_scaled_to_the_whole_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    from types import SimpleNamespace

    from stream.ces.users.sampling import AdaptiveRates, GoalCounts

    clock = iter([1000.0, 1060.0])
    monkeypatch.setattr("stream.ces.users.sampling.time.monotonic", lambda: next(clock))
    sampling = SimpleNamespace(target_answers_per_day=50, min_rate=0.001, max_rate=1.0)
    goals = [SimpleNamespace(slug=slug, sampling=sampling) for slug in ("pay-bill", "quiet-goal")]
    rates = AdaptiveRates(goals)  # type: ignore[arg-type]  # only slug and sampling are read
    rates.observe({"pay-bill": GoalCounts(goal_events=1, prompts_sent=4, answers_joined=1)}, share_of_traffic=0.5)

    def expected(events: int, prompts: int, answers: int) -> float:
        reference = AdaptiveRate(target_answers_per_day=50, min_rate=0.001, max_rate=1.0)
        return reference.observe(60.0, events=events, prompts=prompts, answers=answers)

    assert rates.rates["pay-bill"] == expected(2, 8, 2)  # this worker saw half the traffic
    assert rates.rates["quiet-goal"] == expected(0, 0, 0)  # no counts: an empty interval
    assert len({expected(2, 8, 2), expected(8, 2, 2), expected(2, 2, 8)}) == 3  # swapped fields give other rates
