"""Intake's SQL: numbered submission rows in one statement a dialect, and the read-backs.

Intake is the hot path (lists of 10,000 at tens of thousands of digests a second), so the
insert skips SQLAlchemy's per-row parameter processing: the values that are the same for
every row (issuer, time) are converted once with the column's own bind processor, the
digests go in as their 32 bytes (what ``HexDigest`` stores), and

- on PostgreSQL one ``INSERT … SELECT … FROM unnest(digests, ids) WITH ORDINALITY``
  carries the whole list in two array parameters (measured: a third faster than
  executemany in pipeline mode, half the time of SQLAlchemy's insertmanyvalues);
- on SQLite (3.38 on, where JSON is built in) one ``INSERT … SELECT … FROM json_each(ids)``
  with the digests as one blob of 32-byte slices: one statement and three parameters, so
  the writer thread hardly needs the GIL while another thread parses the next list
  (measured with a thread parsing beside it: 126 ms a list of 10,000, against 233 ms for
  the 199-row ``VALUES`` statements, whose Python loop and 50,000 bindings waited out a
  switch interval at each retake; alone, the two are even). Older SQLite: multi-row
  ``VALUES`` of 199 rows a statement. Not ``executemany``: that releases and retakes the
  GIL for every row.

``insert_numbered`` says ``ON CONFLICT DO NOTHING`` with no target: a row is skipped when
its digest is known *or* its credentialId already names another digest. The row count
tells whether anything was skipped; only then are the rows this statement numbered read
back.

``insert_if_all_new`` is the usual case (every digest new), which only needs to know
*whether* anything was refused. It names the digest index as the only arbiter
(``ON CONFLICT (digest) DO NOTHING``): without a target PostgreSQL first probes every
unique index of the table for each row before inserting it (speculative insertion), and
that probe was two fifths of the insert's time (perf, lists of 10,000). A taken
credentialId then fails the statement instead, which says the same thing. Its arrays go
to psycopg as binary parameters (``%b``): as text, 10,000 digests and ids cost ~55 ms to
quote and for the server's ``array_in`` to parse, binary ~7 ms.
"""

from __future__ import annotations

import functools
import json
import sqlite3
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Connection, select
from sqlalchemy.exc import IntegrityError

from mcledger.node.errors import NodeError
from mcledger.node.index.models import batch_t, submission_t
from mcledger.node.index.sequence import holds_submission

READ_CHUNK = 500  # IN-list length: well under SQLite's and psycopg's parameter limits

_COLUMNS = "issuer_id, seq, digest, credential_id, submitted_at"
# Rows a SQLite statement: 5 parameters each stay under 999, the oldest SQLite's limit.
SQLITE_ROWS_PER_STATEMENT = 199
_ANY_CONFLICT = "ON CONFLICT DO NOTHING"  # a known digest or a taken credentialId: skipped
_KNOWN_DIGEST = "ON CONFLICT (digest) DO NOTHING"  # a known digest skipped; a taken id fails
_POSTGRES_INSERT = (
    f"INSERT INTO {submission_t.name} ({_COLUMNS}) "
    "SELECT %s, %s::bigint + t.n - 1, t.d, t.c, %s "
    "FROM unnest(%b::bytea[], %b::text[]) WITH ORDINALITY AS t(d, c, n) "
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


_SQLITE_JSON = sqlite3.sqlite_version_info >= (3, 38, 0)
# WHERE true: without it SQLite would read ON CONFLICT as the join's ON (its docs, "upsert").
_SQLITE_INSERT_JSON = (
    f"INSERT INTO {submission_t.name} ({_COLUMNS}) "
    "SELECT ?1, ?2 + j.key, substr(?3, j.key * 32 + 1, 32), j.value, ?4 "
    "FROM json_each(?5) AS j WHERE true "
)


@functools.cache
def _sqlite_insert(rows: int, on_conflict: str) -> str:
    values = ", ".join(["(?, ?, ?, ?, ?)"] * rows)
    return f"INSERT INTO {submission_t.name} ({_COLUMNS}) VALUES {values} {on_conflict}"


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
    if _insert_rows(conn, issuer_id, items, now, first_seq, _ANY_CONFLICT) == len(items):
        return {d for d, _ in items}
    numbered = select(submission_t.c.digest).where(
        submission_t.c.issuer_id == issuer_id, submission_t.c.seq >= first_seq
    )
    return set(conn.execute(numbered).scalars())


def insert_if_all_new(
    conn: Connection,
    issuer_id: str,
    items: Sequence[tuple[str, str | None]],
    now: datetime,
    first_seq: int,
) -> bool:
    """Insert ``items`` numbered from ``first_seq`` as ``insert_numbered`` does and say
    whether every one went in. On False the caller must roll back (a savepoint): some
    rows may be in, and on PostgreSQL the transaction may be failed."""
    try:
        inserted = _insert_rows(conn, issuer_id, items, now, first_seq, _KNOWN_DIGEST)
    except IntegrityError:  # a credentialId that names another digest
        return False
    return inserted == len(items)


def _insert_rows(
    conn: Connection,
    issuer_id: str,
    items: Sequence[tuple[str, str | None]],
    now: datetime,
    first_seq: int,
    on_conflict: str,
) -> int:
    """The insert itself, in this dialect's fastest form; the number of rows inserted."""
    when = _bound(conn, submission_t.c.submitted_at, now)
    if conn.dialect.name == "postgresql":
        digests = [bytes.fromhex(d) for d, _ in items]
        arrays = (issuer_id, first_seq, when, digests, [c for _, c in items])
        return int(conn.exec_driver_sql(_POSTGRES_INSERT + on_conflict, arrays).rowcount)
    if conn.dialect.name == "sqlite" and _SQLITE_JSON:
        packed = bytes.fromhex("".join(d for d, _ in items))
        ids = json.dumps([c for _, c in items])
        parameters = (issuer_id, first_seq, packed, when, ids)
        return int(conn.exec_driver_sql(_SQLITE_INSERT_JSON + on_conflict, parameters).rowcount)
    if conn.dialect.name == "sqlite":
        inserted = 0
        for start in range(0, len(items), SQLITE_ROWS_PER_STATEMENT):
            values: list[Any] = []
            for i, (d, c) in enumerate(items[start : start + SQLITE_ROWS_PER_STATEMENT], start):
                values += (issuer_id, first_seq + i, bytes.fromhex(d), c, when)
            statement = _sqlite_insert(len(values) // 5, on_conflict)
            inserted += conn.exec_driver_sql(statement, tuple(values)).rowcount
        return inserted
    raise NodeError(  # pragma: no cover - the index supports these two
        f"unsupported database dialect {conn.dialect.name!r}"
    )


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
