"""One valid example of every message, in its JSON form, as written into the generated JSON Schemas.

The examples follow one user through the flow of docs/domain.md: the invoice download completes, ces-stream
asks, the user answers 2 with a comment, the comment is forwarded, a window summary is emitted, and a
record that is not JSON is dead-lettered; later the user asks to be forgotten.
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel

from schemas.dead_letter import DeadLetter
from schemas.erasure_request import ErasureRequest
from schemas.feedback_comment import FeedbackComment
from schemas.goal_event import GoalEvent
from schemas.goal_summary import GoalSummary
from schemas.high_effort_answer import HighEffortAnswer
from schemas.prompt_event import PromptEvent
from schemas.release_verdict import ReleaseVerdict
from schemas.summary_example import GOAL_SUMMARY_EXAMPLE
from schemas.survey_answer import SurveyAnswer
from schemas.survey_prompt import SurveyPrompt

_EXAMPLES: dict[type[BaseModel], dict[str, Any]] = {
    GoalEvent: {
        "schema_version": 1,
        "event_id": "0f6c2d5e-4a8b-4c1d-9e2f-3a4b5c6d7e8f",
        "type": "completed",
        "goal": "download-invoice",
        "user_id": "customer-4711",
        "session_id": "s-20250131-0930-ab12",
        "occurred_at": "2025-01-31T09:30:12.250000Z",
        "channel": "web",
        "locale": "nl-NL",
        "app_version": "web-2025.01.3",
        "attributes": {"invoice_kind": "monthly"},
    },
    SurveyPrompt: {
        "schema_version": 2,
        "prompt_id": "6a1e2b3c-4d5e-5f60-8172-839405a6b7c8",
        "user_id": "customer-4711",
        "goal": "download-invoice",
        "outcome": "completed",
        "locale": "nl-NL",
        "question": "Hoe moeilijk of gemakkelijk was het voor u om uw factuur te downloaden?",
        "follow_up_question": "Wat kunnen we doen om dit gemakkelijker te maken?",
        "scale": {
            "kind": "five_point",
            "min_score": 1,
            "max_score": 5,
            "inverted": False,
            "labels": [{"value": 1, "label": "Zeer moeilijk"}, {"value": 5, "label": "Zeer gemakkelijk"}],
        },
        "created_at": "2025-01-31T09:30:13Z",
        "expires_at": "2025-01-31T10:00:13Z",
        "event_id": "0f6c2d5e-4a8b-4c1d-9e2f-3a4b5c6d7e8f",
        "survey": "ces",
        "follow_ups": [
            {"band": "negative", "scores": [1, 2], "question": "Wat maakte het moeilijk?"},
            {"band": "neutral", "scores": [3], "question": "Wat kunnen we doen om dit gemakkelijker te maken?"},
        ],
    },
    SurveyAnswer: {
        "schema_version": 2,
        "answer_id": "9b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
        "prompt_id": "6a1e2b3c-4d5e-5f60-8172-839405a6b7c8",
        "user_id": "customer-4711",
        "goal": "download-invoice",
        "score": 2,
        "comment": "Ik moest de factuur in drie menu's zoeken.",
        "answered_at": "2025-01-31T09:31:02+01:00",
        "channel": "web",
        "survey": "ces",
    },
    PromptEvent: {
        "schema_version": 1,
        "event_id": "3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f",
        "type": "shown",
        "prompt_id": "6a1e2b3c-4d5e-5f60-8172-839405a6b7c8",
        "user_id": "customer-4711",
        "goal": "download-invoice",
        "occurred_at": "2025-01-31T09:30:41+01:00",
        "channel": "web",
    },
    FeedbackComment: {
        "schema_version": 2,
        "answer_id": "9b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
        "prompt_id": "6a1e2b3c-4d5e-5f60-8172-839405a6b7c8",
        "goal": "download-invoice",
        "outcome": "completed",
        "score": 2,
        "user_ref": "3f2a9c41d07b6e58a1c4f09e2b7d3a61",
        "comment": "Ik moest de factuur in drie menu's zoeken.",
        "answered_at": "2025-01-31T08:31:02Z",
        "channel": "web",
        "locale": "nl-NL",
        "survey": "ces",
    },
    HighEffortAnswer: {
        "schema_version": 1,
        "answer_id": "9b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
        "prompt_id": "6a1e2b3c-4d5e-5f60-8172-839405a6b7c8",
        "goal": "download-invoice",
        "survey": "ces",
        "outcome": "completed",
        "score": 2,
        "user_ref": "3f2a9c41d07b6e58a1c4f09e2b7d3a61",
        "comment": "Ik moest de factuur in drie menu's zoeken. Bel me op [phone].",
        "answered_at": "2025-01-31T08:31:02Z",
        "channel": "web",
        "locale": "nl-NL",
        "app_version": None,
        "may_contact": True,
    },
    GoalSummary: GOAL_SUMMARY_EXAMPLE,
    DeadLetter: {
        "schema_version": 1,
        "reason": "not_json",
        "detail": "Invalid JSON: expected value at line 1 column 1",
        "source_topic": "ces.goal-events",
        "source_partition": 3,
        "source_offset": 18234,
        "source_key": "Y3VzdG9tZXItNDcxMQ==",
        "original": "bm90IGpzb24g/w==",
        "original_size": 10,
        "truncated": False,
        "received_at": "2025-01-31T09:30:12.500000Z",
    },
    ReleaseVerdict: {
        "schema_version": 1,
        "goal": "download-invoice",
        "survey": "ces",
        "channel": "web",
        "version": "web-2025.01.4",
        "previous_version": "web-2025.01.3",
        "direction": "worse",
        "difference": -0.09,
        "lower": -0.14,
        "upper": -0.04,
        "answers": 412,
        "previous_answers": 2315,
        "error_rate": 0.05,
        "window": "28d",
        "first_seen": "2025-01-31T08:35:00Z",
        "decided_at": "2025-02-02T14:05:10Z",
        "text": "web-2025.01.4 · download-invoice · web: \u22120.09 [\u22120.14, \u22120.04] after 412 answers "
        "(worse than web-2025.01.3)",
    },
    ErasureRequest: {
        "schema_version": 1,
        "request_id": "6f1c2b7e-3d4a-4f5b-9c8d-7e6f5a4b3c2d",
        "user_id": "customer-4711",
        "requested_at": "2025-02-03T10:00:00Z",
    },
}


def example_payload(model: type[BaseModel]) -> dict[str, Any]:
    """Return a fresh copy of the valid example of a message model, in its JSON form.

    :param model: one of the message classes (``GoalEvent``, ``SurveyPrompt``, ...).
    :returns: a JSON-compatible dict the caller may change.
    :raises KeyError: when ``model`` has no example.
    """
    return copy.deepcopy(_EXAMPLES[model])
