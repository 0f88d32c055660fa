"""Before anything else talks to Kafka: can we reach a broker, trust it, and log in?

Neither client says so on its own. kafka-python 3.0 sees a refused SASL login only as a
dropped connection and retries until its 30 s bootstrap timeout ("Unable to bootstrap"), and
aiokafka (under Faust) logs the refusal and retries. So one aiokafka connection per bootstrap
server comes first: a refused login or an untrusted certificate stops at once with a one-line
message; an unreachable broker is retried until ``timeout_s``. Messages name the bootstrap
servers, the protocol, the mechanism and the user, never the password.
"""

from __future__ import annotations

import asyncio
import ssl
import time

from stream.errors import KafkaAccessError, KafkaAuthenticationError
from stream.infra.kafka_config import aiokafka_options
from stream.settings import Settings

ATTEMPT_TIMEOUT_S = 10.0


def _who(settings: Settings) -> str:
    protocol = settings.kafka_security_protocol
    if protocol.startswith("SASL_"):
        return f"user {settings.kafka_sasl_username!r} ({protocol}, {settings.kafka_sasl_mechanism})"
    return protocol


async def _try_server(settings: Settings, server: str) -> None:
    """Connect (TLS, API versions, SASL login) to one server and close again."""
    from aiokafka.conn import create_conn

    host, _, port = server.rpartition(":")
    options = aiokafka_options(settings)
    options.pop("bootstrap_servers")
    conn = await create_conn(
        host,
        int(port),
        client_id=f"{settings.app_id}-preflight",
        request_timeout_ms=int(ATTEMPT_TIMEOUT_S * 1000),
        **options,
    )
    conn.close()


def _refusal(settings: Settings, exc: BaseException) -> str | None:
    """Why the broker refused the credentials or the mechanism (retrying cannot help), else None."""
    from aiokafka import errors

    if isinstance(exc, errors.UnsupportedSaslMechanismError):
        return f"the broker does not enable {settings.kafka_sasl_mechanism}"
    if isinstance(
        exc, (errors.SaslAuthenticationFailed, errors.AuthenticationFailedError, errors.IllegalSaslStateError)
    ):
        return str(exc)
    return None


async def _check(settings: Settings, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    servers = ", ".join(settings.bootstrap_servers)
    delay = 0.1
    while True:
        last: BaseException | None = None
        for server in settings.bootstrap_servers:
            try:
                await asyncio.wait_for(_try_server(settings, server), ATTEMPT_TIMEOUT_S)
                return
            except ssl.SSLCertVerificationError as exc:
                raise KafkaAccessError(
                    f"Kafka TLS failed: the certificate of {server} could not be verified ({exc.verify_message}); "
                    f"set CES_KAFKA_SSL_CAFILE to the CA that signed it (now: {settings.kafka_ssl_cafile or 'the system CAs'})"
                ) from None
            except Exception as exc:
                reason = _refusal(settings, exc)
                if reason is not None:
                    raise KafkaAuthenticationError(
                        f"Kafka authentication failed: {server} refused {_who(settings)} ({reason}); check "
                        f"CES_KAFKA_SASL_USERNAME, CES_KAFKA_SASL_PASSWORD and CES_KAFKA_SASL_MECHANISM "
                        f"(bootstrap {servers})"
                    ) from None
                last = exc
        if time.monotonic() + delay >= deadline:
            raise KafkaAccessError(
                f"no Kafka broker of {servers} could be reached within {timeout_s:.0f} s "
                f"({_who(settings)}; last error: {type(last).__name__}: {last})"
            )
        await asyncio.sleep(delay)
        delay = min(delay * 2, 2.0)


def check_kafka_access(settings: Settings, timeout_s: float = 30.0) -> None:
    """Return once one bootstrap server accepts a connection with the configured security.

    :raises KafkaAuthenticationError: a broker refused the SASL credentials or mechanism (at once).
    :raises KafkaAccessError: the broker's certificate is not trusted (at once), or no broker
        answered within ``timeout_s``.
    """
    # A loop of its own, never set as the current one: Faust creates and owns the worker's loop later.
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(_check(settings, timeout_s))
    finally:
        loop.close()
