"""``ces-stream erase --user ID``: ask the workers to forget one user (AVG/GDPR erasure).

Sends one :class:`schemas.ErasureRequest` to ``CES_TOPIC_ERASURE_REQUESTS``, keyed by the user id,
and returns once Kafka has it. The workers take it in order with that user's events: the per-user
state is deleted (tombstones in the tables' changelogs), the request is counted in
``ces_erasure_requests_total{outcome}``; figures stay. Sending a request again (with its
``--request-id``) changes nothing more. ``docs/personal-data.md`` says what an erasure cannot reach.

The user id is never printed: the output names the request id only.
"""

from __future__ import annotations

import argparse
import uuid
from datetime import UTC, datetime

from kafka.errors import KafkaError

from schemas import ErasureRequest
from stream.errors import CesError
from stream.infra.kafka_config import client_options
from stream.infra.preflight import check_kafka_access
from stream.infra.producer import make_producer
from stream.settings import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--user", required=True, help="the user id to forget, exactly as the apps send it")
    parser.add_argument(
        "--request-id", type=uuid.UUID, default=None, help="the request's id (default: a new one; reuse it to resend)"
    )


def erasure_request(user_id: str, request_id: uuid.UUID | None = None) -> ErasureRequest:
    """A valid request for ``user_id``, made now.

    :raises CesError: when the user id is not one the apps could have sent (empty, too long, control characters).
    """
    try:
        return ErasureRequest(request_id=request_id or uuid.uuid4(), user_id=user_id, requested_at=datetime.now(UTC))
    except ValueError:
        raise CesError("--user: not a valid user id (1..256 characters, no control characters)") from None


def send_erasure_request(settings: Settings, request: ErasureRequest, timeout_s: float = 30.0) -> None:
    """Write ``request`` to the erasure topic and wait until Kafka acknowledged it.

    :raises CesError: when Kafka cannot be reached or refuses the record (e.g. the topic does not exist).
    """
    check_kafka_access(settings)
    options = client_options(settings)
    producer = make_producer(
        options.pop("bootstrap_servers"), acks="all", max_block_ms=int(timeout_s * 1000), **options
    )
    try:
        future = producer.send(
            settings.topic_erasure_requests,
            key=request.kafka_key().encode(),
            value=request.model_dump_json().encode(),
        )
        future.get(timeout=timeout_s)
    except KafkaError as exc:
        raise CesError(
            f"the erasure request could not be written to {settings.topic_erasure_requests}: {type(exc).__name__} "
            "(does the topic exist? `ces-stream topics create` makes it)"
        ) from None
    finally:
        producer.close()


def run(settings: Settings, args: argparse.Namespace) -> int:
    request = erasure_request(args.user, args.request_id)
    send_erasure_request(settings, request)
    print(f"erasure request {request.request_id} written to {settings.topic_erasure_requests}")
    return 0
