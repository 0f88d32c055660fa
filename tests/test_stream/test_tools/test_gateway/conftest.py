"""The fixtures the gateway's API tests share: a gateway over fakes, and a client of its started server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient

from tests.test_stream.test_tools.test_gateway.gateway_fakes import Gateway, build_gateway, started_server


@pytest.fixture
def gateway() -> Gateway:
    return build_gateway()


@pytest.fixture
async def client(gateway: Gateway) -> AsyncIterator[TestClient]:
    async with TestClient(await started_server(gateway.app)) as test_client:
        yield test_client
