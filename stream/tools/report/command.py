"""``ces-stream report``: one self-contained HTML file of every goal's CES over a month, a quarter or dates.

For a product team, not for on-call: per goal the CES trend, the score distribution, CES
at completion vs at exits, the prompt funnel, response and completion ratios, CES per app release
with the verdict of each channel's newest release, and the most recent low-score comments. It reads
the summaries topic and the feedback comments topic from the beginning up to their end offsets at
start, with a group-less consumer (no commits, no consumer group: it never disturbs a worker),
keeps what falls in the period and writes the file
(:mod:`stream.tools.report.figures`, :mod:`stream.tools.report.html`).

The topics keep ``CES_TOPIC_RETENTION_HOURS`` (7 days by default): for a month or a quarter,
raise it, or the report says how few of the period's windows it found.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from schemas import FeedbackComment, GoalSummary
from schemas.goal_summary import GOAL_SUMMARY_SCHEMA_VERSION, OLDEST_GOAL_SUMMARY_SCHEMA_VERSION
from schemas.survey_answer import MAX_COMMENT_CHARS
from stream.ces.comments import mask_personal_data
from stream.ces.goals import parse_duration
from stream.ces.registry import load_registry
from stream.infra.topic_read import read_topic
from stream.settings import Settings
from stream.tools.report.digest import build_digest, previous_period, team_goals, week_period
from stream.tools.report.digest_html import render_digest
from stream.tools.report.figures import PERIOD_KINDS, Period, Report, build_report, period_of
from stream.tools.report.html import render_report

READ_TIMEOUT_S = 120.0
Model = TypeVar("Model", bound=BaseModel)


def iso_date(text: str) -> date:
    """A day as YYYY-MM-DD (argparse names this function in its error message)."""
    return date.fromisoformat(text)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The sub-command's options."""
    parser.add_argument(
        "--period",
        choices=(*PERIOD_KINDS, "week"),
        default="month",
        help="month or quarter (the one holding --from, default today), custom (--from to --to), or week "
        "(the ISO week holding --from, default the last complete week)",
    )
    parser.add_argument(
        "--from",
        dest="first",
        type=iso_date,
        metavar="YYYY-MM-DD",
        help="first day (custom), or a day in the month or quarter to report",
    )
    parser.add_argument("--to", dest="last", type=iso_date, metavar="YYYY-MM-DD", help="last day, inclusive (custom)")
    parser.add_argument(
        "--window",
        default="24h",
        help="the summaries to use, one per closed window period (default 24h: one point a day)",
    )
    parser.add_argument("--out", default="ces-report.html", help="the HTML file to write (default ces-report.html)")
    parser.add_argument("--goals", help="comma separated goal slugs (default: every goal of the registry)")
    parser.add_argument("--comments", type=int, default=10, help="low-score comments per goal, most recent first")
    parser.add_argument(
        "--team",
        help="the goals this team owns (the registry's team), and its digest beside the report: "
        "an e-mail-friendly HTML file (--digest-out)",
    )
    parser.add_argument(
        "--digest-out", help="the digest file with --team (default: the --out file's name with -digest)"
    )


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Read both topics, write the report; 0 on success, 2 on bad options (with a message)."""
    registry = load_registry(settings.goals_file)
    goals = [slug.strip() for slug in args.goals.split(",") if slug.strip()] if args.goals else None
    try:
        today = datetime.now(UTC).date()
        if args.period == "week" and args.last is not None:
            raise ValueError("--to is for --period custom; --period week takes the week that holds --from")
        if args.period == "week":
            period = week_period(args.first, today)
        else:
            period = period_of(args.period, args.first, args.last, today)
        if args.team:
            goals = [slug for slug in team_goals(registry, args.team) if goals is None or slug in goals]
        parse_duration(args.window)
        unknown = [slug for slug in goals or () if registry.get(slug) is None]
        if unknown:
            raise ValueError(f"--goals: not in the goal registry {settings.goals_file}: {', '.join(unknown)}")
    except ValueError as exc:
        print(f"ces-stream report: {exc}", file=sys.stderr)
        return 2
    if args.window not in settings.windows:
        print(
            f"note: {args.window} is not in CES_WINDOWS ({','.join(settings.windows)}); "
            "using whatever summaries of it the topic holds",
            file=sys.stderr,
        )
    summaries, bad_summaries = parse_records(read_values(settings, settings.topic_goal_summaries), GoalSummary)
    comments, bad_comments = parse_records(read_values(settings, settings.topic_feedback_comments), FeedbackComment)
    comments = [masked(comment) for comment in comments]
    now = datetime.now(UTC)

    def report_of(period: Period, period_comments: list[FeedbackComment]) -> Report:
        return build_report(
            registry,
            summaries,
            period_comments,
            period,
            args.window,
            confidence=settings.wilson_confidence,
            now=now,
            goals=goals,
            comment_limit=args.comments,
            release_versions=settings.release_versions,
            release_error_rate=settings.release_error_rate,
            release_min_answers=settings.release_min_answers,
            skipped={
                "summary records that do not validate (GoalSummary versions "
                f"{OLDEST_GOAL_SUMMARY_SCHEMA_VERSION} to {GOAL_SUMMARY_SCHEMA_VERSION})": bad_summaries,
                "comment records that do not validate": bad_comments,
            },
        )

    report = report_of(period, comments)
    out = Path(args.out)
    out.write_text(render_report(report), encoding="utf-8")
    if args.team:
        before = report_of(previous_period(period), [])  # its totals only: no comments, no themes to find
        digest = build_digest(args.team, report, before, comments, settings.wilson_confidence)
        digest_out = Path(args.digest_out) if args.digest_out else out.with_name(f"{out.stem}-digest{out.suffix}")
        digest_out.write_text(render_digest(digest, now), encoding="utf-8")
        print(f"wrote {digest_out}: the digest of team {args.team}, {len(digest.goals)} goals")
    used = sum(len(goal.summaries) for goal in report.goals)
    print(
        f"wrote {out}: {period.label}, {len(report.goals)} goals, {used} {args.window} summaries, "
        f"{sum(goal.low_comment_count for goal in report.goals)} low-score comments; "
        f"skipped {bad_summaries} summary and {bad_comments} comment records that do not validate"
    )
    return 0


def masked(comment: FeedbackComment) -> FeedbackComment:
    """The comment with its personal data masked: records written before the worker masked them."""
    text = mask_personal_data(comment.comment).text[:MAX_COMMENT_CHARS]
    return comment if text == comment.comment else comment.model_copy(update={"comment": text})


def parse_records(values: Iterable[bytes | None], model: type[Model]) -> tuple[list[Model], int]:
    """The records that validate against ``model``, and how many did not (tombstones are neither)."""
    parsed, invalid = [], 0
    for value in values:
        if value is None:  # a compaction tombstone: nothing was meant to be there
            continue
        try:
            parsed.append(model.model_validate_json(value))
        except ValidationError:
            invalid += 1
    return parsed, invalid


def read_values(settings: Settings, topic: str, timeout_s: float = READ_TIMEOUT_S) -> list[bytes | None]:
    """Every record value of ``topic`` from the beginning up to the end offsets at the start of the read.

    :raises CesError: when the topic does not exist or the read takes over ``timeout_s``.
    """
    return [record.value for record in read_topic(settings, topic, timeout_s=timeout_s)]
