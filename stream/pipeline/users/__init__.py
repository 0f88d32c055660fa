"""The user stage: prompts and answers per pseudonymous user (``stage``), and inferred abandonment (``expiry``)."""

from stream.pipeline.users.expiry import ExpiryTimers, UserExpiry
from stream.pipeline.users.stage import PARTIALS_PER_RECORD, BatchEffects, UserStage

__all__ = ["PARTIALS_PER_RECORD", "BatchEffects", "ExpiryTimers", "UserExpiry", "UserStage"]
