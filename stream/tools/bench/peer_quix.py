"""The benchmark's peer: a Quix Streams application doing the answer path's per-answer work.

Run as a script by the bench's peer phase, in the interpreter that has Quix Streams (the
``bench`` extra, or ``make bench-peer-env``): it imports only the standard library and
quixstreams, never ces-stream, and nothing in ces-stream imports it.

Per answer, as ces-stream does: stateful de-duplication keyed by user (a prompt answered once
counts once), a repartition by goal, and three tumbling resolutions (1m, 5m, 1h) counting the
answers by score, outcome and channel; RocksDB state with changelog topics. The outcome comes
with the answer (the bench adds the prompt's), as ces-stream's join with the prompt yields it.

Connection from the bench's ``CES_KAFKA_*`` variables (security included), so no secret is on
the command line. It stops once ``--expect`` answers went through the windows and writes
``{"answers", "seconds", "cpu_seconds"}`` to ``--result``, timed from its first answer.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from quixstreams import Application, State
from quixstreams.kafka.configuration import ConnectionConfig

RESOLUTIONS = (("1m", 60), ("5m", 300), ("1h", 3600))
DIMENSIONS = ("score", "outcome", "channel")


def connection() -> ConnectionConfig:
    env = os.environ
    options: dict[str, Any] = {
        "bootstrap_servers": env.get("CES_KAFKA_BOOTSTRAP", "127.0.0.1:29092"),
        "security_protocol": env.get("CES_KAFKA_SECURITY_PROTOCOL", "PLAINTEXT"),
    }
    if env.get("CES_KAFKA_SASL_MECHANISM"):
        options["sasl_mechanism"] = env["CES_KAFKA_SASL_MECHANISM"]
        options["sasl_username"] = env.get("CES_KAFKA_SASL_USERNAME")
        options["sasl_password"] = env.get("CES_KAFKA_SASL_PASSWORD")
    if env.get("CES_KAFKA_SSL_CAFILE"):
        options["ssl_ca_location"] = env["CES_KAFKA_SSL_CAFILE"]
    return ConnectionConfig(**options)


def add(aggregate: dict[str, Any], answer: dict[str, Any]) -> dict[str, Any]:
    aggregate["n"] += 1
    for dimension in DIMENSIONS:
        counts = aggregate[dimension]
        value = str(answer[dimension])
        counts[value] = counts.get(value, 0) + 1
    return aggregate


def first_answer(answer: dict[str, Any]) -> dict[str, Any]:
    return add({"n": 0, **{d: {} for d in DIMENSIONS}}, answer)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--topic", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--expect", type=int, required=True)
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--result", required=True)
    args = parser.parse_args()

    app = Application(
        broker_address=connection(),
        consumer_group=args.group,
        auto_offset_reset="earliest",
        state_dir=args.state_dir,
        loglevel="WARNING",
        use_changelog_topics=True,
    )
    sdf = app.dataframe(app.topic(args.topic, key_deserializer="str", value_deserializer="json"))
    clock: dict[str, float] = {}

    def new_prompt(answer: dict[str, Any], state: State) -> bool:
        if not clock:
            clock.update(started=time.perf_counter(), cpu=time.process_time())
        if state.get(answer["prompt_id"]):
            return False
        state.set(answer["prompt_id"], 1)
        return True

    sdf = sdf.filter(new_prompt, stateful=True)
    sdf = sdf.group_by("goal")
    for name, seconds in RESOLUTIONS:
        sdf.tumbling_window(timedelta(seconds=seconds), name=f"ces-{name}").reduce(add, first_answer).final()

    def count(answer: dict[str, Any]) -> None:
        clock["n"] = clock.get("n", 0) + 1
        if clock["n"] >= args.expect:
            clock.update(done=time.perf_counter(), cpu_done=time.process_time())
            app.stop()

    sdf.update(count)
    app.run()
    if "done" not in clock:
        raise SystemExit(f"stopped after {clock.get('n', 0)} of {args.expect} answers")
    result = {
        "answers": int(clock["n"]),
        "seconds": clock["done"] - clock["started"],
        "cpu_seconds": clock["cpu_done"] - clock["cpu"],
    }
    Path(args.result).write_text(json.dumps(result))


if __name__ == "__main__":
    main()
