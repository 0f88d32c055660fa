"""Field types and base classes shared by every ces-stream event contract.

Unknown-field policy: inputs (`InputModel`: goal events, survey answers) are tolerant readers that
ignore fields they do not know, so app teams can add fields without breaking ces-stream. Known fields
are strict: no "5" -> 5, no true -> 1, no 5.0 -> 5, datetimes only as RFC 3339 text with an offset.
JSON has no UUID or enum type, so those parse from their string form. `schema_version` defaults to 1;
a version above `SCHEMA_VERSION` is a schema violation (a new major needs a new reader).
Outputs (`OutputModel`: everything ces-stream produces) forbid extra fields, so a slip in our own
code fails where it happens instead of reaching consumers. Every model is frozen.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, Strict, StringConstraints

SCHEMA_VERSION = 1
"""The contract major version this code reads and writes."""

GoalSlug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9](?:[a-z0-9_-]{0,62}[a-z0-9])?$")]
"""A goal's registry slug: lowercase letters, digits, ``-`` and ``_``, 1..64 chars, alphanumeric at both ends."""

UserId = Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=r"^[^\x00-\x1f\x7f-\x9f]+$")]
"""An app's user id, 1..256 chars without C0/C1 control characters. Never stored raw in state."""

Locale = Annotated[str, StringConstraints(max_length=35, pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")]
"""A BCP-47-style language tag such as ``nl``, ``en`` or ``nl-NL`` (35 chars at most, as RFC 5646 advises)."""

LAX = Strict(False)
"""Marks a field of an `InputModel` that may parse from its string form in Python as well as in JSON.

JSON input accepts exactly the same values in lax and strict mode for UUIDs and str-valued enums, so
opting them out of strict mode widens nothing on the wire; it only lets Python callers write
``channel="web"`` or pass a UUID as text.
"""


def _require_rfc3339_text(value: object) -> object:
    # pydantic reads numbers and digit-only strings ("1700000000") as Unix timestamps; the contract says
    # RFC 3339 text, which always has "-" after the four-digit year. A plain function call (~0.2 us) is
    # the cheapest check that exists: no pydantic constraint expresses it.
    if isinstance(value, datetime) or (isinstance(value, str) and value[4:5] == "-"):
        return value
    raise ValueError("expected an RFC 3339 date-time with an offset, e.g. 2025-01-31T09:30:00Z")


# Lax inside the guard: once the guard has passed, the value is a datetime or RFC 3339-looking text,
# and lax mode lets Python callers pass that text too (strict Python mode would want a datetime).
Timestamp = Annotated[AwareDatetime, Strict(False), BeforeValidator(_require_rfc3339_text)]
"""A timezone-aware datetime; on the wire an RFC 3339 string with ``Z`` or a numeric offset."""


class Channel(StrEnum):
    """Where the user interacted with the goal."""

    web = "web"
    ios = "ios"
    android = "android"
    other = "other"


class InputModel(BaseModel):
    """Base of the events apps produce: tolerant of unknown fields, strict about known ones."""

    model_config = ConfigDict(
        extra="ignore",
        frozen=True,
        strict=True,
        allow_inf_nan=False,
        use_attribute_docstrings=True,
    )

    schema_version: Annotated[int, Field(ge=1, le=SCHEMA_VERSION)] = SCHEMA_VERSION
    """Contract major version; absent means 1, a newer major is rejected."""


class OutputPart(BaseModel):
    """Base of objects nested inside output messages: the output rules, without a version of their own."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        allow_inf_nan=False,
        use_attribute_docstrings=True,
        # Fields with defaults are always written, so consumers may rely on them being present.
        json_schema_serialization_defaults_required=True,
    )


class OutputModel(OutputPart):
    """Base of the messages ces-stream produces: no field outside the contract."""

    schema_version: Annotated[int, Strict(), Field(ge=1, le=SCHEMA_VERSION)] = SCHEMA_VERSION
    """Contract major version of this message."""
