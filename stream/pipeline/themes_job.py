"""The comment themes of one goal over the last days, for ``/api/themes``: run in a process of its own.

A worker holds no comments: the user stage publishes them to the feedback comments topic, keyed by the goal.
:func:`goal_themes` reads that topic back with a group-less consumer (no group, no commits: it never disturbs a
worker) from the first record at ``now - days`` (by record time, less ``CES_FUTURE_SKEW_SECONDS``) up to the end
offsets taken when the read starts, keeps the goal's records (by key, then by ``goal``), and selects as
``ces-stream report`` does (:func:`select_comments`): comments on the goal's own question (not the NPS's),
answered in the period, one per answer, personal data masked again (records written before the worker masked
them), at most :data:`MAX_COMMENTS` (the newest). It runs
:func:`~stream.ces.comments.themes.find_themes` with the rising test's halves split at the middle of the period
and returns the JSON the page reads (:func:`themes_json`).

The worker calls it in a ``spawn`` process (``stream.pipeline.themes_api``): the read and the computation take
seconds and hold the GIL, and numpy, scipy and scikit-learn (a second to import) stay out of the worker. This
module imports none of them at its top: the worker imports it to hand the function to the process.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from schemas import FeedbackComment
from schemas.survey_answer import MAX_COMMENT_CHARS
from schemas.survey_prompt import SurveyKind
from stream.ces.comments import mask_personal_data
from stream.ces.registry import Scale, Sentiment
from stream.infra.topic_read import read_topic
from stream.settings import Settings

if TYPE_CHECKING:  # the themes modules load numpy and scikit-learn: imported in the process that computes
    from stream.ces.comments.themes import CommentThemes

MAX_COMMENTS = 100_000  # the newest of the goal's comments in the period: their themes take 5 to 10 s
READ_TIMEOUT_S = 120.0  # the whole read, connecting included (100 000 comments: 12 to 38 s measured)
CONNECT_TIMEOUT_S = 10.0  # kafka-python's bootstrap waits 30 s by default for a broker that does not answer


@dataclass(frozen=True)
class Selection:
    """The comments the themes are found in, and what the read left out."""

    comments: list[FeedbackComment]  # oldest first, at most the limit
    matched: int  # the goal's comments on its own question in the period, before the limit (repeats included)
    invalid: int  # the records of the goal's key that do not validate as FeedbackComment
    truncated: bool  # more than the limit matched: the oldest were left out


def masked(comment: FeedbackComment) -> FeedbackComment:
    """The comment with its personal data masked (as ``ces-stream report`` masks what it reads)."""
    text = mask_personal_data(comment.comment).text[:MAX_COMMENT_CHARS]
    return comment if text == comment.comment else comment.model_copy(update={"comment": text})


def select_comments(values: Iterable[bytes | None], goal: str, start: datetime, limit: int = MAX_COMMENTS) -> Selection:
    """The goal's comments on its own question answered from ``start`` on, as the report selects them.

    One per answer (outputs are at-least-once: the last read wins), the newest ``limit`` by answer time
    (ties: the later read), masked, oldest first. Values of other goals are skipped; values that do not
    validate are counted; tombstones are neither.
    """
    newest: list[tuple[datetime, int, FeedbackComment]] = []  # a min-heap: the oldest kept on top
    matched = invalid = 0
    order = itertools.count()
    for value in values:
        if value is None:
            continue
        try:
            comment = FeedbackComment.model_validate_json(value)
        except ValidationError:
            invalid += 1
            continue
        if comment.goal != goal or comment.survey is SurveyKind.nps or comment.answered_at < start:
            continue
        matched += 1
        entry = (comment.answered_at, next(order), comment)
        if len(newest) < limit:
            heapq.heappush(newest, entry)
        else:
            heapq.heappushpop(newest, entry)
    unique = {comment.answer_id: comment for _, _, comment in sorted(newest, key=lambda entry: entry[:2])}
    kept = sorted(unique.values(), key=lambda comment: comment.answered_at)
    return Selection([masked(comment) for comment in kept], matched, invalid, truncated=matched > limit)


class GoalRecords:
    """The values of one key in one topic from a time on, up to the end offsets at the start of the read.

    Iterate once; ``scanned`` counts every record read (every key). :raises CesError: when the broker cannot be
    reached, the topic does not exist, or the read takes over ``timeout_s``.
    """

    def __init__(self, settings: Settings, topic: str, key: bytes, since: datetime, timeout_s: float) -> None:
        self.settings = settings
        self.topic = topic
        self.key = key
        self.since = since
        self.timeout_s = timeout_s
        self.scanned = 0

    def __iter__(self) -> Iterator[bytes | None]:
        connect_timeout_s = min(CONNECT_TIMEOUT_S, self.timeout_s)
        records = read_topic(
            self.settings, self.topic, since=self.since, timeout_s=self.timeout_s, connect_timeout_s=connect_timeout_s
        )
        for record in records:
            self.scanned += 1
            if record.key == self.key:
                yield record.value


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(timespec="milliseconds")


def is_negative(scale: Scale, score: int) -> bool:
    """A score on the negative side of the goal's scale (as the report reads it)."""
    return scale.contains(score) and scale.classify(score) is Sentiment.negative


def themes_json(
    themes: CommentThemes,
    sources: dict[int, FeedbackComment],
    *,
    goal: str,
    days: int,
    start: datetime,
    end: datetime,
    selection: Selection,
    records_read: int,
    computed_at: datetime,
    read_seconds: float,
    compute_seconds: float,
) -> dict[str, Any]:
    """What ``/api/themes`` answers: the period, what was read, and every theme, largest first.

    ``sources`` maps each theme comment (by identity: the themes hand back the very objects) to its record,
    for the representatives' scores.
    """
    total = themes.comments
    items = []
    for theme in themes.themes:
        rise = theme.rise
        items.append(
            {
                "label": list(theme.terms),
                "label_text": theme.label,
                "count": theme.count,
                "share": theme.count / total if total else None,
                "negative": theme.negative,
                "negative_share": theme.negative_share,
                "rising": rise.rising,
                "p_value": rise.p_value,
                "first_half_share": rise.first_share,
                "second_half_share": rise.second_share,
                "representatives": [
                    {
                        "text": comment.text,
                        "score": sources[id(comment)].score,
                        "answered_at": _iso(comment.at),
                        "locale": comment.locale,
                    }
                    for comment in theme.representatives
                ],
            }
        )
    return {
        "goal": goal,
        "days": days,
        "period_start": _iso(start),
        "period_end": _iso(end),
        "split_at": _iso(themes.split_at),
        "records_read": records_read,
        "comments_read": selection.matched,
        "comments": total,
        "negative": themes.negative,
        "unthemed": themes.unthemed,
        "invalid_records": selection.invalid,
        "truncated": selection.truncated,
        "max_comments": MAX_COMMENTS,
        "computed_at": _iso(computed_at),
        "read_seconds": round(read_seconds, 3),
        "compute_seconds": round(compute_seconds, 3),
        "themes": items,
    }


def period_themes(
    selection: Selection,
    scale: Scale,
    *,
    goal: str,
    days: int,
    now: datetime,
    records_read: int,
    read_seconds: float = 0.0,
) -> dict[str, Any]:
    """The themes of the selected comments over the ``days`` up to ``now``, halves split at the middle, as JSON.

    ``read_seconds`` is how long reading them took; the answer says it, and how long the themes took (the
    first time in a process with the import of scikit-learn).
    """
    began = time.monotonic()
    from stream.ces.comments.themes import ThemeComment, find_themes

    start = now - timedelta(days=days)
    sources = {}
    theme_comments = []
    for comment in selection.comments:
        negative = is_negative(scale, comment.score)
        theme_comment = ThemeComment(comment.comment, comment.locale, negative, comment.answered_at)
        sources[id(theme_comment)] = comment  # the list keeps every object alive: ids stay unique
        theme_comments.append(theme_comment)
    themes = find_themes(theme_comments, split_at=start + (now - start) / 2)
    return themes_json(
        themes,
        sources,
        goal=goal,
        days=days,
        start=start,
        end=now,
        selection=selection,
        records_read=records_read,
        computed_at=datetime.now(now.tzinfo),
        read_seconds=read_seconds,
        compute_seconds=time.monotonic() - began,
    )


def goal_themes(settings: Settings, goal: str, scale: Scale, days: int, now: datetime) -> dict[str, Any]:
    """The themes of ``goal``'s comments in the ``days`` up to ``now``, as ``/api/themes`` answers them.

    :raises CesError: when the comments cannot be read (broker unreachable, no topic, too slow a read).
    """
    began = time.monotonic()
    start = now - timedelta(days=days)
    records = GoalRecords(
        settings,
        settings.topic_feedback_comments,
        goal.encode(),
        start - timedelta(seconds=settings.future_skew_seconds),  # a record is written at or after its answer
        READ_TIMEOUT_S,
    )
    selection = select_comments(records, goal, start)
    read_seconds = time.monotonic() - began
    return period_themes(
        selection, scale, goal=goal, days=days, now=now, records_read=records.scanned, read_seconds=read_seconds
    )
