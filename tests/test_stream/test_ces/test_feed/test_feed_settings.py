"""The feed webhook's settings: part of the one Settings class, the URL checked and kept secret."""

from __future__ import annotations

import os

import pytest

from stream.ces.feed import FeedWebhookSettings
from stream.errors import SettingsError
from stream.settings import ENV_PREFIX, Settings, load_settings
from stream.tools.settings_table import field_order, settings_table_markdown

URL = "https://hooks.slack.com/services/T000/B000/XXXXSECRETXXXX"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.startswith(ENV_PREFIX):
            monkeypatch.delenv(name)
    return monkeypatch


def test_the_feed_settings_are_settings_of_the_one_class():
    assert issubclass(Settings, FeedWebhookSettings)
    s = load_settings()
    assert s.feed_webhook_url is None
    assert (s.feed_webhook_format, s.feed_webhook_rate_per_goal_per_minute) == ("slack", 20.0)
    assert (s.feed_webhook_give_up_seconds, s.feed_webhook_metrics_port) == (86400.0, 6067)


def test_the_url_is_read_from_the_environment_and_is_a_secret(clean_env):
    clean_env.setenv("CES_FEED_WEBHOOK_URL", URL)
    s = load_settings()
    assert s.feed_webhook_url is not None and s.feed_webhook_url.get_secret_value() == URL
    assert URL in s.secret_values()  # masked in every log line (stream.observability.log_secrets)
    assert s.masked()["CES_FEED_WEBHOOK_URL"] == "**********"
    assert URL not in repr(s) and URL not in str(s.masked())


def test_an_empty_url_means_unset(clean_env):
    clean_env.setenv("CES_FEED_WEBHOOK_URL", "")
    assert load_settings().feed_webhook_url is None


@pytest.mark.parametrize(
    "url", ["hooks.slack.com/services/x", "ftp://example.com/x", "https:///no-host", "file:///etc/passwd"]
)
def test_a_url_that_is_not_http_is_refused_without_repeating_it(url):
    with pytest.raises(SettingsError) as refused:
        load_settings(feed_webhook_url=url)
    assert "CES_FEED_WEBHOOK_URL" in str(refused.value)
    assert url not in str(refused.value)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("feed_webhook_format", "xml"),
        ("feed_webhook_rate_per_goal_per_minute", "-1"),
        ("feed_webhook_timeout_seconds", "0"),
        ("feed_webhook_give_up_seconds", "0"),
        ("feed_webhook_metrics_port", "70000"),
    ],
)
def test_bad_values_name_the_variable(name, value):
    with pytest.raises(SettingsError, match=f"CES_{name.upper()}"):
        load_settings(**{name: value})


def test_the_settings_table_lists_the_feed_settings_after_the_workers():
    order = field_order(Settings)
    assert order[0] == "kafka_bootstrap"
    assert order[-len(FeedWebhookSettings.model_fields) :] == list(FeedWebhookSettings.model_fields)
    assert sorted(order) == sorted(Settings.model_fields)
    assert "| `CES_FEED_WEBHOOK_URL` | (unset) |" in settings_table_markdown()
