"""Sealing pending digests into batches, storing their trees as tiles, and proving from them.

A batch is a range of its issuer's submission numbers (node/index/sequence.py): sealing
locks the issuer's counter row, reads the digests of ``[sealed_seq, next_seq)`` in seq
order, builds the RFC 6962 tree, and writes the batch row, the tiles from tile level 1
up and the new ``sealed_seq``, all in one transaction. No submission row is written, so
the cost is reading the digests and hashing them. Nothing is sent to the chain before a
batch is sealed, so a crash during sealing loses nothing: the range stays pending.

A proof (node/pipeline/proof_reads.py) reads the digest's row with its batch, the level-0
tile rebuilt from the 2**tile_height digests around it (one range of uq_submission_seq)
and one stored tile a level above, on one connection (on PostgreSQL in one statement);
the batch's state and anchor are read at every proof, never cached, so a batch sent again
after a reorg is proved with the anchor the index holds now.

The node seals with tiles of ``SEAL_TILE_HEIGHT`` = 4 levels: a proof rebuilds its level-0
tile from 16 digests (30 hashes) rather than 256 (510), and reads five tiles of 960 bytes
at 10^7 rather than two of 16 KiB, for about 4 bytes more a digest in tree_tile. A batch
keeps the height it was sealed with: older batches (8) are proved as before.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import (
    Connection,
    Engine,
    insert,
    select,
    update,
)

from mcledger.anchoring.bundle import LEDGER_TARGET, ProofBundle
from mcledger.anchoring.tiles import TreeMeta
from mcledger.anchoring.tree import MerkleTree, save_tree
from mcledger.node.errors import NodeError
from mcledger.node.index.models import (
    BatchState,
    batch_t,
    issuer_t,
    tree_tile_t,
    utcnow,
)
from mcledger.node.index.oplog import record_operation
from mcledger.node.index.sequence import lock_counter
from mcledger.node.pipeline.proof_reads import prove_row, read_proof_row
from mcledger.node.pipeline.targets import BatchTarget
from mcledger.node.pipeline.tree_reads import read_digests, read_tile, with_proof_connection

_TILE_INSERT_CHUNK = 1_000
SEAL_TILE_HEIGHT = 4  # see the module's text


class SqlTileStore:
    """`anchoring.tiles.TileStore` over the `tree_tile` table, for one batch, written in
    bulk by `flush`; the batch row holds the metadata. Level-0 tiles are not stored."""

    def __init__(self, conn: Connection, batch_id: int, meta: TreeMeta | None = None) -> None:
        self.conn = conn
        self.batch_id = batch_id
        self._meta = meta
        self._pending: list[dict[str, object]] = []

    def put_meta(self, meta: TreeMeta) -> None:
        self._meta = meta

    def get_meta(self) -> TreeMeta:
        if self._meta is None:
            raise NodeError(f"batch {self.batch_id} has no stored tree")
        return self._meta

    def put_tile(self, level: int, index: int, data: bytes) -> None:
        if level == 0:
            raise NodeError("level-0 tiles are rebuilt from the digests, never stored")
        self._pending.append(
            {"batch_id": self.batch_id, "level": level, "idx": index, "data": data}
        )
        if len(self._pending) >= _TILE_INSERT_CHUNK:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            self.conn.execute(insert(tree_tile_t), self._pending)
            self._pending = []

    def get_tile(self, level: int, index: int) -> bytes:
        return read_tile(self.conn, self.batch_id, level, index)


@dataclass(frozen=True)
class SealedBatch:
    id: int
    issuer_id: str
    tree_size: int
    root: bytes


class _Stages:
    """Seconds spent in each stage of a seal, into ``into`` when given (the benchmark)."""

    def __init__(self, into: dict[str, float] | None) -> None:
        self.into, self.last = into, time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        if self.into is not None:
            self.into[name] = self.into.get(name, 0.0) + now - self.last
        self.last = now


def seal_batch(
    engine: Engine,
    issuer_id: str,
    *,
    max_size: int | None = None,
    tile_height: int = SEAL_TILE_HEIGHT,
    target: BatchTarget | None = None,
    stages: dict[str, float] | None = None,
) -> SealedBatch | None:
    """Seal the issuer's pending digests (oldest first, at most ``max_size``) into a batch
    for ``target`` (default: the ledger), which the batch keeps.

    Returns None when nothing is pending. ``stages`` receives the seconds of each stage.
    """
    target = target or BatchTarget()
    clock = _Stages(stages)
    with engine.begin() as conn:
        counter = lock_counter(conn, issuer_id)  # waits for intake still open on it
        if counter is None or counter.pending == 0:
            return None
        first = counter.sealed_seq
        size = counter.pending if max_size is None else min(max_size, counter.pending)
        clock.lap("claim (lock the counter)")
        digests = read_digests(conn, issuer_id, first, size)
        clock.lap("read digests")
        tree = MerkleTree.from_digests(digests)
        del digests
        clock.lap("build tree")
        batch_id = conn.execute(
            insert(batch_t)
            .values(
                issuer_id=issuer_id,
                first_seq=first,
                state=BatchState.SEALED,
                tree_size=tree.size,
                root=tree.root.hex(),
                tile_height=tile_height,
                sealed_at=utcnow(),
                **target.columns(),
            )
            .returning(batch_t.c.id)
        ).scalar_one()
        conn.execute(
            update(issuer_t).where(issuer_t.c.id == issuer_id).values(sealed_seq=first + size)
        )
        store = SqlTileStore(conn, batch_id)
        save_tree(store, tree, tile_height=tile_height, from_tile_level=1)
        store.flush()
        record_operation(
            conn,
            actor="anchorer",
            action="batch.sealed",
            subject=f"batch:{batch_id}",
            details={"issuer": issuer_id, "treeSize": tree.size, "root": tree.root.hex()}
            | ({"target": target.target} if target.target != LEDGER_TARGET else {}),
        )
        clock.lap("write batch, tiles, counter")
    clock.lap("commit")
    return SealedBatch(batch_id, issuer_id, tree.size, tree.root)


def pending_count(engine: Engine, issuer_id: str | None = None) -> int:
    """How many digests wait for a batch (for one issuer, or all): the issuers' counters."""
    query = select(issuer_t.c.next_seq - issuer_t.c.sealed_seq)
    if issuer_id is not None:
        query = query.where(issuer_t.c.id == issuer_id)
    with engine.connect() as conn:
        return sum(int(n) for n in conn.execute(query).scalars())


# -- proofs --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProofStatus:
    """What the index knows of a digest: ``bundle`` once its batch is confirmed,
    else the state it waits in (``pending``: not yet in a batch)."""

    digest: str
    state: str
    credential_id: str | None
    batch_id: int | None
    bundle: ProofBundle | None = None
    issuer_id: str | None = field(default=None, compare=False)  # with a bundle: its issuer's


def _is_digest(value: str) -> bool:
    return len(value) == 64 and all(c in "0123456789abcdef" for c in value)


def proof_status(
    engine: Engine,
    *,
    digest: str | None = None,
    credential_id: str | None = None,
    conn: Connection | None = None,
) -> ProofStatus | None:
    """The proof bundle of a digest (or credential id) once anchored; None if unknown.
    Everything is read on ``conn`` when given (else on a `proof_connection` of ``engine``)."""
    if (digest is None) == (credential_id is None):
        raise ValueError("give exactly one of digest and credential_id")
    if digest is not None and not _is_digest(digest):
        return None  # not a digest's spelling: none is stored under it

    def read(proving: Connection) -> ProofStatus | None:
        row = read_proof_row(proving, digest=digest, credential_id=credential_id)
        if row is None:
            return None
        if row.batch_id is None:
            return ProofStatus(row.digest, "pending", row.credential_id, None)
        if not row.confirmed:
            return ProofStatus(row.digest, row.state or "", row.credential_id, row.batch_id)
        bundle = prove_row(proving, row)
        return ProofStatus(
            row.digest, row.state or "", row.credential_id, row.batch_id, bundle, row.issuer_id
        )

    if conn is not None:
        return read(conn)
    return with_proof_connection(engine, read)


def batch_digests(engine: Engine, batch_id: int) -> Iterable[bytes]:
    """The batch's digests in leaf order (for audits that rebuild the tree)."""
    with engine.connect() as conn:
        row = conn.execute(
            select(batch_t.c.issuer_id, batch_t.c.first_seq, batch_t.c.tree_size).where(
                batch_t.c.id == batch_id
            )
        ).first()
        if row is None:
            raise NodeError(f"no batch {batch_id}")
        packed = read_digests(conn, row.issuer_id, row.first_seq, row.tree_size)
    return (packed[i : i + 32] for i in range(0, len(packed), 32))


def rebuild_root(engine: Engine, batch_id: int) -> bytes:
    return MerkleTree.from_digests(b"".join(batch_digests(engine, batch_id))).root
