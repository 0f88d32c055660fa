"""The shared field types (GoalSlug, UserId, Locale, Timestamp, Channel) and their JSON Schema twins."""

from __future__ import annotations

import json
import re

import pytest
from jsonschema import Draft202012Validator
from pydantic import TypeAdapter, ValidationError

from schemas import Channel, GoalEvent, GoalSlug, Locale, UserId

GOAL_SLUGS = [
    pytest.param("download-invoice", True, id="kebab"),
    pytest.param("view_policy", True, id="snake"),
    pytest.param("a", True, id="one-char"),
    pytest.param("x1", True, id="two-chars"),
    pytest.param("a" * 64, True, id="64-chars"),
    pytest.param("a" * 65, False, id="65-chars"),
    pytest.param("", False, id="empty"),
    pytest.param("Download-invoice", False, id="uppercase"),
    pytest.param("-invoice", False, id="leading-dash"),
    pytest.param("invoice_", False, id="trailing-underscore"),
    pytest.param("download invoice", False, id="space"),
    pytest.param("download.invoice", False, id="dot"),
    pytest.param("factuur-downloaden-\u00e9", False, id="non-ascii"),
    pytest.param("invoice\n", False, id="trailing-newline"),
]

USER_IDS = [
    pytest.param("customer-4711", True, id="plain"),
    pytest.param("user@example.org", True, id="email"),
    pytest.param("Jos\u00e9 van D\u00fcren", True, id="unicode-and-space"),
    pytest.param("u" * 256, True, id="256-chars"),
    pytest.param("u" * 257, False, id="257-chars"),
    pytest.param("", False, id="empty"),
    pytest.param("bad\x00id", False, id="nul"),
    pytest.param("line\nbreak", False, id="newline"),
    pytest.param("tab\there", False, id="tab"),
    pytest.param("del\x7f", False, id="del"),
    pytest.param("c1\x85", False, id="c1-next-line"),
]

LOCALES = [
    pytest.param("nl", True, id="nl"),
    pytest.param("en", True, id="en"),
    pytest.param("nl-NL", True, id="nl-NL"),
    pytest.param("gsw", True, id="three-letter-language"),
    pytest.param("zh-Hant-TW", True, id="script-and-region"),
    pytest.param("es-419", True, id="numeric-region"),
    pytest.param("NL", False, id="uppercase-language"),
    pytest.param("nl_NL", False, id="underscore"),
    pytest.param("n", False, id="one-letter"),
    pytest.param("dutch", False, id="word"),
    pytest.param("nl-", False, id="dangling-dash"),
    pytest.param("nl-N", False, id="one-char-subtag"),
    pytest.param("nl-" + "-".join(["abcdefgh"] * 4), False, id="over-35-chars"),
]


def _json_schema(type_: object) -> Draft202012Validator:
    return Draft202012Validator(TypeAdapter(type_).json_schema())


@pytest.mark.parametrize(("value", "valid"), GOAL_SLUGS)
def test_goal_slug(value: str, valid: bool) -> None:
    _assert_validity(GoalSlug, value, valid)


@pytest.mark.parametrize(("value", "valid"), USER_IDS)
def test_user_id(value: str, valid: bool) -> None:
    _assert_validity(UserId, value, valid)


@pytest.mark.parametrize(("value", "valid"), LOCALES)
def test_locale(value: str, valid: bool) -> None:
    _assert_validity(Locale, value, valid)


def _assert_validity(type_: object, value: str, valid: bool) -> None:
    adapter = TypeAdapter(type_)
    if valid:
        assert adapter.validate_json(json.dumps(value)) == value
    else:
        with pytest.raises(ValidationError):
            adapter.validate_json(json.dumps(value))
    if value.endswith("\n"):
        return  # Python's re lets "$" match before a final newline; ECMA-262 and pydantic's engine do not.
    assert _json_schema(type_).is_valid(value) is valid


def test_channel_values() -> None:
    assert [c.value for c in Channel] == ["web", "ios", "android", "other"]


def test_enum_and_uuid_fields_parse_from_text_in_python_too() -> None:
    # LAX: the convenience is Python-side only; JSON accepts the same values either way.
    event = GoalEvent(
        event_id="0f6c2d5e-4a8b-4c1d-9e2f-3a4b5c6d7e8f",
        type="completed",
        goal="download-invoice",
        user_id="customer-4711",
        occurred_at="2025-01-31T09:30:12Z",
        channel="ios",
        locale="nl",
    )
    assert event.channel is Channel.ios
    assert str(event.event_id) == "0f6c2d5e-4a8b-4c1d-9e2f-3a4b5c6d7e8f"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        pytest.param("channel", 1, id="channel-number"),
        pytest.param("channel", "Web", id="channel-case"),
        pytest.param("type", ["completed"], id="type-list"),
        pytest.param("event_id", 12345, id="uuid-number"),
        pytest.param("user_id", 4711, id="user-id-number"),
        pytest.param("locale", None, id="locale-null"),
    ],
)
def test_known_fields_are_not_coerced(field: str, value: object, payload) -> None:
    with pytest.raises(ValidationError) as info:
        GoalEvent.model_validate_json(json.dumps(payload(GoalEvent, {field: value})))
    assert [e["loc"][0] for e in info.value.errors()] == [field]


def test_common_module_docstring_states_the_policy_in_ten_lines_at_most() -> None:
    import schemas.common

    doc = schemas.common.__doc__
    assert len(doc.strip().splitlines()) <= 10
    for phrase in ("ignore", "strict", "schema_version", "forbid"):
        assert re.search(phrase, doc), phrase
