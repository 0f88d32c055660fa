"""The user stage's logic: the prompt engine (who is asked, when), the answer joiner and the prompt-event joiner."""

from stream.ces.users.answer_joiner import AnswerDecision, decide_answer
from stream.ces.users.explain import Explanation, RuleVerdict, explain
from stream.ces.users.prompt_decision import PromptDecision, SuppressionReason
from stream.ces.users.prompt_engine import (
    decide_goal_event,
    expire_open_goals,
    longest_budget_s,
    longest_cooldown_s,
    next_deadline_s,
)
from stream.ces.users.prompt_events import PromptEventDecision, decide_prompt_event
from stream.ces.users.sampling import AdaptiveRates, GoalCounts
from stream.ces.users.state import UserState, may_have_deadlines

__all__ = [
    "AdaptiveRates",
    "AnswerDecision",
    "Explanation",
    "GoalCounts",
    "PromptDecision",
    "PromptEventDecision",
    "RuleVerdict",
    "SuppressionReason",
    "UserState",
    "decide_answer",
    "decide_goal_event",
    "decide_prompt_event",
    "expire_open_goals",
    "explain",
    "longest_budget_s",
    "longest_cooldown_s",
    "may_have_deadlines",
    "next_deadline_s",
]
