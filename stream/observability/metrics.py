"""Every Prometheus metric ces-stream exports (the only module that imports prometheus_client).

Names follow the Prometheus conventions: one ``ces_`` prefix, base units,
``_total`` for counters, ``_ratio`` for 0..1, ``_timestamp_seconds`` for "last seen".
Label values come only from configuration (the goal registry, topic names) and
small fixed sets, and are pre-initialised so series never go missing.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from schemas import DeadLetterReason, GoalEventType, PromptEventType, PromptOutcome
from stream.ces.comments import PersonalData
from stream.ces.feed import DELIVERY_REASONS, NO_GOAL, OTHER_GOAL, READ_REASONS
from stream.ces.registry import Sentiment
from stream.ces.users import SuppressionReason
from stream.observability.labelled_counters import LabelledCounter
from stream.observability.window_exposition import WindowExposition, WindowSnapshotSource

__all__ = ["CONTENT_TYPE_LATEST", "CesMetrics", "FeedWebhookMetrics", "WindowSnapshotSource"]

# `_created` series double the exposition and no rule or dashboard of ours reads them.
disable_created_metrics()

SUPPRESSION_REASONS = tuple(reason.value for reason in SuppressionReason)
SENTIMENTS = tuple(sentiment.value for sentiment in Sentiment)
GAP_VERDICTS = ("no_records", "records_read_back", "unreadable")
#: What an erasure request found: the user's state (deleted), or nothing (a no-op).
ERASURE_OUTCOMES = ("erased", "unknown_user")
# Decision latency: from the event's occurred_at to the prompt being produced.
LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# Feed webhook: from the record's Kafka time to the webhook's 2xx, retries and rate limit included (up to a day).
FEED_LATENCY_BUCKETS_S = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 14400.0, 86400.0)
FEED_WAITING_STATES = ("rate_limited", "retrying")


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
        nps_goals: Iterable[str] = (),
        surveys: dict[str, str] | None = None,
    ) -> None:
        """:param nps_goals: the goals whose moments may ask NPS (their NPS counters start at 0).
        :param surveys: each goal's own question, "ces" or "csat" (``ces_goal_survey_info``)."""
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.goal_events = LabelledCounter(
            "ces_goal_events_total",
            "Valid goal events consumed, per goal and type (a retried duplicate counts here and as invalid).",
            ["goal", "type"],
        )
        self.events_invalid = Counter(
            "ces_events_invalid_total",
            "Input events sent to the dead-letter topic, per source topic and reason.",
            ["topic", "reason"],
            registry=r,
        )
        self.prompts = LabelledCounter(
            "ces_survey_prompts_total",
            "Survey prompts produced, per goal and outcome.",
            ["goal", "outcome"],
        )
        self.prompts_suppressed = LabelledCounter(
            "ces_survey_prompts_suppressed_total",
            "Goal events that did not lead to a prompt, per goal and reason.",
            ["goal", "reason"],
        )
        self.decision_latency = Histogram(
            "ces_prompt_decision_latency_seconds",
            "Time from a goal event's occurred_at to its survey prompt being produced.",
            buckets=LATENCY_BUCKETS_S,
            registry=r,
        )
        self.answers = LabelledCounter(
            "ces_survey_answers_total",
            "Valid survey answers counted, per goal and sentiment.",
            ["goal", "sentiment"],
        )
        self.prompt_events = LabelledCounter(
            "ces_survey_prompt_events_total",
            "Valid prompt events counted (the app showed a prompt, or the user dismissed it), per goal and type.",
            ["goal", "type"],
        )
        self.feedback_comments = LabelledCounter(
            "ces_feedback_comments_total", "Free-text follow-up answers forwarded, per goal.", ["goal"]
        )
        # The NPS question asked at a goal's moments, apart from the goal's own question above.
        self.nps_prompts = LabelledCounter(
            "ces_nps_prompts_total", "NPS prompts produced at a goal's moments, per goal.", ["goal"]
        )
        self.nps_answers = LabelledCounter(
            "ces_nps_answers_total",
            "Valid NPS answers counted, per goal and band (positive: promoters, neutral: passives, "
            "negative: detractors).",
            ["goal", "sentiment"],
        )
        self.nps_prompt_events = LabelledCounter(
            "ces_nps_prompt_events_total", "Valid prompt events of NPS prompts, per goal and type.", ["goal", "type"]
        )
        self.last_event = Gauge(
            "ces_last_event_processed_timestamp_seconds",
            "Unix time at which the last event of a topic was processed.",
            ["topic"],
            registry=r,
        )
        self.per_goal_counters = (
            self.goal_events,
            self.prompts,
            self.prompts_suppressed,
            self.answers,
            self.prompt_events,
            self.feedback_comments,
            self.nps_prompts,
            self.nps_answers,
            self.nps_prompt_events,
        )
        self._add_pipeline_metrics(r)
        self._add_personal_data_metrics(r)
        self._add_release_metrics(r)
        self.consumed_topics = tuple(consumed_topics)
        self.windows = WindowExposition(targets or {}, surveys)
        self._preinitialise(list(goals), list(input_topics), list(self.consumed_topics))
        for goal in nps_goals:
            self.nps_prompts.labels(goal)
            for sentiment in SENTIMENTS:
                self.nps_answers.labels(goal, sentiment)
            for prompt_event_type in PromptEventType:
                self.nps_prompt_events.labels(goal, prompt_event_type.value)

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

    def _add_release_metrics(self, r: CollectorRegistry) -> None:
        """When a goal's new release was last found worse or better (the dashboards' annotations)."""
        self.release_verdict_time = Gauge(
            "ces_release_verdict_timestamp_seconds",
            "Unix time of the last release verdict per goal and channel, labelled with its direction (worse or "
            "better); a series appears with the goal's first verdict on that channel.",
            ["goal", "channel", "direction"],
            registry=r,
        )

    def _add_personal_data_metrics(self, r: CollectorRegistry) -> None:
        """What the worker did with personal data: masked in comments, erased on request."""
        self.personal_data_masked = Counter(
            "ces_comment_personal_data_masked_total",
            "Personal data masked in comments before they left the worker, per kind "
            "(email, iban, phone, bsn, address).",
            ["kind"],
            registry=r,
        )
        self.erasure_requests = Counter(
            "ces_erasure_requests_total",
            "Erasure requests taken, per outcome: erased (the user's per-user state was deleted) or unknown_user "
            "(nothing held about the user: a no-op, also for a request sent again).",
            ["outcome"],
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
            for prompt_event_type in PromptEventType:
                self.prompt_events.labels(goal, prompt_event_type.value)
            self.feedback_comments.labels(goal)
        for kind in PersonalData:
            self.personal_data_masked.labels(kind.value)
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

    def sample_value(self, name: str, labels: dict[str, str] | None = None) -> float | None:
        """The value of one sample of any metric here, or None when there is no such series."""
        for counter in self.per_goal_counters:
            if counter.name == name:
                return counter.value(labels or {})
        return self.registry.get_sample_value(name, labels)

    def render(self) -> bytes:
        """The text exposition of every metric: the registry's, the per-goal counters, the window gauges."""
        return self._counters_text() + self.windows.render().encode()

    async def render_between_stages(self) -> bytes:
        """:meth:`render` for the worker's web server, on the event loop, handing it back every few ms.

        The counters take a few ms with 200 goals (the per-goal ones are kept as text, only the
        series that moved are formatted again); the window gauges of the goals that changed since
        the last scrape take longer, and are made a few goals at a time between the stages' work.
        """
        counters = self._counters_text()
        return counters + (await self.windows.render_between_stages()).encode()

    def _counters_text(self) -> bytes:
        per_goal = "".join(counter.render() for counter in self.per_goal_counters)
        return generate_latest(self.registry) + per_goal.encode()


class FeedWebhookMetrics:
    """The metrics of ``ces-stream feed-webhook``, in a registry of their own.

    :param goals: goal slugs from the registry; a record of another goal counts as ``(other)``, one
        that could not be read as ``(none)``, so the ``goal`` label stays bounded.
    """

    def __init__(self, goals: Iterable[str]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.delivered = Counter(
            "ces_feed_webhook_delivered_total",
            "High-effort answers the webhook took (2xx), per goal.",
            ["goal"],
            registry=r,
        )
        self.retries = Counter(
            "ces_feed_webhook_retries_total",
            "POSTs that failed in passing (no answer, timeout, 5xx, 408, 429) and are tried again, per goal.",
            ["goal"],
            registry=r,
        )
        self.dead_letters = Counter(
            "ces_feed_webhook_dead_letters_total",
            "Records of ces.high-effort-answers sent to the dead-letter topic, per goal and reason.",
            ["goal", "reason"],
            registry=r,
        )
        self.delivery_latency = Histogram(
            "ces_feed_webhook_delivery_latency_seconds",
            "Time from a high-effort answer's Kafka record time to the webhook's 2xx (rate limit and retries included).",
            buckets=FEED_LATENCY_BUCKETS_S,
            registry=r,
        )
        self.waiting = Gauge(
            "ces_feed_webhook_waiting_records",
            "Records waiting now, per state: rate_limited (for their goal's next token) or retrying (for their "
            "next attempt); each holds back the later records of its partition.",
            ["state"],
            registry=r,
        )
        for goal in (*goals, OTHER_GOAL):
            self.delivered.labels(goal)
            self.retries.labels(goal)
            for reason in DELIVERY_REASONS:
                self.dead_letters.labels(goal, reason.value)
        for reason in READ_REASONS:
            self.dead_letters.labels(NO_GOAL, reason.value)
        for state in FEED_WAITING_STATES:
            self.waiting.labels(state)

    def render(self) -> bytes:
        """The text exposition of every feed webhook metric."""
        return generate_latest(self.registry)
