"""Bitstring Status List encoding: bit order, size, encoding, random allocation."""

from __future__ import annotations

import base64
import gzip

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mcledger.node.credentials.statuslist import (
    MIN_LIST_BITS,
    Bitstring,
    StatusListError,
    random_free_index,
)


def _raw(encoded: str) -> bytes:
    """Decode by hand with the standard library, as any verifier would."""
    assert encoded[0] == "u"
    body = encoded[1:]
    return gzip.decompress(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


def test_index_zero_is_the_most_significant_bit_of_the_first_byte() -> None:
    bits = Bitstring()
    bits.set(0)
    bits.set(9)
    bits.set(MIN_LIST_BITS - 1)
    raw = _raw(bits.encode())
    assert len(raw) == MIN_LIST_BITS // 8
    assert raw[0] == 0b1000_0000 and raw[1] == 0b0100_0000 and raw[-1] == 0b0000_0001
    assert sum(bin(b).count("1") for b in raw) == 3


def test_encoding_is_unpadded_base64url_with_multibase_prefix() -> None:
    encoded = Bitstring().encode()
    assert encoded.startswith("u") and "=" not in encoded
    assert set(encoded[1:]) <= set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    )
    assert Bitstring().encode() == encoded  # deterministic: no time in the GZIP header


@given(st.sets(st.integers(0, MIN_LIST_BITS - 1), max_size=200))
def test_round_trip(indexes: set[int]) -> None:
    bits = Bitstring()
    bits.set_many(indexes)
    back = Bitstring.decode(bits.encode())
    assert {i for i in range(MIN_LIST_BITS) if back.get(i)} == indexes


def test_clearing_a_bit_lifts_it() -> None:
    bits = Bitstring()
    bits.set(5)
    bits.set(5, False)
    assert not bits.get(5) and _raw(bits.encode()) == bytes(MIN_LIST_BITS // 8)


@pytest.mark.parametrize("size", [8, MIN_LIST_BITS - 8, MIN_LIST_BITS + 1])
def test_too_small_or_ragged_lists_are_refused(size: int) -> None:
    with pytest.raises(StatusListError):
        Bitstring(size)


def test_out_of_range_and_malformed_are_refused() -> None:
    with pytest.raises(StatusListError):
        Bitstring().set(MIN_LIST_BITS)
    with pytest.raises(StatusListError):
        Bitstring().get(-1)
    for bad in ("zABC", "u!!!", "u" + base64.urlsafe_b64encode(b"not gzip").decode()):
        with pytest.raises(StatusListError):
            Bitstring.decode(bad)


def test_random_indexes_are_spread_and_never_reused() -> None:
    taken: set[int] = set()
    for _ in range(2000):
        index = random_free_index(taken)
        assert index not in taken
        taken.add(index)
    # Issuing order must not show: the indexes are spread over the whole list.
    assert min(taken) < MIN_LIST_BITS // 10 and max(taken) > MIN_LIST_BITS * 9 // 10
    ordered = sorted(taken)
    assert ordered != [i for i in taken]  # not handed out in increasing order


def test_a_nearly_full_list_still_finds_the_free_index() -> None:
    taken = set(range(MIN_LIST_BITS)) - {4242}
    assert random_free_index(taken) == 4242
    with pytest.raises(StatusListError, match="full"):
        random_free_index(set(range(MIN_LIST_BITS)))


def test_a_damaged_or_oversized_list_is_refused_not_inflated() -> None:
    good = Bitstring().encode()
    raw = bytearray(base64.urlsafe_b64decode(good[1:] + "=" * (-len(good[1:]) % 4)))
    raw[12] ^= 0xFF  # damage the deflate stream
    with pytest.raises(StatusListError):
        Bitstring.decode("u" + base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("="))
    bomb = gzip.compress(bytes(32 * 1024 * 1024))  # 32 MiB of zeros in a few KiB
    with pytest.raises(StatusListError, match="inflates beyond"):
        Bitstring.decode("u" + base64.urlsafe_b64encode(bomb).decode().rstrip("="))
