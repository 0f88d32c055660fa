"""Tests for stream.settings: defaults, CES_* overrides, errors that name the variable, masking."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from stream.errors import CesError, SettingsError
from stream.settings import DEFAULT_WINDOWS, DEV_PSEUDONYM_KEY, ENV_PREFIX, Settings, load_settings

MASK = "**********"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No CES_* variable of the machine running the tests leaks in."""
    for name in list(os.environ):
        if name.startswith(ENV_PREFIX):
            monkeypatch.delenv(name)
    return monkeypatch


def test_defaults_load():
    s = load_settings()
    assert s.kafka_bootstrap == "127.0.0.1:29092"
    assert s.bootstrap_servers == ["127.0.0.1:29092"]
    assert s.kafka_security_protocol == "PLAINTEXT"
    assert s.kafka_sasl_mechanism is None
    assert s.kafka_sasl_username is None
    assert s.kafka_sasl_password is None
    assert s.kafka_ssl_cafile is None
    assert s.app_id == "ces-stream"
    assert s.store == "memory://"
    assert s.topic_goal_events == "ces.goal-events"
    assert s.topic_dead_letter == "ces.dead-letter"
    assert s.topic_partitions == 8
    assert s.web_port == 6066
    assert s.goals_file == Path("deploy/goals.yaml")
    assert s.pseudonym_key.get_secret_value() == DEV_PSEUDONYM_KEY
    assert s.windows == DEFAULT_WINDOWS
    assert s.wilson_confidence == 0.99
    assert s.max_event_bytes == 65536
    assert s.future_skew_seconds == 300
    assert s.late_grace_seconds == 3600


@pytest.mark.parametrize(
    ("var", "value", "attr", "expected"),
    [
        ("CES_KAFKA_BOOTSTRAP", "kafka-1:9092", "kafka_bootstrap", "kafka-1:9092"),
        ("CES_APP_ID", "ces-stream-eu.v2", "app_id", "ces-stream-eu.v2"),
        ("CES_STORE", "rocksdb://", "store", "rocksdb://"),
        ("CES_DATA_DIR", "/var/lib/ces", "data_dir", Path("/var/lib/ces")),
        ("CES_TOPIC_GOAL_EVENTS", "apps.goal-events", "topic_goal_events", "apps.goal-events"),
        ("CES_TOPIC_PARTITIONS", "3", "topic_partitions", 3),
        ("CES_TOPIC_RETENTION_HOURS", "1.5", "topic_retention_hours", 1.5),
        ("CES_WEB_HOST", "127.0.0.1", "web_host", "127.0.0.1"),
        ("CES_WEB_PORT", "8080", "web_port", 8080),
        ("CES_GOALS_FILE", "/etc/ces/goals.yaml", "goals_file", Path("/etc/ces/goals.yaml")),
        ("CES_WINDOWS", "10m,1h", "windows", ("10m", "1h")),
        ("CES_WINDOWS", " 10m , 1h ,", "windows", ("10m", "1h")),
        ("CES_WINDOWS", "24h", "windows", ("24h",)),
        ("CES_WILSON_CONFIDENCE", "0.95", "wilson_confidence", 0.95),
        ("CES_MAX_EVENT_BYTES", "1024", "max_event_bytes", 1024),
        ("CES_FUTURE_SKEW_SECONDS", "0", "future_skew_seconds", 0.0),
        ("CES_LATE_GRACE_SECONDS", "7200", "late_grace_seconds", 7200.0),
        ("CES_TICK_INTERVAL_SECONDS", "1", "tick_interval_seconds", 1.0),
        ("CES_KAFKA_SECURITY_PROTOCOL", "SSL", "kafka_security_protocol", "SSL"),
        ("CES_KAFKA_SSL_CAFILE", "/etc/ssl/ca.pem", "kafka_ssl_cafile", Path("/etc/ssl/ca.pem")),
    ],
)
def test_env_var_overrides(clean_env, var, value, attr, expected):
    clean_env.setenv(var, value)
    s = load_settings()
    assert getattr(s, attr) == expected
    assert type(getattr(s, attr)) is type(expected)


def test_windows_text_parses_to_a_tuple_in_order():
    s = load_settings(windows="1h,10m")
    assert s.windows == ("1h", "10m")
    assert isinstance(s.windows, tuple)


def test_two_bootstrap_servers_split(clean_env):
    clean_env.setenv("CES_KAFKA_BOOTSTRAP", "a.example:9092, b.example:9093")
    assert load_settings().bootstrap_servers == ["a.example:9092", "b.example:9093"]


def test_pseudonym_key_from_env(clean_env):
    clean_env.setenv("CES_PSEUDONYM_KEY", "s3cret-key")
    assert load_settings().pseudonym_key.get_secret_value() == "s3cret-key"


def test_an_empty_variable_means_the_default(clean_env):
    clean_env.setenv("CES_WEB_PORT", "")
    clean_env.setenv("CES_APP_ID", "")
    s = load_settings()
    assert s.web_port == 6066
    assert s.app_id == "ces-stream"


def test_explicit_overrides_win_over_the_environment(clean_env):
    clean_env.setenv("CES_WEB_PORT", "8080")
    assert load_settings(web_port=9090).web_port == 9090


def test_unknown_ces_variables_are_ignored(clean_env):
    # e.g. CES_TEST_BOOTSTRAP of the test suite
    clean_env.setenv("CES_TEST_BOOTSTRAP", "nohost")
    assert load_settings().kafka_bootstrap == "127.0.0.1:29092"


def test_settings_are_frozen():
    s = load_settings()
    with pytest.raises(ValidationError):
        s.web_port = 1  # type: ignore[misc]


def test_sasl_with_credentials_loads(clean_env):
    clean_env.setenv("CES_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    clean_env.setenv("CES_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    clean_env.setenv("CES_KAFKA_SASL_USERNAME", "ces")
    clean_env.setenv("CES_KAFKA_SASL_PASSWORD", "hunter2")
    s = load_settings()
    assert s.kafka_sasl_password is not None
    assert s.kafka_sasl_password.get_secret_value() == "hunter2"
    assert "hunter2" not in repr(s)


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"CES_WEB_PORT": "abc"}, ["CES_WEB_PORT"]),
        ({"CES_WEB_PORT": "0"}, ["CES_WEB_PORT"]),
        ({"CES_WEB_PORT": "65536"}, ["CES_WEB_PORT"]),
        ({"CES_STORE": "redis://"}, ["CES_STORE"]),
        ({"CES_KAFKA_BOOTSTRAP": "nohost"}, ["CES_KAFKA_BOOTSTRAP"]),
        ({"CES_KAFKA_BOOTSTRAP": "kafka:"}, ["CES_KAFKA_BOOTSTRAP"]),
        ({"CES_KAFKA_BOOTSTRAP": ":9092"}, ["CES_KAFKA_BOOTSTRAP"]),
        ({"CES_KAFKA_BOOTSTRAP": "a:9092,nohost"}, ["CES_KAFKA_BOOTSTRAP"]),
        ({"CES_KAFKA_BOOTSTRAP": "kafka:port"}, ["CES_KAFKA_BOOTSTRAP"]),
        ({"CES_WINDOWS": "7x"}, ["CES_WINDOWS"]),
        ({"CES_WINDOWS": "10m,10m"}, ["CES_WINDOWS"]),
        ({"CES_WINDOWS": "0m"}, ["CES_WINDOWS"]),
        ({"CES_TOPIC_PARTITIONS": "0"}, ["CES_TOPIC_PARTITIONS"]),
        ({"CES_TOPIC_RETENTION_HOURS": "-1"}, ["CES_TOPIC_RETENTION_HOURS"]),
        ({"CES_KAFKA_SECURITY_PROTOCOL": "TLS"}, ["CES_KAFKA_SECURITY_PROTOCOL"]),
        ({"CES_WILSON_CONFIDENCE": "1.5"}, ["CES_WILSON_CONFIDENCE"]),
        ({"CES_APP_ID": "ces stream"}, ["CES_APP_ID"]),
        ({"CES_MAX_EVENT_BYTES": "10"}, ["CES_MAX_EVENT_BYTES"]),
        (
            {"CES_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"},
            ["CES_KAFKA_SASL_MECHANISM", "CES_KAFKA_SASL_USERNAME", "CES_KAFKA_SASL_PASSWORD"],
        ),
        (
            {
                "CES_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
                "CES_KAFKA_SASL_MECHANISM": "PLAIN",
                "CES_KAFKA_SASL_USERNAME": "ces",
            },
            ["CES_KAFKA_SASL_PASSWORD"],
        ),
        ({"CES_WEB_PORT": "abc", "CES_STORE": "redis://"}, ["CES_WEB_PORT", "CES_STORE"]),
    ],
    ids=lambda v: ",".join(f"{k}={val}" for k, val in v.items()) if isinstance(v, dict) else None,
)
def test_bad_values_raise_settings_error_naming_the_variable(clean_env, env, named):
    for var, value in env.items():
        clean_env.setenv(var, value)
    with pytest.raises(SettingsError) as info:
        load_settings()
    message = str(info.value)
    for var in named:
        assert var in message, message
    assert isinstance(info.value, CesError)
    assert info.value.__cause__ is None  # no pydantic traceback noise in the CLI


def test_web_port_error_says_what_is_wrong(clean_env):
    clean_env.setenv("CES_WEB_PORT", "abc")
    with pytest.raises(SettingsError, match=r"CES_WEB_PORT: Input should be a valid integer"):
        load_settings()


def test_bad_window_error_names_the_window(clean_env):
    clean_env.setenv("CES_WINDOWS", "10m,7x")
    with pytest.raises(SettingsError, match=r"CES_WINDOWS.*'7x'"):
        load_settings()


# -- masked() -------------------------------------------------------------------------


def test_masked_has_one_ces_variable_per_field():
    masked = load_settings().masked()
    assert set(masked) == {ENV_PREFIX + name.upper() for name in Settings.model_fields}


def test_masked_hides_the_pseudonym_key_and_prints_empty_for_none():
    masked = load_settings().masked()
    assert masked["CES_PSEUDONYM_KEY"] == MASK
    assert DEV_PSEUDONYM_KEY not in masked.values()
    assert masked["CES_KAFKA_SASL_PASSWORD"] == ""
    assert masked["CES_KAFKA_SASL_USERNAME"] == ""
    assert masked["CES_KAFKA_SASL_MECHANISM"] == ""
    assert masked["CES_KAFKA_SSL_CAFILE"] == ""
    assert None not in masked.values()


def test_masked_hides_the_sasl_password(clean_env):
    clean_env.setenv("CES_PSEUDONYM_KEY", "pseudo-s3cret")
    clean_env.setenv("CES_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    clean_env.setenv("CES_KAFKA_SASL_MECHANISM", "PLAIN")
    clean_env.setenv("CES_KAFKA_SASL_USERNAME", "ces-user")
    clean_env.setenv("CES_KAFKA_SASL_PASSWORD", "hunter2")
    masked = load_settings().masked()
    assert masked["CES_KAFKA_SASL_PASSWORD"] == MASK
    assert masked["CES_PSEUDONYM_KEY"] == MASK
    assert masked["CES_KAFKA_SASL_USERNAME"] == "ces-user"  # not a secret
    assert masked["CES_KAFKA_SASL_MECHANISM"] == "PLAIN"
    text = "\n".join(f"{k}={v}" for k, v in masked.items())
    assert "hunter2" not in text
    assert "pseudo-s3cret" not in text


def test_masked_renders_tuples_and_paths_as_text(clean_env):
    clean_env.setenv("CES_WINDOWS", "10m,1h")
    clean_env.setenv("CES_GOALS_FILE", "/etc/ces/goals.yaml")
    masked = load_settings().masked()
    assert masked["CES_WINDOWS"] == "10m,1h"
    assert masked["CES_GOALS_FILE"] == "/etc/ces/goals.yaml"
    assert masked["CES_WEB_PORT"] == 6066
    assert all(isinstance(v, (str, int, float)) for v in masked.values())


def test_masked_values_load_back_to_the_same_settings(clean_env):
    """What `ces-stream config` prints can be fed back as the environment (secrets aside)."""
    clean_env.setenv("CES_WINDOWS", "10m,1h")
    clean_env.setenv("CES_WEB_PORT", "8080")
    first = load_settings()
    for var, value in first.masked().items():
        if value != MASK:
            clean_env.setenv(var, str(value))
    clean_env.setenv("CES_PSEUDONYM_KEY", first.pseudonym_key.get_secret_value())
    assert load_settings() == first


def test_secret_values_are_the_secret_settings_for_the_log_masking():
    from stream.settings import DEV_PSEUDONYM_KEY, load_settings

    settings = load_settings(
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="u",
        kafka_sasl_password="pw-123456",
        pseudonym_key="k-987654",
    )
    assert sorted(settings.secret_values()) == ["k-987654", "pw-123456"]
    assert load_settings(pseudonym_key=DEV_PSEUDONYM_KEY).secret_values() == [DEV_PSEUDONYM_KEY]
