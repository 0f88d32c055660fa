"""The log masking: no configured secret and no ``password=...`` value in any formatted line."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from stream.observability.log_limits import RepeatLimit
from stream.observability.log_secrets import MASK, SecretMasker, mask_secrets, unmask_secrets

SECRET = "s3cr3t-Pa55word"


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """A DEBUG handler on a fresh logger tree, with the masking installed."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    logger = logging.getLogger("masktest")
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    logger.propagate = False
    mask_secrets([SECRET, "pseudonym-key-123"])
    try:
        yield out
    finally:
        unmask_secrets()
        logger.removeHandler(handler)


def test_kafka_python_style_configuration_dict_is_masked(captured):
    configs = {"bootstrap_servers": ["h:1"], "sasl_plain_username": "u", "sasl_plain_password": SECRET}
    logging.getLogger("masktest.kafka").debug("Starting KafkaAdminClient with configuration: %s", configs)
    line = captured.getvalue()
    assert SECRET not in line
    assert "'sasl_plain_password': '**********'" in line
    assert "'sasl_plain_username': 'u'" in line


@pytest.mark.parametrize(
    ("template", "args"),
    [
        ("secret in the template " + SECRET, ()),
        ("as str %s", (SECRET,)),
        ("as repr %r", (SECRET,)),
        ("inside an object %s", ([1, {"x": SECRET}],)),
        ("mapping %(value)s", {"value": SECRET}),
        ("f-string-like password=%s and more", ("hunter2",)),
        ("ssl_password: %s", ("hunter2",)),
    ],
)
def test_every_place_a_secret_can_hide_is_masked(captured, template, args):
    logging.getLogger("masktest").info(template, *(args if isinstance(args, tuple) else (args,)))
    line = captured.getvalue()
    assert SECRET not in line and "hunter2" not in line
    assert MASK in line


def test_exception_text_and_stack_are_masked(captured):
    log = logging.getLogger("masktest")
    try:
        raise RuntimeError(f"login failed with {SECRET}")
    except RuntimeError:
        log.exception("failed")
    log.warning("with stack pseudonym-key-123", stack_info=True)
    text = captured.getvalue()
    assert SECRET not in text and "pseudonym-key-123" not in text
    assert "RuntimeError: login failed with **********" in text


def test_a_bad_format_still_masks_the_arguments(captured, capsys):
    logging.getLogger("masktest").info("%d", SECRET)  # logging reports the error with the arguments
    assert SECRET not in capsys.readouterr().err + captured.getvalue()


def test_records_without_a_secret_keep_their_template_for_the_repeat_limit(captured):
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("masktest")
    keep = Keep()
    logger.addHandler(keep)
    try:
        logger.warning("Unable connect to node with id %s", 1)
    finally:
        logger.removeHandler(keep)
    assert records[0].msg == "Unable connect to node with id %s" and records[0].args == (1,)
    limit = RepeatLimit(30.0, clock=lambda: 0.0)
    assert limit.filter(records[0])


def test_plain_values_and_none_are_left_alone():
    masker = SecretMasker([SECRET])
    assert masker.mask("password=None, user=alice") == "password=None, user=alice"
    assert masker.mask("nothing secret") == "nothing secret"
    assert masker.mask("token: abc") == f"token: {MASK}"


def test_installing_twice_keeps_one_factory():
    base = logging.getLogRecordFactory()
    try:
        mask_secrets(["a-first-secret"])
        mask_secrets(["a-second-secret"])
        record = logging.getLogRecordFactory()("n", logging.INFO, "f", 1, "a-first-secret a-second-secret", (), None)
        assert record.getMessage() == f"a-first-secret {MASK}"
    finally:
        unmask_secrets()
    assert logging.getLogRecordFactory() is base


def test_a_webhook_url_is_masked_as_a_setting_and_as_a_pair(captured):
    """CES_FEED_WEBHOOK_URL is a secret setting (its value is masked); a pair naming it is masked too."""
    url = "https://hooks.slack.com/services/T000/B000/XXXXSECRETXXXX"
    log = logging.getLogger("masktest")
    mask_secrets([url])
    log.info("posting to %s", url)
    unmask_secrets()
    mask_secrets([])
    log.info("config: feed_webhook_url=%s", "https://other.example/hook/t0ken")
    log.info("{'CES_FEED_WEBHOOK_URL': 'https://other.example/hook/t0ken'}")
    text = captured.getvalue()
    assert "XXXXSECRETXXXX" not in text and "t0ken" not in text
    assert text.count(MASK) == 3
