"""RFC 6962 / RFC 9162 Merkle trees over bytes: hashing, proofs and their verification.

Pure functions, no I/O. Proofs are built from any tree that can say
``node(level, index)``: the hash of the subtree over leaves
``[index * 2**level, min((index + 1) * 2**level, n))``. Because a tree of n
leaves splits at the largest power of two below n (RFC 9162 §2.1.1), every node
a proof names is such an aligned subtree, so in-memory levels
(``anchoring.tree.MerkleTree``) and stored tiles (``anchoring.tree.StoredTree``)
serve the same proof code.

The optional C accelerator (``anchoring._merkle_c``) hashes 32-byte leaf data
and folds audit paths; without it, or when ``ACCELERATE`` or a call's
``accelerate`` argument is false, ``hashlib`` does the work.

Over the ~400-line guide on purpose: inclusion and consistency proofs are built and
verified from the same split of (index, size), and keeping the four side by side with
the hashing they share is what lets a reader check them against RFC 9162 §2.1 at once.
"""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from hmac import compare_digest
from types import ModuleType

from mcledger.anchoring.errors import InvalidProofError, MerkleError

_c: ModuleType | None
try:
    _c = importlib.import_module("mcledger.anchoring._merkle_c")
except ImportError:  # pragma: no cover - depends on the build
    _c = None

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
"""The root of the empty tree (RFC 9162 §2.1.1: MTH({}) = HASH())."""

HAVE_C_ACCELERATOR = _c is not None
"""Whether the C accelerator is importable (a fact of the build)."""

ACCELERATE = HAVE_C_ACCELERATOR
"""Default of every ``accelerate`` argument; set to False to force pure Python."""

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
_sha256 = hashlib.sha256

NodeReader = Callable[[int, int], bytes]
"""``node(level, index) -> 32 bytes``: how proof construction reads a tree."""


def leaf_hash(data: bytes) -> bytes:
    """SHA-256(0x00 ‖ data): the hash of one leaf (RFC 9162 §2.1.1)."""
    return _sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 ‖ left ‖ right): the hash of an interior node (RFC 9162 §2.1.1)."""
    return _sha256(NODE_PREFIX + left + right).digest()


def accelerator(accelerate: bool | None = None) -> ModuleType | None:
    """The C module to use for a call, or None for pure Python (see ``ACCELERATE``)."""
    return _c if (ACCELERATE if accelerate is None else accelerate) else None


# --- proof construction ---------------------------------------------------------


def inclusion_path(node: NodeReader, index: int, size: int) -> tuple[bytes, ...]:
    """The audit path PATH(index, D[size]) of RFC 9162 §2.1.3.1, read from ``node``."""
    if not 0 <= index < size:
        raise MerkleError(f"leaf index {index} is outside a tree of {size} leaves")
    path = []
    level, last = 0, size - 1
    while last:
        sibling = index ^ 1
        if sibling <= last:  # a missing right sibling means the node was carried up
            path.append(node(level, sibling))
        index >>= 1
        last >>= 1
        level += 1
    return tuple(path)


def consistency_path(node: NodeReader, old_size: int, size: int) -> tuple[bytes, ...]:
    """PROOF(old_size, D[size]) of RFC 9162 §2.1.4.1 (SUBPROOF unrolled), read from ``node``."""
    if not 0 <= old_size <= size:
        raise MerkleError(f"old size {old_size} is not between 0 and the tree size {size}")
    if old_size in (0, size):
        return ()
    found = []  # collected top-down; SUBPROOF emits them bottom-up
    level, index, m, whole = (size - 1).bit_length(), 0, old_size, True
    while True:
        width = min(1 << level, size - (index << level))
        while level and width <= 1 << (level - 1):  # a carried node: same as its left child
            level, index = level - 1, index << 1
        if m == width:
            if not whole:
                found.append(node(level, index))
            break
        half = 1 << (level - 1)
        level -= 1
        if m <= half:
            found.append(node(level, 2 * index + 1))
            index = 2 * index
        else:
            found.append(node(level, 2 * index))
            index, m, whole = 2 * index + 1, m - half, False
    found.reverse()
    return tuple(found)


# --- proof values and their public JSON form -----------------------------------


def hash_from_hex(text: object, what: str) -> bytes:
    """Parse 64 lowercase hex characters; raise ``MerkleError`` naming ``what`` otherwise."""
    if not isinstance(text, str):
        kind = type(text).__name__
        raise MerkleError(f"{what} must be a string of 64 hex characters, got {kind}")
    if len(text) != 2 * HASH_SIZE:
        raise MerkleError(f"{what} must be 64 hex characters, got {len(text)}")
    if text != text.lower():
        raise MerkleError(f"{what} must be lowercase hex")
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise MerkleError(f"{what} is not hex: {text!r}") from None


def _check_hash(value: object, what: str) -> None:
    if not isinstance(value, bytes) or len(value) != HASH_SIZE:
        raise MerkleError(f"{what} must be 32 bytes")


def _check_path(path: object, what: str) -> None:
    if not isinstance(path, tuple):
        raise MerkleError(f"{what} must be a tuple of 32-byte hashes")
    if set(map(type, path)) <= {bytes} and set(map(len, path)) <= {HASH_SIZE}:
        return  # the common case, checked without a Python-level loop
    for i, h in enumerate(path):
        _check_hash(h, f"{what}[{i}]")


def _check_size(value: object, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0 or value >= 1 << 64:
        raise MerkleError(f"{what} must be an integer in [0, 2**64), got {value!r}")
    return value


def _fields(data: object, names: tuple[str, ...], what: str) -> dict[str, object]:
    if not isinstance(data, dict):
        raise MerkleError(f"{what} must be a JSON object, got {type(data).__name__}")
    missing = [n for n in names if n not in data]
    extra = sorted(set(data) - set(names))
    if missing or extra:
        raise MerkleError(f"{what}: missing fields {missing}, unexpected fields {extra}")
    return data


def _hash_list(value: object, what: str) -> tuple[bytes, ...]:
    if not isinstance(value, list):
        raise MerkleError(f"{what} must be a list of hex hashes")
    return tuple(hash_from_hex(item, f"{what}[{i}]") for i, item in enumerate(value))


@dataclass(frozen=True, slots=True)
class InclusionProof:
    """An audit path for leaf ``leaf_index`` of a tree of ``tree_size`` leaves with ``root``."""

    leaf_index: int
    tree_size: int
    audit_path: tuple[bytes, ...]
    root: bytes

    def __post_init__(self) -> None:
        index, size = _check_size(self.leaf_index, "leafIndex"), self.tree_size
        if index >= _check_size(size, "treeSize"):
            raise MerkleError(f"leafIndex {index} must be below treeSize {size}")
        _check_path(self.audit_path, "auditPath")
        _check_hash(self.root, "root")

    def to_json(self) -> dict[str, object]:
        """The public form ``{leafIndex, treeSize, auditPath, root}``, ready for ``json.dumps``."""
        return {
            "leafIndex": self.leaf_index,
            "treeSize": self.tree_size,
            "auditPath": [h.hex() for h in self.audit_path],
            "root": self.root.hex(),
        }

    @classmethod
    def from_json(cls, data: object) -> InclusionProof:
        """Parse the public form strictly (exact fields, types, 64-hex hashes)."""
        d = _fields(data, ("leafIndex", "treeSize", "auditPath", "root"), "inclusion proof")
        return cls(
            leaf_index=_check_size(d["leafIndex"], "leafIndex"),
            tree_size=_check_size(d["treeSize"], "treeSize"),
            audit_path=_hash_list(d["auditPath"], "auditPath"),
            root=hash_from_hex(d["root"], "root"),
        )


@dataclass(frozen=True, slots=True)
class ConsistencyProof:
    """Proof that the tree of ``old_size`` leaves is a prefix of the one of ``new_size``."""

    old_size: int
    new_size: int
    path: tuple[bytes, ...]
    old_root: bytes
    new_root: bytes

    def __post_init__(self) -> None:
        if _check_size(self.old_size, "oldSize") > _check_size(self.new_size, "newSize"):
            raise MerkleError(f"oldSize {self.old_size} exceeds newSize {self.new_size}")
        _check_path(self.path, "consistencyPath")
        _check_hash(self.old_root, "oldRoot")
        _check_hash(self.new_root, "newRoot")

    def to_json(self) -> dict[str, object]:
        """The public form ``{oldSize, newSize, consistencyPath, oldRoot, newRoot}``."""
        return {
            "oldSize": self.old_size,
            "newSize": self.new_size,
            "consistencyPath": [h.hex() for h in self.path],
            "oldRoot": self.old_root.hex(),
            "newRoot": self.new_root.hex(),
        }

    @classmethod
    def from_json(cls, data: object) -> ConsistencyProof:
        """Parse the public form strictly (exact fields, types, 64-hex hashes)."""
        names = ("oldSize", "newSize", "consistencyPath", "oldRoot", "newRoot")
        d = _fields(data, names, "consistency proof")
        return cls(
            old_size=_check_size(d["oldSize"], "oldSize"),
            new_size=_check_size(d["newSize"], "newSize"),
            path=_hash_list(d["consistencyPath"], "consistencyPath"),
            old_root=hash_from_hex(d["oldRoot"], "oldRoot"),
            new_root=hash_from_hex(d["newRoot"], "newRoot"),
        )


def prefix_root(node: NodeReader, old_size: int) -> bytes:
    """MTH of the first ``old_size`` leaves, from complete subtrees of a larger tree."""
    if old_size == 0:
        return EMPTY_ROOT
    roots, start = [], 0
    for level in reversed(range(old_size.bit_length())):
        if old_size >> level & 1:
            roots.append(node(level, start >> level))
            start += 1 << level
    root = roots.pop()
    while roots:  # the old tree's subtrees join right to left
        root = node_hash(roots.pop(), root)
    return root


def prove_inclusion(node: NodeReader, size: int, root: bytes, index: int) -> InclusionProof:
    """The inclusion proof of leaf ``index`` in a tree read through ``node``."""
    return InclusionProof(index, size, inclusion_path(node, index, size), root)


def prove_consistency(node: NodeReader, size: int, root: bytes, old_size: int) -> ConsistencyProof:
    """The consistency proof from the first ``old_size`` leaves to a tree read through ``node``."""
    path = consistency_path(node, old_size, size)
    return ConsistencyProof(old_size, size, path, prefix_root(node, old_size), root)


# --- verification ----------------------------------------------------------------


def _fold_path_pure(seed: bytes, left_mask: int, path: tuple[bytes, ...]) -> bytes:
    """Hash ``path`` into ``seed``; ``path[k]`` goes on the left iff bit k of ``left_mask``."""
    sha, prefix, r = _sha256, NODE_PREFIX, seed  # locals: this loop is the verifier's cost
    for p in path:
        r = sha(prefix + p + r).digest() if left_mask & 1 else sha(prefix + r + p).digest()
        left_mask >>= 1
    return r


def inclusion_path_length(index: int, size: int) -> tuple[int, int]:
    """(inner, border): how many audit-path hashes lie below and on the tree's right border."""
    inner = (index ^ (size - 1)).bit_length()
    return inner, (index >> inner).bit_count()


def root_from_inclusion_path(
    leaf: bytes, index: int, size: int, path: tuple[bytes, ...], *, accelerate: bool | None = None
) -> bytes:
    """The root that ``path`` implies for leaf hash ``leaf`` (RFC 9162 §2.1.3.2).

    The path length is checked against (index, size) before any hashing; the
    RFC's bit walk is then a fixed side per step: below ``inner`` the side is
    bit k of the index, on the right border every sibling is on the left.
    """
    if not 0 <= index < size:
        raise InvalidProofError(f"leaf index {index} is not below tree size {size}")
    inner, border = inclusion_path_length(index, size)
    if len(path) != inner + border:
        raise InvalidProofError(
            f"audit path for leaf {index} of {size} must have {inner + border} hashes,"
            f" got {len(path)}"
        )
    left_mask = (index & ((1 << inner) - 1)) | (((1 << border) - 1) << inner)
    c = accelerator(accelerate)
    if c is not None:
        root: bytes = c.fold_path(leaf, left_mask, path)
        return root
    return _fold_path_pure(leaf, left_mask, path)


def verify_inclusion(
    leaf_data: bytes,
    proof: InclusionProof,
    *,
    root: bytes | None = None,
    tree_size: int | None = None,
    accelerate: bool | None = None,
) -> None:
    """Check that ``leaf_data`` is leaf ``proof.leaf_index`` of the tree with ``proof.root``.

    The path alone does not bind the tree size (sizes with the same path shape
    verify alike), so pass the trusted ``root`` and ``tree_size`` (e.g. the
    anchored ones) to bind them. Raises ``InvalidProofError`` saying what was
    expected and what was computed.
    """
    if root is not None and not compare_digest(root, proof.root):
        raise InvalidProofError(f"proof is for root {proof.root.hex()}, expected {root.hex()}")
    if tree_size is not None and tree_size != proof.tree_size:
        raise InvalidProofError(f"proof is for tree size {proof.tree_size}, expected {tree_size}")
    computed = root_from_inclusion_path(
        leaf_hash(leaf_data), proof.leaf_index, proof.tree_size, proof.audit_path,
        accelerate=accelerate,
    )  # fmt: skip
    if not compare_digest(computed, proof.root):
        raise InvalidProofError(
            f"inclusion proof for leaf {proof.leaf_index} of {proof.tree_size} does not verify:"
            f" expected root {proof.root.hex()}, computed {computed.hex()}"
        )


def consistency_path_length(old_size: int, size: int) -> int:
    """How many hashes PROOF(old_size, D[size]) has, from the two sizes alone."""
    if old_size in (0, size):
        return 0
    shift = (old_size & -old_size).bit_length() - 1  # the old tree's lowest complete subtree
    inner = ((old_size - 1) ^ (size - 1)).bit_length()
    border = ((old_size - 1) >> inner).bit_count()
    seeded = old_size == 1 << shift  # old root is itself a node of the new tree: not sent
    return (0 if seeded else 1) + inner - shift + border


def verify_consistency(
    proof: ConsistencyProof,
    *,
    old_root: bytes | None = None,
    new_root: bytes | None = None,
    old_size: int | None = None,
    new_size: int | None = None,
) -> None:
    """Check that ``proof.old_root`` (old_size leaves) is a prefix of ``proof.new_root``.

    RFC 9162 §2.1.4.2, with the path length checked before hashing. As with
    inclusion, the path does not bind the sizes: pass the trusted roots and
    sizes (e.g. two anchors) to bind the proof to them.
    """
    m, n, path = proof.old_size, proof.new_size, proof.path
    trusted = (
        ("old root", old_root and old_root.hex(), proof.old_root.hex()),
        ("new root", new_root and new_root.hex(), proof.new_root.hex()),
        ("old size", old_size, m),
        ("new size", new_size, n),
    )
    for what, given, stated in trusted:
        if given is not None and given != stated:
            raise InvalidProofError(f"proof is for {what} {stated}, expected {given}")
    expected = consistency_path_length(m, n)
    if len(path) != expected:
        raise InvalidProofError(
            f"consistency path from {m} to {n} must have {expected} hashes, got {len(path)}"
        )
    if m == 0:
        if proof.old_root != EMPTY_ROOT:
            raise InvalidProofError(
                f"the empty tree's root is {EMPTY_ROOT.hex()}, proof says {proof.old_root.hex()}"
            )
        return
    if m == n:
        if not compare_digest(proof.old_root, proof.new_root):
            raise InvalidProofError(
                f"equal sizes need equal roots: {proof.old_root.hex()} != {proof.new_root.hex()}"
            )
        return
    if m & (m - 1) == 0:
        path = (proof.old_root, *path)
    fn, sn = m - 1, n - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise InvalidProofError(f"consistency path from {m} to {n} is too long")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise InvalidProofError(f"consistency path from {m} to {n} is too short")
    for computed, claimed, what in ((fr, proof.old_root, "old"), (sr, proof.new_root, "new")):
        if not compare_digest(computed, claimed):
            raise InvalidProofError(
                f"consistency proof from {m} to {n} does not verify: expected {what} root"
                f" {claimed.hex()}, computed {computed.hex()}"
            )
