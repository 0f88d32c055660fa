"""Tests for stream.ces.intake.pseudonym: keyed, stable, never the raw id."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from stream.ces.intake.pseudonym import USER_REF_HEX_CHARS, partition_for, pseudonymise

KEY = b"test-key-1"


@pytest.mark.parametrize("user_id", ["user-1", "u", "0123456789abcdef0123456789abcdef", "élodie@example.nl", "x" * 256])
def test_pseudonymise_is_truncated_hmac_and_not_the_raw_id(user_id: str) -> None:
    ref = pseudonymise(user_id, KEY)
    expected = hmac.new(KEY, user_id.encode("utf-8"), hashlib.sha256).hexdigest()[:32]
    assert ref == expected
    assert len(ref) == USER_REF_HEX_CHARS == 32
    assert ref != user_id
    assert user_id not in ref


def test_pseudonymise_is_stable() -> None:
    assert pseudonymise("user-1", KEY) == pseudonymise("user-1", KEY)


def test_pseudonymise_is_keyed() -> None:
    assert pseudonymise("user-1", KEY) != pseudonymise("user-1", b"test-key-2")


def test_pseudonymise_separates_users() -> None:
    refs = {pseudonymise(f"user-{i}", KEY) for i in range(1000)}
    assert len(refs) == 1000


def test_pseudonymise_rejects_empty_key() -> None:
    with pytest.raises(ValueError, match="key"):
        pseudonymise("user-1", b"")


@pytest.mark.parametrize("partitions", [1, 2, 3, 12, 64, 1000])
def test_partition_for_is_in_range_and_stable(partitions: int) -> None:
    for i in range(500):
        ref = pseudonymise(f"user-{i}", KEY)
        partition = partition_for(ref, partitions)
        assert 0 <= partition < partitions
        assert partition == partition_for(ref, partitions)


@pytest.mark.parametrize(
    ("user_ref", "partitions", "expected"),
    [
        ("00000000" + "0" * 24, 12, 0),
        ("0000000b" + "f" * 24, 12, 11),
        ("ffffffff" + "0" * 24, 12, 0xFFFFFFFF % 12),
        ("0000000c" + "a" * 24, 12, 0),
    ],
)
def test_partition_for_uses_the_first_eight_hex_chars(user_ref: str, partitions: int, expected: int) -> None:
    assert partition_for(user_ref, partitions) == expected


def test_partition_for_spreads_users() -> None:
    counts = [0] * 8
    for i in range(8000):
        counts[partition_for(pseudonymise(f"user-{i}", KEY), 8)] += 1
    assert min(counts) > 850 and max(counts) < 1150


@pytest.mark.parametrize(
    ("user_ref", "partitions"),
    [("abcdef01", 0), ("abcdef01", -1), ("0x123456", 4), ("abc", 4), ("+1234567", 4), ("abcdefgh", 4)],
)
def test_partition_for_rejects_bad_input(user_ref: str, partitions: int) -> None:
    with pytest.raises(ValueError):
        partition_for(user_ref, partitions)
