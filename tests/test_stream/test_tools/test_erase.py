"""``ces-stream erase``: the request it builds and its place among the commands (the broker part is in
tests/integration/test_erasure.py)."""

from __future__ import annotations

import uuid

import pytest

from schemas import ErasureRequest
from stream.errors import CesError
from stream.tools.cli import COMMANDS, build_parser
from stream.tools.erase import erasure_request


def test_the_request_names_the_user_and_keeps_a_given_id():
    request_id = uuid.uuid4()
    request = erasure_request("customer-4711", request_id)
    assert isinstance(request, ErasureRequest)
    assert (request.user_id, request.request_id, request.kafka_key()) == ("customer-4711", request_id, "customer-4711")
    assert erasure_request("customer-4711").request_id != erasure_request("customer-4711").request_id


@pytest.mark.parametrize("user", ["", "a\nb", "x" * 257])
def test_a_user_id_the_apps_could_not_have_sent_is_refused_without_echoing_it(user):
    with pytest.raises(CesError, match="--user: not a valid user id") as refused:
        erasure_request(user)
    assert user not in str(refused.value) or not user


def test_erase_is_a_command_with_a_required_user():
    assert "erase" in [command.name for command in COMMANDS]
    args = build_parser().parse_args(["erase", "--user", "u-1", "--request-id", str(uuid.UUID(int=1))])
    assert (args.user, args.request_id) == ("u-1", uuid.UUID(int=1))
    with pytest.raises(SystemExit):
        build_parser().parse_args(["erase"])
