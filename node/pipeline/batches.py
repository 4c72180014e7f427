"""Sealing pending digests into batches, storing their trees as tiles, and proving from them.

A batch is sealed in one transaction: the pending rows are claimed (their
batch id set) with the same statement that reads them, the RFC 6962 tree is
built from exactly those rows, and the tree's tiles, root and leaf indexes are
written before the transaction commits. Nothing is sent to the chain before a
batch is sealed, so a crash during sealing loses nothing: the rows stay pending.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from operator import itemgetter

from sqlalchemy import Connection, Engine, bindparam, insert, select, text, update

from mcledger.anchoring.bundle import LEDGER_TARGET, AnchorInfo, ProofBundle
from mcledger.anchoring.tiles import DEFAULT_TILE_HEIGHT, TreeMeta
from mcledger.anchoring.tree import MerkleTree, StoredTree, save_tree
from mcledger.node.errors import NodeError
from mcledger.node.index.models import (
    BatchState,
    batch_t,
    issuer_t,
    submission_t,
    tree_tile_t,
    utcnow,
)
from mcledger.node.index.oplog import record_operation
from mcledger.node.pipeline.targets import BatchTarget

_TILE_INSERT_CHUNK = 500


class SqlTileStore:
    """`anchoring.tiles.TileStore` over the `tree_tile` table, for one batch.

    Writes are buffered and sent in chunks by `flush`; the batch row holds the metadata.
    """

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
        return _read_tile(self.conn, self.batch_id, level, index)


def _read_tile(conn: Connection, batch_id: int, level: int, index: int) -> bytes:
    data = conn.execute(
        select(tree_tile_t.c.data).where(
            tree_tile_t.c.batch_id == batch_id,
            tree_tile_t.c.level == level,
            tree_tile_t.c.idx == index,
        )
    ).scalar_one_or_none()
    if data is None:
        raise NodeError(f"tile ({level}, {index}) of batch {batch_id} is missing from the index")
    return bytes(data)


@dataclass(frozen=True)
class SealedBatch:
    id: int
    issuer_id: str
    tree_size: int
    root: bytes


def seal_batch(
    engine: Engine,
    issuer_id: str,
    *,
    max_size: int | None = None,
    tile_height: int = DEFAULT_TILE_HEIGHT,
    target: BatchTarget | None = None,
) -> SealedBatch | None:
    """Seal the issuer's pending digests (oldest first, at most ``max_size``) into a batch
    for ``target`` (default: the ledger), which the batch keeps.

    Returns None when nothing is pending.
    """
    target = target or BatchTarget()
    with engine.begin() as conn:
        batch_id = conn.execute(
            insert(batch_t)
            .values(
                issuer_id=issuer_id,
                state=BatchState.SEALED,
                tree_size=0,
                tile_height=tile_height,
                sealed_at=utcnow(),
                **target.columns(),
            )
            .returning(batch_t.c.id)
        ).scalar_one()
        pending = (
            select(submission_t.c.id)
            .where(submission_t.c.issuer_id == issuer_id, submission_t.c.batch_id.is_(None))
            .order_by(submission_t.c.id)
        )
        if max_size is not None:
            pending = pending.limit(max_size)
        # Claim and read in one statement: the tree holds exactly the rows claimed.
        claimed = conn.execute(
            update(submission_t)
            .where(submission_t.c.id.in_(pending.scalar_subquery()))
            .values(batch_id=batch_id)
            .returning(submission_t.c.id, submission_t.c.digest)
        ).all()
        if not claimed:
            conn.rollback()
            return None
        # RETURNING promises no order; leaves go in id order (sorting on the id alone:
        # comparing whole rows costs seconds at 10^6).
        ordered = sorted(claimed, key=itemgetter(0))
        tree = MerkleTree.from_digests(b"".join(bytes.fromhex(row[1]) for row in ordered))
        conn.execute(
            update(batch_t)
            .where(batch_t.c.id == batch_id)
            .values(tree_size=tree.size, root=tree.root.hex())
        )
        store = SqlTileStore(conn, batch_id)
        save_tree(store, tree, tile_height=tile_height)
        store.flush()
        # Leaf index = position in id order, the order the tree was built in.
        conn.execute(
            text(
                "UPDATE submission SET leaf_index = ranked.position FROM ("
                " SELECT id, row_number() OVER (ORDER BY id) - 1 AS position"
                " FROM submission WHERE batch_id = :batch_id) AS ranked"
                " WHERE submission.id = ranked.id"
            ),
            {"batch_id": batch_id},
        )
        record_operation(
            conn,
            actor="anchorer",
            action="batch.sealed",
            subject=f"batch:{batch_id}",
            details={"issuer": issuer_id, "treeSize": tree.size, "root": tree.root.hex()}
            | ({"target": target.target} if target.target != LEDGER_TARGET else {}),
        )
    return SealedBatch(batch_id, issuer_id, tree.size, tree.root)


def pending_count(engine: Engine, issuer_id: str | None = None) -> int:
    """How many digests wait for a batch (for one issuer, or all)."""
    query = text(
        "SELECT count(*) FROM submission WHERE batch_id IS NULL"
        + (" AND issuer_id = :issuer" if issuer_id else "")
    )
    with engine.connect() as conn:
        return int(conn.execute(query, {"issuer": issuer_id} if issuer_id else {}).scalar_one())


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


@functools.lru_cache(maxsize=8192)  # 16 KiB tiles: at most 128 MiB
def _cached_tile(engine: Engine, batch_id: int, level: int, index: int) -> bytes:
    # Tiles of a confirmed batch never change, so every process may cache them.
    with engine.connect() as conn:
        return _read_tile(conn, batch_id, level, index)


class _CachedTiles:
    """A read-only TileStore over the process-wide tile cache."""

    def __init__(self, engine: Engine, batch_id: int, meta: TreeMeta) -> None:
        self.engine, self.batch_id, self.meta = engine, batch_id, meta

    def get_meta(self) -> TreeMeta:
        return self.meta

    def get_tile(self, level: int, index: int) -> bytes:
        return _cached_tile(self.engine, self.batch_id, level, index)

    def put_meta(self, meta: TreeMeta) -> None:  # pragma: no cover - read-only
        raise NodeError("stored trees are read-only")

    def put_tile(self, level: int, index: int, data: bytes) -> None:  # pragma: no cover
        raise NodeError("stored trees are read-only")


@functools.lru_cache(maxsize=256)
def _stored_tree(engine: Engine, batch_id: int, size: int, root: str, height: int) -> StoredTree:
    return StoredTree(_CachedTiles(engine, batch_id, TreeMeta(size, bytes.fromhex(root), height)))


_LOOKUP = select(
    submission_t.c.digest,
    submission_t.c.credential_id,
    submission_t.c.batch_id,
    submission_t.c.leaf_index,
    batch_t.c.state,
    batch_t.c.tree_size,
    batch_t.c.root,
    batch_t.c.tile_height,
    batch_t.c.chain_id,
    batch_t.c.contract,
    batch_t.c.transaction_hash,
    batch_t.c.block_number,
    batch_t.c.block_hash,
    batch_t.c.block_time,
    batch_t.c.target,
    batch_t.c.hash_algorithm_id,
    batch_t.c.ledger_contract,
    issuer_t.c.chain_address,
).select_from(
    submission_t.outerjoin(batch_t, batch_t.c.id == submission_t.c.batch_id).join(
        issuer_t, issuer_t.c.id == submission_t.c.issuer_id
    )
)


def proof_status(
    engine: Engine, *, digest: str | None = None, credential_id: str | None = None
) -> ProofStatus | None:
    """The proof bundle of a digest (or credential id) once anchored; None if unknown."""
    if (digest is None) == (credential_id is None):
        raise ValueError("give exactly one of digest and credential_id")
    where = (
        submission_t.c.digest == bindparam("key")
        if digest is not None
        else submission_t.c.credential_id == bindparam("key")
    )
    with engine.connect() as conn:
        row = conn.execute(_LOOKUP.where(where), {"key": digest or credential_id}).first()
    if row is None:
        return None
    if row.batch_id is None:
        return ProofStatus(row.digest, "pending", row.credential_id, None)
    if row.state != BatchState.CONFIRMED:
        return ProofStatus(row.digest, row.state, row.credential_id, row.batch_id)
    tree = _stored_tree(engine, row.batch_id, row.tree_size, row.root, row.tile_height)
    bundle = ProofBundle(
        digest=bytes.fromhex(row.digest),
        proof=tree.inclusion_proof(row.leaf_index),
        anchor=AnchorInfo(
            chain_id=row.chain_id,
            contract=row.contract,
            transaction_hash=row.transaction_hash,
            block_number=row.block_number,
            block_hash=row.block_hash,
            anchored_at=row.block_time,
            issuer=row.chain_address,
            target=row.target,
            hash_algorithm_id=row.hash_algorithm_id,
            ledger=row.ledger_contract,
        ),
        credential_id=row.credential_id,
    )
    return ProofStatus(row.digest, row.state, row.credential_id, row.batch_id, bundle)


def batch_digests(engine: Engine, batch_id: int) -> Iterable[bytes]:
    """The batch's digests in leaf order (for audits that rebuild the tree)."""
    with engine.connect() as conn:
        for (digest,) in conn.execute(
            select(submission_t.c.digest)
            .where(submission_t.c.batch_id == batch_id)
            .order_by(submission_t.c.leaf_index)
        ):
            yield bytes.fromhex(digest)


def rebuild_root(engine: Engine, batch_id: int) -> bytes:
    return MerkleTree.from_digests(b"".join(batch_digests(engine, batch_id))).root
