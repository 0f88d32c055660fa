"""The gateway's API in-process, over a fake producer: what the tests of stream/tools/gateway/ build on."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestServer

from schemas import GoalEvent, SurveyPrompt
from schemas.examples import example_payload
from stream.ces.gateway import EventId, PromptBuffer, PromptRecord, mint_ticket, mint_token
from stream.ces.intake import pseudonymise
from stream.observability.gateway_metrics import GatewayMetrics
from stream.settings import Settings, load_settings
from stream.tools.gateway.app import Health, build_api, runner_options
from stream.tools.gateway.auth import Authenticator
from stream.tools.gateway.delivery import Delivery
from stream.tools.gateway.hub import Hub
from stream.tools.gateway.kafka_io import OutRecord
from stream.tools.gateway.posts import PostIntake

SECRET = "s" * 32
API_KEY = "k" * 32
ORIGIN = "https://app.example"
PSEUDONYM_KEY = b"test-pseudonym-key"
GOALS = frozenset({"download-invoice"})


@dataclass
class FakeProducer:
    """Records what is sent; ``fail`` makes every send unacknowledged, ``gate`` holds sends until set."""

    sent: list[tuple[OutRecord, int]] = field(default_factory=list)
    calls: int = 0
    called: asyncio.Event = field(default_factory=asyncio.Event)
    fail: bool = False
    gate: asyncio.Event | None = None
    connected: bool = True
    timeout_s: float = 1.0

    async def send(self, records: list[OutRecord], timestamp_ms: int) -> list[BaseException | None]:
        self.calls += 1
        self.called.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.fail:
            return [TimeoutError("no acknowledgement in time") for _ in records]
        self.sent.extend((record, timestamp_ms) for record in records)
        return [None for _ in records]

    def submit(self, records: list[OutRecord], timestamp_ms: int) -> asyncio.Future[list[BaseException | None]]:
        """As the real producer: the outcome as a future (sent in a task of its own)."""
        return asyncio.ensure_future(self.send(records, timestamp_ms))

    def on(self, topic: str) -> list[OutRecord]:
        return [record for record, _ in self.sent if record.topic == topic]


def gateway_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "gateway_token_secret": SECRET,
        "gateway_api_key": API_KEY,
        "gateway_cors_origins": ORIGIN,
        "gateway_max_body_bytes": 4096,
        "max_event_bytes": 2048,
        "gateway_heartbeat_seconds": 0.2,
        "gateway_max_streams_per_user": 2,
        "pseudonym_key": PSEUDONYM_KEY.decode(),
        **overrides,
    }
    return load_settings(**values)


def user_ref(user_id: str) -> str:
    return pseudonymise(user_id, PSEUDONYM_KEY)


@dataclass
class Gateway:
    """The API with its parts, for one test."""

    settings: Settings
    producer: FakeProducer
    metrics: GatewayMetrics
    hub: Hub
    app: Any

    def token(self, user: str = "alice", ttl_s: int = 600) -> str:
        return mint_token(SECRET.encode(), user, int(time.time()) + ttl_s)

    def ticket(self, user: str = "alice", ttl_s: int = 600) -> str:
        """A stream ticket as POST /v1/prompts/ticket mints it for the user's token."""
        return mint_ticket(SECRET.encode(), user_ref(user), int(time.time()) + ttl_s)

    def auth(self, user: str = "alice") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(user)}"}

    def publish(self, *prompts: PromptRecord) -> None:
        """As the prompt reader hands records to the hub."""
        self.hub.take([(user_ref(p.user_id), p) for p in prompts], [], 0)


def build_gateway(**overrides: Any) -> Gateway:
    settings = gateway_settings(**overrides)
    producer = FakeProducer()
    buffer = PromptBuffer(settings.gateway_buffer_prompts_per_user, settings.gateway_buffer_prompts, 1860)
    metrics = GatewayMetrics(lambda: (buffer.prompts, buffer.users))
    hub = Hub(buffer, user_ref, metrics, settings.gateway_max_streams, settings.gateway_max_streams_per_user)
    auth = Authenticator(settings, metrics, user_ref)
    posts = PostIntake(settings, producer, metrics, auth, GOALS, user_ref)  # type: ignore[arg-type]
    health = Health(lambda: (True, {"producer": "connected"}))
    app = build_api(settings, metrics, posts, Delivery(settings, hub, auth, metrics), health)
    return Gateway(settings, producer, metrics, hub, app)


def goal_event_body(user: str = "alice", **fields: Any) -> bytes:
    payload = {
        **example_payload(GoalEvent),
        "event_id": str(uuid.uuid4()),
        "user_id": user,
        "occurred_at": datetime.now(UTC).isoformat(),
        **fields,
    }
    return json.dumps(payload).encode()


def prompt_record(offset: int, user: str = "alice", *, partition: int = 0, expires_in_s: float = 1800) -> PromptRecord:
    now = datetime.now(UTC)
    prompt = SurveyPrompt(
        **{
            **example_payload(SurveyPrompt),
            "prompt_id": uuid.uuid4(),
            "user_id": user,
            "created_at": now - timedelta(seconds=1),
            "expires_at": now + timedelta(seconds=expires_in_s),
        }
    )
    return PromptRecord(
        EventId(partition, offset),
        user,
        str(prompt.prompt_id),
        prompt.created_at.timestamp(),
        prompt.expires_at.timestamp(),
        prompt.model_dump_json().encode(),
    )


async def started_server(app: Any) -> TestServer:
    """A test server with the gateway's server options (its access log; it cancels handlers itself)."""
    server = TestServer(app)
    options = {k: v for k, v in runner_options().items() if k != "handler_cancellation"}
    await server.start_server(**options)
    return server
