"""Privacy after a real run (issue 14): no raw user id in any metric, log line, summary or table changelog.

A worker on the real broker, at debug log level, gets goal events from users with distinctive
raw ids (and one e-mail address as id): completions, explicit exits and starts left open
(inferred abandonment, whose prompt address is read back from the started event), answers
with comments, one answer to an unknown prompt and one event for an unknown goal (dead
letters), and windows short enough to close into summaries. Then every place the worker
writes is searched byte for byte for each raw id (also base64-encoded, the dead letters'
form, and the id's random part alone) and for the comments: /metrics, the HTTP API and the
page, the worker's log, and every record (key, value, headers) of every topic of the app.

The comments carry personal data (issue 23): an e-mail address, a phone number, an IBAN and a
BSN that pass their checks, which must appear only where records are kept as they came (the
answers topic, the re-keyed stream, the dead letters), masked everywhere else and counted once
each; and an IBAN and a BSN that fail their checks, which reach the comments as written.

Raw ids are expected, and only there, on the topics that carry records as they came or must
address the user (docs/privacy.md), named in ``CARRIES_RAW_IDS``; the scan proves it finds
them there, so it is not blind.
"""

from __future__ import annotations

import base64
import json
import random
import urllib.parse
import uuid
from collections.abc import Iterable
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

from schemas import Channel
from stream.ces.intake.pseudonym import pseudonymise
from stream.infra.producer import emit_answer, emit_goal_event, make_producer
from stream.infra.topics import create_topics, goal_partials_topic, user_events_topic
from stream.tools.erase import erasure_request, send_erasure_request
from tests.harness import (
    TopicReader,
    make_answer,
    make_goal_event,
    settings_from_env,
    wait_until,
    worker_env,
    write_registry,
)
from tests.planted import PlantedData

pytestmark = pytest.mark.integration

GOAL = "zq-claim"
INFERRED_TIMEOUT_S = 2


def carries_raw_ids(settings) -> dict[str, str]:
    """Topic -> why raw user ids (and comments) are there by design (docs/privacy.md)."""
    return {
        settings.topic_goal_events: "input: the apps' own records",
        settings.topic_survey_answers: "input: the apps' own records",
        settings.topic_survey_prompts: "output: the app must address the prompt to its user",
        settings.topic_dead_letter: "output: rejected records kept byte for byte (base64) to inspect or replay",
        # The re-keyed inputs, payload unchanged: an inferred abandonment that falls due after a
        # restart reads its started event back from here for the prompt's address. Its keys are
        # pseudonymous (checked below); its values hold the original records.
        user_events_topic(settings): "internal: the inputs re-keyed by pseudonymous user, values unchanged",
        # Issue 25: an erasure request names the user to forget (it reaches the user stage without the id).
        settings.topic_erasure_requests: "input: whom to forget (docs/personal-data.md)",
    }


def carries_comments(settings) -> dict[str, str]:
    """Topic -> why free-text comments are there by design."""
    return {
        settings.topic_survey_answers: "input: the apps' own records",
        user_events_topic(settings): "internal: the inputs re-keyed, values unchanged",
        settings.topic_feedback_comments: "output: the comments, with the pseudonymous user_ref",
        settings.topic_high_effort_answers: "output: the negative answers' comments, to follow up",
        settings.topic_dead_letter: "output: rejected records kept byte for byte",
    }


def carries_personal_data_of_comments(settings) -> dict[str, str]:
    """Topic -> why the personal data users write into comments is there unmasked by design."""
    return {
        settings.topic_survey_answers: "input: the apps' own records",
        user_events_topic(settings): "internal: the inputs re-keyed, values unchanged",
        settings.topic_dead_letter: "output: rejected records kept byte for byte",
    }


def forms(secret: str) -> dict[str, bytes]:
    """The byte strings that would give ``secret`` away: itself, URL-encoded, its random tail, and
    base64 at each of the three alignments it can have inside a longer encoded value."""
    raw = secret.encode()
    out = {"raw": raw.lower(), "random part": secret.rsplit("-", 1)[-1].split("@")[0].encode().lower()}
    if (quoted := urllib.parse.quote(secret, safe="").encode().lower()) != out["raw"]:
        out["url-encoded"] = quoted
    for skip in range(3):
        tail = raw[skip:]
        out[f"base64+{skip}"] = base64.b64encode(tail[: len(tail) // 3 * 3])
    return out


def find(secrets: Iterable[str], blob: bytes) -> list[str]:
    """Which secrets (and in which form) ``blob`` holds; raw forms case-insensitively."""
    lowered = blob.lower()
    hits = []
    for secret in secrets:
        for form, needle in forms(secret).items():
            if needle in (blob if form.startswith("base64") else lowered):
                hits.append(f"{secret} ({form})")
    return hits


def read_topic(bootstrap: str, topic: str) -> list[tuple[str, bytes]]:
    """Every record of ``topic`` from its beginning to its current end, as (part, bytes) pairs."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        end = consumer.end_offsets(partitions)
        out: list[tuple[str, bytes]] = []

        def done() -> bool:
            for batch in consumer.poll(timeout_ms=200).values():
                for r in batch:
                    at = f"{topic}:{r.partition}@{r.offset}"
                    out.extend([(f"{at} key", r.key or b""), (f"{at} value", r.value or b"")])
                    out.extend((f"{at} header {name}", value or b"") for name, value in r.headers)
            return all(consumer.position(tp) >= end[tp] for tp in partitions)

        wait_until(done, timeout_s=30, interval_s=0, what=f"{topic} read to its end")
        return out
    finally:
        consumer.close()


def read_store(data_dir: Path) -> list[tuple[str, bytes]]:
    """Every record of every rocksdb:// table database under ``data_dir`` as (where, bytes) pairs."""
    from rocksdict import AccessType, Options, Rdict

    out: list[tuple[str, bytes]] = []
    databases = sorted(data_dir.rglob("*.db"))
    assert databases, f"no table databases under {data_dir}"
    for path in databases:
        db = Rdict(str(path), options=Options(raw_mode=True), access_type=AccessType.read_only())
        try:
            for key, value in db.items():
                out.extend([(f"{path.name} key", key), (f"{path.name} value {key!r}", value)])
        finally:
            db.close()
    return out


def app_topics(bootstrap: str, app_id: str) -> set[str]:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        return {name for name in admin.list_topics() if name.startswith(app_id)}
    finally:
        admin.close()


class Run:
    """The worker's inputs: who sent what, so the scan knows what to look for."""

    def __init__(self) -> None:
        self.users = [f"user-zq7-{uuid.uuid4()}" for _ in range(12)] + [f"zq7.tester+{uuid.uuid4().hex}@example.com"]
        self.outsider = f"user-zq7-{uuid.uuid4()}"  # sends only records that are dead-lettered
        self.comments = {user: f"zq7-comment-{uuid.uuid4().hex}" for user in self.users}
        rng = random.Random(uuid.uuid4().int)
        self.planted = {user: PlantedData.draw(rng) for user in self.users}

    def comment_of(self, user: str) -> str:
        """The comment the user writes: its marker, and personal data, some of it not what it seems."""
        return self.planted[user].comment(self.comments[user])


def drive(run: Run, settings, bootstrap: str) -> None:
    """Completions, explicit exits and open starts (inferred abandonment), an answer with a comment
    to every prompt, an event for an unknown goal and an answer to an unknown prompt."""
    completing, leaving, silent = run.users[:7], run.users[7:10], run.users[10:]
    producer = make_producer(bootstrap)
    prompts = TopicReader(bootstrap, settings.topic_survey_prompts)
    try:
        for user in run.users:
            emit_goal_event(producer, make_goal_event(GOAL, "started", user), topic=settings.topic_goal_events)
        for group, end in ((completing, "completed"), (leaving, "abandoned")):
            for user in group:
                emit_goal_event(
                    producer, make_goal_event(GOAL, end, user, channel=Channel.ios), topic=settings.topic_goal_events
                )
        emit_goal_event(
            producer, make_goal_event("no-such-goal", "completed", run.outsider), topic=settings.topic_goal_events
        )
        producer.flush()
        records = prompts.wait_for(
            lambda ps: {p["user_id"] for p in ps} >= set(run.users),
            timeout_s=40,
            what="a prompt for every user (inferred abandonment included)",
        )
        by_user = {p["user_id"]: p for p in records}
        assert {by_user[u]["outcome"] for u in silent} == {"abandoned_inferred"}
        for i, user in enumerate(run.users):
            emit_answer(
                producer,
                make_answer(by_user[user], 1 + i % 5, comment=run.comment_of(user)),
                topic=settings.topic_survey_answers,
            )
        stray = make_answer({**by_user[run.users[0]], "prompt_id": str(uuid.uuid4()), "user_id": run.outsider}, 3)
        emit_answer(producer, stray, topic=settings.topic_survey_answers)
        producer.flush()
    finally:
        prompts.close()
        producer.close()


def wait_for_every_output(worker, settings, bootstrap: str, answers: int) -> None:
    def counted(name: str, **labels: str) -> float:
        return sum(v for (n, ls), v in worker.samples().items() if n == name and labels.items() <= dict(ls).items())

    wait_until(lambda: counted("ces_feedback_comments_total", goal=GOAL) == answers, what="every comment forwarded")
    wait_until(
        lambda: (
            counted("ces_events_invalid_total", reason="unknown_prompt") == 1
            and counted("ces_events_invalid_total", reason="unknown_goal") == 1
        ),
        what="both dead letters",
    )
    summaries = TopicReader(bootstrap, settings.topic_goal_summaries)
    try:
        summaries.wait_for(
            lambda ss: sum(s["answers"] for s in ss if s["window"] == "10s") == answers,
            timeout_s=40,
            what="10s summaries holding every answer",
        )
    finally:
        summaries.close()


def test_no_raw_user_id_outside_the_topics_that_must_carry_it(kafka_bootstrap, tmp_path, start_worker):
    registry = write_registry(
        tmp_path / "goals.yaml",
        [
            {
                "slug": GOAL,
                "scale": {"kind": "five_point"},
                "triggers": {
                    "completed": True,
                    "abandoned": True,
                    "inferred_abandonment": {"enabled": True, "timeout_seconds": INFERRED_TIMEOUT_S},
                },
            }
        ],
    )
    tag = f"t{uuid.uuid4().hex[:10]}"
    data_dir = tmp_path / "data"
    env = {
        **worker_env(kafka_bootstrap, tag),
        "CES_GOALS_FILE": str(registry),
        # The production store (deploy/k8s): its files on disk are scanned too.
        "CES_STORE": "rocksdb://",
        "CES_DATA_DIR": str(data_dir),
        # Windows that close within seconds, so summaries are written too.
        "CES_WINDOWS": "10s,1h",
        "CES_BUCKET_RESOLUTIONS": "5s,1m",
        "CES_WINDOW_CLOSE_DELAY_SECONDS": "1",
    }
    settings = settings_from_env(env)
    create_topics(settings)
    worker = start_worker(env, loglevel="debug")
    run = Run()
    drive(run, settings, kafka_bootstrap)
    wait_for_every_output(worker, settings, kafka_bootstrap, answers=len(run.users))
    # One user asks to be forgotten (issue 25): the erasure path is scanned too, its figures stay.
    send_erasure_request(settings, erasure_request(run.users[0]))
    wait_until(
        lambda: worker.metric("ces_erasure_requests_total", outcome="erased") == 1, what="the erasure request taken"
    )

    ids, comments = [*run.users, run.outsider], list(run.comments.values())
    planted = [value for p in run.planted.values() for value in p.masked_values]
    leaks: dict[str, list[str]] = {}
    masked = {
        kind: worker.metric("ces_comment_personal_data_masked_total", kind=kind)
        for kind in ("email", "phone", "iban", "bsn")
    }
    assert masked == dict.fromkeys(masked, len(run.users)), masked  # each planted value once, no look-alike

    def scan(where: str, blob: bytes, secrets: Iterable[str] = (*ids, *comments, *planted)) -> None:
        if hits := find(secrets, blob):
            leaks[where] = hits

    # What the worker serves.
    for path in ("/metrics", "/api/goals", "/api/registry", "/health", "/"):
        status, body = worker.get(path)
        assert status == 200 and body, path
        scan(path, body)
    assert json.loads(worker.get("/api/goals")[1])[GOAL]["1h"]["answers"] == len(run.users)
    worker.stop()  # its shutdown is logged too

    # What it logged, at debug level.
    log = worker.log_path.read_bytes()
    assert b"[DEBUG]" in log and len(log.splitlines()) > 100, "the log is not at debug level"
    scan("worker log", log)

    # The table store on disk: every record of every RocksDB database (the files are compressed,
    # so they are read through RocksDB), and the files as they are (write-ahead logs, LOG).
    stored = read_store(data_dir)
    refs = {pseudonymise(user, settings.pseudonym_key.get_secret_value().encode()).encode() for user in run.users}
    stored_refs = {key for where, key in stored if where.startswith("users-") and where.endswith(" key")}
    erased_ref = pseudonymise(run.users[0], settings.pseudonym_key.get_secret_value().encode()).encode()
    assert refs - {erased_ref} <= stored_refs and erased_ref not in stored_refs  # the erased user's entry is gone
    for where, blob in stored:
        scan(f"store {where}", blob)
    for path in (path for path in data_dir.rglob("*") if path.is_file()):
        scan(f"store file {path.relative_to(data_dir)}", path.read_bytes())

    # Every record of every topic of the app: outputs, internal streams, table changelogs.
    topics = app_topics(kafka_bootstrap, tag)
    ids_by_design, comments_by_design = carries_raw_ids(settings), carries_comments(settings)
    planted_by_design = carries_personal_data_of_comments(settings)
    changelogs = {f"{tag}-users-changelog", f"{tag}-partials-changelog", f"{tag}-goal-partials-changelog"}
    must_hold_records = {
        settings.topic_goal_summaries,
        settings.topic_feedback_comments,
        settings.topic_high_effort_answers,
        goal_partials_topic(settings),
        *changelogs,
        *ids_by_design,
    }
    assert must_hold_records <= topics, sorted(topics)
    found_by_design: dict[str, set[str]] = {}
    look_alikes_kept: set[str] = set()
    planted_on_the_inputs: set[str] = set()
    for topic in sorted(topics):
        parts = read_topic(kafka_bootstrap, topic)
        assert parts or topic not in must_hold_records, f"{topic} is empty: the scan would prove nothing"
        if topic in ids_by_design:
            found_by_design[topic] = {hit for _, blob in parts for hit in find(ids, blob)}
        if topic == settings.topic_survey_answers:
            planted_on_the_inputs = {hit.split(" (")[0] for _, blob in parts for hit in find(planted, blob)}
        for where, blob in parts:
            # The re-keyed stream's keys are pseudonymous all the same.
            ids_allowed = topic in ids_by_design and not (
                topic == user_events_topic(settings) and where.endswith(" key")
            )
            scan(
                where,
                blob,
                [
                    *([] if ids_allowed else ids),
                    *([] if topic in comments_by_design else comments),
                    *([] if topic in planted_by_design else planted),
                ],
            )
            if topic == settings.topic_feedback_comments:
                look_alikes_kept.update(
                    user
                    for user, p in run.planted.items()
                    if p.not_an_iban.encode() in blob and p.not_a_bsn.encode() in blob
                )

    # The scan sees ids where they are: every user on the inputs, the prompts and the re-keyed
    # stream, the outsider (base64) in the dead letters.
    for topic in (settings.topic_goal_events, settings.topic_survey_prompts, user_events_topic(settings)):
        assert set(run.users) <= {hit.split(" (")[0] for hit in found_by_design[topic]}, (
            f"the scan missed raw ids on {topic}"
        )
    assert any(hit.startswith(f"{run.outsider} (base64") for hit in found_by_design[settings.topic_dead_letter])
    # Masking is not blind either: the planted values are on the answers topic, and the
    # look-alikes that fail their checks reach the comments unmasked.
    assert set(planted) <= planted_on_the_inputs
    assert look_alikes_kept == set(run.users)
    assert not leaks, "raw user ids or comments found:\n" + "\n".join(f"{w}: {h}" for w, h in leaks.items())
