"""Tests for stream.pipeline.goals.GoalWindows: ownership, window figures, and summaries closed by the clock."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from schemas import GoalSummary
from stream.ces.goals.buckets import BucketCounts
from stream.ces.goals.fold import bucket_start
from stream.ces.goals.goal_windows import MAX_CATCH_UP_PERIODS, GoalWindows
from stream.ces.goals.partials import Partial, PartialKey, goal_partition
from stream.ces.goals.windows import plan_windows
from stream.ces.registry.loader import load_registry
from stream.ces.registry.scales import Sentiment
from tests.harness import write_registry

PARTITIONS = 8
# goal_partition over 8 partitions: download-invoice -> 5, view-policy -> 1, pay-bill -> 7.
OWNERS = {"download-invoice": 5, "view-policy": 1, "pay-bill": 7}
T0 = 1_700_006_400  # a multiple of 3600
CLOSE_DELAY_S = 60.0


@pytest.fixture
def pipeline(tmp_path):
    path = write_registry(
        tmp_path / "goals.yaml",
        [
            {"slug": "download-invoice", "scale": {"kind": "five_point"}, "target_ces_ratio": 0.8},
            {"slug": "view-policy", "scale": {"kind": "five_point_inverted"}, "target_ces_ratio": None},
            {"slug": "pay-bill", "scale": {"kind": "seven_point"}, "target_ces_ratio": 0.7},
        ],
    )
    return SimpleNamespace(
        settings=SimpleNamespace(topic_partitions=PARTITIONS, wilson_confidence=0.95),
        registry=load_registry(path),
        window_specs=plan_windows([600, 3600]),  # 10m and 1h, both of 1-minute buckets
    )


def windows_owning(pipeline, *goals: str) -> GoalWindows:
    w = GoalWindows(pipeline.registry, pipeline.window_specs, PARTITIONS, 0.95)
    w.owned = {OWNERS[g] for g in goals}
    return w


def answers(
    *scores: int,
    sentiment_of=lambda s: Sentiment.positive if s >= 4 else Sentiment.negative if s <= 2 else Sentiment.neutral,
):
    c = BucketCounts()
    for score in scores:
        c.add_answer(score, sentiment_of(score), "completed", "web")
    return c


def feed(w: GoalWindows, goal: str, source_partition: int, at_s: float, counts: BucketCounts, hwm: int = 1) -> None:
    start = bucket_start(at_s, 60)
    assert w.merged.update(PartialKey(source_partition, goal, 60, start), Partial(hwm, counts))


def test_owner_table_matches_goal_partition():
    assert {g: goal_partition(g, PARTITIONS) for g in OWNERS} == OWNERS


@pytest.mark.parametrize(
    ("owned", "goals"),
    [
        (set(), []),
        ({5}, ["download-invoice"]),
        ({1, 7}, ["view-policy", "pay-bill"]),
        ({0, 2, 3, 4, 6}, []),
        (set(range(PARTITIONS)), ["download-invoice", "view-policy", "pay-bill"]),  # registry order
    ],
)
def test_owned_goals_filters_by_goal_partition(pipeline, owned, goals):
    w = GoalWindows(pipeline.registry, pipeline.window_specs, PARTITIONS, 0.95)
    w.owned = owned
    assert w.owned_goals() == goals


def test_snapshot_after_merged_updates(pipeline):
    w = windows_owning(pipeline, "download-invoice", "view-policy")
    now = T0 + 3000.0
    feed(w, "download-invoice", 0, now - 30, answers(5, 5, 1))  # in both windows
    feed(w, "download-invoice", 3, now - 900, answers(4))  # in 1h only
    feed(w, "download-invoice", 3, now - 900, answers(4, 2), hwm=2)  # replaces the copy above
    feed(w, "pay-bill", 0, now - 30, answers(7))  # not owned: not in the snapshot
    rows = {(goal, spec.name): fig for goal, spec, fig in w.snapshot(now)}
    assert set(rows) == {(g, s) for g in ("download-invoice", "view-policy") for s in ("10m", "1h")}
    ten, hour = rows[("download-invoice", "10m")], rows[("download-invoice", "1h")]
    assert (ten.answers, ten.positive, ten.negative) == (3, 2, 1)
    assert ten.ces_ratio == pytest.approx(2 / 3)
    assert ten.distribution == {1: 1, 2: 0, 3: 0, 4: 0, 5: 2}
    assert (hour.answers, hour.positive, hour.negative) == (5, 3, 2)
    assert hour.distribution == {1: 1, 2: 1, 3: 0, 4: 1, 5: 2}
    assert hour.wilson_lower is not None and hour.wilson_lower < hour.ces_ratio < hour.wilson_upper
    quiet = rows[("view-policy", "1h")]
    assert quiet.answers == 0 and quiet.ces_ratio is None
    assert quiet.distribution == {1: 0, 2: 0, 3: 0, 4: 0, 5: 0}


def test_snapshot_uses_each_goals_own_scale(pipeline):
    w = windows_owning(pipeline, "view-policy", "pay-bill")
    now = T0 + 100.0
    # Inverted: 5 = very much effort is the most negative point.
    feed(
        w,
        "view-policy",
        0,
        now,
        answers(5, 1, sentiment_of=lambda s: Sentiment.positive if s <= 2 else Sentiment.negative),
    )
    feed(w, "pay-bill", 0, now, answers(7, 6, 1))
    rows = {(goal, spec.name): fig for goal, spec, fig in w.snapshot(now)}
    assert rows[("view-policy", "10m")].most_negative_ratio == pytest.approx(0.5)
    assert rows[("view-policy", "10m")].ces_ratio == pytest.approx(0.5)
    assert set(rows[("pay-bill", "10m")].distribution) == set(range(1, 8))
    assert rows[("pay-bill", "10m")].most_negative_ratio == pytest.approx(1 / 3)


def test_snapshot_slides_with_the_clock(pipeline):
    w = windows_owning(pipeline, "download-invoice")
    feed(w, "download-invoice", 0, T0 + 30, answers(5))

    def ten_minute_answers(now):
        return {spec.name: fig.answers for _, spec, fig in w.snapshot(now)}["10m"]

    assert ten_minute_answers(T0 + 30) == 1
    assert ten_minute_answers(T0 + 599) == 1
    # The window is the open 1-minute bucket and the nine before it: at T0+600 the bucket of T0 is out.
    assert ten_minute_answers(T0 + 600) == 0


# -- summaries closed by the clock ------------------------------------------------------------


def test_first_call_closes_the_most_recent_period_for_a_quiet_goal_too(pipeline):
    w = windows_owning(pipeline, "download-invoice", "view-policy")
    now = T0 + 600 + CLOSE_DELAY_S  # the 10m period [T0, T0+600) just closed; 1h [T0-3600, T0)
    feed(w, "download-invoice", 0, T0 + 10, answers(5, 4, 1))
    summaries = list(w.due_summaries(now, CLOSE_DELAY_S))
    by_key = {(s.goal, s.window): s for s in summaries}
    assert set(by_key) == {(g, s) for g in ("download-invoice", "view-policy") for s in ("10m", "1h")}
    ten = by_key[("download-invoice", "10m")]
    assert (ten.window_start.timestamp(), ten.window_end.timestamp()) == (T0, T0 + 600)
    assert ten.window_seconds == 600
    assert (ten.answers, ten.positive, ten.negative) == (3, 2, 1)
    assert ten.distribution == {"1": 1, "2": 0, "3": 0, "4": 1, "5": 1}
    assert ten.target_ces_ratio == 0.8
    assert ten.confidence == 0.95
    assert ten.emitted_at == datetime.fromtimestamp(now, tz=UTC)
    hour = by_key[("download-invoice", "1h")]
    assert (hour.window_start.timestamp(), hour.window_end.timestamp()) == (T0 - 3600, T0)
    assert hour.answers == 0  # the answers fell after this period
    quiet = by_key[("view-policy", "10m")]
    assert quiet.answers == 0 and quiet.prompts == 0
    assert quiet.ces_ratio is None and quiet.mean_score is None and quiet.wilson_lower is None
    assert quiet.target_ces_ratio is None
    assert quiet.distribution == {str(p): 0 for p in range(1, 6)}


def test_a_period_is_not_closed_before_the_close_delay(pipeline):
    w = windows_owning(pipeline, "download-invoice")
    list(w.due_summaries(T0 + 600 + CLOSE_DELAY_S, CLOSE_DELAY_S))
    assert list(w.due_summaries(T0 + 1200 + CLOSE_DELAY_S - 0.001, CLOSE_DELAY_S)) == []
    [ten] = list(w.due_summaries(T0 + 1200 + CLOSE_DELAY_S, CLOSE_DELAY_S))
    assert (ten.window, ten.window_start.timestamp(), ten.window_end.timestamp()) == ("10m", T0 + 600, T0 + 1200)


def test_each_period_is_summarised_once_then_the_next(pipeline):
    w = windows_owning(pipeline, "download-invoice")
    now = T0 + 600 + CLOSE_DELAY_S
    assert len(list(w.due_summaries(now, CLOSE_DELAY_S))) == 2
    assert list(w.due_summaries(now, CLOSE_DELAY_S)) == []
    assert list(w.due_summaries(now + 5, CLOSE_DELAY_S)) == []
    ends = []
    for step in range(1, 7):  # one hour of ticks, ten minutes apart
        for s in list(w.due_summaries(now + 600 * step, CLOSE_DELAY_S)):
            ends.append((s.window, int(s.window_end.timestamp())))
    assert ends == [
        ("10m", T0 + 1200),
        ("10m", T0 + 1800),
        ("10m", T0 + 2400),
        ("10m", T0 + 3000),
        ("10m", T0 + 3600),
        ("1h", T0 + 3600),
        ("10m", T0 + 4200),
    ]


def test_catch_up_after_an_outage_is_capped(pipeline):
    w = windows_owning(pipeline, "download-invoice")
    list(w.due_summaries(T0 + 600 + CLOSE_DELAY_S, CLOSE_DELAY_S))  # last closed: 10m at T0+600, 1h at T0
    feed(w, "download-invoice", 0, T0 + 5 * 3600 + 10, answers(5))  # lands in the last missed 10m period
    later = T0 + 5 * 3600 + 600 + CLOSE_DELAY_S  # 30 missed 10m periods, 5 missed 1h periods
    summaries = list(w.due_summaries(later, CLOSE_DELAY_S))
    ten = [s for s in summaries if s.window == "10m"]
    hour = [s for s in summaries if s.window == "1h"]
    assert len(ten) == MAX_CATCH_UP_PERIODS == 12
    # The most recent ones, oldest first, ending with the period that just closed.
    assert [int(s.window_end.timestamp()) for s in ten] == [T0 + 5 * 3600 + 600 - 600 * k for k in range(11, -1, -1)]
    assert ten[-1].answers == 1 and all(s.answers == 0 for s in ten[:-1])
    assert [int(s.window_end.timestamp()) for s in hour] == [T0 + 3600 * k for k in range(1, 6)]
    # The skipped periods are not emitted later either.
    assert list(w.due_summaries(later, CLOSE_DELAY_S)) == []
    [next_ten] = list(w.due_summaries(later + 600, CLOSE_DELAY_S))
    assert int(next_ten.window_start.timestamp()) == T0 + 5 * 3600 + 600


def test_only_owned_goals_are_summarised(pipeline):
    w = windows_owning(pipeline, "pay-bill")
    summaries = list(w.due_summaries(T0 + 600 + CLOSE_DELAY_S, CLOSE_DELAY_S))
    assert {s.goal for s in summaries} == {"pay-bill"}
    w.owned = set()
    assert list(w.due_summaries(T0 + 7200 + CLOSE_DELAY_S, CLOSE_DELAY_S)) == []


def test_summary_counts_only_its_period_and_sums_source_partitions(pipeline):
    w = windows_owning(pipeline, "download-invoice")
    feed(w, "download-invoice", 0, T0 - 1, answers(1))  # previous period
    feed(w, "download-invoice", 0, T0, answers(5))  # first second of the period
    feed(w, "download-invoice", 4, T0 + 599, answers(4, 3))  # last second of the period
    feed(w, "download-invoice", 2, T0 + 600, answers(2))  # next period
    counts = BucketCounts()
    counts.add_prompt()
    counts.add_prompt()
    counts.add_outcome("completed")
    counts.add_outcome("abandoned_inferred")
    feed(w, "download-invoice", 6, T0 + 300, counts)
    summary = w.summary("download-invoice", pipeline.window_specs[0], T0, T0 + 600, now_s=T0 + 700)
    assert (summary.answers, summary.positive, summary.neutral, summary.negative) == (3, 2, 1, 0)
    assert summary.mean_score == pytest.approx(4.0)
    assert summary.prompts == 2
    assert summary.response_ratio == pytest.approx(1.5)
    assert summary.outcomes == {"completed": 1, "abandoned": 0, "abandoned_inferred": 1}
    assert summary.completion_ratio == pytest.approx(0.5)


def test_summaries_validate_as_the_contract(pipeline):
    w = windows_owning(pipeline, "download-invoice", "view-policy", "pay-bill")
    feed(w, "download-invoice", 0, T0 + 10, answers(5, 4, 3, 2, 1))
    feed(w, "pay-bill", 1, T0 + 10, answers(7, 6, 5, 4, 1))
    summaries = list(w.due_summaries(T0 + 600 + CLOSE_DELAY_S, CLOSE_DELAY_S))
    assert len(summaries) == 6
    for s in summaries:
        again = GoalSummary.model_validate_json(s.model_dump_json())
        assert again == s
        assert GoalSummary.model_validate(s.model_dump()) == s
        start = s.window_start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        assert s.kafka_key() == f"{s.goal}|{s.window}|{start}"
        assert (s.window_end - s.window_start).total_seconds() == s.window_seconds


def test_summaries_and_the_api_split_every_window_the_metrics_only_the_split_windows(pipeline):
    w = GoalWindows(
        pipeline.registry, pipeline.window_specs, PARTITIONS, 0.95, split_windows={"1h"}, split_min_answers=1
    )
    w.owned = {OWNERS["download-invoice"]}
    counts = answers(5, 4)
    counts.add_answer(1, Sentiment.negative, "abandoned", "ios")
    feed(w, "download-invoice", 0, T0 + 10, counts)
    exported = {spec.name: fig.segments for goal, spec, fig in w.snapshot(T0 + 20)}
    assert exported["10m"] is None and exported["1h"] is not None
    assert all(fig.segments is not None for _, _, fig in w.snapshot(T0 + 20, split_everywhere=True))
    summary = w.summary("download-invoice", pipeline.window_specs[0], T0, T0 + 600, now_s=T0 + 700)
    assert summary.by_outcome["completed"].answers == 2 and summary.by_outcome["abandoned"].ces_ratio == 0.0
    assert summary.by_channel["ios"].answers == 1 and summary.by_channel["web"].ces_ratio == 1.0
    assert summary.exit_gap is not None and summary.exit_gap.ces_ratio_gap == -1.0
    assert summary.completion_vs_all.completion_only_ces_ratio == 1.0
    assert summary.completion_vs_all.all_outcomes_ces_ratio == pytest.approx(2 / 3)


def test_the_gap_windows_carry_their_difference_from_the_rest_of_the_baseline_window(pipeline):
    w = GoalWindows(
        pipeline.registry, pipeline.window_specs, PARTITIONS, 0.95, baseline_window="1h", gap_windows=("10m", "7d")
    )
    w.owned = {OWNERS["download-invoice"]}
    feed(w, "download-invoice", 0, T0 + 60, answers(5, 5, 5, 5, 1))  # 50 minutes ago: the baseline's rest
    feed(w, "download-invoice", 0, T0 + 3000, answers(5, 1, 1, 1))  # the last 10 minutes
    rows = {spec.name: fig for _, spec, fig in w.snapshot(T0 + 3300)}
    ten, hour = rows["10m"], rows["1h"]
    assert ten.baseline_gap == pytest.approx(0.25 - 0.8)  # 1/4 now against 4/5 before, not against 5/9
    assert ten.baseline_gap_lower < ten.baseline_gap < ten.baseline_gap_upper
    assert hour.baseline_gap is None and hour.baseline_gap_upper is None  # the baseline is no gap window
    again = {spec.name: fig for _, spec, fig in w.snapshot(T0 + 3300)}["10m"]
    assert (again.baseline_gap, again.baseline_gap_upper) == (ten.baseline_gap, ten.baseline_gap_upper)
    # Once the baseline holds nothing but the window itself, there is no gap.
    w2 = GoalWindows(
        pipeline.registry, pipeline.window_specs, PARTITIONS, 0.95, baseline_window="1h", gap_windows=("10m",)
    )
    w2.owned = {OWNERS["download-invoice"]}
    feed(w2, "download-invoice", 0, T0 + 3000, answers(5, 1))
    assert {spec.name: fig for _, spec, fig in w2.snapshot(T0 + 3300)}["10m"].baseline_gap is None


def test_the_gap_windows_carry_the_completion_gap_from_the_outcomes(pipeline):
    w = GoalWindows(
        pipeline.registry, pipeline.window_specs, PARTITIONS, 0.95, baseline_window="1h", gap_windows=("10m",)
    )
    w.owned = {OWNERS["download-invoice"]}
    before, now = BucketCounts(), BucketCounts()
    for outcome in ("completed",) * 9 + ("abandoned",):
        before.add_outcome(outcome)
    for outcome in ("completed", "abandoned", "abandoned_inferred", "abandoned"):
        now.add_outcome(outcome)
    feed(w, "download-invoice", 0, T0 + 60, before)
    feed(w, "download-invoice", 0, T0 + 3000, now)
    ten = {spec.name: fig for _, spec, fig in w.snapshot(T0 + 3300)}["10m"]
    assert ten.completion_baseline_gap == pytest.approx(0.25 - 0.9)
    assert ten.completion_baseline_gap_lower < ten.completion_baseline_gap < ten.completion_baseline_gap_upper
    assert ten.baseline_gap is None  # no answers: no CES gap


def attempts(*durations_s: float, scores: tuple[int, ...] = ()) -> BucketCounts:
    counts = answers(*scores)
    for duration_s in durations_s:
        counts.add_outcome("completed")
        counts.add_effort(duration_s, False)
    return counts


@pytest.mark.parametrize(
    ("now_s", "now_scores", "divergence"),
    [
        ((120.0,) * 60, (5,) * 30, "slower but not rated harder"),
        ((58.0,) * 30 + (60.0,) * 30, (1,) * 30, "rated harder but not slower"),
        ((120.0,) * 60, (1,) * 30, "slower and rated harder"),
        ((58.0,) * 30 + (60.0,) * 30, (5,) * 30, None),  # like the rest: half of it in the median's bucket
    ],
)
def test_the_gap_windows_say_where_measured_and_reported_effort_part(pipeline, now_s, now_scores, divergence):
    w = GoalWindows(
        pipeline.registry, pipeline.window_specs, PARTITIONS, 0.95, baseline_window="1h", gap_windows=("10m",)
    )
    w.owned = {OWNERS["download-invoice"]}
    feed(w, "download-invoice", 0, T0 + 60, attempts(*(60.0,) * 50, *(58.0,) * 50, scores=(5,) * 60))
    feed(w, "download-invoice", 0, T0 + 3000, attempts(*now_s, scores=now_scores))
    ten = {spec.name: fig for _, spec, fig in w.snapshot(T0 + 3300)}["10m"]
    assert ten.effort_divergence == divergence
    assert ten.slower_gap_lower < ten.slower_gap < ten.slower_gap_upper
    if divergence is not None and divergence.startswith("slower"):
        # Every recent completion above the rest's median bucket (58 s), against half of the rest (60 s).
        assert ten.slower_gap == pytest.approx(0.5)


def test_the_sequential_window_carries_the_cusum_of_goals_with_a_target(pipeline):
    from stream.ces.goals.stats import cusum

    w = GoalWindows(pipeline.registry, pipeline.window_specs, PARTITIONS, 0.95, sequential=("1h", 0.2))
    w.owned = {OWNERS["download-invoice"], OWNERS["view-policy"]}
    feed(w, "download-invoice", 0, T0 + 60, answers(5, 5, 5, 5))
    feed(w, "download-invoice", 0, T0 + 3000, answers(1, 1, 1, 2, 5))
    feed(w, "view-policy", 0, T0 + 3000, answers(1, 1, 1))
    rows = {(goal, spec.name): fig for goal, spec, fig in w.snapshot(T0 + 3300)}
    expected = cusum([answers(5, 5, 5, 5), answers(1, 1, 1, 2, 5)], 0.8, 0.6)
    assert rows[("download-invoice", "1h")].ces_cusum == pytest.approx(expected) and expected > 0
    assert rows[("download-invoice", "10m")].ces_cusum is None  # only on the sequential window
    assert rows[("view-policy", "1h")].ces_cusum is None  # no target, no CUSUM


# -- the rows key: what a scrape may keep -------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_equal_rows_keys_mean_equal_rows(pipeline, seed):
    """Partials merged, buckets pruned and the clock moving, in a random order: a key seen before
    always comes back with the rows it had (the exposition keeps a goal's lines on that promise)."""
    import random

    from stream.ces.goals.windows import retention_s_by_resolution

    specs = plan_windows([300, 600, 3600, 6 * 3600, 7 * 86_400])  # 1m, 5m and 1h buckets
    w = GoalWindows(
        pipeline.registry,
        specs,
        PARTITIONS,
        0.95,
        split_windows=("1h",),
        split_min_answers=1,
        baseline_window="7d",
        gap_windows=("10m",),
        sequential=("1h", 0.2),
    )
    w.owned = {OWNERS["download-invoice"], OWNERS["pay-bill"]}
    keep_s = retention_s_by_resolution(specs)
    rng = random.Random(seed)
    now = float(T0)
    seen: dict[tuple[str, object], str] = {}
    repeats = changes = 0
    for hwm in range(1, 400):
        step = rng.random()
        if step < 0.4:
            now += rng.choice([0.5, 7, 29, 61, 299, 1800])
        elif step < 0.8:
            goal = rng.choice(["download-invoice", "pay-bill"])
            at_s = now - rng.choice([0, 30, 200, 3000, -90])  # -90: a clock ahead, a bucket still to come
            resolution = rng.choice([60, 300, 3600])
            counts = answers(*rng.choices([1, 2, 3, 4, 5], k=rng.randint(1, 4)))
            key = PartialKey(rng.randrange(PARTITIONS), goal, resolution, bucket_start(at_s, resolution))
            held = w.merged.partials.get(key)
            if held is not None:
                counts.merge(held.counts)
            w.merged.update(key, Partial(hwm, counts))
        else:
            for buckets in w.merged.goals.values():
                buckets.prune(now, keep_s)
        for goal in ("download-invoice", "pay-bill"):
            rows_key = w.rows_key(goal, now)
            rows = repr(w.goal_rows(goal, now))
            before = seen.setdefault((goal, rows_key), rows)
            assert before == rows, f"step {hwm}: the key of {goal} stayed, its rows changed"
            repeats += before is not rows
            changes += before is rows
    assert repeats > 100 and changes > 100  # both paths ran


def test_the_rows_key_stays_while_the_windows_hold_the_same_buckets(pipeline):
    """A quiet goal keeps its rows as the clock moves; new counts, or a bucket leaving or entering a window, move it."""
    w = windows_owning(pipeline, "download-invoice")  # 10m and 1h of 1-minute buckets
    feed(w, "download-invoice", 0, T0 + 30, answers(5))
    first = w.rows_key("download-invoice", T0 + 31)
    assert w.rows_key("download-invoice", T0 + 59) == first
    assert w.rows_key("download-invoice", T0 + 60 + 8 * 60) == first  # nine minutes on: still in both windows
    assert w.rows_key("download-invoice", T0 + 600) != first  # the bucket left the 10m window
    feed(w, "download-invoice", 0, T0 + 30, answers(4), hwm=2)
    assert w.rows_key("download-invoice", T0 + 31) != first  # new counts
    ahead = w.rows_key("download-invoice", T0 + 31)
    feed(w, "download-invoice", 1, T0 + 150, answers(1))  # a bucket two minutes ahead of the clock
    before_it = w.rows_key("download-invoice", T0 + 31)
    assert before_it != ahead  # new counts
    assert w.rows_key("download-invoice", T0 + 119) == before_it
    assert w.rows_key("download-invoice", T0 + 120) != before_it  # it came into the windows
