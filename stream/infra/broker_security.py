"""A SASL_SSL client listener with SCRAM users, for the local broker (``LocalKafka(security=...)``).

The broker then has one listener for clients, ``SASL_SSL://host:port``, which it also uses to
talk to itself (its own SCRAM user), and its KRaft controller on ``port + 1`` stays PLAINTEXT
on the loopback address. The SCRAM users are created when the storage is formatted
(``kafka-storage format --add-scram``), so they exist before the broker accepts a client.

The keystore and truststore are PKCS12 files made elsewhere (the tests make a throw-away CA
and a broker certificate for ``127.0.0.1`` and ``localhost``: ``tests/tls.py``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from stream.errors import LocalKafkaError

LISTENER = "SASL_SSL"
MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-512")
# --add-scram reads "name=...,password=..." without quoting: keep both to characters it cannot misread.
_PLAIN = re.compile(r"[A-Za-z0-9_.@-]+")


@dataclass(frozen=True)
class ScramUser:
    name: str
    password: str = field(repr=False)

    def __post_init__(self) -> None:
        if not (_PLAIN.fullmatch(self.name) and _PLAIN.fullmatch(self.password)):
            raise LocalKafkaError(
                f"SCRAM user {self.name!r}: name and password may hold only letters, digits and _.@- "
                "(kafka-storage --add-scram takes them unquoted)"
            )


@dataclass(frozen=True)
class SaslSslListener:
    """How the local broker's client listener is secured.

    :param keystore: PKCS12 with the broker's key and certificate (its SAN must name the host).
    :param truststore: PKCS12 with the CA that signed it (the broker connects to itself).
    :param store_password: password of both stores and of the key.
    :param broker_user: the SCRAM user the broker authenticates as on its own listener.
    :param users: the client SCRAM users to create.
    """

    keystore: Path
    truststore: Path
    store_password: str = field(repr=False)
    broker_user: ScramUser
    users: tuple[ScramUser, ...] = ()
    mechanism: str = "SCRAM-SHA-512"

    def __post_init__(self) -> None:
        if self.mechanism not in MECHANISMS:
            raise LocalKafkaError(
                f"SASL mechanism {self.mechanism!r}: the local broker supports {', '.join(MECHANISMS)}"
            )
        for store in (self.keystore, self.truststore):
            if not Path(store).is_file():
                raise LocalKafkaError(
                    f"{store} not found: the SASL_SSL listener needs a PKCS12 keystore and truststore"
                )

    def broker_properties(self, host: str, port: int, controller_port: int) -> dict[str, str]:
        """The broker settings of the secured listener (they replace the plain listener's)."""
        jaas = (
            "org.apache.kafka.common.security.scram.ScramLoginModule required "
            f'username="{self.broker_user.name}" password="{self.broker_user.password}";'
        )
        prefix = f"listener.name.{LISTENER.lower()}"
        return {
            "listeners": f"{LISTENER}://{host}:{port},CONTROLLER://{host}:{controller_port}",
            "advertised.listeners": f"{LISTENER}://{host}:{port}",
            "listener.security.protocol.map": f"CONTROLLER:PLAINTEXT,{LISTENER}:{LISTENER}",
            "inter.broker.listener.name": LISTENER,
            "sasl.enabled.mechanisms": self.mechanism,
            "sasl.mechanism.inter.broker.protocol": self.mechanism,
            f"{prefix}.{self.mechanism.lower()}.sasl.jaas.config": jaas,
            "ssl.keystore.type": "PKCS12",
            "ssl.keystore.location": str(self.keystore),
            "ssl.keystore.password": self.store_password,
            "ssl.key.password": self.store_password,
            "ssl.truststore.type": "PKCS12",
            "ssl.truststore.location": str(self.truststore),
            "ssl.truststore.password": self.store_password,
            "ssl.client.auth": "none",
        }

    def format_arguments(self) -> list[str]:
        """``kafka-storage format`` arguments that create the SCRAM users (the broker's and the clients')."""
        out: list[str] = []
        for user in (self.broker_user, *self.users):
            out += ["--add-scram", f"{self.mechanism}=[name={user.name},password={user.password}]"]
        return out
