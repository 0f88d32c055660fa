"""The setting of the workers' ``/api/explain``: a base class of :class:`stream.settings.Settings`.

Kept apart so the one settings class stays within the module size limit; the field is read, masked and
tabulated with every other setting (``CES_EXPLAIN_TOKEN``).
"""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings


class ExplainSettings(BaseSettings):
    """Who may ask a worker why a user would (not) be asked (``ces-stream explain``)."""

    explain_token: SecretStr | None = Field(
        None,
        description="Bearer token of the workers' GET /api/explain (why a user would or would not be asked now; "
        "`ces-stream explain` sends it). At least 16 characters; a secret: never logged or printed. "
        "Unset: the endpoint is off (404).",
    )

    @field_validator("explain_token")
    @classmethod
    def _explain_token_long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        # The message never repeats the token: it is a secret.
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError("must be at least 16 characters")
        return value
