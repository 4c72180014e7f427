"""Intake's SQL: numbered submission rows in one statement a dialect, and the read-backs.

Intake is the hot path (lists of 10,000 at tens of thousands of digests a second), so the
insert skips SQLAlchemy's per-row parameter processing: the values that are the same for
every row (issuer, time) are converted once with the column's own bind processor, the
digests go in as their 32 bytes (what ``HexDigest`` stores), and

- on PostgreSQL one ``INSERT … SELECT … FROM unnest(digests, ids) WITH ORDINALITY``
  carries the whole list in two array parameters (measured: a third faster than
  executemany in pipeline mode, half the time of SQLAlchemy's insertmanyvalues);
- on SQLite multi-row ``VALUES`` of 199 rows a statement. Not ``executemany``: that
  releases and retakes the GIL for every row, and while another thread parses the next
  list each retake waits out a switch interval (measured: two connections' lists went
  slower than one's).

Both say ``ON CONFLICT DO NOTHING`` with no target: a row is skipped when its digest is
known *or* its credentialId already names another digest. The row count tells whether
anything was skipped; only then are the rows this statement numbered read back.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Connection, select

from mcledger.node.errors import NodeError
from mcledger.node.index.models import batch_t, submission_t
from mcledger.node.index.sequence import holds_submission

READ_CHUNK = 500  # IN-list length: well under SQLite's and psycopg's parameter limits

_COLUMNS = "issuer_id, seq, digest, credential_id, submitted_at"
# Rows a SQLite statement: 5 parameters each stay under 999, the oldest SQLite's limit.
SQLITE_ROWS_PER_STATEMENT = 199
_POSTGRES_INSERT = (
    f"INSERT INTO {submission_t.name} ({_COLUMNS}) "
    "SELECT %s, %s::bigint + t.n - 1, t.d, t.c, %s "
    "FROM unnest(%s::bytea[], %s::text[]) WITH ORDINALITY AS t(d, c, n) "
    "ON CONFLICT DO NOTHING"
)

EXISTING = select(
    submission_t.c.digest,
    submission_t.c.issuer_id,
    submission_t.c.credential_id,
    submission_t.c.submitted_at,
    batch_t.c.id.label("batch_id"),
    batch_t.c.state,
).select_from(submission_t.outerjoin(batch_t, holds_submission()))


def chunks(values: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    """``values`` in consecutive slices of at most ``size``."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


@functools.cache
def _sqlite_insert(rows: int) -> str:
    values = ", ".join(["(?, ?, ?, ?, ?)"] * rows)
    return f"INSERT INTO {submission_t.name} ({_COLUMNS}) VALUES {values} ON CONFLICT DO NOTHING"


def _bound(conn: Connection, column: Column[Any], value: Any) -> Any:
    """``value`` as SQLAlchemy would hand it to this dialect's driver for ``column``
    (e.g. SQLite's DateTime is a string in SQLAlchemy's own format)."""
    processor = column.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
    return value if processor is None else processor(value)


def insert_numbered(
    conn: Connection,
    issuer_id: str,
    items: Sequence[tuple[str, str | None]],
    now: datetime,
    first_seq: int,
) -> set[str]:
    """Insert ``items`` (digest, credentialId) numbered from ``first_seq`` in the given
    order, skipping those the index refuses (known digest, or credentialId taken); returns
    the digests inserted. The caller holds the issuer's counter, so rows from
    ``first_seq`` on are this call's."""
    if not items:
        return set()
    when = _bound(conn, submission_t.c.submitted_at, now)
    if conn.dialect.name == "postgresql":
        digests = [bytes.fromhex(d) for d, _ in items]
        arrays = (issuer_id, first_seq, when, digests, [c for _, c in items])
        inserted = conn.exec_driver_sql(_POSTGRES_INSERT, arrays).rowcount
    elif conn.dialect.name == "sqlite":
        inserted = 0
        for start in range(0, len(items), SQLITE_ROWS_PER_STATEMENT):
            values: list[Any] = []
            for i, (d, c) in enumerate(items[start : start + SQLITE_ROWS_PER_STATEMENT], start):
                values += (issuer_id, first_seq + i, bytes.fromhex(d), c, when)
            statement = _sqlite_insert(len(values) // 5)
            inserted += conn.exec_driver_sql(statement, tuple(values)).rowcount
    else:  # pragma: no cover - the index supports these two
        raise NodeError(f"unsupported database dialect {conn.dialect.name!r}")
    if inserted == len(items):
        return {d for d, _ in items}
    numbered = select(submission_t.c.digest).where(
        submission_t.c.issuer_id == issuer_id, submission_t.c.seq >= first_seq
    )
    return set(conn.execute(numbered).scalars())


def read_existing(conn: Connection, digests: Sequence[str]) -> Iterator[Any]:
    """The stored rows of ``digests`` (those in the index), with their batch if sealed."""
    for chunk in chunks(digests, READ_CHUNK):
        yield from conn.execute(EXISTING.where(submission_t.c.digest.in_(chunk)))


def digests_naming(conn: Connection, credential_ids: Sequence[str]) -> Iterator[Any]:
    """``(credential_id, digest)`` of the stored rows that carry any of ``credential_ids``."""
    for chunk in chunks(credential_ids, READ_CHUNK):
        query = select(submission_t.c.credential_id, submission_t.c.digest).where(
            submission_t.c.credential_id.in_(chunk)
        )
        yield from conn.execute(query)
