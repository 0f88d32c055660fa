"""GoalEvent: every field constraint, in pydantic and in the generated JSON Schema."""

from __future__ import annotations

import json
from uuid import UUID

import pytest
from pydantic import ValidationError

from schemas import Channel, GoalEvent, GoalEventType

# (dotted path, bad value, the JSON Schema rejects it too)
VIOLATIONS = [
    pytest.param("event_id", "not-a-uuid", True, id="event_id-text"),
    pytest.param("event_id", 42, True, id="event_id-number"),
    pytest.param("type", "finished", True, id="type-unknown"),
    pytest.param("type", "COMPLETED", True, id="type-case"),
    pytest.param("goal", "Download-Invoice", True, id="goal-uppercase"),
    pytest.param("goal", "", True, id="goal-empty"),
    pytest.param("goal", "g" * 65, True, id="goal-too-long"),
    pytest.param("user_id", "", True, id="user_id-empty"),
    pytest.param("user_id", "u" * 257, True, id="user_id-too-long"),
    pytest.param("user_id", "a\u0000b", True, id="user_id-control-char"),
    pytest.param("user_id", 4711, True, id="user_id-number"),
    pytest.param("session_id", "s" * 129, True, id="session_id-too-long"),
    pytest.param("session_id", 7, True, id="session_id-number"),
    pytest.param("occurred_at", "2025-01-31T09:30:12", False, id="occurred_at-naive"),
    pytest.param("occurred_at", 1738315812, True, id="occurred_at-epoch"),
    pytest.param("channel", "desktop", True, id="channel-unknown"),
    pytest.param("locale", "nl_NL", True, id="locale-underscore"),
    pytest.param("locale", "NL", True, id="locale-uppercase"),
    pytest.param("app_version", "v" * 65, True, id="app_version-too-long"),
    pytest.param("attributes", ["invoice_kind"], True, id="attributes-list"),
    pytest.param("attributes", {"invoice_kind": 1}, True, id="attributes-value-number"),
    pytest.param("attributes", {"invoice_kind": None}, True, id="attributes-value-null"),
    pytest.param("attributes", {"k" * 65: "v"}, True, id="attributes-key-too-long"),
    pytest.param("attributes", {"k": "v" * 257}, True, id="attributes-value-too-long"),
    pytest.param("attributes", {f"k{i}": "v" for i in range(33)}, True, id="attributes-33-entries"),
]

# Values at the edge of each constraint, all valid.
EDGES = [
    pytest.param("goal", "g" * 64, id="goal-64"),
    pytest.param("user_id", "u" * 256, id="user_id-256"),
    pytest.param("session_id", "s" * 128, id="session_id-128"),
    pytest.param("session_id", None, id="session_id-null"),
    pytest.param("app_version", "v" * 64, id="app_version-64"),
    pytest.param("app_version", None, id="app_version-null"),
    pytest.param("attributes", {}, id="attributes-empty"),
    pytest.param("attributes", {f"k{i}": "v" * 256 for i in range(32)}, id="attributes-32-full"),
    pytest.param("attributes", {"k" * 64: ""}, id="attributes-key-64"),
    pytest.param("type", "started", id="type-started"),
    pytest.param("type", "abandoned", id="type-abandoned"),
    pytest.param("channel", "android", id="channel-android"),
    pytest.param("locale", "en", id="locale-en"),
]


def test_example_reads_as_expected(payload) -> None:
    event = GoalEvent.model_validate_json(json.dumps(payload(GoalEvent)))
    assert event.event_id == UUID("0f6c2d5e-4a8b-4c1d-9e2f-3a4b5c6d7e8f")
    assert event.type is GoalEventType.completed
    assert event.goal == "download-invoice"
    assert event.channel is Channel.web
    assert event.attributes == {"invoice_kind": "monthly"}


def test_optional_fields_default(payload) -> None:
    data = payload(GoalEvent, drop=["session_id", "app_version", "attributes"])
    event = GoalEvent.model_validate_json(json.dumps(data))
    assert (event.session_id, event.app_version, event.attributes) == (None, None, {})


def test_event_types() -> None:
    assert [t.value for t in GoalEventType] == ["started", "completed", "abandoned"]


@pytest.mark.parametrize(("path", "value", "in_json_schema"), VIOLATIONS)
def test_violation_is_rejected(path, value, in_json_schema, payload) -> None:
    with pytest.raises(ValidationError) as info:
        GoalEvent.model_validate_json(json.dumps(payload(GoalEvent, {path: value})))
    assert {e["loc"][0] for e in info.value.errors()} == {path.split(".")[0]}


@pytest.mark.parametrize(("path", "value", "in_json_schema"), [v for v in VIOLATIONS if v.values[2]])
def test_json_schema_rejects_the_same(path, value, in_json_schema, payload, schema_validator) -> None:
    assert not schema_validator(GoalEvent).is_valid(payload(GoalEvent, {path: value}))


@pytest.mark.parametrize(("path", "value"), EDGES)
def test_edge_values_are_accepted(path, value, payload, schema_validator) -> None:
    data = payload(GoalEvent, {path: value})
    event = GoalEvent.model_validate_json(json.dumps(data))
    assert getattr(event, path) == value
    schema_validator(GoalEvent).validate(data)
