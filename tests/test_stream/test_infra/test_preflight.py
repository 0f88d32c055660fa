"""stream.infra.preflight without a broker: nothing answers, so it gives up with one clear line.

The refusals (wrong password, untrusted certificate) need a real broker: tests/integration/test_secure_broker.py.
"""

from __future__ import annotations

import time

import pytest

from stream.errors import KafkaAccessError, KafkaAuthenticationError
from stream.infra.local_services import free_port
from stream.infra.preflight import check_kafka_access
from stream.settings import Settings


def test_no_broker_is_retried_until_the_timeout_then_named():
    port = free_port()
    settings = Settings(
        kafka_bootstrap=f"127.0.0.1:{port}",
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="ces",
        kafka_sasl_password="very-secret-password",
    )
    started = time.monotonic()
    with pytest.raises(KafkaAccessError) as error:
        check_kafka_access(settings, timeout_s=1.0)
    assert 0.5 < time.monotonic() - started < 5
    assert not isinstance(error.value, KafkaAuthenticationError)
    message = str(error.value)
    assert f"no Kafka broker of 127.0.0.1:{port} could be reached within 1 s" in message
    assert "user 'ces' (SASL_SSL, SCRAM-SHA-512)" in message and "ConnectionRefusedError" in message
    assert "very-secret-password" not in message
