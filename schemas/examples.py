"""One valid example of every message, in its JSON form, as written into the generated JSON Schemas.

The examples follow one user through the DOMAIN.md flow: the invoice download completes, ces-stream
asks, the user answers 2 with a comment, the comment is forwarded, a window summary is emitted, and a
record that is not JSON is dead-lettered.
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel

from schemas.dead_letter import DeadLetter
from schemas.feedback_comment import FeedbackComment
from schemas.goal_event import GoalEvent
from schemas.goal_summary import GoalSummary
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
        "schema_version": 1,
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
    },
    SurveyAnswer: {
        "schema_version": 1,
        "answer_id": "9b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
        "prompt_id": "6a1e2b3c-4d5e-5f60-8172-839405a6b7c8",
        "user_id": "customer-4711",
        "goal": "download-invoice",
        "score": 2,
        "comment": "Ik moest de factuur in drie menu's zoeken.",
        "answered_at": "2025-01-31T09:31:02+01:00",
        "channel": "web",
    },
    FeedbackComment: {
        "schema_version": 1,
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
    },
    GoalSummary: {
        # The DOMAIN.md worked example: 40 x 5, 20 x 4, 5 x 3, 15 x 2, 20 x 1.
        "schema_version": 1,
        "goal": "download-invoice",
        "window": "1h",
        "window_seconds": 3600,
        "window_start": "2025-01-31T08:00:00Z",
        "window_end": "2025-01-31T09:00:00Z",
        "answers": 100,
        "positive": 60,
        "neutral": 5,
        "negative": 35,
        "distribution": {"1": 20, "2": 15, "3": 5, "4": 20, "5": 40},
        "mean_score": 3.45,
        "ces_ratio": 0.6,
        "net_effort": 0.25,
        "most_negative_ratio": 0.2,
        "wilson_lower": 0.4714,
        "wilson_upper": 0.7161,
        "confidence": 0.99,
        "prompts": 400,
        "response_ratio": 0.25,
        "outcomes": {"completed": 1500, "abandoned": 300, "abandoned_inferred": 200},
        "completion_ratio": 0.75,
        "target_ces_ratio": 0.8,
        "emitted_at": "2025-01-31T09:00:30Z",
    },
    DeadLetter: {
        "schema_version": 1,
        "reason": "not_json",
        "detail": "Invalid JSON: expected value at line 1 column 1",
        "source_topic": "ces.goal-events",
        "source_partition": 3,
        "source_offset": 18234,
        "source_key": "Y3VzdG9tZXItNDcxMQ==",
        "original": "bm90IGpzb24g/w==",
        "received_at": "2025-01-31T09:30:12.500000Z",
    },
}


def example_payload(model: type[BaseModel]) -> dict[str, Any]:
    """Return a fresh copy of the valid example of a message model, in its JSON form.

    :param model: one of the message classes (``GoalEvent``, ``SurveyPrompt``, ...).
    :returns: a JSON-compatible dict the caller may change.
    :raises KeyError: when ``model`` has no example.
    """
    return copy.deepcopy(_EXAMPLES[model])
