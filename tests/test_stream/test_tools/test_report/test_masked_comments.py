"""The report masks the personal data of comments written before the worker masked them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from schemas import FeedbackComment
from schemas.common import Channel
from schemas.survey_answer import MAX_COMMENT_CHARS
from schemas.survey_prompt import PromptOutcome
from stream.tools.report.command import masked


def comment(text: str) -> FeedbackComment:
    return FeedbackComment(
        answer_id=uuid.uuid4(),
        prompt_id=uuid.uuid4(),
        goal="file-claim",
        outcome=PromptOutcome.completed,
        score=1,
        user_ref="0" * 32,
        comment=text,
        answered_at=datetime(2026, 12, 1, tzinfo=UTC),
        channel=Channel.web,
    )


def test_an_old_comment_with_personal_data_is_masked_and_the_rest_of_it_kept() -> None:
    old = comment("Bel me op 06 1234 5678, mijn BSN is 111222333")
    shown = masked(old)
    assert shown.comment == "Bel me op [phone], mijn BSN is [bsn]"
    assert shown.model_dump(exclude={"comment"}) == old.model_dump(exclude={"comment"})


def test_a_comment_without_personal_data_is_the_same_record() -> None:
    clean = comment("Het menu was onduidelijk")
    assert masked(clean) is clean


def test_a_comment_at_the_maximum_length_stays_within_it() -> None:
    full = comment(("x" * (MAX_COMMENT_CHARS - 8)) + " 1234ab1")  # "[address]" is longer than "1234ab1"
    assert len(masked(full).comment) == MAX_COMMENT_CHARS
