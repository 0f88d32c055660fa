"""Intake: raw input records validated into contracts, user ids pseudonymised, the internal envelope."""

from stream.ces.intake.envelope import Envelope, EnvelopeKind, user_id_from_record
from stream.ces.intake.pseudonym import partition_for, pseudonymise
from stream.ces.intake.validation import (
    Limits,
    Rejection,
    dead_letter,
    erasure_payload,
    validate_answer,
    validate_erasure_request,
    validate_goal_event,
    validate_prompt_event,
)

__all__ = [
    "Envelope",
    "EnvelopeKind",
    "Limits",
    "Rejection",
    "dead_letter",
    "erasure_payload",
    "partition_for",
    "pseudonymise",
    "user_id_from_record",
    "validate_answer",
    "validate_erasure_request",
    "validate_goal_event",
    "validate_prompt_event",
]
