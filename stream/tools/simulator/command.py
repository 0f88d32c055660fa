"""``ces-stream simulate``: realistic app traffic against a running worker, acting like the apps do.

Goal events go to the goal-events topic at ``--rate``, paced by the clock. Like an app,
the simulator answers only what the worker actually asks: it reads the prompts topic
(from its end at start), lets the model (:mod:`stream.tools.simulator.traffic`) decide whether
and when each prompt is shown, dismissed or answered, keeps the due prompt events and answers
in a heap and sends each when it falls due. Ctrl-C or SIGTERM stops it; either way it prints
what it sent and received.
"""

from __future__ import annotations

import argparse
import heapq
import json
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TextIO

from stream.ces.registry import load_registry
from stream.errors import CesError
from stream.infra.kafka_config import client_options
from stream.infra.producer import make_producer
from stream.settings import Settings
from stream.tools.simulator.traffic import (
    GOAL_EVENT_TYPES,
    PROMPT_EVENT_TYPES,
    AnswerPlan,
    Scenario,
    SimRecord,
    SimulationConfig,
    TrafficModel,
)
from stream.tools.simulator.via_gateway import GatewaySender, takes_gateway

PROGRESS_INTERVAL_S = 0.5
PLAIN_PROGRESS_INTERVAL_S = 10.0  # when stderr is not a terminal: a full line now and then
MAX_POLL_WAIT_S = 0.1


def _share(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not a share between 0 and 1")
    return value


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} is not above 0")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``ces-stream simulate``."""
    parser.add_argument(
        "--scenario",
        choices=[s.value for s in Scenario],
        default=Scenario.steady.value,
        help="steady; incident (the incident goal gets harder from the incident minute); "
        "survey-broken (answers stop then); bad-input (malformed records and unknown goals "
        "mixed in from then); spike (traffic x4 for 2 minutes from then); not-rendered (the "
        "incident goal's prompts are no longer shown, nor answered, from then); nps-after-incident (the incident, "
        "and users who went through it go on to an NPS moment and score lower there)",
    )
    parser.add_argument("--rate", type=_positive, default=20.0, help="goal events per second (default 20)")
    parser.add_argument("--duration", type=_positive, default=None, help="seconds to run (default: until Ctrl-C)")
    parser.add_argument("--seed", type=int, default=1, help="the same seed gives the same traffic (default 1)")
    parser.add_argument("--incident-goal", default=None, help="goal of the incident scenario (default: the busiest)")
    parser.add_argument(
        "--incident-minute", type=float, default=1.0, help="minute from which the scenario's event happens (default 1)"
    )
    parser.add_argument(
        "--answer-share",
        type=_share,
        default=0.30,
        help="share of the prompts shown that is answered at completion; a third of it at exits (default 0.3)",
    )
    parser.add_argument(
        "--shown-share",
        type=_share,
        default=0.95,
        help="share of the prompts the apps show; the rest are never rendered (default 0.95)",
    )
    parser.add_argument(
        "--dismiss-share",
        type=_share,
        default=0.40,
        help="share of the shown prompts a user will not answer that they dismiss (default 0.4)",
    )
    parser.add_argument(
        "--attempt-seconds",
        type=_positive,
        default=40.0,
        help="median seconds from started to completed or abandoned (default 40)",
    )
    parser.add_argument(
        "--answer-delay-seconds", type=_positive, default=20.0, help="median seconds from prompt to answer (default 20)"
    )
    parser.add_argument("--users", type=int, default=50_000, help="simulated users (default 50000)")
    parser.add_argument(
        "--via-gateway",
        type=_share,
        default=0.0,
        metavar="SHARE",
        help="share of the users whose goal events, answers and prompt events are POSTed to the HTTP gateway "
        "instead of Kafka, with user tokens from CES_GATEWAY_TOKEN_SECRET (default 0: none)",
    )
    parser.add_argument(
        "--gateway-url",
        default=None,
        help="the gateway's API for --via-gateway (default http://127.0.0.1:CES_GATEWAY_PORT)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress line")
    parser.add_argument(
        "--summary-json", default=None, metavar="PATH", help="also write the summary as JSON (- for stdout)"
    )


@dataclass
class Tally:
    """What the simulator sent and received."""

    goal_events: Counter[tuple[str, str]] = field(default_factory=Counter)  # (goal, type)
    prompt_events: Counter[tuple[str, str]] = field(default_factory=Counter)  # (goal, shown or dismissed)
    answers: int = 0
    answers_by_survey: Counter[str] = field(default_factory=Counter)  # ces, csat, nps
    comments: int = 0  # inline or sent after the score
    bad_records: Counter[str] = field(default_factory=Counter)
    prompts: Counter[str] = field(default_factory=Counter)  # by outcome
    prompts_by_survey: Counter[str] = field(default_factory=Counter)
    prompts_not_shown: int = 0  # prompts the simulated apps never rendered
    prompts_for_other_users: int = 0
    answers_pending: int = 0
    prompt_events_pending: int = 0
    comments_pending: int = 0

    def count_sent(self, record: SimRecord, plan: AnswerPlan | None = None) -> None:
        if plan is not None:
            self.answers += 1
            self.answers_by_survey[plan.survey] += 1
            self.comments += plan.comment is not None and plan.comment_record is None
        elif record.kind == "comment":
            self.comments += 1
        elif record.topic == "prompt_events":
            self.prompt_events[(record.goal or "", record.kind)] += 1
        elif record.kind in GOAL_EVENT_TYPES:
            self.goal_events[(record.goal or "", record.kind)] += 1
        else:
            self.bad_records[record.kind] += 1

    def summary(self, config: SimulationConfig, seconds: float) -> dict[str, Any]:
        by_type, by_goal = _by_type_and_goal(self.goal_events, GOAL_EVENT_TYPES)
        prompt_events, prompt_events_by_goal = _by_type_and_goal(self.prompt_events, PROMPT_EVENT_TYPES)
        return {
            "scenario": config.scenario.value,
            "seed": config.seed,
            "rate": config.rate,
            "seconds": round(seconds, 1),
            "sent": {
                "goal_events": dict(by_type),
                "goal_events_total": sum(by_type.values()),
                "goal_events_by_goal": by_goal,
                "prompt_events": prompt_events,
                "prompt_events_by_goal": prompt_events_by_goal,
                "answers": self.answers,
                "answers_by_survey": dict(sorted(self.answers_by_survey.items())),
                "comments": self.comments,
                "bad_records": dict(sorted(self.bad_records.items())),
                "bad_records_total": sum(self.bad_records.values()),
            },
            "received": {
                "prompts": dict(sorted(self.prompts.items())),
                "prompts_total": sum(self.prompts.values()),
                "prompts_by_survey": dict(sorted(self.prompts_by_survey.items())),
                "prompts_not_shown": self.prompts_not_shown,
                "prompts_for_other_users": self.prompts_for_other_users,
            },
            "answers_pending_at_stop": self.answers_pending,
            "prompt_events_pending_at_stop": self.prompt_events_pending,
            "comments_pending_at_stop": self.comments_pending,
        }


def _by_type_and_goal(
    counts: Counter[tuple[str, str]], types: tuple[str, ...]
) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
    """({type: count} with every type, {goal: {type: count}}) of counts per (goal, type)."""
    by_type = Counter(dict.fromkeys(types, 0))
    by_goal: dict[str, dict[str, int]] = {}
    for (goal, event_type), count in sorted(counts.items()):
        by_type[event_type] += count
        by_goal.setdefault(goal, {})[event_type] = count
    return dict(by_type), by_goal


def summary_text(summary: dict[str, Any]) -> str:
    """The summary as a few lines for people."""
    sent, received = summary["sent"], summary["received"]

    def listed(counts: dict[str, int]) -> str:
        return ", ".join(f"{name} {count}" for name, count in counts.items()) or "none"

    lines = [
        f"simulated {summary['seconds']} s of {summary['scenario']} traffic "
        f"(seed {summary['seed']}, {summary['rate']:g} goal events/s)",
        f"sent      {sent['goal_events_total']} goal events ({listed(sent['goal_events'])})",
        f"          {sum(sent['prompt_events'].values())} prompt events ({listed(sent['prompt_events'])})",
        f"          {sent['answers']} answers ({listed(sent.get('answers_by_survey', {}))}; "
        f"{sent['comments']} comments)",
        f"          {sent['bad_records_total']} bad records ({listed(sent['bad_records'])})",
        f"received  {received['prompts_total']} prompts ({listed(received['prompts'])}); "
        f"{received['prompts_not_shown']} never shown; {received['prompts_for_other_users']} for other users ignored",
        f"pending   {summary['answers_pending_at_stop']} answers, {summary.get('comments_pending_at_stop', 0)} "
        f"comments and {summary['prompt_events_pending_at_stop']} prompt events were not yet due at the stop",
    ]
    via = summary.get("via_gateway")
    if via is not None:
        lines.append(
            f"gateway   {via['posted']} records of {via['share']:.0%} of the users POSTed: {via['accepted']} accepted, "
            f"{via['refused']} refused, {via['no_answer']} without an answer"
        )
    return "\n".join(lines)


class Progress:
    """One updating status line on stderr (a plain line every 10 s when stderr is not a terminal)."""

    def __init__(self, quiet: bool, stream: TextIO = sys.stderr) -> None:
        self.quiet, self.stream = quiet, stream
        self.tty = stream.isatty()
        self._last_s = -1e9
        self._drawn = False

    def update(self, now_s: float, tally: Tally, due: int, force: bool = False) -> None:
        interval = PROGRESS_INTERVAL_S if self.tty else PLAIN_PROGRESS_INTERVAL_S
        if self.quiet or (not force and now_s - self._last_s < interval):
            return
        self._last_s = now_s
        sent = sum(tally.goal_events.values())
        shown = sum(count for (_, kind), count in tally.prompt_events.items() if kind == "shown")
        line = (
            f"{now_s:7.1f} s | {sent} goal events ({sent / max(now_s, 1e-9):.1f}/s) | "
            f"{sum(tally.prompts.values())} prompts, {shown} shown | {tally.answers} answers, {due} due | "
            f"{sum(tally.bad_records.values())} bad"
        )
        self.stream.write(f"\r{line}\x1b[K" if self.tty else line + "\n")
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        if self._drawn and self.tty:
            self.stream.write("\n")
            self.stream.flush()


def _model(settings: Settings, args: argparse.Namespace) -> TrafficModel:
    """The traffic model for the registry and the options, its clock starting now."""
    registry = load_registry(settings.goals_file)
    config = SimulationConfig(
        seed=args.seed,
        scenario=Scenario(args.scenario),
        rate=args.rate,
        start_epoch_s=time.time(),
        users=args.users,
        answer_share=args.answer_share,
        shown_share=args.shown_share,
        dismiss_share=args.dismiss_share,
        attempt_seconds=args.attempt_seconds,
        answer_delay_seconds=args.answer_delay_seconds,
        incident_goal=args.incident_goal,
        incident_minute=args.incident_minute,
    )
    try:
        return TrafficModel(registry, config)
    except ValueError as exc:
        raise CesError(f"simulate: {exc}") from None


def _prompt_consumer(settings: Settings, timeout_s: float = 15.0) -> Any:
    """A group-less consumer on every partition of the prompts topic, positioned at its end now.

    The prompt-events topic the simulator writes must exist too: sending would auto-create it with the
    wrong partition count.
    """
    from kafka import KafkaConsumer, TopicPartition

    topic = settings.topic_survey_prompts
    needed = {topic, settings.topic_prompt_events}
    consumer = KafkaConsumer(
        **client_options(settings), group_id=None, enable_auto_commit=False, auto_offset_reset="latest"
    )
    deadline = time.monotonic() + timeout_s
    while missing := needed - consumer.topics():
        if time.monotonic() > deadline:
            consumer.close()
            raise CesError(
                f"simulate: topic {', '.join(sorted(missing))} not found; "
                "start the worker or run `ces-stream topics create`"
            )
        time.sleep(0.5)
    partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
    consumer.assign(partitions)
    consumer.seek_to_end(*partitions)
    for partition in partitions:
        consumer.position(partition)  # resolve "the end" before the first goal event goes out
    return consumer


@contextmanager
def _sigterm_stops() -> Iterator[None]:
    """SIGTERM ends the run like Ctrl-C (KeyboardInterrupt), with the summary."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class _Run:
    """One run's clients, clock and bookkeeping; :meth:`loop` runs until the duration or a stop."""

    def __init__(
        self,
        settings: Settings,
        model: TrafficModel,
        producer: Any,
        consumer: Any,
        quiet: bool,
        gateway: tuple[GatewaySender, float] | None = None,
    ) -> None:
        self.model, self.producer, self.consumer = model, producer, consumer
        self.gateway = gateway
        self.topics = {
            "goal_events": settings.topic_goal_events,
            "answers": settings.topic_survey_answers,
            "prompt_events": settings.topic_prompt_events,
        }
        self.tally = Tally()
        self.progress = Progress(quiet)
        self.due: list[tuple[float, int, SimRecord, AnswerPlan | None]] = []  # prompt events and answers
        self._seq = 0
        self.started = time.monotonic()

    def now_s(self) -> float:
        return time.monotonic() - self.started

    def loop(self, duration_s: float | None) -> None:
        record = self.model.next_record()
        end_s = duration_s if duration_s is not None else float("inf")
        while (now := self.now_s()) < end_s:
            while record.at_s <= now:
                self._send(record)
                record = self.model.next_record()
            while self.due and self.due[0][0] <= now:
                _, _, due_record, answer = heapq.heappop(self.due)
                self._send(due_record, answer)
            next_s = min(record.at_s, self.due[0][0] if self.due else end_s, end_s)
            self._read_prompts(min(max(next_s - self.now_s(), 0.0), MAX_POLL_WAIT_S))
            self.progress.update(self.now_s(), self.tally, len(self.due))

    def _send(self, record: SimRecord, plan: AnswerPlan | None = None) -> None:
        if self.gateway is not None and _through_gateway(record, self.gateway[1]):
            self.gateway[0].send(record.topic, record.key.decode(), record.value)
        else:
            self.producer.send(self.topics[record.topic], key=record.key, value=record.value)
        self.tally.count_sent(record, plan)

    def _read_prompts(self, wait_s: float) -> None:
        for records in self.consumer.poll(timeout_ms=int(wait_s * 1000)).values():
            for message in records:
                try:
                    prompt = json.loads(message.value)
                except (TypeError, ValueError):
                    continue  # not a prompt this simulator could read
                self._take_prompt(prompt)

    def _take_prompt(self, prompt: dict[str, Any]) -> None:
        if not self.model.knows_user(prompt["user_id"]):
            self.tally.prompts_for_other_users += 1
            return
        self.tally.prompts[prompt["outcome"]] += 1
        self.tally.prompts_by_survey[str(prompt.get("survey", "ces"))] += 1
        plan = self.model.plan_prompt(prompt)
        if plan is None:
            return
        if plan.shown is None:
            self.tally.prompts_not_shown += 1
        for record in plan.records():
            answer = plan.answer if plan.answer is not None and record is plan.answer.record else None
            heapq.heappush(self.due, (record.at_s, self._seq, record, answer))
            self._seq += 1


def _through_gateway(record: SimRecord, share: float) -> bool:
    """A well-formed record of a user of the gateway's share (bad input stays on Kafka: it is the Kafka path's)."""
    valid = record.kind in GOAL_EVENT_TYPES or record.kind in PROMPT_EVENT_TYPES or record.kind in ("answer", "comment")
    return valid and bool(record.key) and takes_gateway(record.key, share)


def _gateway(settings: Settings, args: argparse.Namespace) -> tuple[GatewaySender, float] | None:
    """The sender of ``--via-gateway``, or None at 0."""
    share = getattr(args, "via_gateway", 0.0)
    if not share:
        return None
    if settings.gateway_token_secret is None:
        raise CesError("simulate: --via-gateway needs CES_GATEWAY_TOKEN_SECRET, the secret of the gateway's tokens")
    url = getattr(args, "gateway_url", None) or f"http://127.0.0.1:{settings.gateway_port}"
    try:
        return GatewaySender(url, settings.gateway_token_secret.get_secret_value().encode()), share
    except ValueError as exc:
        raise CesError(f"simulate: --gateway-url: {exc}") from None


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Run the simulation until ``--duration`` or Ctrl-C/SIGTERM; print the summary; exit 0."""
    gateway = _gateway(settings, args)
    consumer = _prompt_consumer(settings)
    options = client_options(settings)
    producer = make_producer(options.pop("bootstrap_servers"), **options)
    try:
        model = _model(settings, args)  # after connecting: its clock starts with the run's
    except CesError:
        producer.close()
        consumer.close()
        raise
    current = _Run(settings, model, producer, consumer, args.quiet, gateway)
    try:
        with _sigterm_stops():
            current.loop(args.duration)
    except KeyboardInterrupt:
        pass
    finally:
        seconds = current.now_s()
        current.progress.update(seconds, current.tally, len(current.due), force=True)
        current.progress.close()
        producer.flush()
        producer.close()
        consumer.close()
        if gateway is not None:
            gateway[0].close()
    pending = Counter(record.topic if record.topic == "prompt_events" else record.kind for *_, record, _ in current.due)
    current.tally.answers_pending = pending["answer"]
    current.tally.prompt_events_pending = pending["prompt_events"]
    current.tally.comments_pending = pending["comment"]
    summary = current.tally.summary(model.config, seconds)
    if gateway is not None:
        summary["via_gateway"] = {"share": gateway[1], **gateway[0].summary()}
    print(summary_text(summary))
    _write_json(summary, args.summary_json)
    return 0


def _write_json(summary: dict[str, Any], path: str | None) -> None:
    if path is None:
        return
    text = json.dumps(summary, indent=2) + "\n"
    if path == "-":
        sys.stdout.write(text)
    else:
        with open(path, "w", encoding="utf-8") as out:
            out.write(text)
