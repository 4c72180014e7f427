"""Reading a sealed batch's tree back from the index: its digests, its tiles, and the
process-wide tile cache that proofs read through.

A sealed batch's tiles never change, so each process keeps the most recently used ones in
a bounded LRU (``cached_tile``), keyed by the batch's id, range *and root*: a tile is never
served for another tree, even if an id came back with other contents. What may change
after sealing (the batch's state, its transaction, block and time, which a reorg or a new
broadcast rewrites) is not here: the proof reads it with the digest's row every time.

A proof reads everything on one connection (``reading``): an uncached tile is read on the
connection the proof's lookup used, not on a second one from the pool (a request holding one
connection while it waits for another can exhaust the pool).

On PostgreSQL proofs read on a pool of their own (``proof_connection``): in autocommit mode
and without the pre-ping the index's engine does at each checkout, a round trip that was two
thirds of a worker's time in the proof benchmark (py-spy). A connection the server dropped
(a restart, an idle timeout) is found by the proof's own query instead; `with_proof_connection`
then makes the read again once on a fresh connection (SQLAlchemy has by then invalidated
every connection of the pool that was older).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, TypeVar, cast

from sqlalchemy import Connection, Engine, bindparam, create_engine, event, select, text
from sqlalchemy.exc import DBAPIError

from mcledger.anchoring.tiles import TreeMeta
from mcledger.anchoring.tree import StoredTree, leaf_tile
from mcledger.node.errors import NodeError
from mcledger.node.index.db import PerEngine
from mcledger.node.index.models import tree_tile_t

T = TypeVar("T")

# PostgreSQL hands a range's digests over as one bytea (string_agg): 2**20 of them are
# 32 MiB, far below its 1 GiB limit, and few round trips.
_READ_CHUNK = 1 << 20
TILE_CACHE_SIZE = 8192  # 16 KiB tiles (height 8): at most 128 MiB a process
TREE_CACHE_SIZE = 256
_TILES_PER_TREE = 16  # each StoredTree's own small cache: the upper tiles every proof reads

_TILE_QUERY = select(tree_tile_t.c.data).where(
    tree_tile_t.c.batch_id == bindparam("batch_id"),
    tree_tile_t.c.level == bindparam("level"),
    tree_tile_t.c.idx == bindparam("idx"),
)
_DIGESTS_AGGREGATED = text(
    "SELECT string_agg(digest, ''::bytea ORDER BY seq) FROM submission"
    " WHERE issuer_id = :issuer AND seq >= :lo AND seq < :hi"
)


def read_digests(conn: Connection, issuer_id: str, first_seq: int, count: int) -> bytes:
    """The packed 32-byte digests of the issuer's seqs ``[first_seq, first_seq + count)`` in
    seq order; NodeError if one is missing (the ranges are the index's invariant)."""
    if conn.dialect.name == "postgresql":
        parts = []
        for lo in range(first_seq, first_seq + count, _READ_CHUNK):
            hi = min(lo + _READ_CHUNK, first_seq + count)
            part = conn.execute(
                _DIGESTS_AGGREGATED, {"issuer": issuer_id, "lo": lo, "hi": hi}
            ).scalar_one()
            parts.append(bytes(part or b""))
        packed = b"".join(parts)
    else:
        # The driver's own cursor: a row object per digest costs seconds at 10^7.
        cursor = conn.connection.cursor()
        try:
            cursor.execute(
                "SELECT digest FROM submission WHERE issuer_id = ? AND seq >= ? AND seq < ?"
                " ORDER BY seq",
                (issuer_id, first_seq, first_seq + count),
            )
            packed = b"".join(map(itemgetter(0), cast(Iterable[Any], cursor)))
        finally:
            cursor.close()
    if len(packed) != 32 * count:
        raise NodeError(
            f"the index holds {len(packed) // 32} digests of issuer {issuer_id!r} in seqs "
            f"[{first_seq}, {first_seq + count}), not {count}: it is damaged"
        )
    return packed


def read_tile(conn: Connection, batch_id: int, level: int, index: int) -> bytes:
    """The stored tile (level >= 1) of a batch; NodeError if the index lacks it."""
    data = conn.execute(
        _TILE_QUERY, {"batch_id": batch_id, "level": level, "idx": index}
    ).scalar_one_or_none()
    if data is None:
        raise NodeError(f"tile ({level}, {index}) of batch {batch_id} is missing from the index")
    return bytes(data)


@dataclass(frozen=True)
class StoredBatch:
    """What a proof needs of a sealed batch to find its tiles (hashable: a cache key)."""

    id: int
    issuer_id: str
    first_seq: int
    tree_size: int
    tile_height: int
    root: str  # in every cache key: a tile is never served for another tree


# The connection the proof being made reads on (set by `reading`).
_READING: ContextVar[Connection | None] = ContextVar("mcledger_proof_connection", default=None)


def proof_connection(engine: Engine) -> Connection:
    """A connection for reading proofs from ``engine``'s index. On PostgreSQL one of a pool of
    its own, in autocommit mode (a proof only reads, rows that do not change or that it reads
    once: no BEGIN, no ROLLBACK) and with no pre-ping (see the module's text); SQLite's
    driver begins no transaction for reads anyway, and a checkout there costs nothing."""
    return proof_engine(engine).connect()


def with_proof_connection(engine: Engine, read: Callable[[Connection], T]) -> T:
    """``read(conn)`` on a `proof_connection`; once more on a new one if the first turned
    out to be lost (only reads: repeating one is harmless)."""
    try:
        with proof_connection(engine) as conn:
            return read(conn)
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
    with proof_connection(engine) as conn:
        return read(conn)


def _proof_engine(engine: Engine) -> Engine:
    # Sized for a process's proofs: those of the event loop one at a time, a few from
    # threads (the CLI, audits). Disposed with the index's engine.
    proofs = create_engine(
        engine.url,
        pool_pre_ping=False,
        pool_size=2,
        max_overflow=8,
        isolation_level="AUTOCOMMIT",
    )
    event.listen(engine, "engine_disposed", lambda _engine: proofs.dispose())
    return proofs


_proof_engines = PerEngine(_proof_engine)


def proof_engine(engine: Engine) -> Engine:
    """The engine whose pool proofs read on: ``engine`` itself on SQLite."""
    if engine.dialect.name != "postgresql":
        return engine
    return _proof_engines(engine)


@contextlib.contextmanager
def reading(engine: Engine, conn: Connection | None = None) -> Iterator[Connection]:
    """``conn`` (else a new `proof_connection`) as the one uncached tiles are read on until
    the block ends."""
    with contextlib.ExitStack() as stack:
        if conn is None:
            conn = stack.enter_context(proof_connection(engine))
        token = _READING.set(conn)
        try:
            yield conn
        finally:
            _READING.reset(token)


@functools.lru_cache(maxsize=TILE_CACHE_SIZE)
def cached_tile(engine: Engine, batch: StoredBatch, level: int, index: int) -> bytes:
    """Tile (level, index) of ``batch``, from this process's LRU or else read (level 0:
    rebuilt from its digests) on the connection `reading` set, or a connection of its own."""
    conn = _READING.get()
    if conn is None or conn.engine.pool is not proof_engine(engine).pool:
        with proof_connection(engine) as own:
            return _load_tile(own, batch, level, index)
    return _load_tile(conn, batch, level, index)


def _load_tile(conn: Connection, batch: StoredBatch, level: int, index: int) -> bytes:
    if level > 0:
        return read_tile(conn, batch.id, level, index)
    start = index << batch.tile_height
    count = min(1 << batch.tile_height, batch.tree_size - start)
    if count <= 0:
        raise NodeError(f"batch {batch.id} has no level-0 tile {index}")
    digests = read_digests(conn, batch.issuer_id, batch.first_seq + start, count)
    return leaf_tile(digests, batch.tree_size, tile_height=batch.tile_height)


class _CachedTiles:
    """A read-only TileStore over the process-wide tile cache."""

    def __init__(self, engine: Engine, batch: StoredBatch, meta: TreeMeta) -> None:
        self.engine, self.batch, self.meta = engine, batch, meta

    def get_meta(self) -> TreeMeta:
        return self.meta

    def get_tile(self, level: int, index: int) -> bytes:
        return cached_tile(self.engine, self.batch, level, index)

    def put_meta(self, meta: TreeMeta) -> None:  # pragma: no cover - read-only
        raise NodeError("stored trees are read-only")

    def put_tile(self, level: int, index: int, data: bytes) -> None:  # pragma: no cover
        raise NodeError("stored trees are read-only")


@functools.lru_cache(maxsize=TREE_CACHE_SIZE)
def stored_tree(engine: Engine, batch: StoredBatch) -> StoredTree:
    """The batch's tree over the tile cache (cached: it checks the root once, at first use)."""
    meta = TreeMeta(batch.tree_size, bytes.fromhex(batch.root), batch.tile_height)
    return StoredTree(_CachedTiles(engine, batch, meta), cache_tiles=_TILES_PER_TREE)


def clear_caches() -> None:
    """Forget every cached tile and tree of this process (tests, benchmarks: a cold start)."""
    stored_tree.cache_clear()
    cached_tile.cache_clear()
