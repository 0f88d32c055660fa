"""The pure logic of ``ces-stream gateway``: its settings, the user token (``token``), the stream ticket
that stands for it in URLs (``ticket``), POST bodies read with the intake's checks (``bodies``),
recently accepted ids (``recent``), prompts as it delivers them (``prompts``) and its per-user
memory of them (``buffer``). The HTTP server and its Kafka clients are
``stream/tools/gateway/``."""

from stream.ces.gateway.bodies import (
    GATEWAY_DETAIL,
    Body,
    BodyProblem,
    InputKind,
    Item,
    gateway_dead_letter,
    lenient_user_id,
    read_body,
    split_array,
)
from stream.ces.gateway.buffer import PromptBuffer
from stream.ces.gateway.prompts import (
    HEARTBEAT,
    Closure,
    EventId,
    PromptRecord,
    parse_event_id,
    read_closure,
    read_prompt,
    sse_event,
    sse_prompt,
    stream_preamble,
)
from stream.ces.gateway.recent import RecentIds
from stream.ces.gateway.settings import GatewaySettings
from stream.ces.gateway.ticket import TicketClaims, mint_ticket, ticket_key, verify_ticket
from stream.ces.gateway.token import TokenClaims, TokenProblem, TokenRejection, mint_token, verify_token

__all__ = [
    "GATEWAY_DETAIL",
    "HEARTBEAT",
    "Body",
    "BodyProblem",
    "Closure",
    "EventId",
    "GatewaySettings",
    "InputKind",
    "Item",
    "PromptBuffer",
    "PromptRecord",
    "RecentIds",
    "TicketClaims",
    "TokenClaims",
    "TokenProblem",
    "TokenRejection",
    "gateway_dead_letter",
    "lenient_user_id",
    "mint_ticket",
    "mint_token",
    "parse_event_id",
    "read_body",
    "read_closure",
    "read_prompt",
    "split_array",
    "sse_event",
    "sse_prompt",
    "stream_preamble",
    "ticket_key",
    "verify_ticket",
    "verify_token",
]
