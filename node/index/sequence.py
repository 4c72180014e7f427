"""Each issuer's submissions in one order: the ``seq`` numbers, and the batch holding one.

The issuer row keeps two counters: ``next_seq`` (the next number to give) and
``sealed_seq`` (the first number not yet in a batch). Whoever adds submissions numbers
them from ``next_seq`` and moves it in the same transaction; sealing reads both and moves
``sealed_seq``. Both begin by updating that row, so PostgreSQL makes them take turns on it
(SQLite has one writer anyway): a batch never closes over a number whose transaction is
still open, and so never skips a digest that commits later.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, insert, select, update

from mcledger.node.errors import NodeError
from mcledger.node.index.models import batch_t, issuer_t, submission_t


class UnknownIssuerRowError(NodeError):
    """No issuer row by that id: nothing can be numbered for it."""


@dataclass(frozen=True)
class Counter:
    """An issuer's counters as its locked row holds them."""

    next_seq: int
    sealed_seq: int

    @property
    def pending(self) -> int:
        return self.next_seq - self.sealed_seq


def lock_counter(conn: Connection, issuer_id: str) -> Counter | None:
    """Lock the issuer's row for the rest of the transaction and read its counters (None:
    no such issuer). A no-op UPDATE, not SELECT … FOR UPDATE: on SQLite it is what starts
    the write transaction, so the counters cannot move before the caller writes."""
    row = conn.execute(
        update(issuer_t)
        .where(issuer_t.c.id == issuer_id)
        .values(next_seq=issuer_t.c.next_seq)
        .returning(issuer_t.c.next_seq, issuer_t.c.sealed_seq)
    ).first()
    return None if row is None else Counter(int(row.next_seq), int(row.sealed_seq))


def set_next_seq(conn: Connection, issuer_id: str, next_seq: int) -> None:
    """Move the counter past the numbers the caller stored (its row is locked)."""
    conn.execute(update(issuer_t).where(issuer_t.c.id == issuer_id).values(next_seq=next_seq))


def insert_submissions(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert new submissions (``issuer_id``, ``digest``, …; no ``seq``), numbered after
    what each issuer has, in the order given; a digest already stored is an IntegrityError.
    For writers that know their digests are new (issuance, tests, benchmarks); intake,
    which must skip known digests, numbers its own rows (node.pipeline.submissions)."""
    by_issuer: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        by_issuer.setdefault(str(row["issuer_id"]), []).append(row)
    for issuer_id in sorted(by_issuer):  # one lock order for every writer
        mine = by_issuer[issuer_id]
        counter = lock_counter(conn, issuer_id)
        if counter is None:
            raise UnknownIssuerRowError(f"no issuer {issuer_id!r} in the index")
        numbered = [{**row, "seq": counter.next_seq + i} for i, row in enumerate(mine)]
        conn.execute(insert(submission_t), numbered)
        set_next_seq(conn, issuer_id, counter.next_seq + len(mine))


def holds_submission() -> ColumnElement[bool]:
    """The ON clause joining ``batch_t`` to the ``submission_t`` row it holds (none while
    the row is pending): the issuer's last batch starting at or before the row's seq (one
    probe of uq_batch_first_seq), if its range reaches that seq."""
    holder = batch_t.alias("holder")
    last_before = (
        select(holder.c.id)
        .where(
            holder.c.issuer_id == submission_t.c.issuer_id,
            holder.c.first_seq <= submission_t.c.seq,
        )
        .order_by(holder.c.first_seq.desc())
        .limit(1)
        .correlate(submission_t)
        .scalar_subquery()
    )
    return and_(
        batch_t.c.id == last_before,
        submission_t.c.seq < batch_t.c.first_seq + batch_t.c.tree_size,
    )
