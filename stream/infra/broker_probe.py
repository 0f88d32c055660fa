"""Does the broker answer? A metadata request on a connection of its own, bounded in time."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from stream.infra.kafka_config import aiokafka_options
from stream.settings import Settings

log = logging.getLogger(__name__)


class BrokerProbe:
    """Asks the cluster for its brokers (a metadata request) with its own aiokafka admin client.

    Faust's clients retry on their own and say nothing about it to the worker; the probe gives
    ``/health`` and ``ces_broker_reachable`` a plain yes or no. An answer within ``timeout_s``
    is a yes; a refused connection, a failed handshake or no answer in time is a no.
    """

    def __init__(self, settings: Settings, timeout_s: float) -> None:
        self.settings = settings
        self.timeout_s = timeout_s
        self._admin: Any = None

    async def reachable(self) -> bool:
        try:
            await asyncio.wait_for(self._describe_cluster(), self.timeout_s)
            return True
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # every way of not answering is a no
            log.debug("broker probe: %r", exc)
            await self.stop()  # a fresh client next time: no half-bootstrapped state carried over
            return False

    async def _describe_cluster(self) -> None:
        if self._admin is None:
            from aiokafka.admin import AIOKafkaAdminClient

            admin = AIOKafkaAdminClient(
                **aiokafka_options(self.settings),
                request_timeout_ms=int(self.timeout_s * 1000),
                client_id="ces-stream-probe",
            )
            self._admin = admin
            await admin.start()
        await self._admin.describe_cluster()

    async def stop(self) -> None:
        admin, self._admin = self._admin, None
        if admin is not None:
            try:
                await admin.close()
            except Exception as exc:  # closing a client that never connected
                log.debug("broker probe close: %r", exc)
