"""No secret in any log line, at any level, from any logger.

kafka-python logs its whole configuration, SASL password included, at DEBUG
(``Starting KafkaAdminClient with configuration: {...}``); an exception message or a
library's repr can carry one too. :func:`mask_secrets` installs a log record factory,
so every record of every logger (ours, Faust, mode, aiokafka, kafka-python, the root),
whatever handler writes it and whenever that handler was added, is masked once, when
it is made: the configured secret values and ``password=...``-style pairs, in the
message template, in its arguments, in the exception text and in the stack.

The template (``record.msg``) stays a template when it holds no secret, so
:class:`stream.observability.log_limits.RepeatLimit` still groups records by kind.
Records below a logger's level are never made, so the masking costs nothing there.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from typing import Any

MASK = "**********"

# key=value, key: value, 'key': 'value' and "key": "value" for keys that name a secret. A webhook URL
# (CES_FEED_WEBHOOK_URL) is one: a Slack incoming-webhook URL lets anyone post to its channel.
_PAIR = re.compile(
    r"""(?P<key>['"]?[A-Za-z0-9_.-]*(?:password|passwd|secret|credential|token|pseudonym_key|webhook_url)['"]?\s*[:=]\s*)"""
    r"""(?P<quote>['"]?)(?P<value>(?!None\b)(?!\*{10})[^'",}\s)]+)""",
    re.IGNORECASE,
)

_PRIMITIVES = (int, float, bool, type(None))


class SecretMasker:
    """Masks known secret values and secret-looking pairs in text.

    :param secrets: the values to mask wherever they occur (empty ones are ignored).
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Longest first: a secret that contains another is masked whole.
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def mask_values(self, text: str) -> str:
        """The known secret values masked."""
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text

    def mask(self, text: str) -> str:
        """The known secret values and the values of secret-looking pairs masked."""
        return _PAIR.sub(lambda m: f"{m['key']}{m['quote']}{MASK}", self.mask_values(text))


class _Masked:
    """A log argument whose ``str`` and ``repr`` held a secret: both come out masked."""

    __slots__ = ("_repr", "_str")

    def __init__(self, text: str, representation: str) -> None:
        self._str, self._repr = text, representation

    def __str__(self) -> str:
        return self._str

    def __repr__(self) -> str:
        return self._repr


def _mask_arg(masker: SecretMasker, arg: Any) -> Any:
    if isinstance(arg, _PRIMITIVES):
        return arg
    try:
        text, representation = str(arg), repr(arg)
    except Exception:  # a broken __str__ is the handler's problem, not a secret
        return arg
    masked_text, masked_repr = masker.mask(text), masker.mask(representation)
    if masked_text == text and masked_repr == representation:
        return arg
    return _Masked(masked_text, masked_repr)


def mask_record(masker: SecretMasker, record: logging.LogRecord) -> logging.LogRecord:
    """Mask one record in place: template, arguments, exception and stack text.

    Known secrets are masked in the template and in each argument, which keeps the template;
    a ``password=...`` pair may span both (``"password=%s", pw``), so the formatted message is
    checked for pairs too and, when it has one, replaces template and arguments.
    """
    record.msg = masker.mask_values(record.msg if isinstance(record.msg, str) else str(record.msg))
    args = record.args
    if isinstance(args, tuple):
        record.args = tuple(_mask_arg(masker, a) for a in args)
    elif isinstance(args, dict):  # logging's single-mapping form: log.info("%(x)s", {"x": ...})
        record.args = {k: _mask_arg(masker, v) for k, v in args.items()}
    try:
        message = record.getMessage()
    except Exception:  # a bad format: logging would print the arguments raw, so keep them masked here
        record.msg, record.args = masker.mask(f"{record.msg} {record.args!r}"), ()
    else:
        if _PAIR.search(message):
            record.msg, record.args = masker.mask(message), ()
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = masker.mask(record.exc_text)
    if record.stack_info:
        record.stack_info = masker.mask(record.stack_info)
    return record


_installed: dict[str, Any] = {}


def mask_secrets(secrets: Iterable[str]) -> SecretMasker:
    """Mask ``secrets`` (and secret-looking pairs) in every log record made from now on.

    Installing again replaces the secrets and keeps one factory (safe to call per command).
    """
    masker = SecretMasker(secrets)
    base: Callable[..., logging.LogRecord] = _installed.get("base") or logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return mask_record(masker, base(*args, **kwargs))

    _installed["base"] = base
    _installed["masker"] = masker
    logging.setLogRecordFactory(factory)
    return masker


def unmask_secrets() -> None:
    """Put the record factory back as it was (tests)."""
    base = _installed.pop("base", None)
    _installed.pop("masker", None)
    if base is not None:
        logging.setLogRecordFactory(base)
