"""Tests for stream.observability.metrics: pre-initialised series, the per-goal window gauges, and the exposition text."""

from __future__ import annotations

import math

import pytest
from prometheus_client.parser import text_string_to_metric_families

from schemas import DeadLetterReason, GoalEventType, PromptOutcome
from stream.ces.goals.buckets import BucketCounts
from stream.ces.goals.stats import figures
from stream.ces.goals.windows import WindowSpec
from stream.ces.registry.scales import Sentiment
from stream.observability.metrics import SENTIMENTS, SUPPRESSION_REASONS, CesMetrics
from stream.observability.window_exposition import WINDOW_GAUGES
from tests.harness import OtherStage
from tests.window_rows import RowsSource

GOALS = ["download-invoice", "view-policy", "pay-bill"]
INPUTS = ["ces.goal-events", "ces.survey-answers"]
CONSUMED = [*INPUTS, "ces-stream-user-events", "ces-stream-goal-partials"]
TARGETS = {"download-invoice": 0.8, "view-policy": 0.75, "pay-bill": None}
TEN_MIN = WindowSpec("10m", 600, 60)
ONE_HOUR = WindowSpec("1h", 3600, 60)
FIVE_POINT = (1, 2, 3, 4, 5)


def five_point_figures(answers=(), prompts=0, outcomes=(), efforts=(), shown=0, dismissed=0):
    counts = BucketCounts()
    counts.shown, counts.dismissed = shown, dismissed
    for duration_s, retried in efforts:
        counts.add_effort(duration_s, retried)
    for score in answers:
        counts.add_answer(
            score,
            Sentiment.positive if score >= 4 else Sentiment.negative if score <= 2 else Sentiment.neutral,
            "completed",
            "web",
        )
    for _ in range(prompts):
        counts.add_prompt()
    for name in outcomes:
        counts.add_outcome(name)
    return figures(counts, FIVE_POINT, 1, 0.99)


@pytest.fixture
def metrics():
    return CesMetrics(goals=GOALS, input_topics=INPUTS, consumed_topics=CONSUMED, targets=dict(TARGETS))


def samples(m: CesMetrics) -> dict[tuple[str, frozenset], float]:
    out = {}
    for family in text_string_to_metric_families(m.render().decode()):
        for sample in family.samples:
            key = (sample.name, frozenset(sample.labels.items()))
            assert key not in out, f"duplicate series {key}"
            out[key] = sample.value
    return out


def labels(**kv):
    return frozenset(kv.items())


# -- pre-initialised series ----------------------------------------------------------------


@pytest.mark.parametrize("goal", GOALS)
def test_per_goal_series_exist_at_zero(metrics, goal):
    rendered = samples(metrics)

    def get(name, labels):
        return rendered.get((name, frozenset(labels.items())))

    for event_type in GoalEventType:
        assert get("ces_goal_events_total", {"goal": goal, "type": event_type.value}) == 0.0
    for outcome in PromptOutcome:
        assert get("ces_survey_prompts_total", {"goal": goal, "outcome": outcome.value}) == 0.0
    for reason in SUPPRESSION_REASONS:
        assert get("ces_survey_prompts_suppressed_total", {"goal": goal, "reason": reason}) == 0.0
    for sentiment in SENTIMENTS:
        assert get("ces_survey_answers_total", {"goal": goal, "sentiment": sentiment}) == 0.0
    assert get("ces_feedback_comments_total", {"goal": goal}) == 0.0


@pytest.mark.parametrize("topic", INPUTS)
def test_every_dead_letter_reason_exists_at_zero_per_input_topic(metrics, topic):
    for reason in DeadLetterReason:
        assert metrics.sample_value("ces_events_invalid_total", {"topic": topic, "reason": reason.value}) == 0.0


@pytest.mark.parametrize("topic", CONSUMED)
def test_consumer_lag_exists_at_zero_per_consumed_topic(metrics, topic):
    assert metrics.sample_value("ces_consumer_lag_messages", {"topic": topic}) == 0.0


def test_no_series_for_labels_that_were_not_configured(metrics):
    get = metrics.sample_value
    assert get("ces_goal_events_total", {"goal": "unknown-goal", "type": "started"}) is None
    assert get("ces_events_invalid_total", {"topic": "ces.survey-prompts", "reason": "not_json"}) is None
    assert get("ces_consumer_lag_messages", {"topic": "ces.dead-letter"}) is None


def test_decision_latency_histogram_starts_empty(metrics):
    get = metrics.sample_value
    assert get("ces_prompt_decision_latency_seconds_count") == 0.0
    assert get("ces_prompt_decision_latency_seconds_sum") == 0.0
    assert get("ces_prompt_decision_latency_seconds_bucket", {"le": "+Inf"}) == 0.0


def test_suppression_reasons_and_sentiments_are_the_fixed_sets():
    assert tuple(s.value for s in Sentiment) == SENTIMENTS
    assert len(set(SUPPRESSION_REASONS)) == len(SUPPRESSION_REASONS)


def test_counters_move_from_zero(metrics):
    metrics.goal_events.labels("view-policy", "completed").inc()
    metrics.events_invalid.labels("ces.goal-events", "oversize").inc(2)
    s = samples(metrics)
    assert s[("ces_goal_events_total", labels(goal="view-policy", type="completed"))] == 1.0
    assert s[("ces_goal_events_total", labels(goal="view-policy", type="started"))] == 0.0
    assert s[("ces_events_invalid_total", labels(topic="ces.goal-events", reason="oversize"))] == 2.0


# -- the window gauges ------------------------------------------------------------------------


def test_window_gauges_render_the_snapshot(metrics):
    fig = five_point_figures(
        answers=(5, 5, 4, 3, 1),
        prompts=8,
        outcomes=("completed", "completed", "abandoned"),
        # Ranks floor(q * 99) of 100 timed completions: 49 (40 s), 89 (300 s), 98 (900 s).
        efforts=[(40.0, i < 25) for i in range(50)] + [(300.0, False)] * 45 + [(900.0, False)] * 5,
        shown=6,
        dismissed=2,
    )
    fig.baseline_gap, fig.baseline_gap_lower, fig.baseline_gap_upper = -0.2, -0.5, 0.1  # set on the gap windows
    fig.completion_baseline_gap, fig.completion_baseline_gap_lower, fig.completion_baseline_gap_upper = 0, -0.1, 0.1
    fig.ces_cusum = 2.5
    metrics.windows.source = RowsSource([("download-invoice", TEN_MIN, fig)], owned=["download-invoice"])
    s = samples(metrics)
    on = labels(goal="download-invoice", window="10m")
    for name, _, attr in WINDOW_GAUGES:
        expected = getattr(fig, attr)
        assert expected is not None
        assert s[(name, on)] == pytest.approx(float(expected)), name
    # A few by value, so a wrong attribute mapping cannot hide behind the loop above.
    assert s[("ces_goal_answers", on)] == 5
    assert s[("ces_goal_positive_answers", on)] == 3
    assert s[("ces_goal_ces_ratio", on)] == pytest.approx(0.6)
    assert s[("ces_goal_mean_score", on)] == pytest.approx(3.6)
    assert s[("ces_goal_net_effort", on)] == pytest.approx(0.4)
    assert s[("ces_goal_most_negative_ratio", on)] == pytest.approx(0.2)
    assert s[("ces_goal_prompts", on)] == 8
    assert s[("ces_goal_response_ratio", on)] == pytest.approx(5 / 8)
    # The funnel: 8 sent, 6 shown, 2 dismissed, 5 answered.
    assert (s[("ces_goal_prompts_shown", on)], s[("ces_goal_prompts_dismissed", on)]) == (6, 2)
    assert s[("ces_goal_shown_ratio", on)] == pytest.approx(6 / 8)
    assert s[("ces_goal_dismissal_ratio", on)] == pytest.approx(2 / 6)
    assert s[("ces_goal_response_ratio_shown", on)] == pytest.approx(5 / 6)
    assert s[("ces_goal_completion_ratio", on)] == pytest.approx(2 / 3)
    assert s[("ces_goal_ces_ratio_baseline_gap_upper", on)] == pytest.approx(0.1)
    assert 0 < s[("ces_goal_ces_ratio_wilson_lower", on)] < 0.6 < s[("ces_goal_ces_ratio_wilson_upper", on)] < 1
    for point, count in {1: 1, 2: 0, 3: 1, 4: 1, 5: 2}.items():
        assert (
            s[("ces_goal_answers_by_score", labels(goal="download-invoice", window="10m", score=str(point)))] == count
        )
    for outcome, count in {"completed": 2, "abandoned": 1, "abandoned_inferred": 0}.items():
        assert s[("ces_goal_outcomes", labels(goal="download-invoice", window="10m", outcome=outcome))] == count
    assert s[("ces_goal_timed_completions", on)] == 100
    assert s[("ces_goal_retry_ratio", on)] == 0.25
    for quantile, seconds in {"0.5": 40.0, "0.9": 300.0, "0.99": 900.0}.items():
        duration = s[
            ("ces_goal_completion_duration_seconds", labels(goal="download-invoice", window="10m", quantile=quantile))
        ]
        assert duration == pytest.approx(seconds, rel=0.02)


def test_ratios_without_a_denominator_have_no_sample(metrics):
    quiet = five_point_figures()
    prompted_only = five_point_figures(prompts=3)
    metrics.windows.source = RowsSource(
        [("view-policy", TEN_MIN, quiet), ("view-policy", ONE_HOUR, prompted_only)], owned=["view-policy"]
    )
    s = samples(metrics)
    quiet_labels = labels(goal="view-policy", window="10m")
    hour_labels = labels(goal="view-policy", window="1h")
    ratios = [name for name, _, attr in WINDOW_GAUGES if getattr(quiet, attr) is None]
    assert set(ratios) == {
        "ces_goal_ces_ratio",
        "ces_goal_ces_ratio_wilson_lower",
        "ces_goal_ces_ratio_wilson_upper",
        "ces_goal_mean_score",
        "ces_goal_net_effort",
        "ces_goal_most_negative_ratio",
        "ces_goal_response_ratio",
        "ces_goal_completion_ratio",
        "ces_goal_ces_ratio_baseline_gap",
        "ces_goal_ces_ratio_baseline_gap_lower",
        "ces_goal_ces_ratio_baseline_gap_upper",
        "ces_goal_completion_ratio_baseline_gap",
        "ces_goal_completion_ratio_baseline_gap_lower",
        "ces_goal_completion_ratio_baseline_gap_upper",
        "ces_goal_ces_cusum",
        "ces_goal_retry_ratio",
        "ces_goal_shown_ratio",
        "ces_goal_dismissal_ratio",
        "ces_goal_response_ratio_shown",
        "ces_goal_prompts_shown",
        "ces_goal_prompts_dismissed",
    }
    for name in ratios:
        assert (name, quiet_labels) not in s, name
    # Counts are there, at 0: "no answers" is a value, a ratio of nothing is not.
    assert s[("ces_goal_answers", quiet_labels)] == 0
    assert s[("ces_goal_prompts", quiet_labels)] == 0
    assert s[("ces_goal_answers_by_score", labels(goal="view-policy", window="10m", score="3"))] == 0
    # With prompts but no answers the response ratio is 0, the CES ratio still absent.
    assert s[("ces_goal_response_ratio", hour_labels)] == 0
    assert ("ces_goal_ces_ratio", hour_labels) not in s
    # No timed completion: the count is 0, and no duration quantile has a sample.
    assert s[("ces_goal_timed_completions", quiet_labels)] == 0
    assert not any(name == "ces_goal_completion_duration_seconds" for name, _ in s)
    # An app that reports no prompt events: no funnel series at all.
    assert ("ces_goal_prompts_shown", hour_labels) not in s and ("ces_goal_prompts_dismissed", hour_labels) not in s
    assert ("ces_goal_shown_ratio", hour_labels) not in s and ("ces_goal_response_ratio_shown", hour_labels) not in s
    assert not any(math.isnan(v) for v in s.values())


def test_target_only_for_owned_goals_with_a_target(metrics):
    rows = [(goal, TEN_MIN, five_point_figures()) for goal in ("download-invoice", "pay-bill")]
    metrics.windows.source = RowsSource(rows, owned=["download-invoice", "pay-bill"])
    s = samples(metrics)
    targets = {dict(lbl)["goal"]: v for (name, lbl), v in s.items() if name == "ces_goal_target_ces_ratio"}
    # view-policy has a target but another worker owns it; pay-bill is owned but has none.
    assert targets == {"download-invoice": 0.8}


def test_target_follows_ownership_even_for_a_goal_without_rows(metrics):
    metrics.windows.source = RowsSource([], owned=["view-policy"])
    window_series = {
        k: v for k, v in samples(metrics).items() if k[0].startswith("ces_goal_") and k[0] != "ces_goal_events_total"
    }
    assert window_series == {("ces_goal_target_ces_ratio", labels(goal="view-policy")): 0.75}


def test_no_window_series_before_the_goal_stage_is_wired(metrics):
    assert metrics.windows.source is None
    names = {name for name, _ in samples(metrics)}
    gauge_names = {name for name, _, _ in WINDOW_GAUGES} | {
        "ces_goal_answers_by_score",
        "ces_goal_outcomes",
        "ces_goal_target_ces_ratio",
    }
    assert not names & gauge_names


def test_the_snapshot_is_read_at_every_scrape(metrics):
    source = RowsSource([("download-invoice", TEN_MIN, five_point_figures(answers=(5,)))], owned=["download-invoice"])
    metrics.windows.source = source
    on = labels(goal="download-invoice", window="10m")
    assert samples(metrics)[("ces_goal_answers", on)] == 1
    source.rows = [("download-invoice", TEN_MIN, five_point_figures(answers=(5, 1)))]
    assert samples(metrics)[("ces_goal_answers", on)] == 2
    assert source.calls == 2


def test_a_goal_whose_rows_key_stayed_is_not_read_again_and_renders_the_same(metrics):
    rows = [(goal, TEN_MIN, five_point_figures(answers=(5,))) for goal in ("download-invoice", "pay-bill")]
    source = RowsSource(rows, owned=["download-invoice", "pay-bill"])
    source.keys = {"download-invoice": ("v", 1), "pay-bill": ("v", 1)}
    metrics.windows.source = source
    first = metrics.windows.render(now_s=1.0)
    assert source.calls == 2
    assert metrics.windows.render(now_s=2.0) == first and source.calls == 2  # nothing read again
    source.rows = [("download-invoice", TEN_MIN, five_point_figures(answers=(5, 1))), *rows[1:]]
    source.keys["download-invoice"] = ("v", 2)
    on = labels(goal="download-invoice", window="10m")
    assert samples(metrics)[("ces_goal_answers", on)] == 2 and source.calls == 3  # only the goal that changed
    source.owned = ["pay-bill"]  # a rebalance moved download-invoice away
    assert ("ces_goal_answers", on) not in samples(metrics)


# -- the exposition text ----------------------------------------------------------------------


def test_render_is_parseable_and_has_no_created_series(metrics):
    fig = five_point_figures(answers=(5, 2), prompts=2, outcomes=("completed",))
    metrics.windows.source = RowsSource(
        [(goal, spec, fig) for goal in GOALS for spec in (TEN_MIN, ONE_HOUR)], owned=GOALS
    )
    metrics.decision_latency.observe(0.2)
    metrics.last_event.labels("ces.goal-events").set(1_750_000_000)
    text = metrics.render().decode()
    families = {family.name: family for family in text_string_to_metric_families(text)}
    assert "_created" not in text
    assert families["ces_goal_events"].type == "counter"
    assert families["ces_prompt_decision_latency_seconds"].type == "histogram"
    assert families["ces_goal_answers"].type == "gauge"
    assert families["ces_goal_target_ces_ratio"].type == "gauge"
    assert text.endswith("\n")
    # Each family is declared once (the parser would merge a repeated one silently).
    types = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")]
    assert len(types) == len(set(types))
    s = samples(metrics)
    assert sum(1 for name, _ in s if name == "ces_goal_answers") == len(GOALS) * 2


def test_render_with_no_goals_still_parses():
    m = CesMetrics(goals=[], input_topics=[], consumed_topics=[])
    m.windows.source = RowsSource([], owned=[])
    text = m.render().decode()
    list(text_string_to_metric_families(text))
    assert "_created" not in text


def test_erasure_requests_are_counted_per_outcome_from_zero():
    from stream.observability.metrics import ERASURE_OUTCOMES, CesMetrics

    metrics = CesMetrics(goals=["g"], input_topics=["in"], consumed_topics=["in"])
    text = metrics.render().decode()
    assert ERASURE_OUTCOMES == ("erased", "unknown_user")
    for outcome in ERASURE_OUTCOMES:
        assert f'ces_erasure_requests_total{{outcome="{outcome}"}} 0.0' in text


def test_a_per_goal_counter_renders_again_only_after_it_moved(metrics):
    """Its line is kept between scrapes and made again after an increment, with the new value."""
    series = metrics.prompts.labels("download-invoice", "completed")
    series.inc(3)
    first = metrics.render()
    assert (
        samples(metrics)[
            ("ces_survey_prompts_total", frozenset({"goal": "download-invoice", "outcome": "completed"}.items()))
        ]
        == 3
    )
    kept = series.line()
    assert metrics.render() == first and series.line() is kept
    series.inc()
    assert series.line() is not kept
    assert (
        samples(metrics)[
            ("ces_survey_prompts_total", frozenset({"goal": "download-invoice", "outcome": "completed"}.items()))
        ]
        == 4
    )


def test_a_per_goal_counter_refuses_a_decrement_and_a_wrong_label_count(metrics):
    with pytest.raises(ValueError):
        metrics.answers.labels("download-invoice", "positive").inc(-1)
    with pytest.raises(ValueError):
        metrics.answers.labels("download-invoice")


async def test_the_web_server_render_hands_the_loop_back_between_goals(metrics, monkeypatch):
    """The same bytes as render(), with other tasks running between the goals it computes anew."""
    from stream.observability import window_exposition

    monkeypatch.setattr(window_exposition, "YIELD_EVERY_S", 0.0)  # hand back after every goal
    fig = five_point_figures(answers=(5, 1))
    metrics.windows.source = RowsSource([(goal, TEN_MIN, fig) for goal in GOALS], owned=GOALS)
    metrics.prompts.labels("download-invoice", "completed").inc(3)
    async with OtherStage() as other:
        body = await metrics.render_between_stages()
    assert other.turns >= len(GOALS)
    assert body == metrics.render()


async def test_a_rebalance_during_a_break_starts_the_scrape_again_with_the_goals_owned_now(metrics, monkeypatch):
    import asyncio

    from stream.observability import window_exposition

    monkeypatch.setattr(window_exposition, "YIELD_EVERY_S", 0.0)
    fig = five_point_figures(answers=(5, 1))
    source = RowsSource([(goal, TEN_MIN, fig) for goal in GOALS], owned=GOALS)
    metrics.windows.source = source
    real_sleep = asyncio.sleep

    async def rebalance_in_the_first_break(delay):
        source.owned = ["pay-bill"]  # download-invoice and view-policy moved to another worker
        await real_sleep(delay)

    monkeypatch.setattr(window_exposition.asyncio, "sleep", rebalance_in_the_first_break)
    text = await metrics.windows.render_between_stages()
    assert 'goal="pay-bill"' in text
    assert 'goal="download-invoice"' not in text and 'goal="view-policy"' not in text
