"""The timestampData encoding (anchoring.timestamp_data, pure): the version 1 layout byte for
byte, the round trip, and a clear TimestampDataError for every kind of bad input."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mcledger.anchoring.errors import AnchoringError, TimestampDataError
from mcledger.anchoring.timestamp_data import (
    MAX_DID_BYTES,
    TimestampData,
    decode_timestamp_data,
    encode_timestamp_data,
)

DID = "did:ebsi:zobuuYAHkAbRFCcqdcJfTgR"
GOOD = b"mcl\x01" + (1000).to_bytes(8, "big") + DID.encode()


def test_version_1_layout_byte_for_byte() -> None:
    # Written out by hand: magic "mcl", version 1, 1000 as uint64 big-endian, the DID in UTF-8.
    written = bytes.fromhex("6d636c0100000000000003e8") + b"did:ebsi:zobuuYAHkAbRFCcqdcJfTgR"
    assert encode_timestamp_data(1000, DID) == written == GOOD
    assert decode_timestamp_data(written) == TimestampData(1, 1000, DID)


# Lone surrogates (category Cs) are not text a DID can hold: encoding refuses them.
dids = st.text(
    st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), min_size=1
).filter(lambda s: len(s.encode("utf-8")) <= MAX_DID_BYTES)


@given(tree_size=st.integers(1, 2**64 - 1), did=dids)
def test_round_trip(tree_size: int, did: str) -> None:
    data = encode_timestamp_data(tree_size, did)
    assert len(data) == 12 + len(did.encode("utf-8"))
    assert decode_timestamp_data(data) == TimestampData(1, tree_size, did)


def test_the_limits_round_trip() -> None:
    for tree_size, did in ((1, "d"), (2**64 - 1, "é" * (MAX_DID_BYTES // 2))):
        assert decode_timestamp_data(encode_timestamp_data(tree_size, did)).issuer_did == did


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "0 bytes: too short for the b'mcl' header"),
        (b"mcl", "3 bytes: too short"),
        (b"MCL\x01" + GOOD[4:], "starts with 0x4d434c, not the magic b'mcl'"),
        (b"\x00" * 20, "not the magic"),
        (b"mcl\x02" + GOOD[4:], "version 2; this node reads version 1 only"),
        (b"mcl\x00" + GOOD[4:], "version 0"),
        (b"mcl\x01", "4 bytes; version 1 needs at least 13"),
        (GOOD[:11], "11 bytes"),
        (GOOD[:12], "12 bytes"),  # a tree size but no DID
        (b"mcl\x01" + bytes(8) + DID.encode(), "tree size of 0: an empty tree"),
        (GOOD + b"\xff", "not UTF-8 (byte 32 of the DID)"),
        (GOOD[:12] + b"\xc3", "not UTF-8 (byte 0 of the DID)"),  # a cut-off sequence
        (GOOD[:12] + "did:\ud800".encode("utf-8", "surrogatepass"), "not UTF-8"),
        (GOOD + b"\x00", "NUL byte at offset 32"),
        (GOOD[:12] + b"d" * (MAX_DID_BYTES + 1), "2049 bytes of UTF-8; at most 2048"),
    ],
)
def test_decode_refuses_with_a_clear_error(data: bytes, message: str) -> None:
    with pytest.raises(TimestampDataError, match=re.escape(message)):
        decode_timestamp_data(data)


@pytest.mark.parametrize(
    ("tree_size", "did", "message"),
    [
        (0, DID, "tree size must be 1..2^64-1, not 0"),
        (-1, DID, "not -1"),
        (2**64, DID, "not 18446744073709551616"),
        (True, DID, "an integer, not bool"),
        (1.0, DID, "an integer, not float"),
        (1, "", "the issuer DID is empty"),
        (1, "d" * (MAX_DID_BYTES + 1), "2049 bytes"),
        (1, "é" * (MAX_DID_BYTES // 2) + "x", "2049 bytes"),  # counted in bytes, not characters
        (1, "did:a\x00b", "NUL byte at offset 5"),
        (1, "did:\ud800", "not encodable as UTF-8"),
    ],
)
def test_encode_refuses_with_a_clear_error(tree_size: object, did: str, message: str) -> None:
    with pytest.raises(TimestampDataError, match=re.escape(message)):
        encode_timestamp_data(tree_size, did)  # type: ignore[arg-type]


def test_the_error_is_an_anchoring_error() -> None:
    assert issubclass(TimestampDataError, AnchoringError)
