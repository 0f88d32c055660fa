"""``ces-stream gateway``: the HTTP gateway for apps without a Kafka client (docs/gateway.md).

A process of its own (scale it apart from the workers; any number of instances behind a load
balancer, no session affinity). It takes goal events, answers and prompt events over HTTP onto the
input topics with the intake's checks, and delivers each user's prompts on a Server-Sent Events
stream (or a long-poll), authenticated by short-lived tokens the apps' backends sign.

``ces-stream gateway token --user U --ttl 600`` prints a token signed with
``CES_GATEWAY_TOKEN_SECRET`` (for trials and tests; an app's backend mints its own).

SIGTERM and SIGINT end every open stream and long-poll at once (browsers reconnect to another
instance and resume there), let POSTs in progress finish for at most :data:`SHUTDOWN_S`, close the
Kafka clients and exit 0. Without a token secret it refuses to start (exit 2).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import resource
import signal
import threading
import time
from contextlib import suppress
from typing import Any

import uvloop
from aiohttp import web

from stream.ces.gateway import Closure, PromptBuffer, PromptRecord, mint_token
from stream.ces.intake import pseudonymise
from stream.ces.registry import GoalRegistry, load_registry
from stream.errors import CesError
from stream.observability.gateway_metrics import GatewayMetrics
from stream.observability.log_limits import limit_repeats
from stream.settings import Settings
from stream.tools.gateway.app import Health, build_api, build_ops, runner_options
from stream.tools.gateway.auth import Authenticator
from stream.tools.gateway.delivery import Delivery
from stream.tools.gateway.hub import Hub
from stream.tools.gateway.kafka_io import GatewayProducer, PromptReader
from stream.tools.gateway.posts import PostIntake

log = logging.getLogger(__name__)
#: How long a stop waits for POSTs in progress; streams and long-polls end at once.
SHUTDOWN_S = 2.0
CLOSE_TIMEOUT_S = 2.0
#: The prompt reader's thread is a daemon: a stop waits this long for it (it may be stuck connecting).
READER_JOIN_S = 0.5
#: The prompt reader polls at least this often; a longer silence makes /health 503.
HEALTHY_POLL_AGE_S = 60.0
#: Added to the registry's longest prompt expiry for the replay window (the answers' grace, too).
REPLAY_GRACE_S = 60.0
DEFAULT_TOKEN_TTL_S = 600


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The sub-command's options."""
    parser.add_argument(
        "action",
        nargs="?",
        default="serve",
        choices=("serve", "token"),
        help="serve (the default): run the gateway; token: print a user token signed with CES_GATEWAY_TOKEN_SECRET",
    )
    parser.add_argument("--user", help="token: the user id the token is for (its sub)")
    parser.add_argument(
        "--ttl",
        type=int,
        default=DEFAULT_TOKEN_TTL_S,
        help=f"token: seconds until it expires (default {DEFAULT_TOKEN_TTL_S})",
    )
    parser.add_argument("--app", help="token: the app's name, kept in the token (optional)")
    parser.add_argument("--loglevel", default="info", choices=("debug", "info", "warning", "error"))


def token_secret(settings: Settings) -> bytes:
    """The token secret, or a clear refusal to go on without one."""
    if settings.gateway_token_secret is None:
        raise CesError(
            "CES_GATEWAY_TOKEN_SECRET is not set: set it to the secret the apps' backends sign user tokens with "
            "(at least 32 characters, e.g. `openssl rand -hex 32`; docs/gateway.md)"
        )
    return settings.gateway_token_secret.get_secret_value().encode()


def print_token(settings: Settings, args: argparse.Namespace) -> int:
    if not args.user:
        raise CesError("gateway token: --user is required")
    if not 0 < args.ttl <= settings.gateway_token_max_ttl_seconds:
        raise CesError(f"gateway token: --ttl must be 1..{settings.gateway_token_max_ttl_seconds:.0f} seconds")
    try:
        print(mint_token(token_secret(settings), args.user, int(time.time()) + args.ttl, args.app))
    except ValueError as exc:
        raise CesError(f"gateway token: {exc}") from None
    return 0


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Serve until SIGTERM or SIGINT (exit 0), or print a token.

    :raises CesError: when it cannot start (exit 2).
    """
    token_secret(settings)
    if args.action == "token":
        return print_token(settings, args)
    configure_logging(args.loglevel, settings)
    registry = load_registry(settings.goals_file)
    raise_open_files_limit()
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(serve(settings, registry))


def configure_logging(loglevel: str, settings: Settings) -> None:
    logging.basicConfig(
        level=loglevel.upper(), format="[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s"
    )
    # kafka-python tells every connection attempt at INFO, and its DEBUG names the records it sends.
    logging.getLogger("kafka").setLevel(logging.WARNING)
    # aiohttp's DEBUG lines about malformed requests may quote a request line, and with it a token.
    logging.getLogger("aiohttp").setLevel(max(logging.INFO, logging.getLogger().level))
    if settings.log_repeat_seconds > 0:  # a broker outage would otherwise write a line per attempt
        limit_repeats(logging.getLogger(), settings.log_repeat_seconds)


def raise_open_files_limit() -> None:
    """Every open stream is a socket: the soft limit of open files goes up to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        with suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else 1 << 20, hard))


def replay_seconds(settings: Settings, registry: GoalRegistry) -> float:
    """How far back the prompts are read at start: the setting, or the registry's longest prompt expiry."""
    if settings.gateway_replay_seconds is not None:
        return settings.gateway_replay_seconds
    expiries = [goal.prompt_expiry_seconds for goal in registry.goals]
    if registry.nps is not None:
        expiries.append(registry.nps.prompt_expiry_seconds)
    return max(expiries) + REPLAY_GRACE_S


def health_state(producer: GatewayProducer, reader: PromptReader, hub: Hub) -> tuple[bool, dict[str, Any]]:
    """Ready when the producer is connected and the reader polls, caught up with the replay window."""
    age_s = time.monotonic() - reader.last_poll
    body: dict[str, Any] = {
        "producer": "connected" if producer.connected else "connecting",
        "prompts": {
            "partitions": reader.assigned,
            "caught_up": reader.caught_up,
            "last_poll_seconds_ago": round(age_s, 1),
        },
        "connections": hub.connections,
        "buffered_prompts": hub.buffer.prompts,
    }
    problems = [p for p in (producer.last_error, reader.last_error) if p]
    if problems:
        body["problems"] = problems
    return producer.connected and reader.caught_up and age_s < HEALTHY_POLL_AGE_S, body


async def serve(settings: Settings, registry: GoalRegistry) -> int:
    """Run the gateway until a stop signal."""
    loop = asyncio.get_running_loop()
    stop_requested = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop_requested.set)
    threads_stop = threading.Event()
    key = settings.pseudonym_key.get_secret_value().encode()

    def user_ref(user_id: str) -> str:
        return pseudonymise(user_id, key)

    replay_s = replay_seconds(settings, registry)
    buffer = PromptBuffer(settings.gateway_buffer_prompts_per_user, settings.gateway_buffer_prompts, replay_s)
    metrics = GatewayMetrics(lambda: (buffer.prompts, buffer.users))
    hub = Hub(buffer, user_ref, metrics, settings.gateway_max_streams, settings.gateway_max_streams_per_user)
    topics = (settings.topic_goal_events, settings.topic_survey_answers, settings.topic_prompt_events)
    producer = GatewayProducer(settings, (*topics, settings.topic_dead_letter), threads_stop)

    def deliver(prompts: list[tuple[str, PromptRecord]], closures: list[tuple[str, Closure]], unreadable: int) -> None:
        loop.call_soon_threadsafe(hub.take, prompts, closures, unreadable)  # from the reader's thread

    reader = PromptReader(settings, replay_s, user_ref, deliver, threads_stop)
    auth = Authenticator(settings, metrics, user_ref)
    posts = PostIntake(settings, producer, metrics, auth, frozenset(registry.slugs), user_ref)
    health = Health(lambda: health_state(producer, reader, hub))
    api = web.AppRunner(
        build_api(settings, metrics, posts, Delivery(settings, hub, auth, metrics), health),
        shutdown_timeout=SHUTDOWN_S,
        **runner_options(),
    )
    ops = web.AppRunner(build_ops(metrics, health), access_log=None, shutdown_timeout=SHUTDOWN_S)
    await api.setup()
    await ops.setup()
    expiry = asyncio.ensure_future(hub.expire_forever())
    try:
        await _bind(api, settings.gateway_host, settings.gateway_port, "CES_GATEWAY_PORT")
        await _bind(ops, settings.web_host, settings.gateway_metrics_port, "CES_GATEWAY_METRICS_PORT")
        producer.start()
        reader.start()
        log.info(
            "gateway: serving on %s:%d (/metrics on port %d); prompts of the last %.0f s are read at start",
            settings.gateway_host,
            settings.gateway_port,
            settings.gateway_metrics_port,
            replay_s,
        )
        await stop_requested.wait()
        log.info("gateway: stopping")
    finally:
        hub.close_all()
        threads_stop.set()
        await api.cleanup()
        await ops.cleanup()
        await cancel_quietly(expiry)
        await loop.run_in_executor(None, producer.close, CLOSE_TIMEOUT_S)
        reader.join(READER_JOIN_S)
    log.info("gateway: stopped")
    return 0


async def cancel_quietly(task: asyncio.Future[None]) -> None:
    """Cancel a background task and wait for it to end."""
    task.cancel()
    with suppress(asyncio.CancelledError):
        await task


async def _bind(runner: web.AppRunner, host: str, port: int, setting: str) -> None:
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        raise CesError(f"{setting} {port}: {exc}") from None
