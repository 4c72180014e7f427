"""The revocation set's hashing, its proofs and their verification (pure; docs/formats.md
"The revocation set (public format, version 1)").

An issuer's revocation set maps 32-byte credential digests to a revocation record (reason,
time). It is committed as the root of a *compact* sparse Merkle tree of depth 256, keyed by
the digest's bits from the most significant one (0 = left):

* an empty subtree is 32 zero bytes, never hashed (so the empty set's root is zero, which is
  also what the contract holds for an issuer that never committed);
* a subtree holding exactly one entry is that entry's leaf hash, wherever it sits:
  ``SHA-256(0x02 ‖ digest ‖ reason (1 byte) ‖ revokedAt (8 bytes, big-endian))``;
* a subtree holding two or more is ``SHA-256(0x03 ‖ left ‖ right)``.

The tags 0x02/0x03 differ from RFC 6962's 0x00/0x01, so no node of a revocation set is ever a
node of a credential tree, and a leaf (42 bytes hashed) is never an inner node (65 bytes).
Because a leaf carries its whole digest, a proof ends where the digest's path leaves the
populated part of the tree: at the entry itself (member), at another entry that shares the
path so far, or at an empty subtree (both non-members). A proof lists the non-empty siblings
on the way down and a bitmap saying which of the ``depth`` siblings they are.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from hmac import compare_digest
from typing import Any, NamedTuple

from mcledger.anchoring.errors import InvalidRevocationProofError, RevocationSetError

PROOF_VERSION = "mcledger-revocation-proof/1"
HASH_SIZE = 32
KEY_BITS = 256
EMPTY = bytes(HASH_SIZE)
"""The hash of an empty subtree, and the root of the empty set."""
LEAF_TAG = b"\x02"
NODE_TAG = b"\x03"
MAX_REASON = 5  # the contract's reasons: 0 unspecified … 5 issuer key compromise
_MAX_TIME = (1 << 64) - 1
_sha256 = hashlib.sha256


@dataclass(frozen=True, slots=True)
class RevocationRecord:
    """Why and when a digest was revoked: ``reason`` 0..5 (as the contract numbers them),
    ``revoked_at`` in seconds since the epoch (1..2**64-1), as the issuer declared it."""

    reason: int
    revoked_at: int

    def __post_init__(self) -> None:
        _check_int(self.reason, "reason", 0, MAX_REASON)
        _check_int(self.revoked_at, "revokedAt", 1, _MAX_TIME)

    def packed(self) -> bytes:
        """The 9 bytes a leaf hashes after the digest: reason, then revokedAt big-endian."""
        return bytes((self.reason,)) + self.revoked_at.to_bytes(8, "big")

    @classmethod
    def unpack(cls, packed: bytes) -> RevocationRecord:
        return cls(packed[0], int.from_bytes(packed[1:9], "big"))


def _check_int(value: object, what: str, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise RevocationSetError(f"{what} must be an integer in [{low}, {high}], got {value!r}")
    return value


def check_digest(value: object, what: str = "digest") -> bytes:
    """``value`` as a 32-byte digest; RevocationSetError unless it is 32 bytes, not all zero
    (zero is no credential's digest, and the contract refuses it)."""
    if not isinstance(value, bytes) or len(value) != HASH_SIZE:
        raise RevocationSetError(f"{what} must be 32 bytes")
    if value == EMPTY:
        raise RevocationSetError(f"{what} is zero: no credential has that digest")
    return value


def leaf_hash(digest: bytes, packed_record: bytes) -> bytes:
    """SHA-256(0x02 ‖ digest ‖ reason ‖ revokedAt): a subtree holding one entry."""
    return _sha256(LEAF_TAG + digest + packed_record).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x03 ‖ left ‖ right): a subtree holding two entries or more."""
    return _sha256(NODE_TAG + left + right).digest()


class RevocationLeaf(NamedTuple):
    """The entry a proof's path ends at: the digest asked about (a member) or another one."""

    digest: bytes
    record: RevocationRecord


class Verdict(NamedTuple):
    """What a verified proof establishes: ``member`` (revoked) and, if so, its record."""

    member: bool
    record: RevocationRecord | None


@dataclass(frozen=True, slots=True)
class RevocationProof:
    """A digest's path in a revocation set, from the root to depth ``depth``: ``bitmap`` has
    ``ceil(depth / 8)`` bytes whose bit i (most significant first) says whether the sibling
    at depth i + 1 is non-empty; ``siblings`` are those non-empty siblings, from the root
    down. ``leaf`` is the entry the path ends at, or None where it ends at an empty subtree.
    """

    depth: int
    bitmap: bytes
    siblings: tuple[bytes, ...]
    leaf: RevocationLeaf | None

    def __post_init__(self) -> None:
        _check_int(self.depth, "depth", 0, KEY_BITS)
        if not isinstance(self.bitmap, bytes) or len(self.bitmap) != (self.depth + 7) // 8:
            raise RevocationSetError(f"bitmap must be {(self.depth + 7) // 8} bytes for depth")
        bits = int.from_bytes(self.bitmap, "big")
        if bits & ((1 << (8 * len(self.bitmap) - self.depth)) - 1):
            raise RevocationSetError("bitmap has bits set beyond the proof's depth")
        if not isinstance(self.siblings, tuple) or len(self.siblings) != bits.bit_count():
            raise RevocationSetError(
                f"the bitmap names {bits.bit_count()} siblings, the proof has "
                f"{len(self.siblings) if isinstance(self.siblings, tuple) else 'no tuple of'}"
            )
        for i, sibling in enumerate(self.siblings):
            if not isinstance(sibling, bytes) or len(sibling) != HASH_SIZE or sibling == EMPTY:
                raise RevocationSetError(f"siblings[{i}] must be a non-zero 32-byte hash")
        if self.depth and not bits & 1 << (8 * len(self.bitmap) - self.depth):
            # Canonical form: a path's last node with an empty sibling would have moved up.
            raise RevocationSetError("the sibling at the proof's depth must be non-empty")
        if self.leaf is not None:
            if not isinstance(self.leaf, RevocationLeaf):
                raise RevocationSetError("leaf must be a RevocationLeaf or None")
            check_digest(self.leaf.digest, "leaf.digest")
            if not isinstance(self.leaf.record, RevocationRecord):
                raise RevocationSetError("leaf.record must be a RevocationRecord")

    def sibling_at(self) -> list[bytes]:
        """All ``depth`` siblings from the root down, EMPTY where the bitmap has a 0."""
        bits, found, out = int.from_bytes(self.bitmap, "big"), iter(self.siblings), []
        top = 8 * len(self.bitmap) - 1
        for i in range(self.depth):
            out.append(next(found) if bits >> (top - i) & 1 else EMPTY)
        return out

    # -- the public JSON form ------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        leaf = None
        if self.leaf is not None:
            record = self.leaf.record
            leaf = {
                "digest": self.leaf.digest.hex(),
                "reason": record.reason,
                "revokedAt": record.revoked_at,
            }
        return {
            "version": PROOF_VERSION,
            "depth": self.depth,
            "bitmap": self.bitmap.hex(),
            "siblings": [s.hex() for s in self.siblings],
            "leaf": leaf,
        }

    def dumps(self) -> str:
        """Compact JSON (no spaces): the form whose size docs/formats.md gives."""
        return json.dumps(self.to_json(), separators=(",", ":"))

    @classmethod
    def from_json(cls, data: Any) -> RevocationProof:
        """Parse the public form strictly: exact fields, types, lower-case hex."""
        d = _exact(data, ("version", "depth", "bitmap", "siblings", "leaf"), "revocation proof")
        if d["version"] != PROOF_VERSION:
            raise RevocationSetError(f"revocation proof version must be {PROOF_VERSION!r}")
        siblings = d["siblings"]
        if not isinstance(siblings, list):
            raise RevocationSetError("siblings must be a list of 64-hex hashes")
        leaf = None
        if d["leaf"] is not None:
            body = _exact(d["leaf"], ("digest", "reason", "revokedAt"), "revocation proof leaf")
            leaf = RevocationLeaf(
                _hex(body["digest"], "leaf.digest", HASH_SIZE),
                RevocationRecord(body["reason"], body["revokedAt"]),
            )
        depth = _check_int(d["depth"], "depth", 0, KEY_BITS)
        return cls(
            depth=depth,
            bitmap=_hex(d["bitmap"], "bitmap", (depth + 7) // 8),
            siblings=tuple(_hex(s, f"siblings[{i}]", HASH_SIZE) for i, s in enumerate(siblings)),
            leaf=leaf,
        )

    @classmethod
    def loads(cls, text: str | bytes) -> RevocationProof:
        try:
            data = json.loads(text, object_pairs_hook=_no_duplicates)
        except (ValueError, RecursionError) as exc:  # not JSON, bad UTF-8, deep nesting
            raise RevocationSetError(f"the revocation proof is not JSON: {exc}") from None
        return cls.from_json(data)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    names = [name for name, _ in pairs]
    if len(set(names)) != len(names):
        raise RevocationSetError(f"the revocation proof repeats a field: {sorted(names)}")
    return dict(pairs)


def _exact(data: Any, names: tuple[str, ...], what: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise RevocationSetError(f"{what} must be a JSON object")
    missing = [n for n in names if n not in data]
    unknown = sorted(set(data) - set(names))
    if missing or unknown:
        raise RevocationSetError(f"{what}: missing fields {missing}, unknown fields {unknown}")
    return data


def _hex(value: Any, what: str, size: int) -> bytes:
    if not isinstance(value, str) or len(value) != 2 * size or value != value.lower():
        raise RevocationSetError(f"{what} must be {2 * size} lower-case hex characters")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise RevocationSetError(f"{what} is not hex: {value!r}") from None


def _on_path(a: bytes, b: bytes, depth: int) -> bool:
    """Whether ``a`` and ``b`` agree on their first ``depth`` bits."""
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")) >> (KEY_BITS - depth) == 0


def verify(root: bytes, digest: bytes, proof: RevocationProof) -> Verdict:
    """Check ``proof`` for ``digest`` against ``root`` (the issuer's committed root): the
    Verdict says whether the digest is in the set and with which record. Raises
    InvalidRevocationProofError when the proof does not lead to ``root``, or ends at an entry
    that is not on the digest's path; RevocationSetError on malformed arguments."""
    check_digest(digest)
    if not isinstance(root, bytes) or len(root) != HASH_SIZE:
        raise RevocationSetError("root must be 32 bytes")
    if not isinstance(proof, RevocationProof):
        raise RevocationSetError("proof must be a RevocationProof")
    depth, leaf = proof.depth, proof.leaf
    if leaf is None:
        node = EMPTY
    else:
        if not _on_path(leaf.digest, digest, depth):
            raise InvalidRevocationProofError(
                f"the proof ends at entry {leaf.digest.hex()}, which is not on the path of "
                f"{digest.hex()} at depth {depth}"
            )
        node = leaf_hash(leaf.digest, leaf.record.packed())
    key = int.from_bytes(digest, "big")
    siblings = proof.sibling_at()
    for level in range(depth, 0, -1):  # the node at depth `level` meets its sibling
        sibling = siblings[level - 1]
        right = key >> (KEY_BITS - level) & 1
        node = node_hash(sibling, node) if right else node_hash(node, sibling)
    if not compare_digest(node, root):
        raise InvalidRevocationProofError(
            f"the revocation proof for {digest.hex()} leads to root {node.hex()}, "
            f"not to the committed root {root.hex()}"
        )
    if leaf is not None and leaf.digest == digest:
        return Verdict(True, leaf.record)
    return Verdict(False, None)
