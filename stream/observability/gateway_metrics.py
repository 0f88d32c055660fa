"""The metrics of ``ces-stream gateway``, in a registry of their own (its ``/metrics``).

Apart from :mod:`stream.observability.metrics` so that module stays within the size limit; the
same conventions. Label values come only from small fixed sets (endpoints, statuses, reasons):
never a user id, a token or free text.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from schemas import DeadLetterReason
from stream.ces.gateway import InputKind, TokenProblem
from stream.observability.metrics import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE_LATEST", "GatewayMetrics"]

#: The ``endpoint`` label: the routes of the API, CORS preflights, and ``other`` for every path it does not serve.
ENDPOINTS = (
    *(kind.value for kind in InputKind),
    "prompts-ticket",
    "prompts-stream",
    "prompts-poll",
    "health",
    "preflight",
    "other",
)
#: What became of one record of a POST.
ITEM_RESULTS = ("accepted", "duplicate", "rejected", "unavailable")
#: How a prompt reached its user: on a stream or by a long-poll; live (as it was read) or on a (re)connect.
DELIVERY_VIAS = ("stream", "poll")
DELIVERY_KINDS = ("live", "resume")
# Request latency: a POST waits for the broker's acknowledgement (ms), a long-poll for up to its wait.
REQUEST_BUCKETS_S = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# Delivery lag: from the prompt's created_at (the worker's decision) to its write on the stream.
DELIVERY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class GatewayMetrics:
    """The metric objects of one gateway.

    :param buffered: the prompts and the users the gateway holds now (read at each scrape).
    """

    def __init__(self, buffered: Callable[[], tuple[int, int]] = lambda: (0, 0)) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "ces_gateway_requests_total",
            "HTTP requests answered, per endpoint and status.",
            ["endpoint", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "ces_gateway_request_duration_seconds",
            "Time to answer a request, per endpoint (POSTs: until the broker acknowledged; long-polls: their wait "
            "included; streams are not timed: see ces_gateway_open_streams).",
            ["endpoint"],
            buckets=REQUEST_BUCKETS_S,
            registry=r,
        )
        self.items = Counter(
            "ces_gateway_records_total",
            "Records of POST bodies, per input and result: accepted (on the input topic), duplicate (accepted "
            "before), rejected (4xx, dead-lettered) or unavailable (503: the broker did not acknowledge in time).",
            ["input", "result"],
            registry=r,
        )
        self.dead_letters = Counter(
            "ces_gateway_dead_letters_total",
            "Records the gateway refused and wrote to the dead-letter topic, per input and reason.",
            ["input", "reason"],
            registry=r,
        )
        self.auth_failures = Counter(
            "ces_gateway_auth_failures_total",
            "Requests answered 401 (per reason the token or stream ticket was refused; token_in_url: a token in the "
            "URL) or 403 (reason forbidden: a record of another user).",
            ["reason"],
            registry=r,
        )
        self.unavailable = Counter(
            "ces_gateway_broker_unavailable_total",
            "Requests answered 503 because the broker did not acknowledge their records (or none is connected yet).",
            registry=r,
        )
        self.open_streams = Gauge(
            "ces_gateway_open_streams", "Prompt streams (Server-Sent Events) open now.", registry=r
        )
        self.waiting_polls = Gauge(
            "ces_gateway_waiting_polls", "Long-poll requests waiting for a prompt now.", registry=r
        )
        self.delivered = Counter(
            "ces_gateway_prompts_delivered_total",
            "Prompts written to a user's connection, per way (stream, poll) and kind (live: as read from the "
            "topic; resume: owed to a connection that (re)connected).",
            ["via", "kind"],
            registry=r,
        )
        self.delivery_lag = Histogram(
            "ces_gateway_delivery_lag_seconds",
            "From a prompt's created_at (the worker's decision) to its write on a connection that was waiting "
            "for it (live deliveries), per way.",
            ["via"],
            buckets=DELIVERY_BUCKETS_S,
            registry=r,
        )
        self.prompts_read = Counter(
            "ces_gateway_prompts_read_total",
            "Records read from the prompts topic, per result: buffered (new), repeated (held or closed already), "
            "expired, unreadable.",
            ["result"],
            registry=r,
        )
        buffered_prompts = Gauge(
            "ces_gateway_buffered_prompts", "Unexpired prompts held for streams that resume.", registry=r
        )
        buffered_prompts.set_function(lambda: buffered()[0])
        buffered_users = Gauge("ces_gateway_buffered_users", "Users with prompts or closures held.", registry=r)
        buffered_users.set_function(lambda: buffered()[1])
        for kind in InputKind:
            for result in ITEM_RESULTS:
                self.items.labels(kind.value, result)
        for problem in TokenProblem:
            self.auth_failures.labels(problem.value)
        self.auth_failures.labels("forbidden")
        for via in DELIVERY_VIAS:
            self.delivery_lag.labels(via)
            for kind_name in DELIVERY_KINDS:
                self.delivered.labels(via, kind_name)
        for result in ("buffered", "repeated", "expired", "unreadable"):
            self.prompts_read.labels(result)

    def dead_letter(self, kind: InputKind, reason: DeadLetterReason) -> None:
        self.dead_letters.labels(kind.value, reason.value).inc()

    def render(self) -> bytes:
        """The text exposition of every gateway metric."""
        return generate_latest(self.registry)
