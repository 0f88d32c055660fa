"""Names of whole-second durations: "90s", "10m", "24h", "7d" (windows, resolutions, duration bands)."""

from __future__ import annotations

import re

__all__ = ["format_duration", "parse_duration"]

_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION_RE = re.compile(r"([1-9][0-9]*)([smhd])")
_DAY_S = 86400


def parse_duration(text: str) -> int:
    """Parse ``"90s"``, ``"10m"``, ``"1h"``, ``"24h"``, ``"7d"`` into whole seconds.

    :raises ValueError: for anything else (no unit, zero, fractions, other units).
    """
    match = _DURATION_RE.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise ValueError(
            f"invalid duration {text!r}: expected a positive whole number and a unit s, m, h or d (e.g. 10m, 24h, 7d)"
        )
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def format_duration(seconds: int) -> str:
    """The shortest name of a whole number of seconds: 600 -> "10m", 604800 -> "7d".

    One day is written ``"24h"`` (the conventional window name); two days and more in ``d``.
    ``parse_duration(format_duration(s)) == s`` for every s > 0.

    :raises ValueError: unless ``seconds`` is a positive integer.
    """
    if type(seconds) is not int or seconds <= 0:
        raise ValueError(f"a duration must be a positive whole number of seconds, got {seconds!r}")
    if seconds % _DAY_S == 0 and seconds != _DAY_S:
        return f"{seconds // _DAY_S}d"
    for unit, unit_s in (("h", 3600), ("m", 60)):
        if seconds % unit_s == 0:
            return f"{seconds // unit_s}{unit}"
    return f"{seconds}s"
