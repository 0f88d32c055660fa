"""The one frozen settings object, read from ``CES_*`` environment variables.

Built once at start (:func:`load_settings`) and passed down; nothing reads the
environment anywhere else. A bad value fails at start with a message that names
the variable, e.g. ``CES_WEB_PORT: Input should be a valid integer``.
"""

from __future__ import annotations

import re
import socket
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import SettingsConfigDict

from stream.alert_settings import AlertSettings, CsvTuple, split_csv
from stream.ces.feed.settings import FeedWebhookSettings
from stream.ces.gateway.settings import GatewaySettings
from stream.ces.releases.settings import ReleaseSettings
from stream.ces.users.explain_settings import ExplainSettings
from stream.errors import SettingsError

ENV_PREFIX = "CES_"
DEV_PSEUDONYM_KEY = "dev-only-pseudonym-key-change-me"
# 5m lets the paging alert see a drop within 10 minutes on a busy goal (docs/alerting.md "Alert quality").
DEFAULT_WINDOWS = ("5m", "10m", "30m", "1h", "3h", "24h", "7d", "28d")
# Per-outcome and per-channel series cost 38 per goal and window: the exits alert's 1h and the 7d baseline
# (docs/metrics.md "Cardinality budget"; the summaries carry the split of every window, the daily one too).
DEFAULT_SPLIT_WINDOWS = ("1h", "7d")


class Settings(FeedWebhookSettings, AlertSettings, ReleaseSettings, GatewaySettings, ExplainSettings):
    """Every knob of ces-stream. Field ``x`` is read from ``CES_X``."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        frozen=True,
        extra="forbid",
        env_ignore_empty=True,
        revalidate_instances="always",
    )

    # Kafka connection
    kafka_bootstrap: str = Field("127.0.0.1:29092", description="Kafka bootstrap servers, comma separated host:port.")
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="How to talk to the brokers."
    )
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = Field(
        None, description="SASL mechanism when the protocol is SASL_*."
    )
    kafka_sasl_username: str | None = Field(None, description="SASL user name.")
    kafka_sasl_password: SecretStr | None = Field(None, description="SASL password (secret).")
    kafka_ssl_cafile: Path | None = Field(None, description="CA bundle to verify the brokers' TLS certificates.")

    local_kafka_dir: Path = Field(
        Path("~/.cache/ces-stream/kafka"),
        description="Cache of the local broker's jars and data (`ces-stream kafka start`).",
    )

    # Application identity and state
    app_id: str = Field(
        "ces-stream",
        pattern=r"^[A-Za-z0-9._-]+$",
        description="Faust app id: consumer group and prefix of internal topics.",
    )
    store: str = Field(
        "memory://",
        description="Table store: memory:// (development) or rocksdb:// (production, survives restarts without a full changelog replay).",
    )
    data_dir: Path = Field(Path("ces-data"), description="Where rocksdb:// keeps its files.")
    rocksdb_write_buffer_mb: int = Field(
        4,
        ge=1,
        le=256,
        description=(
            "rocksdb:// memtable size per table partition, in MB (RocksDB's write_buffer_size; Faust's default is 64). "
            "After a kill -9, a start replays what the memtables held from the write-ahead log: about this much per "
            "table partition at most (40 of them with 8 partitions; more only while a flush is behind), at about 18 "
            "ms per MB."
        ),
    )
    user_state_format: Literal["compact", "json"] = Field(
        "compact",
        description=(
            "How user states are written: compact (binary, about 180 bytes a user) or json (about 440 bytes). "
            "Both are always read. Versions before compact states read only json: set json while such "
            "workers still run (a rolling upgrade), then compact."
        ),
    )
    group_instance_id: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9._-]+$",
        description=(
            "Static group membership: this worker's stable id in the consumer group, unique per worker "
            "(a Kubernetes pod name); a restarted worker takes its partitions back at once. "
            "Unset: <hostname>-<CES_WEB_PORT>; none: dynamic membership."
        ),
    )
    session_timeout_seconds: float = Field(
        10.0,
        ge=6,
        le=300,
        description="How long the group waits for a silent worker before its partitions move to the others (failover time).",
    )
    heartbeat_interval_seconds: float = Field(
        2.0, gt=0, le=60, description="How often a worker tells the group it is alive (well under the session timeout)."
    )

    # Topics
    topic_goal_events: str = Field("ces.goal-events", description="Input: goal events from apps.")
    topic_survey_answers: str = Field("ces.survey-answers", description="Input: survey answers from apps.")
    topic_survey_prompts: str = Field("ces.survey-prompts", description="Output: survey prompts for apps.")
    topic_prompt_events: str = Field(
        "ces.prompt-events", description="Input (optional): prompts shown to and dismissed by users, from apps."
    )
    topic_goal_summaries: str = Field(
        "ces.goal-summaries", description="Output: one summary per goal and closed window."
    )
    topic_feedback_comments: str = Field("ces.feedback-comments", description="Output: free-text follow-up answers.")
    topic_high_effort_answers: str = Field(
        "ces.high-effort-answers", description="Output: negative-band answers with their comment, to follow up."
    )
    topic_dead_letter: str = Field(
        "ces.dead-letter", description="Output: every rejected input, with reason and original bytes."
    )
    topic_erasure_requests: str = Field(
        "ces.erasure-requests", description="Input: requests to forget a user (`ces-stream erase --user`)."
    )
    topic_partitions: int = Field(
        8,
        ge=1,
        le=1024,
        description="Partitions of every topic (inputs, outputs and internal); the most workers that can share the load.",
    )
    topic_replication_factor: int = Field(1, ge=1, le=16, description="Replication factor of created topics.")
    topic_retention_hours: float = Field(
        168, gt=0, description="Retention of the topics with anonymous figures only (goal summaries, goal partials)."
    )
    raw_id_retention_hours: float = Field(
        168,
        gt=0,
        description="Retention of the topics ces-stream creates that carry raw user ids or free text (goal events, "
        "answers, prompts, comments, erasure requests, <app_id>-user-events): an erased user's records there last "
        "this long (docs/personal-data.md).",
    )
    erasure_compaction_lag_hours: float = Field(
        24,
        gt=0,
        description="At most this long after an erasure, the log cleaner may keep the user's older records in the "
        "users changelog (its max.compaction.lag.ms, set when Faust creates the changelog).",
    )
    dead_letter_retention_hours: float = Field(
        720,
        gt=0,
        description="Retention of the dead-letter topic (it keeps the original bytes: raw user ids and free text).",
    )

    # HTTP
    web_host: str = Field("0.0.0.0", description="Bind address of /metrics, /health and /api.")
    web_port: int = Field(6066, ge=1, le=65535, description="Port of /metrics, /health and /api.")

    # Domain
    goals_file: Path = Field(Path("deploy/goals.yaml"), description="Path of the goal registry (YAML).")
    pseudonym_key: SecretStr = Field(
        SecretStr(DEV_PSEUDONYM_KEY),
        description="Secret key of the keyed hash that pseudonymises user ids before they are stored.",
    )
    windows: CsvTuple = Field(
        DEFAULT_WINDOWS, description="Sliding windows per goal, comma separated (e.g. 10m,1h,7d)."
    )
    bucket_resolutions: CsvTuple = Field(
        ("1m", "5m", "1h"),
        description="Bucket sizes windows are built from; each window uses the finest one that divides it into at most 1000 buckets.",
    )
    split_windows: CsvTuple = Field(
        DEFAULT_SPLIT_WINDOWS,
        description="Windows whose answer figures per outcome and per channel are exported to /metrics (each one of "
        "CES_WINDOWS, or none; by default those of 1h, 7d in CES_WINDOWS); /api/goals and the summaries carry "
        "the split for every window.",
    )
    split_min_answers: int = Field(
        30,
        ge=1,
        description="Answers both the exits and the completions of a window need before their CES gap is computed.",
    )
    stratum_min_answers: int = Field(
        10,
        ge=1,
        description="Answers a stratum (outcome x channel) of a window needs before they speak for its attempts in "
        "the CES corrected for non-response; thinner strata are merged (channels of an outcome, then the exit "
        "outcomes), or the figure is left out.",
    )
    wilson_confidence: float = Field(
        0.99, gt=0.5, lt=1, description="Confidence of the exported Wilson interval of the CES ratio."
    )
    max_event_bytes: int = Field(
        65536,
        ge=256,
        le=524_288,
        description="Larger input records go to the dead-letter topic as oversize (at most 512 KiB: a record forwarded inside its envelope must stay under Kafka's 1 MB limit).",
    )
    future_skew_seconds: float = Field(
        300, ge=0, description="How far in the future an event time may be before it is dead-lettered."
    )
    late_grace_seconds: float = Field(
        3600,
        ge=0,
        description="How long before its Kafka record time an event may have happened before it is dead-lettered as too late.",
    )
    window_close_delay_seconds: float = Field(
        60,
        ge=0,
        description="How long after a window period ends its summary is emitted (late events still land until then).",
    )
    batch_max_events: int = Field(2000, ge=1, description="Most events processed as one batch.")
    batch_linger_seconds: float = Field(
        0.002,
        ge=0,
        le=1,
        description="After the first event of a batch, how long each stage waits for more (fewer, fuller batches cost less CPU per event).",
    )
    aggregate_interval_seconds: float = Field(
        0.5,
        gt=0,
        le=60,
        description="How often answers and outcomes are folded into the per-goal aggregates (prompts never wait for it).",
    )
    tick_interval_seconds: float = Field(
        5.0, gt=0, description="Clock tick for timers: inferred abandonment and window closing of quiet goals."
    )

    # Health under faults
    health_check_seconds: float = Field(
        5.0,
        gt=0,
        le=60,
        description="How often the worker checks that the broker answers and that its partitions make progress.",
    )
    stall_seconds: float = Field(
        120.0,
        gt=0,
        description="A partition with records waiting whose committed offset has not moved for this long is stalled: /health is not ready.",
    )
    kafka_reconnect_backoff_max_seconds: float = Field(
        1.0,
        gt=0,
        le=60,
        description="Longest wait between two attempts of one Kafka client to connect to a broker that does not answer "
        "(waits double from 50 ms up to this, each +-20 %); the broker back, a client reconnects within this.",
    )
    kafka_fetch_min_bytes: int = Field(
        1,
        ge=1,
        le=1_048_576,
        description="Kafka's fetch.min.bytes for the worker's stream consumer while records keep coming: the broker "
        "answers a fetch once it has this much, or after CES_KAFKA_FETCH_MAX_WAIT_MS. After a fetch that brought "
        "nothing, the next one answers at the first record (a quiet worker long-polls). 1 answers at once (lowest "
        "latency); at 1 000 events/s, 16384 with a 5 ms wait cut the worker's CPU from about 70 % to about 50 % of a "
        "core for 2-4 ms more latency, and cost about 7 % of the throughput on a backlog (docs/performance.md).",
    )
    kafka_fetch_max_wait_ms: int = Field(
        1500,
        ge=0,
        le=60_000,
        description="Kafka's fetch.max.wait.ms for the worker's stream consumer: how long the broker may hold a fetch "
        "to gather CES_KAFKA_FETCH_MIN_BYTES (with 1 byte: how long an idle fetch waits for a record; with more, an "
        "idle fetch waits 1.5 s).",
    )
    shutdown_timeout_seconds: float = Field(
        15.0,
        gt=0,
        le=600,
        description="After SIGTERM or SIGINT, how long the worker may take to stop cleanly (commit what it processed, "
        "flush, leave the group) before it exits at once with code 75; what it did not commit is replayed by the next "
        "worker. Keep it under the supervisor's grace period (Kubernetes terminationGracePeriodSeconds).",
    )
    log_repeat_seconds: float = Field(
        30.0,
        ge=0,
        description="A warning or error of one kind is logged once per this interval, then with the count left out (0: every one).",
    )

    @model_validator(mode="before")
    @classmethod
    def _default_split_windows(cls, data: Any) -> Any:
        """Unset, the split windows are those of the defaults that CES_WINDOWS has ("none" if none)."""
        if not isinstance(data, dict) or "split_windows" in data:
            return data
        from stream.ces.goals import parse_duration

        try:
            durations = {parse_duration(w) for w in split_csv(data.get("windows", DEFAULT_WINDOWS))}
        except (TypeError, ValueError):
            return data  # the windows check names the problem
        kept = tuple(w for w in DEFAULT_SPLIT_WINDOWS if parse_duration(w) in durations)
        return {**data, "split_windows": kept or ("none",)}

    @model_validator(mode="after")
    def _windows_plan(self) -> Settings:
        try:
            self.window_specs()
        except ValueError as exc:
            raise ValueError(f"CES_WINDOWS / CES_BUCKET_RESOLUTIONS: {exc}") from None
        self.split_window_names()
        return self

    @field_validator("store")
    @classmethod
    def _known_store(cls, value: str) -> str:
        if not value.startswith(("memory://", "rocksdb://")):
            raise ValueError("must start with memory:// or rocksdb://")
        return value

    @field_validator("kafka_bootstrap")
    @classmethod
    def _host_ports(cls, value: str) -> str:
        for server in value.split(","):
            host, sep, port = server.strip().rpartition(":")
            if not sep or not host or not port.isdigit():
                raise ValueError(f"{server!r} is not host:port")
        return value

    @model_validator(mode="after")
    def _sasl_complete(self) -> Settings:
        if self.kafka_security_protocol.startswith("SASL_") and not (
            self.kafka_sasl_mechanism and self.kafka_sasl_username and self.kafka_sasl_password
        ):
            raise ValueError(
                "CES_KAFKA_SASL_MECHANISM, CES_KAFKA_SASL_USERNAME and CES_KAFKA_SASL_PASSWORD are required with a SASL_* protocol"
            )
        return self

    @model_validator(mode="after")
    def _heartbeat_inside_session(self) -> Settings:
        if self.heartbeat_interval_seconds * 3 > self.session_timeout_seconds:
            raise ValueError("CES_HEARTBEAT_INTERVAL_SECONDS must be at most a third of CES_SESSION_TIMEOUT_SECONDS")
        return self

    def static_member_id(self) -> str | None:
        """This worker's ``group.instance.id``, or None for dynamic membership.

        Derived from the host name and the web port when unset: stable across restarts of
        the same worker, and two workers on one host cannot share a port.
        """
        if self.group_instance_id is None:
            host = re.sub(r"[^A-Za-z0-9._-]", "-", socket.gethostname()) or "worker"
            return f"{host}-{self.web_port}"
        return None if self.group_instance_id.lower() == "none" else self.group_instance_id

    def window_specs(self) -> tuple[Any, ...]:
        """The planned sliding windows (:class:`stream.ces.goals.windows.WindowSpec`)."""
        from stream.ces.goals import parse_duration, plan_windows

        return plan_windows(
            [parse_duration(w) for w in self.windows], tuple(parse_duration(r) for r in self.bucket_resolutions)
        )

    def sequential_window_name(self) -> str | None:
        """The window the CUSUM of CesBelowTargetSequential runs over: the longest alert window of minute buckets."""
        from stream.ces.goals import format_duration, parse_duration

        try:
            fast = sorted((parse_duration(w) for w in self.alert_windows), reverse=True)
        except ValueError:
            return None
        minute_windows = {spec.duration_s for spec in self.window_specs() if spec.resolution_s == 60}
        return next((format_duration(w) for w in fast if w in minute_windows), None)

    def split_window_names(self) -> frozenset[str]:
        """Names (as the window specs spell them) of the windows whose split goes to /metrics.

        :raises ValueError: for a window that is not one of ``windows``.
        """
        from stream.ces.goals import format_duration, parse_duration

        if self.split_windows in (("none",), ()):
            return frozenset()
        names = {spec.name for spec in self.window_specs()}
        try:
            wanted = {format_duration(parse_duration(w)) for w in self.split_windows}
        except ValueError as exc:
            raise ValueError(f"CES_SPLIT_WINDOWS: {exc}") from None
        unknown = sorted(wanted - names)
        if unknown:
            raise ValueError(f"CES_SPLIT_WINDOWS: {', '.join(unknown)} not in CES_WINDOWS ({', '.join(sorted(names))})")
        return frozenset(wanted)

    def secret_values(self) -> list[str]:
        """Every secret setting's value (for the log masking), the empty ones left out."""
        values = (getattr(self, name) for name in type(self).model_fields)
        return [v.get_secret_value() for v in values if isinstance(v, SecretStr) and v.get_secret_value()]

    @property
    def bootstrap_servers(self) -> list[str]:
        return [server.strip() for server in self.kafka_bootstrap.split(",")]

    def masked(self) -> dict[str, Any]:
        """The effective settings as env var -> value, with secrets masked."""
        out: dict[str, Any] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                value = "**********" if value.get_secret_value() else ""
            elif isinstance(value, tuple):
                value = ",".join(value)
            elif isinstance(value, Path):
                value = str(value)
            elif value is None:
                value = ""
            out[ENV_PREFIX + name.upper()] = value
        return out


def load_settings(**overrides: Any) -> Settings:
    """Build the settings from the environment (and explicit overrides).

    :raises SettingsError: naming each bad variable.
    """
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = err["loc"]
            var = ENV_PREFIX + str(loc[0]).upper() if loc else "settings"
            problems.append(f"{var}: {err['msg']}")
        raise SettingsError("invalid settings: " + "; ".join(problems)) from None
