"""schemas/asyncapi.yaml: AsyncAPI 3.0.0, every $ref resolves, topics, keys and who sends what."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from schemas import GoalSummary
from schemas.examples import example_payload
from schemas.generate import MESSAGE_MODELS, SCHEMA_DIR, SCHEMA_SUFFIX

ASYNCAPI_PATH = SCHEMA_DIR.parent / "asyncapi.yaml"

# (tag, action, topic): apps send goal events and answers and receive prompts; ces-stream the rest.
EXPECTED_OPERATIONS = {
    ("apps", "send", "ces.goal-events"),
    ("apps", "send", "ces.survey-answers"),
    ("apps", "receive", "ces.survey-prompts"),
    ("apps", "send", "ces.prompt-events"),
    ("ces-stream", "receive", "ces.prompt-events"),
    ("ces-stream", "receive", "ces.goal-events"),
    ("ces-stream", "receive", "ces.survey-answers"),
    ("ces-stream", "send", "ces.survey-prompts"),
    ("ces-stream", "send", "ces.goal-summaries"),
    ("ces-stream", "send", "ces.feedback-comments"),
    ("ces-stream", "send", "ces.high-effort-answers"),
    ("ces-stream", "send", "ces.release-verdicts"),
    ("ces-stream", "send", "ces.dead-letter"),
    ("operators", "send", "ces.erasure-requests"),
    ("ces-stream", "receive", "ces.erasure-requests"),
}

# topic -> (payload schema file, key schema name)
EXPECTED_MESSAGES = {
    "ces.goal-events": ("goal_event", "userIdKey"),
    "ces.survey-answers": ("survey_answer", "userIdKey"),
    "ces.survey-prompts": ("survey_prompt", "userIdKey"),
    "ces.goal-summaries": ("goal_summary", "goalWindowKey"),
    "ces.feedback-comments": ("feedback_comment", "goalSlugKey"),
    "ces.high-effort-answers": ("high_effort_answer", "goalSlugKey"),
    "ces.release-verdicts": ("release_verdict", "releaseKey"),
    "ces.dead-letter": ("dead_letter", "sourceTopicKey"),
    "ces.erasure-requests": ("erasure_request", "userIdKey"),
    "ces.prompt-events": ("prompt_event", "userIdKey"),
}


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return yaml.safe_load(ASYNCAPI_PATH.read_text(encoding="utf-8"))


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def _pointer(document: Any, fragment: str) -> Any:
    """Resolve a JSON pointer such as ``/components/messages/goalEvent`` (RFC 6901); KeyError if absent."""
    node = document
    for token in fragment.lstrip("/").split("/") if fragment else []:
        token = token.replace("~1", "/").replace("~0", "~")
        node = node[int(token)] if isinstance(node, list) else node[token]
    return node


def _resolve(doc: dict[str, Any], ref: str) -> Any:
    if ref.startswith("#"):
        return _pointer(doc, ref[1:])
    path, _, fragment = ref.partition("#")
    assert path.startswith("./json/"), ref
    target = ASYNCAPI_PATH.parent / path
    assert target.is_file(), ref
    return _pointer(json.loads(target.read_text(encoding="utf-8")), fragment)


def _deref(doc: dict[str, Any], node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        node = _resolve(doc, node["$ref"])
    return node


def test_is_asyncapi_3_0_0(doc) -> None:
    assert doc["asyncapi"] == "3.0.0"
    assert doc["info"]["title"] and doc["info"]["version"]
    sentences = re.findall(r"[^.]+\.(?:\s|$)", doc["info"]["description"])
    assert 3 <= len(sentences) <= 5


def test_every_ref_resolves(doc) -> None:
    refs = list(_refs(doc))
    assert len(refs) > 30
    for ref in refs:
        assert _resolve(doc, ref) is not None, ref


def test_channels_are_the_ten_topics(doc) -> None:
    addresses = {channel["address"] for channel in doc["channels"].values()}
    assert addresses == set(EXPECTED_MESSAGES)
    for channel in doc["channels"].values():
        assert channel["bindings"]["kafka"]["topic"] == channel["address"]


@pytest.mark.parametrize("topic", sorted(EXPECTED_MESSAGES))
def test_channel_message_payload_and_key(doc, topic) -> None:
    stem, key_schema = EXPECTED_MESSAGES[topic]
    (channel,) = [c for c in doc["channels"].values() if c["address"] == topic]
    (message,) = [_deref(doc, m) for m in channel["messages"].values()]
    assert message["payload"] == {"$ref": f"./json/{stem}{SCHEMA_SUFFIX}"}
    assert message["name"] == MESSAGE_MODELS[stem].__name__
    assert message["contentType"] == "application/json"
    assert message["bindings"]["kafka"]["key"] == {"$ref": f"#/components/schemas/{key_schema}"}
    assert _deref(doc, message["headers"])["type"] == "object"


def test_every_generated_schema_is_a_payload(doc) -> None:
    payloads = {m["payload"]["$ref"] for m in doc["components"]["messages"].values()}
    assert payloads == {f"./json/{stem}{SCHEMA_SUFFIX}" for stem in MESSAGE_MODELS}


def test_operations_say_who_sends_and_receives(doc) -> None:
    found = set()
    for name, operation in doc["operations"].items():
        channel = _deref(doc, operation["channel"])
        (tag,) = [t["name"] for t in operation["tags"]]
        found.add((tag, operation["action"], channel["address"]))
        # An operation's messages must be messages of its own channel.
        channel_ref = operation["channel"]["$ref"]
        for message in operation["messages"]:
            assert message["$ref"].startswith(f"{channel_ref}/messages/"), name
    assert found == EXPECTED_OPERATIONS
    assert len(doc["operations"]) == len(EXPECTED_OPERATIONS)


@pytest.mark.parametrize("key_schema", ["userIdKey", "goalSlugKey", "goalWindowKey", "sourceTopicKey"])
def test_key_examples_match_their_patterns(doc, key_schema) -> None:
    schema = doc["components"]["schemas"][key_schema]
    assert schema["type"] == "string"
    for example in schema["examples"]:
        if "pattern" in schema:
            assert re.fullmatch(schema["pattern"], example), example


def test_goal_summary_key_format_is_what_the_model_writes(doc) -> None:
    key = GoalSummary.model_validate(example_payload(GoalSummary)).kafka_key()
    assert re.fullmatch(doc["components"]["schemas"]["goalWindowKey"]["pattern"], key)
    assert key in doc["components"]["schemas"]["goalWindowKey"]["examples"]
