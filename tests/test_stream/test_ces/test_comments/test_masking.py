"""Personal data in comments: each kind masked and counted, checksums decide, text stays text."""

from __future__ import annotations

import random

import pytest

from stream.ces.comments import MARKERS, PersonalData, mask_personal_data

EMAIL, IBAN, PHONE, BSN, ADDRESS = (MARKERS[kind] for kind in PersonalData)


def iban(country: str, bban: str) -> str:
    """A valid IBAN for ``bban``: the check digits computed as ISO 13616 says (98 - n mod 97)."""
    digits = "".join(str(int(ch, 36)) for ch in bban + country + "00")
    return f"{country}{98 - int(digits) % 97:02d}{bban}"


def bsn(first_eight: str) -> str | None:
    """The nine-digit BSN that completes ``first_eight``, or None when no last digit passes the 11-check."""
    total = sum(w * int(d) for w, d in zip(range(9, 1, -1), first_eight, strict=True))
    last = total % 11
    return f"{first_eight}{last}" if last < 10 else None


def grouped(code: str) -> str:
    return " ".join(code[i : i + 4] for i in range(0, len(code), 4))


def test_known_valid_iban_and_bsn_are_masked_and_counted() -> None:
    masked = mask_personal_data("Mijn IBAN is NL91 ABNA 0417 1643 00 en mijn BSN 111222333, bel me niet.")
    assert masked.text == f"Mijn IBAN is {IBAN} en mijn BSN {BSN}, bel me niet."
    assert masked.counts == {PersonalData.iban: 1, PersonalData.bsn: 1}


@pytest.mark.parametrize("seed", range(20))
def test_generated_ibans_are_masked_grouped_or_not_and_a_wrong_check_digit_is_not(seed: int) -> None:
    rng = random.Random(seed)
    country, length = rng.choice([("NL", 14), ("BE", 12), ("DE", 18), ("FR", 23), ("GB", 18)])
    bban = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789" if i < 4 else "0123456789") for i in range(length))
    valid = iban(country, bban)
    wrong = valid[:2] + f"{(int(valid[2:4]) + 1) % 100:02d}" + valid[4:]
    for written in (valid, grouped(valid), valid.lower()):
        assert mask_personal_data(f"rekening {written}.").text == f"rekening {IBAN}."
    # A code of that shape that fails mod-97 is not an account; none of its digits is masked as something else.
    assert mask_personal_data(f"code {grouped(wrong)} klopt niet").text == f"code {grouped(wrong)} klopt niet"


@pytest.mark.parametrize("seed", range(20))
def test_generated_bsns_pass_and_a_changed_digit_fails(seed: int) -> None:
    rng = random.Random(seed)
    number = None
    while number is None:
        number = bsn("".join(rng.choice("0123456789") for _ in range(8)))
    for written in (number, f"{number[:3]}.{number[3:6]}.{number[6:]}", f"{number[:4]} {number[4:6]} {number[6:]}"):
        masked = mask_personal_data(f"bsn: {written}")
        assert masked.text == f"bsn: {BSN}" and masked.counts == {PersonalData.bsn: 1}
    changed = number[:8] + str((int(number[8]) + 1) % 10)
    assert mask_personal_data(f"ordernummer {changed}").counts == {}


@pytest.mark.parametrize(
    "phone",
    [
        "06-12345678",
        "06 1234 5678",
        "0612345678",
        "020-1234567",
        "(020) 123 4567",
        "010 - 123 45 67".replace(" - ", "-"),
        "+31 6 12345678",
        "+31612345678",
        "0031 (0)20 123 4567",
        "+31 (0)6 1234 5678",
        "+44 20 7946 0958",
        "0032 2 123 45 67",
    ],
)
def test_phone_numbers_in_the_ways_people_write_them_are_masked(phone: str) -> None:
    masked = mask_personal_data(f"Bel mij op {phone}, graag.")
    assert masked.text == f"Bel mij op {PHONE}, graag."
    assert masked.counts == {PersonalData.phone: 1}


@pytest.mark.parametrize(
    "text",
    [
        "order 1234567890 kwam niet aan",  # ten digits, not starting with 0
        "het duurde 12 minuten en 30 seconden",
        "versie 2.3.1 build 20241105",
        "op 01-02-2024 om 10:30",
        "het kostte 1.234,56 euro",
        "ik probeerde het 3 keer in 2024 en 5 dagen later weer",
        "1234 AB Amsterdam",  # a postcode alone is a region
        "klantnummer 123456789",  # nine digits that fail the 11-check
    ],
)
def test_numbers_that_are_not_personal_data_stay(text: str) -> None:
    masked = mask_personal_data(text)
    assert masked.text == text and masked.counts == {}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Dorpsstraat 12, 1234 AB Amsterdam", f"Dorpsstraat {ADDRESS} Amsterdam"),
        ("postcode 1234 AB 5", f"postcode {ADDRESS}"),
        ("1234AB 12a", ADDRESS),
        ("1234ab-12", ADDRESS),
        ("1234 AB, nr. 7 bovenwoning", f"{ADDRESS} bovenwoning"),
    ],
)
def test_postcode_with_house_number_is_masked(text: str, expected: str) -> None:
    masked = mask_personal_data(text)
    assert masked.text == expected and masked.counts == {PersonalData.address: 1}


def test_emails_and_a_mix_are_counted_per_kind_and_masking_twice_changes_nothing() -> None:
    text = (
        "Mail jan.de-vries+ces@example.co.uk of j@x.nl, bel 06-12345678, "
        "IBAN NL91ABNA0417164300, Kerkweg 3, 1234 AB Utrecht."
    )
    once = mask_personal_data(text)
    assert once.text == f"Mail {EMAIL} of {EMAIL}, bel {PHONE}, IBAN {IBAN}, Kerkweg {ADDRESS} Utrecht."
    assert once.counts == {PersonalData.email: 2, PersonalData.phone: 1, PersonalData.iban: 1, PersonalData.address: 1}
    twice = mask_personal_data(once.text)
    assert twice.text == once.text and twice.counts == {}


def test_text_without_personal_data_is_returned_as_it_is() -> None:
    text = "Het formulier was onduidelijk: welke datum moet ik invullen?"
    masked = mask_personal_data(text)
    assert masked.text is text and masked.counts == {}
