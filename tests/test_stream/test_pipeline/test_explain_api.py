"""``/api/explain`` of a worker: off without a token, the bearer token, the owner of the user's partition answers
from its table (the others 421), and the raw user id goes nowhere."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest
from faust.types import TP

from stream.ces.intake import partition_for, pseudonymise
from stream.ces.registry.model import GoalRegistry
from stream.ces.users import UserState
from stream.pipeline.explain_api import NOT_OWNER, ExplainApi
from stream.settings import load_settings

TOKEN = "explain-token-0123456789"
TOPIC = "t-user-events"
USER = "customer-4711"
NOW_S = 1_750_000_000.0
REGISTRY = GoalRegistry.model_validate(
    {
        "version": 1,
        "defaults": {"user_cooldown_seconds": 600},
        "goals": [
            {
                "slug": "pay-bill",
                "display_name": {"en": "Pay", "nl": "Betalen"},
                "question": {"en": "Easy?", "nl": "Makkelijk?"},
                "follow_up_question": {"en": "Why?", "nl": "Waarom?"},
                "scale": {"kind": "five_point"},
                "sampling": {"rate": 1.0},
            }
        ],
    }
)


def _api(token: str | None = TOKEN, owned: set[int] | None = None, states: dict[str, UserState] | None = None) -> Any:
    settings = load_settings(
        explain_token=token, topic_partitions=4, pseudonym_key="explain-test-pseudonym-key", goals_file="x.yaml"
    )
    ref = pseudonymise(USER, b"explain-test-pseudonym-key")
    owned = {partition_for(ref, 4)} if owned is None else owned
    consumer = SimpleNamespace(assignment=lambda: {TP(TOPIC, p) for p in owned} | {TP("other", 0)})
    app = SimpleNamespace(rebalancing=False, consumer=consumer)
    stored = states or {}
    loaded: list[str] = []

    def load_state(user_ref: str) -> UserState:
        loaded.append(user_ref)
        return stored.get(user_ref, UserState())

    api = ExplainApi(app, settings, REGISTRY, TOPIC, load_state, dict)  # type: ignore[arg-type]
    api.loaded, api.ref = loaded, ref
    return api


BEARER = f"Bearer {TOKEN}"


def test_without_the_setting_the_endpoint_is_off() -> None:
    assert _api(token=None).answer({"user": USER, "goal": "pay-bill"}, BEARER)[0] == 404


@pytest.mark.parametrize("header", [None, "", TOKEN, "Bearer wrong-token-0123456789", f"Basic {TOKEN}"])
def test_without_the_token_nothing_is_read(header) -> None:
    api = _api()
    status, body = api.answer({"user": USER, "goal": "pay-bill"}, header)
    assert status == 401 and api.loaded == []
    assert TOKEN not in json.dumps(body)


@pytest.mark.parametrize(
    "query",
    [
        {"goal": "pay-bill"},
        {"user": USER},
        {"user": USER, "goal": "nope"},
        {"user": USER, "goal": "pay-bill", "outcome": "started"},
        {"user": USER, "goal": "pay-bill", "channel": "fax"},
        {"user": "x" * 257, "goal": "pay-bill"},
    ],
)
def test_a_bad_query_is_refused(query) -> None:
    status, body = _api().answer(query, BEARER)
    assert status == 400 and "error" in body


def test_another_worker_names_the_partition_and_that_it_does_not_own_it() -> None:
    api = _api(owned=set())
    status, body = api.answer({"user": USER, "goal": "pay-bill"}, BEARER)
    assert status == NOT_OWNER == 421
    assert body["partition"] == partition_for(api.ref, 4) and body["owner"] is False
    assert api.loaded == []


def test_the_owner_answers_from_the_stored_state_by_the_pseudonym() -> None:
    api = _api()
    state = UserState(last_prompt_at_s=NOW_S - 60)
    api = _api(states={api.ref: state})
    status, body = api.answer({"user": USER, "goal": "pay-bill", "channel": "ios"}, BEARER, now_s=NOW_S)
    assert status == 200 and api.loaded == [api.ref]
    assert (body["decision"], body["suppressed"], body["channel"]) == ("suppressed", "user_cooldown", "ios")
    assert body["user_ref"] == api.ref and body["owner"] is True
    assert USER not in json.dumps(body)
    assert state == UserState(last_prompt_at_s=NOW_S - 60)


def test_while_rebalancing_the_worker_asks_to_come_back() -> None:
    api = _api()
    api.app.rebalancing = True
    assert api.answer({"user": USER, "goal": "pay-bill"}, BEARER)[0] == 503
