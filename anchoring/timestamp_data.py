"""The timestampData the node attaches to a root timestamped through EBSI's Timestamp
interface: what the root commits to besides itself (pure: bytes in, bytes out).

Layout, version 1 (docs/formats.md, "timestampData"):

    bytes 0..2   b"mcl"        magic
    byte  3      0x01          version
    bytes 4..11  tree size     uint64, big-endian, 1..2^64-1
    bytes 12..   issuer DID    UTF-8, 1..2048 bytes, no NUL

A reader refuses any other version: a new layout gets a new version byte, and version 1
never changes. The tree size is bound here because an inclusion proof alone does not bind
the size of its tree (the ledger contract binds it in `anchor(root, treeSize)`).
"""

from __future__ import annotations

from dataclasses import dataclass

from mcledger.anchoring.errors import TimestampDataError

MAGIC = b"mcl"
VERSION = 1
MAX_DID_BYTES = 2048
_HEADER = len(MAGIC) + 1 + 8  # magic, version, tree size
_MAX_TREE_SIZE = 2**64 - 1


@dataclass(frozen=True)
class TimestampData:
    """What `decode_timestamp_data` read: the layout's version, the tree size, the DID."""

    version: int
    tree_size: int
    issuer_did: str


def _did_bytes(issuer_did: str) -> bytes:
    try:
        raw = issuer_did.encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate
        raise TimestampDataError(f"the issuer DID is not encodable as UTF-8: {exc}") from None
    _check_did(raw)
    return raw


def _check_did(raw: bytes) -> None:
    if not raw:
        raise TimestampDataError("the issuer DID is empty")
    if len(raw) > MAX_DID_BYTES:
        raise TimestampDataError(
            f"the issuer DID is {len(raw)} bytes of UTF-8; at most {MAX_DID_BYTES} are allowed"
        )
    if b"\x00" in raw:
        raise TimestampDataError(f"the issuer DID has a NUL byte at offset {raw.index(0)}")


def encode_timestamp_data(tree_size: int, issuer_did: str) -> bytes:
    """Version 1 timestampData for a root of a tree of ``tree_size`` leaves anchored by the
    issuer ``issuer_did``; TimestampDataError if either is out of range."""
    if isinstance(tree_size, bool) or not isinstance(tree_size, int):
        kind = type(tree_size).__name__
        raise TimestampDataError(f"the tree size must be an integer, not {kind}")
    if not 1 <= tree_size <= _MAX_TREE_SIZE:
        raise TimestampDataError(f"the tree size must be 1..2^64-1, not {tree_size}")
    return MAGIC + bytes([VERSION]) + tree_size.to_bytes(8, "big") + _did_bytes(issuer_did)


def decode_timestamp_data(data: bytes) -> TimestampData:
    """Read timestampData written by `encode_timestamp_data`; TimestampDataError saying what
    is wrong if it is not the `mcl` layout of a known version."""
    data = bytes(data)
    if len(data) < len(MAGIC) + 1:
        raise TimestampDataError(
            f"timestampData is {len(data)} bytes: too short for the {MAGIC!r} header"
        )
    if data[: len(MAGIC)] != MAGIC:
        raise TimestampDataError(
            f"timestampData starts with 0x{data[: len(MAGIC)].hex()}, not the magic {MAGIC!r}"
        )
    version = data[len(MAGIC)]
    if version != VERSION:
        raise TimestampDataError(
            f"timestampData is version {version}; this node reads version {VERSION} only"
        )
    if len(data) <= _HEADER:
        raise TimestampDataError(
            f"timestampData is {len(data)} bytes; version {VERSION} needs at least "
            f"{_HEADER + 1} (header, tree size and a DID of one byte or more)"
        )
    tree_size = int.from_bytes(data[len(MAGIC) + 1 : _HEADER], "big")
    if tree_size == 0:
        raise TimestampDataError("timestampData gives a tree size of 0: an empty tree")
    raw_did = data[_HEADER:]
    _check_did(raw_did)
    try:
        issuer_did = raw_did.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TimestampDataError(
            f"the issuer DID in timestampData is not UTF-8 (byte {exc.start} of the DID)"
        ) from None
    return TimestampData(version, tree_size, issuer_did)
