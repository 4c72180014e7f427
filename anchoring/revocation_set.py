"""An issuer's revocation set in memory: its root, its size and proofs of (non-)membership
(pure; the tree is defined in ``anchoring.revocation_proof`` and docs/formats.md).

Layout, chosen for flushes of thousands into a set of millions: the digests sit in 2**16
buckets by their first 16 bits, each a sorted list; the top 16 levels of the tree are two
arrays indexed like a heap (node (depth, prefix) at ``2**depth + prefix``) holding each
node's hash and number of entries. An insertion re-hashes only the buckets it touched (each
from its sorted digests, about 1.4 hashes an entry) and their paths to the root, so the work
follows the size of the flush and the size of a bucket, never the size of the set.

Entries are kept first come, first served: a digest already in the set keeps its record and
a second insertion of it is skipped, as the contract keeps a digest's first revocation.
Persistence is the node's business; this is the computation.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterable, Iterator

from mcledger.anchoring.errors import RevocationSetError
from mcledger.anchoring.revocation_proof import (
    EMPTY,
    HASH_SIZE,
    KEY_BITS,
    RevocationLeaf,
    RevocationProof,
    RevocationRecord,
    check_digest,
    leaf_hash,
    node_hash,
)

BUCKET_BITS = 16
_BUCKETS = 1 << BUCKET_BITS


def _bucket(digest: bytes) -> int:
    return digest[0] << 8 | digest[1]


def _bit(digest: bytes, depth: int) -> int:
    return digest[depth >> 3] >> (7 - (depth & 7)) & 1


def _split(keys: list[bytes], lo: int, hi: int, depth: int) -> int:
    """The first index in sorted ``keys[lo:hi]`` (which share their first ``depth`` bits)
    whose bit ``depth`` is 1."""
    shift = KEY_BITS - 1 - depth
    first = int.from_bytes(keys[lo], "big")
    return bisect_left(keys, (((first >> shift) | 1) << shift).to_bytes(32, "big"), lo, hi)


class RevocationSet:
    """A set of revoked digests with their records; ``root`` commits to all of it."""

    def __init__(self) -> None:
        self._records: dict[bytes, bytes] = {}  # digest -> packed record (shared per flush)
        self._buckets: dict[int, list[bytes]] = {}  # first 16 bits -> sorted digests
        self._counts = [0] * (2 * _BUCKETS)  # the top levels, heap-indexed (index 1: root)
        self._hashes = [EMPTY] * (2 * _BUCKETS)

    @classmethod
    def build(cls, entries: Iterable[tuple[bytes, RevocationRecord]]) -> RevocationSet:
        """A set holding ``entries`` (digest, record); the first record of a digest wins."""
        made = cls()
        made.insert(entries)
        return made

    def copy(self) -> RevocationSet:
        """An independent set with the same entries: what a flush inserts into while the
        committed set keeps answering proofs (for 10^6 entries, tens of milliseconds)."""
        made = RevocationSet.__new__(RevocationSet)
        made._records = dict(self._records)
        made._buckets = {b: list(keys) for b, keys in self._buckets.items()}
        made._counts = list(self._counts)
        made._hashes = list(self._hashes)
        return made

    # -- reading -------------------------------------------------------------------------------
    @property
    def root(self) -> bytes:
        """The root committed on chain (32 zero bytes for the empty set)."""
        return self._hashes[1]

    @property
    def size(self) -> int:
        """How many digests the set holds."""
        return self._counts[1]

    def __len__(self) -> int:
        return self._counts[1]

    def __contains__(self, digest: object) -> bool:
        return digest in self._records

    def entries(self) -> Iterator[tuple[bytes, RevocationRecord]]:
        """Every (digest, record) in the set, in no particular order."""
        for digest, packed in self._records.items():
            yield digest, RevocationRecord.unpack(packed)

    def record_of(self, digest: bytes) -> RevocationRecord | None:
        """The digest's record, or None if it is not in the set."""
        packed = self._records.get(digest)
        return None if packed is None else RevocationRecord.unpack(packed)

    # -- inserting -----------------------------------------------------------------------------
    def insert_many(self, digests: Iterable[bytes], record: RevocationRecord) -> int:
        """Add ``digests`` (one flush: one reason and time); returns how many were new.
        All are checked before any is added: a bad one raises and changes nothing."""
        if not isinstance(record, RevocationRecord):
            raise RevocationSetError("record must be a RevocationRecord")
        packed = record.packed()
        listed = list(digests)
        for i, digest in enumerate(listed):
            if type(digest) is not bytes or len(digest) != HASH_SIZE or digest == EMPTY:
                check_digest(digest, f"digests[{i}]")  # raises, naming the digest
        return self._add([(digest, packed) for digest in listed])

    def insert(self, entries: Iterable[tuple[bytes, RevocationRecord]]) -> int:
        """Add (digest, record) pairs; returns how many digests were new. All are checked
        before any is added."""
        checked: list[tuple[bytes, bytes]] = []
        shared: dict[RevocationRecord, bytes] = {}  # one packed bytes object per record
        for i, entry in enumerate(entries):
            if not (isinstance(entry, tuple) and len(entry) == 2):
                raise RevocationSetError(f"entries[{i}] must be a (digest, record) pair")
            digest, record = entry
            if not isinstance(record, RevocationRecord):
                raise RevocationSetError(f"entries[{i}]: the record must be a RevocationRecord")
            packed = shared.setdefault(record, record.packed())
            checked.append((check_digest(digest, f"entries[{i}].digest"), packed))
        return self._add(checked)

    def _add(self, entries: list[tuple[bytes, bytes]]) -> int:
        records, buckets, dirty, added = self._records, self._buckets, set(), 0
        for digest, packed in entries:
            if digest in records:
                continue
            records[digest] = packed
            added += 1
            b = _bucket(digest)
            keys = buckets.get(b)
            if keys is None:
                buckets[b] = [digest]
            elif len(keys) < 64:
                insort(keys, digest)
            else:
                keys.append(digest)  # sorted once below, not one insertion at a time
            dirty.add(b)
        for b in dirty:
            keys = buckets[b]
            if len(keys) >= 64:
                keys.sort()
            index = _BUCKETS + b
            self._counts[index] = len(keys)
            self._hashes[index] = self._subtree(keys, 0, len(keys), BUCKET_BITS)
        self._rehash_top(dirty)
        return added

    def _rehash_top(self, dirty: set[int]) -> None:
        """Recompute the top levels above the ``dirty`` buckets, bottom-up."""
        counts, hashes = self._counts, self._hashes
        level = dirty
        for depth in range(BUCKET_BITS - 1, -1, -1):
            level = {p >> 1 for p in level}
            base = 1 << depth
            for p in level:
                i = base + p
                left, right = 2 * i, 2 * i + 1
                n = counts[left] + counts[right]
                counts[i] = n
                if n >= 2:
                    hashes[i] = node_hash(hashes[left], hashes[right])
                else:  # one entry moves up as it is; none is EMPTY
                    hashes[i] = hashes[left] if counts[left] else hashes[right]

    def _subtree(self, keys: list[bytes], lo: int, hi: int, depth: int) -> bytes:
        """The hash of the subtree at ``depth`` holding sorted ``keys[lo:hi]`` (which share
        their first ``depth`` bits): split where the next bit turns to 1, hash both halves."""
        records = self._records
        ints = [int.from_bytes(k, "big") for k in keys]

        def hash_of(lo: int, hi: int, depth: int) -> bytes:
            if hi - lo == 1:
                digest = keys[lo]
                return leaf_hash(digest, records[digest])
            if hi == lo:
                return EMPTY
            shift = KEY_BITS - 1 - depth
            mid = bisect_left(ints, ((ints[lo] >> shift) | 1) << shift, lo, hi)
            left, right = hash_of(lo, mid, depth + 1), hash_of(mid, hi, depth + 1)
            return node_hash(left, right)

        return hash_of(lo, hi, depth)

    # -- proving -------------------------------------------------------------------------------
    def prove(self, digest: bytes) -> RevocationProof:
        """The proof that ``digest`` is in the set (with its record) or is not."""
        check_digest(digest)
        counts, hashes = self._counts, self._hashes
        siblings: list[bytes] = []
        bits = 0  # the bitmap as an integer, bit `depth - 1 - i` for sibling at depth i + 1
        depth, index = 0, 1
        while depth < BUCKET_BITS and counts[index] >= 2:
            child = 2 * index + _bit(digest, depth)
            bits <<= 1
            if counts[child ^ 1]:
                bits |= 1
                siblings.append(hashes[child ^ 1])
            index, depth = child, depth + 1
        if counts[index] >= 2:  # continue inside the bucket, from its sorted digests
            keys = self._buckets[index - _BUCKETS]
            lo, hi = 0, len(keys)
            while hi - lo >= 2:
                mid = _split(keys, lo, hi, depth)
                if _bit(digest, depth):
                    other, (lo, hi) = (lo, mid), (mid, hi)
                else:
                    other, (lo, hi) = (mid, hi), (lo, mid)
                bits <<= 1
                if other[0] < other[1]:
                    bits |= 1
                    siblings.append(self._subtree(keys, other[0], other[1], depth + 1))
                depth += 1
            found = keys[lo] if hi > lo else None
        else:
            found = self._only_entry(index, depth) if counts[index] else None
        pad = (-depth) % 8
        leaf = None
        if found is not None:
            leaf = RevocationLeaf(found, RevocationRecord.unpack(self._records[found]))
        return RevocationProof(
            depth=depth,
            bitmap=(bits << pad).to_bytes((depth + 7) // 8, "big"),
            siblings=tuple(siblings),
            leaf=leaf,
        )

    def _only_entry(self, index: int, depth: int) -> bytes:
        """The single digest under top-level node ``index`` (at ``depth``)."""
        counts = self._counts
        while depth < BUCKET_BITS:
            index = 2 * index if counts[2 * index] else 2 * index + 1
            depth += 1
        return self._buckets[index - _BUCKETS][0]
