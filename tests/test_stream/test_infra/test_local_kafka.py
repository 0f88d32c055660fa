"""Tests for stream.infra.local_kafka without running Java: bootstrap parsing, the pinned version, paths."""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path

import pytest

from stream.errors import LocalKafkaError
from stream.infra import local_kafka
from stream.infra.local_kafka import KAFKA_DEPLOY_DIR, LocalKafka, kafka_version, parse_local_bootstrap, port_open
from stream.infra.local_services import free_port


@pytest.mark.parametrize(
    ("bootstrap", "expected"),
    [
        ("127.0.0.1:29092", ("127.0.0.1", 29092)),
        ("localhost:1", ("localhost", 1)),
        (" 127.0.0.1:9092 ", ("127.0.0.1", 9092)),
        ("127.0.0.1:9092,", ("127.0.0.1", 9092)),  # a trailing comma is still one server
        ("kafka.example.com:9092", None),  # remote host
        ("10.0.0.5:9092", None),
        ("0.0.0.0:9092", None),
        ("127.0.0.1:29092,127.0.0.1:29093", None),  # two servers
        ("localhost:9092,kafka:9092", None),
        ("127.0.0.1:abc", None),  # bad port
        ("127.0.0.1:", None),
        ("127.0.0.1", None),
        ("localhost:-1", None),
        ("", None),
    ],
)
def test_parse_local_bootstrap(bootstrap, expected):
    assert parse_local_bootstrap(bootstrap) == expected


def test_kafka_version_reads_the_pom():
    pom = (KAFKA_DEPLOY_DIR / "pom.xml").read_text()
    pinned = re.search(r"<kafka\.version>\s*([^<]+?)\s*</kafka\.version>", pom).group(1)
    assert kafka_version() == pinned
    assert re.fullmatch(r"\d+\.\d+\.\d+", kafka_version())


def test_kafka_version_reads_whatever_the_pom_pins(tmp_path, monkeypatch):
    (tmp_path / "pom.xml").write_text(
        "<project><properties>\n  <kafka.version> 9.8.7 </kafka.version>\n</properties></project>"
    )
    monkeypatch.setattr(local_kafka, "KAFKA_DEPLOY_DIR", tmp_path)
    assert kafka_version() == "9.8.7"


def test_kafka_version_without_a_pom_raises(tmp_path, monkeypatch):
    monkeypatch.setattr(local_kafka, "KAFKA_DEPLOY_DIR", tmp_path)
    with pytest.raises(LocalKafkaError, match=r"pom\.xml not found"):
        kafka_version()


def test_port_open_on_a_closed_port_is_false():
    assert port_open("127.0.0.1", free_port(), timeout_s=0.5) is False


def test_port_open_on_a_listening_port_is_true():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        assert port_open("127.0.0.1", server.getsockname()[1]) is True


def test_paths_and_bootstrap(tmp_path):
    broker = LocalKafka(tmp_path / "cache", port=39092)
    version = kafka_version()
    assert broker.version == version
    assert broker.bootstrap == "127.0.0.1:39092"
    assert broker.libs_dir == tmp_path / "cache" / f"libs-{version}"
    assert broker.broker_dir == tmp_path / "cache" / "broker-39092"
    assert broker.data_dir == broker.broker_dir / "data"
    assert broker.log_file == broker.broker_dir / "broker.log"
    assert broker.pid_file == broker.broker_dir / "broker.pid"
    assert not (tmp_path / "cache").exists()  # constructing it creates nothing


def test_home_is_expanded(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    broker = LocalKafka(Path("~/kafka-cache"))
    assert broker.home == tmp_path / "kafka-cache"
    assert "~" not in str(broker.broker_dir)


def test_two_ports_share_the_jars_but_not_the_broker_data(tmp_path):
    a, b = LocalKafka(tmp_path, port=29092), LocalKafka(tmp_path, port=39092)
    assert a.libs_dir == b.libs_dir
    assert a.broker_dir != b.broker_dir


def test_overrides_put_the_controller_on_the_next_port(tmp_path):
    broker = LocalKafka(tmp_path, port=39092, host="127.0.0.1")
    args = broker._overrides()
    assert args[0::2] == ["--override"] * (len(args) // 2)
    values = dict(item.split("=", 1) for item in args[1::2])
    assert values == {
        "controller.quorum.voters": "1@127.0.0.1:39093",
        "listeners": "PLAINTEXT://127.0.0.1:39092,CONTROLLER://127.0.0.1:39093",
        "advertised.listeners": "PLAINTEXT://127.0.0.1:39092",
        "log.dirs": str(broker.data_dir),
    }


def test_java_command_uses_the_cached_jars_and_the_broker_dir(tmp_path):
    broker = LocalKafka(tmp_path, port=39092)
    cmd = broker._java("kafka.Kafka", "server.properties")
    assert cmd[0] == "java"
    assert cmd[cmd.index("-cp") + 1] == f"{broker.libs_dir}/*"
    assert f"-Dkafka.logs.dir={broker.broker_dir}" in cmd
    assert cmd[-2:] == ["kafka.Kafka", "server.properties"]


def test_status_and_stop_without_a_broker(tmp_path):
    broker = LocalKafka(tmp_path, port=free_port())
    status = broker.status()
    assert status.running is False
    assert status.pid is None
    assert status.bootstrap == broker.bootstrap
    assert status.log_file == broker.log_file
    assert broker.stop() is False


@pytest.mark.parametrize("content", ["", "not a pid", "999999999"], ids=["empty", "garbage", "no-such-process"])
def test_a_stale_pid_file_means_no_broker(tmp_path, content):
    broker = LocalKafka(tmp_path, port=free_port())
    broker.broker_dir.mkdir(parents=True)
    broker.pid_file.write_text(content)
    assert broker.status().pid is None


def test_a_pid_file_of_a_live_process_is_read(tmp_path):
    broker = LocalKafka(tmp_path, port=free_port())
    broker.broker_dir.mkdir(parents=True)
    broker.pid_file.write_text(f"{os.getpid()}\n")
    assert broker.status().pid == os.getpid()


def test_ensure_jars_reuses_a_filled_cache_without_maven(tmp_path, monkeypatch):
    broker = LocalKafka(tmp_path, port=39092)
    broker.libs_dir.mkdir(parents=True)
    (broker.libs_dir / f"kafka_2.13-{broker.version}.jar").write_bytes(b"")
    monkeypatch.setenv("PATH", str(tmp_path / "empty-path"))  # no java, no mvn
    assert broker.ensure_jars() == broker.libs_dir


def test_ensure_jars_without_tools_names_them(tmp_path, monkeypatch):
    broker = LocalKafka(tmp_path, port=39092)
    monkeypatch.setenv("PATH", str(tmp_path / "empty-path"))
    with pytest.raises(LocalKafkaError, match="'java' not found on PATH"):
        broker.ensure_jars()
    assert not broker.libs_dir.exists()


def _security(tmp_path, **kwargs):
    from stream.infra.broker_security import SaslSslListener, ScramUser

    for name in ("broker.p12", "truststore.p12"):
        (tmp_path / name).write_bytes(b"")
    values = {
        "keystore": tmp_path / "broker.p12",
        "truststore": tmp_path / "truststore.p12",
        "store_password": "storepw",
        "broker_user": ScramUser("broker", "brokerpw"),
        "users": (ScramUser("ces", "cespw"),),
        **kwargs,
    }
    return SaslSslListener(**values)


def test_a_secured_broker_listens_for_clients_with_sasl_ssl_only(tmp_path):
    broker = LocalKafka(tmp_path, port=39092, security=_security(tmp_path))
    args = broker._overrides()
    values = dict(item.split("=", 1) for item in args[1::2])
    assert values["listeners"] == "SASL_SSL://127.0.0.1:39092,CONTROLLER://127.0.0.1:39093"
    assert values["advertised.listeners"] == "SASL_SSL://127.0.0.1:39092"
    assert values["listener.security.protocol.map"] == "CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL"
    assert values["inter.broker.listener.name"] == "SASL_SSL"
    assert values["sasl.enabled.mechanisms"] == values["sasl.mechanism.inter.broker.protocol"] == "SCRAM-SHA-512"
    assert 'username="broker" password="brokerpw";' in values["listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config"]
    assert values["ssl.keystore.location"] == str(tmp_path / "broker.p12")
    assert values["controller.quorum.voters"] == "1@127.0.0.1:39093"
    assert values["log.dirs"] == str(broker.data_dir)


def test_the_scram_users_are_created_at_format_time(tmp_path):
    assert _security(tmp_path).format_arguments() == [
        "--add-scram",
        "SCRAM-SHA-512=[name=broker,password=brokerpw]",
        "--add-scram",
        "SCRAM-SHA-512=[name=ces,password=cespw]",
    ]


def test_broker_security_is_checked_and_keeps_passwords_out_of_its_repr(tmp_path):
    from stream.infra.broker_security import ScramUser

    assert "storepw" not in repr(_security(tmp_path)) and "cespw" not in repr(_security(tmp_path))
    with pytest.raises(LocalKafkaError, match="letters, digits"):
        ScramUser("ces", "pass,word")
    with pytest.raises(LocalKafkaError, match="SCRAM-SHA-256, SCRAM-SHA-512"):
        _security(tmp_path, mechanism="PLAIN")
    with pytest.raises(LocalKafkaError, match="not found"):
        _security(tmp_path, keystore=tmp_path / "missing.p12")
