"""Each issuer's revocation set as of its last confirmed commitment, in memory (docs/formats.md
"The revocation set").

The index is the record: a commitment is a revocation batch of kind ``commit`` with its
roots, size and declared time, and its leaves are the batch's revocation rows, each with
the batch's reason and time. A process builds an issuer's set from those rows the first
time it needs it (every confirmed commitment, oldest first), then brings it up to date
from the batches confirmed since, at each use: one small query when nothing changed. Each
step is checked against the root the index says was committed, so a set that does not
hash to it is never served or built on.

A serving node warms them up at start (`CommittedSets.warm_up`, a daemon thread), so that
the first proof does not wait for the build unless it comes before the build is done.

Proofs are made against the last *confirmed* root; sealing a flush works on a copy, to
which the commitments sealed but not yet confirmed are applied first (they are chained:
each one's previous root is the one before's new root).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, select

from mcledger.anchoring.revocation_proof import EMPTY, RevocationProof, RevocationRecord
from mcledger.anchoring.revocation_set import RevocationSet
from mcledger.node.errors import NodeError
from mcledger.node.index.db import PerEngine
from mcledger.node.index.models import (
    BatchState,
    RevocationKind,
    revocation_batch_t,
    revocation_t,
)

log = logging.getLogger("mcledger.revocation_sets")

_BATCH_COLUMNS = (
    revocation_batch_t.c.id,
    revocation_batch_t.c.state,
    revocation_batch_t.c.reason,
    revocation_batch_t.c.declared_at,
    revocation_batch_t.c.previous_root,
    revocation_batch_t.c.new_root,
    revocation_batch_t.c.new_size,
    revocation_batch_t.c.chain_id,
    revocation_batch_t.c.contract,
    revocation_batch_t.c.transaction_hash,
    revocation_batch_t.c.block_number,
    revocation_batch_t.c.block_time,
)


class RevocationSetMismatchError(NodeError):
    """The index's committed revocations do not hash to the root it says was committed: a
    row was changed or deleted. Nothing is proved or sealed on it; run `mcledger audit`."""


@dataclass(frozen=True)
class Commitment:
    """An issuer's last confirmed commitment: the set's root and size, and where it landed
    (``batch_id`` None, root zero, size 0: never committed)."""

    root: bytes
    size: int
    batch_id: int | None = None
    chain_id: int | None = None
    contract: str | None = None
    transaction_hash: str | None = None
    block_number: int | None = None
    block_time: datetime | None = None

    @classmethod
    def of(cls, batch: Any) -> Commitment:
        return cls(
            bytes.fromhex(batch.new_root),
            int(batch.new_size),
            batch.id,
            batch.chain_id,
            batch.contract,
            batch.transaction_hash,
            batch.block_number,
            batch.block_time,
        )


NEVER_COMMITTED = Commitment(EMPTY, 0)


class _Held:
    """One issuer's set and the commitment it is at; its lock guards both."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.revocations: RevocationSet | None = None  # None: not built yet
        self.head = NEVER_COMMITTED
        self.checked_at = float("-inf")  # time.monotonic() of the last look at the index


class CommittedSets:
    """The revocation sets of the issuers of one index (see the module docstring)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._held: dict[str, _Held] = {}
        self._lock = threading.Lock()

    def _of(self, issuer_id: str) -> _Held:
        with self._lock:
            return self._held.setdefault(issuer_id, _Held())

    # -- reading -------------------------------------------------------------------------
    def head(self, issuer_id: str) -> Commitment:
        """The issuer's last confirmed commitment (brought up to date first)."""
        held = self._of(issuer_id)
        with held.lock:
            self._bring_up_to_date(issuer_id, held)
            return held.head

    def prove(
        self,
        issuer_id: str,
        digest: bytes,
        *,
        conn: Connection | None = None,
        checked_within: float = 0.0,
    ) -> tuple[RevocationProof, Commitment]:
        """The proof that ``digest`` is or is not in the issuer's set, and the commitment
        whose root it leads to; the index is read on ``conn`` when given. With
        ``checked_within`` (seconds), a set the index was checked for that recently is used
        as it is: a proof may then lead to the root before a commitment confirmed in those
        seconds, which a verifier reads back to (a stale proof, docs/formats.md)."""
        held = self._of(issuer_id)
        with held.lock:
            revocations = held.revocations
            if revocations is None or time.monotonic() - held.checked_at > checked_within:
                revocations = self._bring_up_to_date(issuer_id, held, conn)
            return revocations.prove(digest), held.head

    def is_built(self, issuer_id: str) -> bool:
        """Whether this process holds the issuer's set already (a proof then costs one small
        query, not a build from every committed row)."""
        with self._lock:
            held = self._held.get(issuer_id)
        return held is not None and held.revocations is not None

    def working_copy(self, conn: Connection, issuer_id: str) -> RevocationSet:
        """A copy of the issuer's set with its sealed, unconfirmed commitments applied (read
        on ``conn``, the sealing transaction): what the next commitment builds on."""
        held = self._of(issuer_id)
        with held.lock:
            revocations = self._bring_up_to_date(issuer_id, held).copy()
            after = held.head.batch_id or 0
        for batch in _commit_batches(conn, issuer_id, after):  # sealed, sent or confirmed since
            _apply(conn, revocations, batch)
        return revocations

    # -- warming up ----------------------------------------------------------------------
    def warm_up(self) -> threading.Thread:
        """Build the set of every issuer that has a confirmed commitment, in a daemon
        thread, so that the first proof after start does not pay for it (seconds at 10^6
        revocations). A proof asked for meanwhile waits on the issuer's lock for the one
        copy being built; a set that fails to build is logged and built again at next use."""
        thread = threading.Thread(target=self._warm, name="revocation-sets-warm-up", daemon=True)
        thread.start()
        return thread

    def _warm(self) -> None:
        # A warm-up only saves time: whatever fails here is built (and reported) at first use.
        try:
            with self.engine.connect() as conn:
                issuers = sorted(
                    conn.execute(
                        select(revocation_batch_t.c.issuer_id)
                        .where(
                            revocation_batch_t.c.kind == RevocationKind.COMMIT,
                            revocation_batch_t.c.state == BatchState.CONFIRMED,
                        )
                        .distinct()
                    ).scalars()
                )
        except Exception:
            log.exception("cannot list the issuers to warm up the revocation sets of")
            return
        for issuer_id in issuers:
            started = time.monotonic()
            try:
                self.head(issuer_id)  # builds the set under the issuer's lock
            except Exception:
                log.exception("warming up the revocation set of %s failed", issuer_id)
                continue
            took = time.monotonic() - started
            log.info("revocation set of %s built in %.2f s", issuer_id, took)

    # -- keeping up ----------------------------------------------------------------------
    def _bring_up_to_date(
        self, issuer_id: str, held: _Held, on: Connection | None = None
    ) -> RevocationSet:
        """The held set with every commitment confirmed since applied; built on first use.
        Read on ``on`` when given (a proof's one connection), else on a connection of its own."""
        checked_at = time.monotonic()
        with contextlib.nullcontext(on) if on is not None else self.engine.connect() as conn:
            after = held.head.batch_id or 0
            newly: list[Any] = []
            for batch in _commit_batches(conn, issuer_id, after):
                if batch.state != BatchState.CONFIRMED:
                    break  # commitments land in order: one unconfirmed, the rest wait too
                newly.append(batch)
            try:
                if held.revocations is None:
                    held.revocations = _build(conn, issuer_id, newly)
                else:
                    for batch in newly:
                        _apply(conn, held.revocations, batch)
            except RevocationSetMismatchError:
                held.revocations, held.head = None, NEVER_COMMITTED  # rebuilt at next use
                raise
        if newly:
            held.head = Commitment.of(newly[-1])
        held.checked_at = checked_at
        return held.revocations


# Built once: it runs at every proof, and a statement built per call costs its cache key.
_COMMIT_BATCHES_AFTER = (
    select(*_BATCH_COLUMNS)
    .where(
        revocation_batch_t.c.issuer_id == bindparam("issuer_id"),
        revocation_batch_t.c.kind == RevocationKind.COMMIT,
        revocation_batch_t.c.id > bindparam("after"),
    )
    .order_by(revocation_batch_t.c.id)
)


def _commit_batches(conn: Connection, issuer_id: str, after: int) -> list[Any]:
    return list(conn.execute(_COMMIT_BATCHES_AFTER, {"issuer_id": issuer_id, "after": after}))


def _build(conn: Connection, issuer_id: str, batches: list[Any]) -> RevocationSet:
    """The set of ``batches`` (every confirmed commitment), from their rows in one read."""
    revocations = RevocationSet()
    if not batches:
        return revocations
    records = {b.id: RevocationRecord(int(b.reason), int(b.declared_at)) for b in batches}
    rows = conn.execute(
        select(revocation_t.c.digest, revocation_t.c.batch_id)
        .join(revocation_batch_t, revocation_batch_t.c.id == revocation_t.c.batch_id)
        .where(
            revocation_batch_t.c.issuer_id == issuer_id,
            revocation_batch_t.c.kind == RevocationKind.COMMIT,
            revocation_batch_t.c.id <= batches[-1].id,
        )
        .execution_options(yield_per=50_000)
    )
    revocations.insert(
        (bytes.fromhex(digest), records[batch_id])
        for digest, batch_id in rows
        if batch_id in records
    )
    _check(revocations, batches[-1], issuer_id)
    return revocations


def _apply(conn: Connection, revocations: RevocationSet, batch: Any) -> None:
    """Insert one commitment's digests; its roots must be where the set was and is."""
    if batch.previous_root != revocations.root.hex():
        raise RevocationSetMismatchError(
            f"revocation batch {batch.id} builds on root {batch.previous_root}, but the "
            f"index's commitments before it hash to {revocations.root.hex()}"
        )
    digests = conn.execute(
        select(revocation_t.c.digest)
        .where(revocation_t.c.batch_id == batch.id)
        .order_by(revocation_t.c.id)
    ).scalars()
    record = RevocationRecord(int(batch.reason), int(batch.declared_at))
    revocations.insert_many([bytes.fromhex(d) for d in digests], record)
    _check(revocations, batch, None)


def _check(revocations: RevocationSet, batch: Any, issuer_id: str | None) -> None:
    if revocations.root.hex() != batch.new_root or revocations.size != batch.new_size:
        whose = f" of issuer {issuer_id}" if issuer_id else ""
        raise RevocationSetMismatchError(
            f"the revocations{whose} committed up to batch {batch.id} hash to root "
            f"{revocations.root.hex()} with {revocations.size} entries; the batch committed "
            f"{batch.new_root} with {batch.new_size}: the index was changed (run mcledger audit)"
        )


committed_sets = PerEngine(CommittedSets)
"""The process's one `CommittedSets` for an engine (the flush and the API share it)."""
