"""Comment text: personal data masked before a comment leaves the worker (``masking``)."""

from stream.ces.comments.masking import MARKERS, MaskedText, PersonalData, mask_personal_data

__all__ = ["MARKERS", "MaskedText", "PersonalData", "mask_personal_data"]
