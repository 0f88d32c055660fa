"""Connection options for the Kafka clients, built once from Settings.

kafka-python (admin, simple producers) and aiokafka (under Faust) spell the
same options the same way, so one function serves both.
"""

from __future__ import annotations

import ssl
from typing import Any

from stream.settings import Settings


def client_options(settings: Settings) -> dict[str, Any]:
    """bootstrap_servers plus security options, for kafka-python clients."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap_servers,
        "security_protocol": settings.kafka_security_protocol,
    }
    if settings.kafka_security_protocol.startswith("SASL_"):
        options["sasl_mechanism"] = settings.kafka_sasl_mechanism
        options["sasl_plain_username"] = settings.kafka_sasl_username
        password = settings.kafka_sasl_password
        assert password is not None  # Settings requires it with a SASL_* protocol
        options["sasl_plain_password"] = password.get_secret_value()
    if settings.kafka_ssl_cafile is not None:
        options["ssl_cafile"] = str(settings.kafka_ssl_cafile)
    return options


def aiokafka_options(settings: Settings) -> dict[str, Any]:
    """The same options for aiokafka clients, which take TLS as a context instead of a CA file."""
    options = {k: v for k, v in client_options(settings).items() if k != "ssl_cafile"}
    options["ssl_context"] = ssl_context(settings)
    return options


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """The TLS context for Faust/aiokafka, when the protocol uses TLS."""
    if not settings.kafka_security_protocol.endswith("SSL"):
        return None
    cafile = str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None
    return ssl.create_default_context(cafile=cafile)
