"""A record of ``ces.high-effort-answers`` as the feed webhook reads it, and its metric label.

The value must be a valid :class:`~schemas.high_effort_answer.HighEffortAnswer`; anything else
is a :class:`~stream.ces.intake.validation.Rejection` for the dead-letter topic (with the
intake's reasons: ``not_json``, ``schema_violation``, ``oversize``), never a crash.
"""

from __future__ import annotations

from collections.abc import Collection

from schemas import DeadLetterReason
from schemas.high_effort_answer import HighEffortAnswer
from stream.ces.intake.validation import Limits, Rejection, parse

# Metric label of a valid record whose goal the feed's registry does not know: the labels stay bounded.
OTHER_GOAL = "(other)"
# Metric label of a record that could not be read, so has no goal.
NO_GOAL = "(none)"
# The dead-letter reasons of a record that could not be read, and of one that could not be delivered.
READ_REASONS = (DeadLetterReason.not_json, DeadLetterReason.schema_violation, DeadLetterReason.oversize)
# The reasons only the feed webhook writes (the worker's inputs never get them).
WEBHOOK_REASONS = (DeadLetterReason.undeliverable, DeadLetterReason.delivery_timed_out)
DELIVERY_REASONS = (*WEBHOOK_REASONS, DeadLetterReason.processing_error)


def read_answer(value: bytes | None, max_bytes: int) -> HighEffortAnswer | Rejection:
    """The record's value as a high-effort answer, or why it is not one.

    :param max_bytes: a larger value is rejected as ``oversize`` (``CES_MAX_EVENT_BYTES``).
    """
    # Event times are the worker's own: no skew or lateness check applies here.
    return parse(value, HighEffortAnswer, Limits(max_event_bytes=max_bytes, future_skew_s=0, late_grace_s=0))


def goal_label(goal: str, registered: Collection[str]) -> str:
    """The ``goal`` label of a record: its goal when the registry has it, else :data:`OTHER_GOAL`."""
    return goal if goal in registered else OTHER_GOAL
