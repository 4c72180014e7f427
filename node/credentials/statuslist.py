"""Bitstring Status List v1.0: the bitstring, its encoding, random index allocation,
and the list credential (one model that writes and reads it).

Pure: no I/O. Index 0 is the most significant bit of the first byte; the
encoded list is the multibase base64url (prefix ``u``, no padding) of the
GZIP-compressed bitstring (W3C Bitstring Status List v1.0, "Bitstring Encoding").
"""

from __future__ import annotations

import base64
import gzip
import secrets
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from mcledger.node.credentials.loader import VC_V2_CONTEXT
from mcledger.node.errors import NodeError

MIN_LIST_BITS = 131_072  # the specification's minimum, 16 KiB: herd privacy
MAX_LIST_BYTES = 16 * 1024 * 1024
_MULTIBASE_BASE64URL = "u"
LIST_TYPE = "BitstringStatusListCredential"
SUBJECT_TYPE = "BitstringStatusList"
ENTRY_TYPE = "BitstringStatusListEntry"


class StatusPurpose(StrEnum):
    """The status purposes a node publishes lists for (Bitstring Status List v1.0, 2.1)."""

    REVOCATION = "revocation"  # final
    SUSPENSION = "suspension"  # may be lifted


class StatusListError(ValueError):
    """A status list is malformed or an index is out of range."""


class Bitstring:
    """A mutable bitstring of ``size`` bits, all zero at first."""

    __slots__ = ("_bits", "size")

    def __init__(self, size: int = MIN_LIST_BITS, data: bytes | None = None) -> None:
        if size < MIN_LIST_BITS or size % 8:
            raise StatusListError(
                f"a status list has at least {MIN_LIST_BITS} bits, in whole bytes"
            )
        if data is not None and len(data) * 8 != size:
            raise StatusListError(f"{len(data)} bytes do not hold {size} bits")
        self.size = size
        self._bits = bytearray(data if data is not None else size // 8)

    def _locate(self, index: int) -> tuple[int, int]:
        if not 0 <= index < self.size:
            raise StatusListError(f"status index {index} is outside a list of {self.size} bits")
        return index >> 3, 0x80 >> (index & 7)

    def get(self, index: int) -> bool:
        byte, mask = self._locate(index)
        return bool(self._bits[byte] & mask)

    def set(self, index: int, value: bool = True) -> None:
        byte, mask = self._locate(index)
        if value:
            self._bits[byte] |= mask
        else:
            self._bits[byte] &= ~mask & 0xFF

    def set_many(self, indexes: Iterable[int]) -> None:
        for index in indexes:
            self.set(index)

    def to_bytes(self) -> bytes:
        return bytes(self._bits)

    def encode(self) -> str:
        """The `encodedList` value: multibase base64url of the GZIP of the bits."""
        # mtime=0 keeps the encoding a function of the bits alone.
        compressed = gzip.compress(bytes(self._bits), compresslevel=9, mtime=0)
        return _MULTIBASE_BASE64URL + base64.urlsafe_b64encode(compressed).decode().rstrip("=")

    @classmethod
    def decode(cls, encoded: str) -> Bitstring:
        if not encoded.startswith(_MULTIBASE_BASE64URL):
            raise StatusListError("encodedList must be multibase base64url (prefix 'u')")
        body = encoded[1:]
        try:
            compressed = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            # A cap on the inflated size: a hostile list must not make a verifier allocate
            # without bound (16 MiB = 134 million entries, far beyond any real list).
            inflater = zlib.decompressobj(wbits=31)  # GZIP framing
            raw = inflater.decompress(compressed, MAX_LIST_BYTES + 1)
            if len(raw) > MAX_LIST_BYTES or inflater.unconsumed_tail:
                raise StatusListError(f"encodedList inflates beyond {MAX_LIST_BYTES} bytes")
            if not inflater.eof:
                raise StatusListError("encodedList is a truncated GZIP stream")
        except (ValueError, zlib.error) as exc:
            raise StatusListError(f"encodedList does not decode: {exc}") from None
        return cls(len(raw) * 8, raw)


def random_free_index(taken: set[int], size: int = MIN_LIST_BITS, attempts: int = 64) -> int:
    """A uniformly random index not in ``taken``, so a position says nothing about
    issuing order. Raises StatusListError when the list is (nearly) full."""
    if len(taken) >= size:
        raise StatusListError("the status list is full")
    for _ in range(attempts):
        candidate = secrets.randbelow(size)
        if candidate not in taken:
            return candidate
    free = [i for i in range(size) if i not in taken]  # dense list: pick among what is left
    return free[secrets.randbelow(len(free))]


class StatusListFormatError(NodeError):
    """A document is not a Bitstring Status List credential this node can read."""


# -- the list credential: one model that writes and reads it -------------------------------


@dataclass(frozen=True)
class StatusListCredential:
    """The unsigned BitstringStatusListCredential (section 2.2); `proof` is added by signing."""

    url: str
    issuer: str
    purpose: StatusPurpose
    valid_from: str
    encoded_list: str

    def to_json(self) -> dict[str, Any]:
        # The VC 2.0 context defines every status list term; no second context is needed.
        return {
            "@context": [VC_V2_CONTEXT],
            "id": self.url,
            "type": ["VerifiableCredential", LIST_TYPE],
            "issuer": self.issuer,
            "validFrom": self.valid_from,
            "credentialSubject": {
                "id": f"{self.url}#list",
                "type": SUBJECT_TYPE,
                "statusPurpose": str(self.purpose),
                "encodedList": self.encoded_list,
            },
        }

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> StatusListCredential:
        """Read a list credential (signed or not; the signature is checked elsewhere)."""
        types = document.get("type")
        subject = document.get("credentialSubject")
        if not isinstance(types, list) or LIST_TYPE not in types:
            raise StatusListFormatError(f"type must include {LIST_TYPE}")
        if not isinstance(subject, dict) or subject.get("type") != SUBJECT_TYPE:
            raise StatusListFormatError(f"credentialSubject.type must be {SUBJECT_TYPE}")
        try:
            purpose = StatusPurpose(str(subject.get("statusPurpose")))
        except ValueError:
            raise StatusListFormatError("credentialSubject.statusPurpose is not known") from None
        issuer = document.get("issuer")
        issuer_id = issuer.get("id") if isinstance(issuer, dict) else issuer
        encoded = subject.get("encodedList")
        if not isinstance(encoded, str) or not isinstance(issuer_id, str):
            raise StatusListFormatError("issuer and credentialSubject.encodedList are required")
        listed = cls(
            str(document.get("id", "")),
            issuer_id,
            purpose,
            str(document.get("validFrom", "")),
            encoded,
        )
        listed.bits()  # refuse what does not decode
        return listed

    def bits(self) -> Bitstring:
        try:
            return Bitstring.decode(self.encoded_list)
        except (StatusListError, zlib.error) as exc:  # Bitstring.decode lets zlib.error out
            raise StatusListFormatError(f"credentialSubject.encodedList: {exc}") from None
