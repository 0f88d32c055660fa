"""Every Prometheus metric ces-stream exports (the only module that imports prometheus_client).

Names follow the Prometheus conventions: one ``ces_`` prefix, base units,
``_total`` for counters, ``_ratio`` for 0..1, ``_timestamp_seconds`` for "last seen".
Label values come only from configuration (the goal registry, topic names) and
small fixed sets, and are pre-initialised so series never go missing.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Hashable, Iterable
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from schemas import DeadLetterReason, GoalEventType, PromptOutcome
from stream.ces.goals import CHANNELS, OUTCOMES, WindowFigures, WindowSpec
from stream.ces.registry import Sentiment
from stream.ces.users import SuppressionReason

__all__ = ["CONTENT_TYPE_LATEST", "CesMetrics", "WindowSnapshotSource"]

# `_created` series double the exposition and no rule or dashboard of ours reads them.
disable_created_metrics()

SUPPRESSION_REASONS = tuple(reason.value for reason in SuppressionReason)
SENTIMENTS = tuple(sentiment.value for sentiment in Sentiment)
GAP_VERDICTS = ("no_records", "records_read_back", "unreadable")
#: What an erasure request found: the user's state (deleted), or nothing (a no-op).
ERASURE_OUTCOMES = ("erased", "unknown_user")
# Decision latency: from the event's occurred_at to the prompt being produced.
LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class WindowSnapshotSource(Protocol):
    """Whatever holds the per-goal window figures of the goals this worker owns."""

    def goal_rows(self, goal: str, now_s: float) -> list[tuple[str, WindowSpec, WindowFigures]]: ...

    def rows_key(self, goal: str, now_s: float) -> Hashable:
        """Equal keys mean equal rows of the goal (so its rendered lines can be kept)."""
        ...

    def owned_goals(self) -> list[str]: ...


# (metric name, help, attribute of WindowFigures) of the per-goal-and-window gauges.
WINDOW_GAUGES = (
    ("ces_goal_answers", "Answers in the sliding window.", "answers"),
    ("ces_goal_positive_answers", "Positive (low-effort) answers in the sliding window.", "positive"),
    ("ces_goal_ces_ratio", "CES top-box share: positive answers / answers.", "ces_ratio"),
    ("ces_goal_ces_ratio_wilson_lower", "Lower bound of the Wilson interval of the CES ratio.", "wilson_lower"),
    ("ces_goal_ces_ratio_wilson_upper", "Upper bound of the Wilson interval of the CES ratio.", "wilson_upper"),
    ("ces_goal_mean_score", "Mean score on the goal's own scale.", "mean_score"),
    ("ces_goal_net_effort", "Share positive minus share negative answers (-1..1).", "net_effort"),
    ("ces_goal_most_negative_ratio", "Share of answers on the most negative scale point.", "most_negative_ratio"),
    ("ces_goal_prompts", "Survey prompts shown in the sliding window.", "prompts"),
    ("ces_goal_response_ratio", "Answers / prompts in the sliding window.", "response_ratio"),
    ("ces_goal_completion_ratio", "Completed / all outcomes (inferred abandonment included).", "completion_ratio"),
    (
        "ces_goal_ces_ratio_baseline_gap",
        "CES ratio of the window minus that of the rest of the baseline window (CES_ALERT_BASELINE_WINDOW).",
        "baseline_gap",
    ),
    (
        "ces_goal_ces_ratio_baseline_gap_lower",
        "Lower bound of the interval of the baseline gap (Newcombe).",
        "baseline_gap_lower",
    ),
    (
        "ces_goal_ces_ratio_baseline_gap_upper",
        "Upper bound of the interval of the baseline gap (Newcombe).",
        "baseline_gap_upper",
    ),
    (
        "ces_goal_ces_cusum",
        "CUSUM of a drop of CES_ALERT_SEQUENTIAL_DROP below the goal's target over the window (goals with a target).",
        "ces_cusum",
    ),
    (
        "ces_goal_completion_ratio_baseline_gap",
        "Completion ratio of the window minus that of the rest of the baseline window (CES_ALERT_BASELINE_WINDOW).",
        "completion_baseline_gap",
    ),
    (
        "ces_goal_completion_ratio_baseline_gap_lower",
        "Lower bound of the interval of the completion baseline gap (Newcombe).",
        "completion_baseline_gap_lower",
    ),
    (
        "ces_goal_completion_ratio_baseline_gap_upper",
        "Upper bound of the interval of the completion baseline gap (Newcombe).",
        "completion_baseline_gap_upper",
    ),
)

# (blended name, help, attribute of AnswerFigures) of the per-outcome and per-channel gauges,
# exported for the split windows only (CES_SPLIT_WINDOWS) as <blended name>_by_outcome / _by_channel.
# Answers first: a segment without answers exports only its count.
SPLIT_GAUGES = (
    ("ces_goal_answers", "Answers in the sliding window", "answers"),
    ("ces_goal_positive_answers", "Positive (low-effort) answers in the sliding window", "positive"),
    ("ces_goal_ces_ratio", "CES top-box share", "ces_ratio"),
    ("ces_goal_ces_ratio_wilson_lower", "Lower bound of the Wilson interval of the CES ratio", "wilson_lower"),
    ("ces_goal_ces_ratio_wilson_upper", "Upper bound of the Wilson interval of the CES ratio", "wilson_upper"),
)
SPLITS = (
    ("outcome", "by_outcome", "per outcome that triggered the prompt"),
    ("channel", "by_channel", "per channel of the goal attempt"),
)
# (metric name, help, attribute of ExitGap), for the split windows with enough answers on both sides.
EXIT_GAP_GAUGES = (
    (
        "ces_goal_exit_ces_gap",
        "CES at exits (abandoned, abandoned_inferred) minus CES at completion; "
        "only with CES_SPLIT_MIN_ANSWERS answers on both sides.",
        "ces_ratio_gap",
    ),
    ("ces_goal_exit_ces_gap_lower", "Lower bound of the interval of the exit CES gap (Newcombe).", "lower"),
    ("ces_goal_exit_ces_gap_upper", "Upper bound of the interval of the exit CES gap (Newcombe).", "upper"),
)


def split_metric_names() -> list[str]:
    """Every per-outcome and per-channel gauge name, e.g. ``ces_goal_ces_ratio_by_outcome``."""
    return [f"{base}_{attr}" for base, _, _ in SPLIT_GAUGES for _, attr, _ in SPLITS]


class WindowExposition:
    """Renders the owned goals' window figures at scrape time, straight to exposition text.

    Tens of thousands of samples (200 goals x 8 windows x ~20 series) are too slow through
    prometheus_client's generic collector path; label values here come only from the goal
    registry (slugs ``[a-z0-9_-]``) and window names, so they need no escaping and the lines
    can be formatted directly. A goal's lines are kept until its :meth:`~WindowSnapshotSource.rows_key`
    changes (new counts, or a window moving on by a bucket), so a scrape computes and
    formats only the goals that changed since the one before: quiet goals cost nothing.
    """

    def __init__(self, targets: dict[str, float | None]) -> None:
        self.source: WindowSnapshotSource | None = None
        self.targets = targets
        # Sample-line prefixes per (goal, window): their label values come from configuration,
        # so the set is bounded, and formatting them once saves most of a scrape's string work.
        self._prefixes: dict[tuple[str, str], _RowPrefixes] = {}
        # Per owned goal: (rows key, the goal's text per family).
        self._rendered: dict[str, tuple[Hashable, dict[str, str]]] = {}

    def render(self, now_s: float | None = None) -> str:
        source = self.source
        if source is None:
            return ""
        now_s = time.time() if now_s is None else now_s
        chunks: dict[str, list[str]] = {name: [] for name in _FAMILY_DOCS}
        rendered: dict[str, tuple[Hashable, dict[str, str]]] = {}
        owned = source.owned_goals()
        for goal in owned:
            key = source.rows_key(goal, now_s)
            kept = self._rendered.get(goal)
            if kept is None or kept[0] != key:
                kept = (key, self._goal_text(source.goal_rows(goal, now_s)))
            rendered[goal] = kept
            for name, text in kept[1].items():
                chunks[name].append(text)
        self._rendered = rendered  # goals no longer owned are dropped
        chunks["ces_goal_target_ces_ratio"] = [
            f'ces_goal_target_ces_ratio{{goal="{goal}"}} {float(value)!r}'
            for goal in owned
            if (value := self.targets.get(goal)) is not None
        ]
        out: list[str] = []
        for name, doc in _FAMILY_DOCS.items():
            out.append(f"# HELP {name} {doc}\n# TYPE {name} gauge")
            out.extend(chunks[name])
        return "\n".join(out) + "\n"

    def _goal_text(self, rows: list[tuple[str, WindowSpec, WindowFigures]]) -> dict[str, str]:
        """One goal's sample lines, per family (families without a sample left out)."""
        lines: dict[str, list[str]] = defaultdict(list)
        prefixes = self._prefixes
        for goal, spec, fig in rows:
            row = prefixes.get((goal, spec.name))
            if row is None:
                row = prefixes[(goal, spec.name)] = _RowPrefixes(goal, spec.name)
            for name, attr, prefix in row.gauges:
                value = getattr(fig, attr)
                if value is not None:  # a ratio with no denominator has no value: no sample
                    lines[name].append(prefix + repr(float(value)))
            by_score = lines["ces_goal_answers_by_score"]
            for score, count in fig.distribution.items():
                by_score.append(row.score_prefix(score) + repr(float(count)))
            outcomes = lines["ces_goal_outcomes"]
            for outcome, count in fig.outcomes.items():
                outcomes.append(row.outcomes[outcome] + repr(float(count)))
            segments = fig.segments
            if segments is not None:
                for attr, segment, answers_line, entries in row.split:
                    figures = getattr(segments, attr)[segment]
                    if not figures.answers:  # no answers: the count is 0 and nothing else has a value
                        lines[answers_line[0]].append(answers_line[1] + "0.0")
                        continue
                    for name, figure, prefix in entries:
                        value = getattr(figures, figure)
                        if value is not None:
                            lines[name].append(prefix + repr(float(value)))
                gap = segments.exit_gap
                if gap is not None:
                    for name, attr, prefix in row.gap:
                        lines[name].append(prefix + repr(float(getattr(gap, attr))))
        return {name: "\n".join(family) for name, family in lines.items() if family}


# Every window family, in exposition order, with its help text.
_FAMILY_DOCS: dict[str, str] = {
    **{name: doc for name, doc, _ in WINDOW_GAUGES},
    "ces_goal_answers_by_score": "Answers per scale point in the sliding window.",
    "ces_goal_outcomes": "Goal outcomes in the sliding window (prompted or not).",
    "ces_goal_target_ces_ratio": "Configured CES target of the goal.",
    **{
        f"{base}_{attr}": f"{doc}, {what} (CES_SPLIT_WINDOWS only)."
        for base, doc, _ in SPLIT_GAUGES
        for _, attr, what in SPLITS
    },
    **{name: doc for name, doc, _ in EXIT_GAP_GAUGES},
}


class _RowPrefixes:
    """The sample-line prefixes (name and labels) of one goal and window, made once."""

    __slots__ = ("gap", "gauges", "labels", "outcomes", "scores", "split")

    def __init__(self, goal: str, window: str) -> None:
        labels = self.labels = f'goal="{goal}",window="{window}"'
        self.gauges = [(name, attr, f"{name}{{{labels}}} ") for name, _, attr in WINDOW_GAUGES]
        self.scores: dict[int, str] = {}
        self.outcomes = {name: f'ces_goal_outcomes{{{labels},outcome="{name}"}} ' for name in OUTCOMES}
        # Per segment: (split attribute, segment, (answers family, its prefix), [(family, figure, prefix)]).
        self.split = []
        for label, attr, _ in SPLITS:
            for segment in OUTCOMES if label == "outcome" else CHANNELS:
                entries = [
                    (f"{base}_{attr}", figure, f'{base}_{attr}{{{labels},{label}="{segment}"}} ')
                    for base, _, figure in SPLIT_GAUGES
                ]
                self.split.append((attr, segment, (entries[0][0], entries[0][2]), entries))
        self.gap = [(name, attr, f"{name}{{{labels}}} ") for name, _, attr in EXIT_GAP_GAUGES]

    def score_prefix(self, score: int) -> str:
        prefix = self.scores.get(score)
        if prefix is None:  # scale points: a handful per goal
            prefix = self.scores[score] = f'ces_goal_answers_by_score{{{self.labels},score="{score}"}} '
        return prefix


class CesMetrics:
    """The metric objects of one worker, in a registry of their own.

    :param goals: goal slugs from the registry (label values to pre-initialise).
    :param input_topics: the topics whose events can be invalid.
    """

    def __init__(
        self,
        goals: Iterable[str],
        input_topics: Iterable[str],
        consumed_topics: Iterable[str],
        targets: dict[str, float | None] | None = None,
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.goal_events = Counter(
            "ces_goal_events_total",
            "Valid goal events consumed, per goal and type (a retried duplicate counts here and as invalid).",
            ["goal", "type"],
            registry=r,
        )
        self.events_invalid = Counter(
            "ces_events_invalid_total",
            "Input events sent to the dead-letter topic, per source topic and reason.",
            ["topic", "reason"],
            registry=r,
        )
        self.prompts = Counter(
            "ces_survey_prompts_total",
            "Survey prompts produced, per goal and outcome.",
            ["goal", "outcome"],
            registry=r,
        )
        self.prompts_suppressed = Counter(
            "ces_survey_prompts_suppressed_total",
            "Goal events that did not lead to a prompt, per goal and reason.",
            ["goal", "reason"],
            registry=r,
        )
        self.decision_latency = Histogram(
            "ces_prompt_decision_latency_seconds",
            "Time from a goal event's occurred_at to its survey prompt being produced.",
            buckets=LATENCY_BUCKETS_S,
            registry=r,
        )
        self.answers = Counter(
            "ces_survey_answers_total",
            "Valid survey answers counted, per goal and sentiment.",
            ["goal", "sentiment"],
            registry=r,
        )
        self.feedback_comments = Counter(
            "ces_feedback_comments_total", "Free-text follow-up answers forwarded, per goal.", ["goal"], registry=r
        )
        self.erasure_requests = Counter(
            "ces_erasure_requests_total",
            "Erasure requests taken, per outcome: erased (the user's per-user state was deleted) or unknown_user "
            "(nothing held about the user: a no-op, also for a request sent again).",
            ["outcome"],
            registry=r,
        )
        self.last_event = Gauge(
            "ces_last_event_processed_timestamp_seconds",
            "Unix time at which the last event of a topic was processed.",
            ["topic"],
            registry=r,
        )
        self._add_pipeline_metrics(r)
        self.consumed_topics = tuple(consumed_topics)
        self.windows = WindowExposition(targets or {})
        self._preinitialise(list(goals), list(input_topics), list(self.consumed_topics))

    def _add_pipeline_metrics(self, r: CollectorRegistry) -> None:
        """Lag, stalls, broker, readiness and offset holes: how the pipeline itself is doing."""
        self.consumer_lag = Gauge(
            "ces_consumer_lag_messages",
            "Records not yet processed and committed (high-water mark minus committed offset) on the partitions this worker owns, per topic.",
            ["topic"],
            registry=r,
        )
        self.stalled_partitions = Gauge(
            "ces_stalled_partitions",
            "Owned partitions whose committed offset has not moved for CES_STALL_SECONDS while records wait, per topic.",
            ["topic"],
            registry=r,
        )
        self.broker_reachable = Gauge(
            "ces_broker_reachable", "1 when the broker answered the worker's last health check, else 0.", registry=r
        )
        self.worker_ready = Gauge(
            "ces_worker_ready",
            "1 when /health is ready (partitions assigned, broker answering, nothing stalled), else 0.",
            registry=r,
        )
        self.offset_gaps = Counter(
            "ces_offset_gaps_total",
            "Holes in the offsets a stage received, per consumed topic and verdict: no_records (transaction markers, "
            "compaction, retention), records_read_back (skipped by the consumer, read back and processed), "
            "unreadable (the worker stopped).",
            ["topic", "verdict"],
            registry=r,
        )
        self.offset_gap_records = Counter(
            "ces_offset_gap_records_total",
            "Records the consumer skipped and a stage read back and processed, per consumed topic.",
            ["topic"],
            registry=r,
        )

    def _preinitialise(self, goals: list[str], input_topics: list[str], consumed_topics: list[str]) -> None:
        for goal in goals:
            for event_type in GoalEventType:
                self.goal_events.labels(goal, event_type.value)
            for outcome in PromptOutcome:
                self.prompts.labels(goal, outcome.value)
            for reason in SUPPRESSION_REASONS:
                self.prompts_suppressed.labels(goal, reason)
            for sentiment in SENTIMENTS:
                self.answers.labels(goal, sentiment)
            self.feedback_comments.labels(goal)
        for erasure_outcome in ERASURE_OUTCOMES:
            self.erasure_requests.labels(erasure_outcome)
        for topic in input_topics:
            for reason in DeadLetterReason:
                self.events_invalid.labels(topic, reason.value)
        for topic in consumed_topics:
            self.consumer_lag.labels(topic)
            self.stalled_partitions.labels(topic)
            self.offset_gap_records.labels(topic)
            for verdict in GAP_VERDICTS:
                self.offset_gaps.labels(topic, verdict)

    def render(self) -> bytes:
        """The text exposition of every metric: the registry's, then the window gauges."""
        return generate_latest(self.registry) + self.windows.render().encode()

    async def render_beside_the_loop(self) -> bytes:
        """:meth:`render` for the worker's web server: the registry's part on a thread.

        That part (thousands of labelled counter samples, ~20 ms) would otherwise hold the event
        loop, and with it every stage, for its whole length; on a thread it only shares the
        interpreter with the loop. prometheus_client guards its values with locks. The window
        part reads the goal stage's state, which only the loop may touch, so it stays on the loop.
        """
        registry_part = asyncio.get_running_loop().run_in_executor(None, generate_latest, self.registry)
        windows_part = self.windows.render().encode()
        return await registry_part + windows_part
