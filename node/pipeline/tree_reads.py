"""Reading a sealed batch's tree back from the index: its digests and stored tiles, and the
connections proofs read on (node/pipeline/proof_reads.py reads the proofs themselves).

On PostgreSQL proofs read on a pool of their own (``proof_connection``): in autocommit mode
and without the pre-ping the index's engine does at each checkout, a round trip that was two
thirds of a worker's time in the proof benchmark (py-spy). A connection the server dropped
(a restart, an idle timeout) is found by the proof's own query instead; `with_proof_connection`
then makes the read again once on a fresh connection (SQLAlchemy has by then invalidated
every connection of the pool that was older).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from operator import itemgetter
from typing import Any, TypeVar, cast

from sqlalchemy import Connection, Engine, bindparam, create_engine, event, select, text
from sqlalchemy.exc import DBAPIError

from mcledger.node.errors import NodeError
from mcledger.node.index.db import PerEngine
from mcledger.node.index.models import tree_tile_t

T = TypeVar("T")

# PostgreSQL hands a range's digests over as one bytea (string_agg): 2**20 of them are
# 32 MiB, far below its 1 GiB limit, and few round trips.
_READ_CHUNK = 1 << 20

_TILE_QUERY = select(tree_tile_t.c.data).where(
    tree_tile_t.c.batch_id == bindparam("batch_id"),
    tree_tile_t.c.level == bindparam("level"),
    tree_tile_t.c.idx == bindparam("idx"),
)
_SQLITE_TILE_QUERY = "SELECT data FROM tree_tile WHERE batch_id = ? AND level = ? AND idx = ?"
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
    return checked_digests(packed, issuer_id, first_seq, count)


def checked_digests(packed: bytes, issuer_id: str, first_seq: int, count: int) -> bytes:
    """``packed``, read as the issuer's digests of seqs ``[first_seq, first_seq + count)``,
    if there are that many; else NodeError (the ranges are the index's invariant)."""
    if len(packed) != 32 * count:
        raise NodeError(
            f"the index holds {len(packed) // 32} digests of issuer {issuer_id!r} in seqs "
            f"[{first_seq}, {first_seq + count}), not {count}: it is damaged"
        )
    return packed


def read_tile(conn: Connection, batch_id: int, level: int, index: int) -> bytes:
    """The stored tile (level >= 1) of a batch; NodeError if the index lacks it."""
    if conn.dialect.name == "sqlite":  # its own cursor: 9 µs a tile, not 23 through SQLAlchemy
        cursor = conn.connection.cursor()
        try:
            found = cursor.execute(_SQLITE_TILE_QUERY, (batch_id, level, index)).fetchone()
        finally:
            cursor.close()
        data = found[0] if found is not None else None
    else:
        data = conn.execute(
            _TILE_QUERY, {"batch_id": batch_id, "level": level, "idx": index}
        ).scalar_one_or_none()
    if data is None:
        raise NodeError(
            f"tile ({level}, {index}) of batch {batch_id} is missing from the index: it is damaged"
        )
    return bytes(data)


def proof_connection(engine: Engine) -> Connection:
    """A connection for reading proofs from ``engine``'s index. On PostgreSQL one of a pool of
    its own, in autocommit mode (a proof only reads, rows that do not change or that it reads
    once: no BEGIN, no ROLLBACK) and with no pre-ping (see the module's text); SQLite's
    driver begins no transaction for reads anyway, and a checkout there costs nothing."""
    return proof_engine(engine).connect()


def with_proof_connection(engine: Engine, read: Callable[[Connection], T]) -> T:
    """``read(conn)`` on a `proof_connection`; once more on a new one if the first turned
    out to be lost (only reads: repeating one is harmless)."""
    with proof_connection(engine) as conn:
        try:
            return read(conn)
        except Exception as exc:
            if not _lost(conn, exc):
                raise
    with proof_connection(engine) as conn:
        return read(conn)


def _lost(conn: Connection, exc: Exception) -> bool:
    """Whether ``exc`` says the connection is gone; if so, forget it and the pool's idle
    ones (after a restart every one is). Proofs read through the driver's own cursor
    (proof_reads), whose errors SQLAlchemy never sees, so its disconnect test is asked
    here, as its execution would ask it."""
    if isinstance(exc, DBAPIError):
        return exc.connection_invalidated  # SQLAlchemy has invalidated the pool already
    dialect = conn.dialect
    if not isinstance(exc, dialect.loaded_dbapi.Error):
        return False
    if not dialect.is_disconnect(exc, conn.connection.dbapi_connection, None):
        return False
    conn.invalidate(exc)
    conn.engine.dispose()  # on PostgreSQL the proofs' own pool: SQLite has no disconnects
    return True


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
