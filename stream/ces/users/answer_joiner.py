"""The answer joiner: a survey answer against the user's pending prompt.

Pure and deterministic, like :mod:`stream.ces.users.prompt_engine`: the decision depends only on the
answer, its source ``offset``, ``now_s`` and the user's state, which it updates.

Rules, in order: the prompt id is not known for this user (never issued, or forgotten)
-> ``unknown_prompt``; the answer names another goal, or another survey kind, than the prompt
-> ``schema_violation``; a record without a score (its comment, sent after the score) joins the
answered prompt once (:func:`_join_comment`), and is ``no_score`` while the prompt has none;
the prompt was answered before -> the same answer again re-emits its recorded fact with
the ORIGINAL offset (a replay at the same offset, which also re-sends its comment; a reported
``duplicate`` at another, which does not),
another answer is a ``duplicate`` without a fact; answered after ``expires_at`` plus
:data:`ANSWER_GRACE_S` -> ``expired_prompt`` (answers after expiry are dead-lettered, not
counted); the score is not a point of the prompt's scale -> ``score_out_of_range``; else
an :class:`AnswerFact` at ``answered_at``, classified on the scale the prompt was asked
on, and a :class:`FeedbackComment` (pseudonymous ``user_ref``) when the comment is not blank.
A negative CES answer is remembered as the user's latest high-effort answer (the NPS split).
"""

from __future__ import annotations

import functools
from collections import Counter
from dataclasses import dataclass, field

from schemas.dead_letter import DeadLetterReason
from schemas.feedback_comment import FeedbackComment
from schemas.high_effort_answer import HighEffortAnswer
from schemas.survey_answer import MAX_COMMENT_CHARS, SurveyAnswer
from schemas.survey_prompt import PromptOutcome, SurveyKind
from stream.ces.comments import PersonalData, mask_personal_data
from stream.ces.goals import HIGH_EFFORT, NPS, REST, AnswerFact
from stream.ces.registry import Scale, Sentiment
from stream.ces.registry.scales import scale_of
from stream.ces.users.prompt_records import AnsweredPrompt, PendingPrompt
from stream.ces.users.state import ANSWER_GRACE_S, UserState

__all__ = ["ANSWER_GRACE_S", "AnswerDecision", "PublishedComment", "decide_answer"]


@dataclass(frozen=True, slots=True)
class PublishedComment:
    """An answer's comment as it leaves the worker.

    :param feedback: the comment, its personal data masked, for ``ces.feedback-comments``.
    :param masked: how much personal data of each kind was masked in it.
    :param high_effort: the same answer for ``ces.high-effort-answers``, when its score is in
        the negative band of its scale.
    """

    feedback: FeedbackComment
    masked: Counter[PersonalData]
    high_effort: HighEffortAnswer | None


@dataclass(frozen=True, slots=True)
class AnswerDecision:
    """What one survey answer led to.

    :param prompt_id: the answered prompt.
    :param answer_id: the answer.
    :param facts: ``(source offset, AnswerFact)`` pairs, zero or one; the offset is the
        original one on replay and duplicate.
    :param comment: the comment to publish, if the answer carries one and counts.
    :param dead_letter_reason: why the answer goes to the dead letters, if it does.
    :param detail: explanation for the dead letter.
    :param replayed: True when the fact was re-emitted from the record, not decided now.
    """

    prompt_id: str
    answer_id: str
    facts: list[tuple[int, AnswerFact]] = field(default_factory=list)
    comment: PublishedComment | None = None
    dead_letter_reason: DeadLetterReason | None = None
    detail: str = ""
    replayed: bool = False

    @property
    def feedback(self) -> FeedbackComment | None:
        return self.comment.feedback if self.comment is not None else None


def decide_answer(
    state: UserState,
    answer: SurveyAnswer,
    *,
    user_ref: str,
    offset: int,
    now_s: float,
    high_effort_window_s: float = 0.0,
) -> AnswerDecision:
    """Judge one answer against the user's prompts, and record an accepted one in ``state``.

    :param state: the user's state; updated in place when the answer is accepted.
    :param answer: the validated survey answer.
    :param user_ref: the user's pseudonymous reference (goes into the feedback comment).
    :param offset: source offset of the answer on the internal per-user topic.
    :param now_s: Kafka timestamp of that record, epoch seconds (only used to date the record).
    :param high_effort_window_s: an NPS answer counts in the high-effort group when the user's latest
        negative CES answer was at most this long before it (``nps.high_effort.window_seconds``).
    :returns: the decision.
    """
    prompt_id = str(answer.prompt_id)
    answer_id = str(answer.answer_id)
    answered = state.answered.get(prompt_id)
    pending = state.pending.get(prompt_id)

    def reject(reason: DeadLetterReason, detail: str) -> AnswerDecision:
        return AnswerDecision(prompt_id, answer_id, dead_letter_reason=reason, detail=detail)

    known = answered if answered is not None else pending
    if known is None:
        return reject(DeadLetterReason.unknown_prompt, f"no prompt {prompt_id} is known for this user")
    prompt_goal = known.goal
    if answer.goal != prompt_goal:
        return reject(
            DeadLetterReason.schema_violation,
            f"goal: the answer names {answer.goal!r} but prompt {prompt_id} asked about {prompt_goal!r}",
        )
    if answer.survey is not None and answer.survey.value != known.survey:
        return reject(
            DeadLetterReason.schema_violation,
            f"survey: the answer names {answer.survey.value!r} but prompt {prompt_id} asked {known.survey!r}",
        )
    if answer.score is None:
        if answered is None:
            return reject(DeadLetterReason.no_score, f"a comment for prompt {prompt_id}, which has no score yet")
        return _join_comment(state, answered, answer, user_ref=user_ref, offset=offset)
    if answered is not None:
        return _answered_again(answered, answer, user_ref=user_ref, offset=offset)
    assert pending is not None

    answered_at_s = answer.answered_at.timestamp()
    if answered_at_s > pending.expires_at_s + ANSWER_GRACE_S:
        return reject(
            DeadLetterReason.expired_prompt,
            f"answered at {answer.answered_at.isoformat()}, "
            f"{answered_at_s - pending.expires_at_s:.0f} s after prompt {prompt_id} expired",
        )
    scale = _scale_of(pending)
    if not scale.contains(answer.score):
        return reject(
            DeadLetterReason.score_out_of_range,
            f"score {answer.score} is not a point of the {scale.kind} scale "
            f"({scale.min_score}..{scale.max_score}) of prompt {prompt_id}",
        )

    sentiment = scale.classify(answer.score)
    effort_group = ""
    if pending.survey == NPS:
        since_s = None if state.high_effort_at_s is None else answered_at_s - state.high_effort_at_s
        effort_group = HIGH_EFFORT if since_s is not None and 0 <= since_s <= high_effort_window_s else REST
    elif sentiment is Sentiment.negative and pending.survey == SurveyKind.ces.value:
        last = state.high_effort_at_s
        state.high_effort_at_s = answered_at_s if last is None else max(last, answered_at_s)
    record = AnsweredPrompt(
        answer_id=answer_id,
        offset=offset,
        score=answer.score,
        sentiment=sentiment.value,
        answered_at_s=answered_at_s,
        goal=pending.goal,
        outcome=pending.outcome,
        locale=pending.locale,
        recorded_at_s=now_s,
        channel=pending.channel or answer.channel.value,  # prompts from before channels were kept
        effort_band=pending.effort_band,
        survey=pending.survey,
        effort_group=effort_group,
        app_version=pending.app_version,
        # An answer that brings its comment has it: a later comment-only record is a duplicate.
        comment_id=answer_id if (answer.comment or "").strip() else "",
        comment_offset=offset if (answer.comment or "").strip() else -1,
    )
    del state.pending[prompt_id]
    state.answered[prompt_id] = record
    state.note_offset(offset)
    comment = _published(record, answer, user_ref)
    return AnswerDecision(prompt_id, answer_id, facts=[(offset, _fact_of(record, answer))], comment=comment)


def _join_comment(
    state: UserState, answered: AnsweredPrompt, answer: SurveyAnswer, *, user_ref: str, offset: int
) -> AnswerDecision:
    """A comment sent after its score: published once with the recorded score, counted nowhere else.

    The first such record of an answered prompt is recorded (id and offset); delivered again at
    that offset it is re-sent (a replay), at another it is a ``duplicate``, as is any other
    comment record, or one for an answer that brought its comment along.
    """
    prompt_id = str(answer.prompt_id)
    answer_id = str(answer.answer_id)
    if not answered.comment_id:
        answered.comment_id = answer_id
        answered.comment_offset = offset
        state.note_offset(offset)
        return AnswerDecision(prompt_id, answer_id, comment=_published(answered, answer, user_ref))
    if answer_id == answered.comment_id and offset == answered.comment_offset:
        comment = _published(answered, answer, user_ref)
        return AnswerDecision(prompt_id, answer_id, comment=comment, replayed=True)
    joined = answered.comment_id or answered.answer_id
    return AnswerDecision(
        prompt_id,
        answer_id,
        dead_letter_reason=DeadLetterReason.duplicate,
        detail=f"prompt {prompt_id} already has its comment (record {joined})",
    )


def _answered_again(answered: AnsweredPrompt, answer: SurveyAnswer, *, user_ref: str, offset: int) -> AnswerDecision:
    prompt_id = str(answer.prompt_id)
    answer_id = str(answer.answer_id)
    if answer_id != answered.answer_id:
        return AnswerDecision(
            prompt_id,
            answer_id,
            dead_letter_reason=DeadLetterReason.duplicate,
            detail=f"prompt {prompt_id} was already answered by answer {answered.answer_id}",
        )
    decision = AnswerDecision(
        prompt_id,
        answer_id,
        facts=[(answered.offset, _fact_of(answered, answer))],
        comment=_published(answered, answer, user_ref),
        replayed=True,
    )
    if offset == answered.offset:
        return decision
    # A duplicate (another record) does not publish the comment again: the first record did, or
    # is replayed itself (it lies past the committed offset too) and re-sends it then.
    return AnswerDecision(
        prompt_id,
        answer_id,
        facts=decision.facts,
        dead_letter_reason=DeadLetterReason.duplicate,
        detail=f"answer {answer_id} was already processed at offset {answered.offset}",
        replayed=True,
    )


def _scale_of(pending: PendingPrompt) -> Scale:
    return _scale(pending.scale_kind, pending.min_score, pending.max_score, pending.inverted, pending.positive)


@functools.lru_cache(maxsize=256)
def _scale(kind: str, min_score: int, max_score: int, inverted: bool, positive: tuple[int, ...]) -> Scale:
    # A handful of distinct scales, one per answer: build (and check) each once.
    return scale_of(kind, min_score, max_score, inverted, frozenset(positive))


def _fact_of(answered: AnsweredPrompt, answer: SurveyAnswer) -> AnswerFact:
    # A record from before channels were kept counts under the answer's channel.
    channel = answered.channel or answer.channel.value
    return AnswerFact(
        answered.goal,
        answered.answered_at_s,
        answered.score,
        Sentiment(answered.sentiment),
        answered.outcome,
        channel,
        answered.effort_band,
        answered.survey,
        answered.effort_group,
        answered.app_version,
    )


def _published(answered: AnsweredPrompt, answer: SurveyAnswer, user_ref: str) -> PublishedComment | None:
    """The answer's comment (stripped, its personal data masked) with the recorded score and prompt context.

    None when blank. A negative-band answer is also a high-effort answer, with the user's
    ``may_contact`` as the record that brings the comment says it.
    """
    text = (answer.comment or "").strip()
    if not text:
        return None
    masked = mask_personal_data(text)
    feedback = FeedbackComment(
        answer_id=answer.answer_id,
        prompt_id=answer.prompt_id,
        goal=answered.goal,
        outcome=PromptOutcome(answered.outcome),
        score=answered.score,
        user_ref=user_ref,
        comment=masked.text[:MAX_COMMENT_CHARS],  # a marker may be longer than what it replaced
        answered_at=answer.answered_at,
        channel=answer.channel,
        locale=answered.locale,
        survey=SurveyKind(answered.survey),
    )
    high_effort = None
    if answered.sentiment == Sentiment.negative.value:
        app_version = answered.app_version or None
        high_effort = HighEffortAnswer.of(feedback, may_contact=answer.may_contact, app_version=app_version)
    return PublishedComment(feedback, masked.counts, high_effort)
