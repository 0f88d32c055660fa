"""Faust wiring: the App, its topics, web routes and the three stages, built from Settings.

Wiring only. The CES logic lives in ``stream.ces`` (pure), each stage in its own
module here (``intake``, ``users``, ``goals``), and every use of Faust or aiokafka
internals in ``stream.pipeline.faust_internals``.
"""

from __future__ import annotations

import logging
from typing import Any, TypedDict

import faust
from faust.sensors.monitor import Monitor
from faust.web import Request, Response, View

from stream.ces.goals import GoalWindows, format_duration, parse_duration
from stream.ces.intake import Limits
from stream.ces.registry import GoalRegistry
from stream.infra.kafka_config import ssl_context
from stream.infra.record_reader import RecordReader
from stream.infra.topics import goal_partials_topic, user_events_topic
from stream.observability.metrics import CONTENT_TYPE_LATEST, CesMetrics
from stream.pipeline.explain_api import ExplainApi
from stream.pipeline.faust_internals import ContinuityGuard, hold_stream_until_seeked, seek_uncommitted_to_beginning
from stream.pipeline.goals import GoalStage
from stream.pipeline.health import Health
from stream.pipeline.intake import IntakeStage
from stream.pipeline.stage_helpers import on_signal
from stream.pipeline.themes_api import ThemesApi
from stream.pipeline.users import UserStage
from stream.settings import Settings

log = logging.getLogger(__name__)


class TopicCodecs(TypedDict):
    key_type: type[bytes]
    value_type: type[bytes]
    key_serializer: str
    value_serializer: str


RAW: TopicCodecs = {"key_type": bytes, "value_type": bytes, "key_serializer": "raw", "value_serializer": "raw"}


class QuietMonitor(Monitor):
    """Faust's default monitor records per-event stats nobody reads; it costs a third of an
    empty agent's time. We export our own metrics instead."""

    def on_message_in(self, *args: Any, **kwargs: Any) -> None:
        return None

    def on_stream_event_in(self, *args: Any, **kwargs: Any) -> None:
        return None

    def on_stream_event_out(self, *args: Any, **kwargs: Any) -> None:
        return None

    def on_message_out(self, *args: Any, **kwargs: Any) -> None:
        return None


def _credentials(settings: Settings) -> faust.SASLCredentials | faust.SSLCredentials | None:
    context = ssl_context(settings)
    if settings.kafka_security_protocol.startswith("SASL_"):
        return faust.SASLCredentials(
            username=settings.kafka_sasl_username,
            password=settings.kafka_sasl_password.get_secret_value() if settings.kafka_sasl_password else None,
            ssl_context=context,
            mechanism=settings.kafka_sasl_mechanism,
        )
    if context is not None:
        return faust.SSLCredentials(context)
    return None


def _faust_app(s: Settings) -> faust.App:
    """The Faust app of one worker: broker, store, web server and the consumer and producer tuning."""
    return faust.App(
        s.app_id,
        broker=[f"kafka://{server}" for server in s.bootstrap_servers],
        broker_credentials=_credentials(s),
        store=s.store,
        datadir=str(s.data_dir),
        topic_partitions=s.topic_partitions,
        topic_replication_factor=s.topic_replication_factor,
        # Gauges come only from partitions a worker owns: no standby copies to confuse that.
        table_standby_replicas=0,
        consumer_auto_offset_reset="earliest",
        web_host=s.web_host,
        web_bind=s.web_host,  # Faust binds web_bind (default 0.0.0.0); web_host only names it
        web_port=s.web_port,
        web_tables_enabled=False,
        web_stats_enabled=False,
        web_graph_enabled=False,
        stream_buffer_maxsize=16384,
        # No linger: stages send whole batches and wait for them, so lingering only adds
        # latency (aiokafka keeps one request in flight, so records still batch under load).
        producer_linger=0.0,
        producer_max_batch_size=262_144,
        broker_max_poll_records=5000,
        # Static membership: a restarted worker gets its partitions back without waiting for
        # its old session to expire; a dead one's move after the session timeout.
        consumer_group_instance_id=s.static_member_id(),
        broker_session_timeout=s.session_timeout_seconds,
        broker_heartbeat_interval=s.heartbeat_interval_seconds,
        monitor=QuietMonitor(),
        autodiscover=False,
        key_serializer="raw",
        value_serializer="raw",
    )


class Pipeline:
    """The Faust app of one worker and everything wired to it."""

    def __init__(self, settings: Settings, registry: GoalRegistry) -> None:
        self.settings = settings
        self.registry = registry
        self.known_goals = frozenset(registry.slugs)
        self.limits = Limits(settings.max_event_bytes, settings.future_skew_seconds, settings.late_grace_seconds)
        s = settings
        self.app = _faust_app(s)
        input_topics = [s.topic_goal_events, s.topic_survey_answers, s.topic_prompt_events, s.topic_erasure_requests]
        # One channel over the inputs: the intake agent validates and re-keys them together.
        self.inputs_topic = self.app.topic(*input_topics, **RAW)
        self.user_events_topic = self.app.topic(
            user_events_topic(s), internal=True, partitions=s.topic_partitions, **RAW
        )
        self.goal_partials_topic = self.app.topic(
            goal_partials_topic(s), internal=True, partitions=s.topic_partitions, **RAW
        )
        self.window_specs = s.window_specs()
        self.resolutions_s = tuple(sorted({spec.resolution_s for spec in self.window_specs}))
        self.metrics = CesMetrics(
            goals=registry.slugs,
            input_topics=input_topics,
            consumed_topics=[
                *input_topics,
                self.user_events_topic.get_topic_name(),
                self.goal_partials_topic.get_topic_name(),
            ],
            targets={goal.slug: goal.target_ces_ratio for goal in registry.goals},
            surveys={goal.slug: goal.survey for goal in registry.goals},
            nps_goals=[goal.slug for goal in registry.goals if goal.nps_moment and registry.nps_enabled],
        )
        self.health = Health(self.app, s, self.metrics, set(self.metrics.consumed_topics))
        # Both see there: without them a rebalance or a backlog can skip records for good.
        hold_stream_until_seeked(self.app)
        seek_uncommitted_to_beginning(self.app)
        # Reads records back by offset: holes a stage finds, started events for the expiry timer.
        self.record_reader = RecordReader(s)
        on_signal(self.app.on_before_shutdown, self._stop_reader)
        # /api/themes: computed in a process of its own, started at the first request.
        self.themes = ThemesApi(s, registry)
        on_signal(self.app.on_before_shutdown, self.themes.stop)
        self.goal_windows = GoalWindows(
            registry,
            self.window_specs,
            s.topic_partitions,
            s.wilson_confidence,
            s.split_window_names(),
            s.split_min_answers,
            baseline_window=format_duration(parse_duration(s.alert_baseline_window)),
            gap_windows=s.baseline_gap_window_names(),
            sequential=(window, s.alert_sequential_drop) if (window := s.sequential_window_name()) else None,
            stratum_min_answers=s.stratum_min_answers,
            release_versions=s.release_versions,
            release_error_rate=s.release_error_rate,
            release_min_answers=s.release_min_answers,
        )
        self.metrics.windows.source = self.goal_windows  # gauges read the owned goals' windows at scrape time
        user_events = self.user_events_topic.get_topic_name()
        self.intake = IntakeStage(
            self.app, s, self.metrics, self.inputs_topic, user_events, self._guard(), self.known_goals, self.limits
        )
        self.users = UserStage(
            self.app,
            s,
            self.metrics,
            registry,
            self.user_events_topic,
            self.goal_partials_topic.get_topic_name(),
            self.resolutions_s,
            self._guard(),
            self.record_reader,
        )
        self.goals = GoalStage(
            self.app, s, self.metrics, self.goal_windows, self.goal_partials_topic, self._guard(), self.known_goals
        )
        self._register_web()

    def _guard(self) -> ContinuityGuard:
        """Each stage reads its own queue, so each checks its own offsets."""
        return ContinuityGuard(self.app, self.record_reader, self.metrics)

    async def _stop_reader(self, sender: object = None, **kwargs: Any) -> None:
        await self.record_reader.stop()

    def _register_web(self) -> None:
        from stream.pipeline.page import ces_page_html, registry_json

        app = self.app
        page, registry = ces_page_html(), registry_json(self.registry)

        @app.page("/")
        async def ces_page(web: View, request: Request) -> Response:
            """The CES page for product owners; registered before Faust's own index, so it wins "/"."""
            return web.html(page)

        @app.page("/api/registry")
        async def goal_registry(web: View, request: Request) -> Response:
            """Every goal of the registry (name, target, scale), also those another worker owns."""
            return web.json(registry)

        @app.page("/metrics")
        async def metrics(web: View, request: Request) -> Response:
            # aiohttp takes the charset separately from the content type.
            body = await self.metrics.render_between_stages()
            return web.bytes(body, content_type=CONTENT_TYPE_LATEST.split(";", 1)[0])

        @app.page("/api/goals")
        async def goal_figures(web: View, request: Request) -> Response:
            """The exported figures as JSON: {goal: {window: figures}} for the goals this worker owns, split everywhere."""
            return web.json(self.goal_windows.api_json())

        @app.page("/api/themes")
        async def comment_themes(web: View, request: Request) -> Response:
            """The themes of one goal's comments over the last 7 or 28 days (?goal=<slug>&days=7|28)."""
            status, body = await self.themes.answer(request.query.get("goal"), request.query.get("days"))
            return web.json(body, status=status)

        explainer = ExplainApi(
            app,
            self.settings,
            self.registry,
            self.users.topic_name,
            self.users.load_state,
            lambda: self.users.rates.rates,
        )

        @app.page("/api/explain")
        async def explain(web: View, request: Request) -> Response:
            """Why a user would (not) be asked now (?user=&goal=[&outcome=&channel=]; bearer CES_EXPLAIN_TOKEN)."""
            status, body = explainer.answer(request.query, request.headers.get("Authorization"))
            return web.json(body, status=status)

        @app.page("/health")
        async def health(web: View, request: Request) -> Response:
            state = self.health.state()
            return web.json(state, status=200 if state["ready"] else 503)
