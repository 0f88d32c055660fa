"""A throw-away PKI for tests: a CA, a broker certificate for 127.0.0.1 and localhost, PKCS12 stores.

Made with ``openssl`` (keys, certificates, the keystore) and one ``keytool`` call (a Java
truststore needs the CA as a trusted-certificate entry, which openssl 3.0 cannot write).
"""

from __future__ import annotations

import secrets
import subprocess
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class TestPki:
    __test__ = False  # not a test class

    ca_pem: Path  # what clients verify the broker with (CES_KAFKA_SSL_CAFILE)
    keystore: Path  # PKCS12: the broker's key and certificate chain
    truststore: Path  # PKCS12: the CA, as a trusted certificate
    password: str = field(repr=False)  # of both stores and the key


def _run(*cmd: str, cwd: Path) -> None:
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:2])} failed ({result.returncode}):\n{result.stdout}{result.stderr}")


def make_test_pki(directory: Path, days: int = 2) -> TestPki:
    """Write ca.pem, broker.p12 and truststore.p12 into ``directory`` (created)."""
    directory.mkdir(parents=True, exist_ok=True)
    password = secrets.token_hex(12)
    pass_arg = f"pass:{password}"
    _run(
        "openssl",
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        str(days),
        "-subj",
        "/CN=ces-stream test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        cwd=directory,
    )
    _run(
        "openssl",
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "broker.key",
        "-out",
        "broker.csr",
        "-subj",
        "/CN=localhost",
        cwd=directory,
    )
    (directory / "broker.ext").write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
    )
    _run(
        "openssl",
        "x509",
        "-req",
        "-in",
        "broker.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "broker.pem",
        "-days",
        str(days),
        "-extfile",
        "broker.ext",
        cwd=directory,
    )
    _run(
        "openssl",
        "pkcs12",
        "-export",
        "-in",
        "broker.pem",
        "-inkey",
        "broker.key",
        "-certfile",
        "ca.pem",
        "-name",
        "broker",
        "-out",
        "broker.p12",
        "-passout",
        pass_arg,
        cwd=directory,
    )
    _run(
        "keytool",
        "-importcert",
        "-noprompt",
        "-alias",
        "ces-test-ca",
        "-file",
        "ca.pem",
        "-keystore",
        "truststore.p12",
        "-storetype",
        "PKCS12",
        "-storepass",
        password,
        cwd=directory,
    )
    return TestPki(directory / "ca.pem", directory / "broker.p12", directory / "truststore.p12", password)
