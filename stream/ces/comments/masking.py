"""Personal data masked out of comment text before a comment leaves the worker.

A follow-up comment is the user's own words, and users write their e-mail address, phone
number, bank account, citizen service number or address into it ("mail me at ...", "my
IBAN is ..."). Before a comment reaches the comments topic (and from there the report, the
digest and the feed), :func:`mask_personal_data` replaces each of these with a marker that
names its kind, and counts them per kind. The original text stays on the answers input topic
and in the dead letters only (docs/privacy.md).

What is masked, in this order (a span taken by an earlier kind is not looked at again):

- ``email``: ``name@domain.tld``;
- ``iban``: an IBAN (two letters, two check digits, 11 to 30 letters and digits, spaces
  allowed between groups) whose ISO 13616 mod-97 check holds. A string of that shape that
  fails the check is left as it is, digits included: it is an order or product code, not
  an account (and a typo in an IBAN is not masked either; the check is what tells them apart);
- ``phone``: an international number (``+`` or ``00``, country code, 7 to 13 more digits)
  or a Dutch national one (``0`` and nine more digits), with spaces, dots, dashes,
  parentheses around the area code or ``(0)`` between;
- ``bsn``: a Dutch citizen service number, nine digits (or ``123.456.782``, ``1234 56 782``)
  that pass the 11-check; nine digits that fail it are left;
- ``address``: a Dutch postcode with a house number, in either order as people write them:
  ``1234 AB 5``, ``1234AB-12a``, ``12, 1234 AB``. The letters of a postcode are upper case
  or written against the digits (``1234ab``): ``2024 en 5`` is text, not an address.

Pure and deterministic; masking a masked text changes nothing (the markers match no kind).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum


class PersonalData(StrEnum):
    """The kinds of personal data masked in comments (the ``kind`` label of the masking counter)."""

    email = "email"
    iban = "iban"
    phone = "phone"
    bsn = "bsn"
    address = "address"


MARKERS = {kind: f"[{kind.value}]" for kind in PersonalData}
"""The text that replaces each kind: ``[email]``, ``[iban]``, ``[phone]``, ``[bsn]``, ``[address]``."""


@dataclass(frozen=True, slots=True)
class MaskedText:
    """A text with its personal data masked, and how many of each kind were found."""

    text: str
    counts: Counter[PersonalData]


def _iban_check(candidate: str) -> bool:
    """ISO 13616: the first four characters moved to the end, letters as 10..35, mod 97 is 1."""
    compact = re.sub(r"\s", "", candidate).upper()
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


def _bsn_check(candidate: str) -> bool:
    """The 11-check: 9*d1 + 8*d2 + ... + 2*d8 - 1*d9 is a multiple of 11 (and not all zeros)."""
    digits = [int(ch) for ch in candidate if ch.isdigit()]
    total = sum(weight * digit for weight, digit in zip(range(9, 1, -1), digits[:8], strict=True)) - digits[8]
    return total % 11 == 0 and any(digits)


def _always(_: str) -> bool:
    return True


_DIGIT_SEP = r"(?:[ .\-]|\)\s?)?"  # between two digits of a phone number: a space, dot, dash or ") "
_POSTCODE = r"[1-9]\d{3}(?:\s?[A-Z]{2}|[a-z]{2})(?![A-Za-z])"
_HOUSE_NUMBER = r"\d{1,5}(?:\s?[A-Za-z](?![A-Za-z])|-\w{1,4})?(?!\w)"

# Each kind: its pattern and the check a match must pass to be masked. A match that fails
# its check still claims its span, so a later kind does not mask a part of it.
_KINDS: list[tuple[PersonalData, re.Pattern[str], Callable[[str], bool]]] = [
    (PersonalData.email, re.compile(r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)*\.[A-Za-z]{2,}"), _always),
    (
        PersonalData.iban,
        re.compile(r"(?<!\w)[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?(?!\w)", re.IGNORECASE),
        _iban_check,
    ),
    (
        PersonalData.phone,
        re.compile(
            r"(?<![\w+])(?:"
            r"(?:\+|00)[1-9]\d{0,2}(?:[ .\-]?\(0\))?(?:[ .\-]?\d){7,12}"  # +31 6 12345678, 0032 2 123 45 67
            r"|\(?0" + _DIGIT_SEP + r"\d(?:" + _DIGIT_SEP + r"\d){8}"  # 06-12345678, (020) 123 4567
            r")(?!\d)"
        ),
        _always,
    ),
    (
        PersonalData.bsn,
        re.compile(r"(?<![\w.])(?:\d{9}|\d{3}\.\d{3}\.\d{3}|\d{4} \d{2} \d{3}|\d{3} \d{3} \d{3})(?!\w|[.,]\d)"),
        _bsn_check,
    ),
    (
        PersonalData.address,
        re.compile(
            r"(?<!\w)(?:"
            + _POSTCODE
            + r"[\s,\-]*(?:(?:nr|no|huisnummer)\.?\s*)?"
            + _HOUSE_NUMBER
            + r"|\d{1,5}[A-Za-z]?\s*,\s*"  # the number before the postcode: "Dorpsstraat 12, 1234 AB"
            + _POSTCODE
            + r")"
        ),
        _always,
    ),
]


def mask_personal_data(text: str) -> MaskedText:
    """Replace the personal data in ``text`` with markers (:data:`MARKERS`), counted per kind."""
    claimed: list[tuple[int, int]] = []
    found: list[tuple[int, int, PersonalData]] = []
    for kind, pattern, check in _KINDS:
        for match in pattern.finditer(text):
            start, end = match.span()
            if any(start < taken_end and taken_start < end for taken_start, taken_end in claimed):
                continue
            claimed.append((start, end))
            if check(match.group()):
                found.append((start, end, kind))
    if not found:
        return MaskedText(text, Counter())
    parts: list[str] = []
    position = 0
    for start, end, kind in sorted(found):
        parts.append(text[position:start])
        parts.append(MARKERS[kind])
        position = end
    parts.append(text[position:])
    return MaskedText("".join(parts), Counter(kind for _, _, kind in found))
