"""ces-stream event contracts: pydantic v2 models of every message on the ces.* topics.

Imports only pydantic and the standard library. JSON Schema files generated from these models live in
``schemas/json/`` (``python -m schemas.generate``); ``schemas/asyncapi.yaml`` documents the topics.
"""

from schemas.common import (
    SCHEMA_VERSION,
    Channel,
    GoalSlug,
    InputModel,
    Locale,
    OutputModel,
    OutputPart,
    Timestamp,
    UserId,
)
from schemas.dead_letter import MAX_DETAIL_CHARS, MAX_KEY_BYTES, MAX_ORIGINAL_BYTES, DeadLetter, DeadLetterReason
from schemas.erasure_request import ErasureRequest
from schemas.feedback_comment import FeedbackComment, UserRef
from schemas.goal_event import GoalEvent, GoalEventType
from schemas.goal_summary import GoalSummary
from schemas.high_effort_answer import HighEffortAnswer
from schemas.prompt_event import PromptEvent, PromptEventType
from schemas.release_verdict import ReleaseVerdict
from schemas.survey_answer import MAX_COMMENT_CHARS, SurveyAnswer
from schemas.survey_prompt import PromptOutcome, ScaleKind, ScaleLabel, ScaleSpec, SurveyPrompt

__all__ = [
    "MAX_COMMENT_CHARS",
    "MAX_DETAIL_CHARS",
    "MAX_KEY_BYTES",
    "MAX_ORIGINAL_BYTES",
    "SCHEMA_VERSION",
    "Channel",
    "DeadLetter",
    "DeadLetterReason",
    "ErasureRequest",
    "FeedbackComment",
    "GoalEvent",
    "GoalEventType",
    "GoalSlug",
    "GoalSummary",
    "HighEffortAnswer",
    "InputModel",
    "Locale",
    "OutputModel",
    "OutputPart",
    "PromptEvent",
    "PromptEventType",
    "PromptOutcome",
    "ReleaseVerdict",
    "ScaleKind",
    "ScaleLabel",
    "ScaleSpec",
    "SurveyAnswer",
    "SurveyPrompt",
    "Timestamp",
    "UserId",
    "UserRef",
]
