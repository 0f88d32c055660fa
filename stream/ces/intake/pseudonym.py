"""Pseudonymous user references.

A raw user id never enters state, metrics or logs: everything downstream of the
re-keying step uses ``user_ref = pseudonymise(user_id, key)``, a keyed hash. Without
the key the reference cannot be linked back to the user id, and rotating the key
unlinks all stored state at once.
"""

from __future__ import annotations

import hashlib
import hmac

#: Hex characters kept from the HMAC: 128 bits, plenty against collisions, half the bytes.
USER_REF_HEX_CHARS = 32

#: Hex characters of the reference that choose its partition (32 bits).
_PARTITION_HEX_CHARS = 8

_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def pseudonymise(user_id: str, key: bytes) -> str:
    """Return the pseudonymous reference of ``user_id`` under ``key``.

    :param user_id: the raw user id as the apps send it.
    :param key: the secret HMAC key (non-empty); a different key gives unrelated references.
    :returns: the first 32 hex characters of HMAC-SHA256(key, user_id as UTF-8).
    :raises ValueError: if ``key`` is empty (an unkeyed hash of a user id is reversible by guessing).
    """
    if not key:
        raise ValueError("the pseudonymisation key must not be empty")
    digest = hmac.new(key, user_id.encode("utf-8"), hashlib.sha256).hexdigest()
    return digest[:USER_REF_HEX_CHARS]


def partition_for(user_ref: str, partitions: int) -> int:
    """Return the partition of the internal per-user topic that owns ``user_ref``.

    Stable across processes and Python versions (no ``hash()``): the integer value of the
    first 8 hex characters modulo ``partitions``. Our own partitioning, so joins never
    depend on the producing app's partitioner.

    :param user_ref: a reference made by :func:`pseudonymise`.
    :param partitions: number of partitions, at least 1.
    :returns: a partition in ``range(partitions)``.
    :raises ValueError: if ``partitions < 1`` or ``user_ref`` does not start with 8 hex characters.
    """
    if partitions < 1:
        raise ValueError(f"partitions must be >= 1, got {partitions}")
    head = user_ref[:_PARTITION_HEX_CHARS]
    # int(..., 16) alone would also accept "0x", signs, spaces and underscores.
    if len(head) != _PARTITION_HEX_CHARS or not all(c in _HEX_DIGITS for c in head):
        raise ValueError(f"not a pseudonymous user reference: {user_ref!r}")
    return int(head, 16) % partitions
