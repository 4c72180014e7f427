"""Sending revocations to the chain: batched `revoke(digests, reason)` transactions.

A revocation is recorded in the index at once (and flips its status-list bit at
once); the flush carries it to the chain later, on its own schedule (default
every 10 minutes) or on demand (`mcledger anchor`). Sealing puts every waiting
revocation of an issuer into *revocation batches*, one per reason and at most
`revocations_per_transaction` digests each (≈25 k gas a digest, so 1,000 stay
under a 30 M block gas limit), in one database transaction; from there the
batches go through the same state machine as anchors (`node.pipeline.txmachine`):
signed and stored before broadcast, rebroadcast, replaced, adopted when the
chain already shows them, never sent twice on a crash.

When a batch is confirmed, each of its revocations gets the transaction and block
of the `CredentialRevoked` event that records it on the chain. The contract
keeps the first revocation of a digest and skips it later, so a digest revoked
on chain before (by an earlier transaction of the same issuer) keeps that
earlier transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import groupby
from typing import Any

from sqlalchemy import Connection, Engine, Row, bindparam, func, insert, select, update

from mcledger.anchoring.chain import Receipt
from mcledger.anchoring.errors import ChainError
from mcledger.node.errors import NodeError
from mcledger.node.index.lease import release as release_lease
from mcledger.node.index.models import (
    BatchState,
    revocation_attempt_t,
    revocation_batch_t,
    revocation_t,
    utcnow,
)
from mcledger.node.index.oplog import record_operation
from mcledger.node.pipeline.txmachine import CHAIN_LEASE, TransactionMachine

_LOG_CHUNK = 5_000
_IN_CHUNK = 500  # ids in one IN list: under SQLite's and psycopg's parameter limits


@dataclass(frozen=True)
class RevocationBatchReport:
    batch_id: int
    issuer_id: str
    reason: int
    size: int
    state: str
    transaction_hash: str | None
    block_number: int | None
    last_error: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "revocationBatchId": self.batch_id,
            "issuer": self.issuer_id,
            "reason": self.reason,
            "size": self.size,
            "state": self.state,
            "transactionHash": self.transaction_hash,
            "blockNumber": self.block_number,
            "lastError": self.last_error,
        }


def pending_revocations(engine: Engine, issuer_id: str | None = None) -> int:
    """How many revocations wait for the next flush."""
    query = select(func.count()).select_from(revocation_t).where(revocation_t.c.batch_id.is_(None))
    if issuer_id is not None:
        query = query.where(revocation_t.c.issuer_id == issuer_id)
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def seal_revocations(engine: Engine, issuer_id: str, per_transaction: int) -> list[int]:
    """Put the issuer's waiting revocations into revocation batches (one per reason, at
    most ``per_transaction`` digests each), all in one database transaction. Returns
    the new batches' ids, oldest revocations first."""
    if per_transaction < 1:
        raise ValueError("per_transaction must be at least 1")
    created: list[int] = []
    with engine.begin() as conn:
        rows = conn.execute(
            select(revocation_t.c.id, revocation_t.c.reason)
            .where(revocation_t.c.issuer_id == issuer_id, revocation_t.c.batch_id.is_(None))
            .order_by(revocation_t.c.reason, revocation_t.c.id)
        ).all()
        for reason, group in groupby(rows, key=lambda r: int(r.reason)):
            ids = [r.id for r in group]
            for start in range(0, len(ids), per_transaction):
                chunk = ids[start : start + per_transaction]
                batch_id = conn.execute(
                    insert(revocation_batch_t)
                    .values(
                        issuer_id=issuer_id,
                        reason=reason,
                        state=BatchState.SEALED,
                        size=len(chunk),
                        sealed_at=utcnow(),
                    )
                    .returning(revocation_batch_t.c.id)
                ).scalar_one()
                for part in range(0, len(chunk), _IN_CHUNK):
                    ids_part = chunk[part : part + _IN_CHUNK]
                    claimed = conn.execute(
                        update(revocation_t)
                        .where(revocation_t.c.id.in_(ids_part), revocation_t.c.batch_id.is_(None))
                        .values(batch_id=batch_id)
                    ).rowcount
                    if claimed != len(ids_part):  # another sealer got there: undo it all
                        raise NodeError(
                            f"revocations of {issuer_id} were sealed by another process meanwhile"
                        )
                record_operation(
                    conn,
                    actor="anchorer",
                    action="revocation-batch.sealed",
                    subject=f"revocation-batch:{batch_id}",
                    details={"issuer": issuer_id, "reason": reason, "size": len(chunk)},
                )
                created.append(batch_id)
    return created


class RevocationFlusher(TransactionMachine):
    """Sends the revocations of the issuers whose chain keys it holds."""

    jobs = revocation_batch_t
    attempts = revocation_attempt_t
    kind = "revocation"
    job_name = "revocation-batch"

    # -- entry points ----------------------------------------------------------------------
    def flush_pending(
        self, issuer_id: str, *, wait: bool = True, seal: bool = True, timeout: float | None = None
    ) -> list[RevocationBatchReport]:
        """Finish the issuer's unfinished revocation batches, seal the waiting revocations
        (unless not ``seal``) and send them: every transaction first, then (with ``wait``)
        their confirmations. Raises NodeError when another process holds the chain lease."""
        self._take_lease()
        try:
            touched = self.unfinished(issuer_id)
            if seal:
                sealed = seal_revocations(
                    self.engine, issuer_id, self.policy.revocations_per_transaction
                )
                if sealed:
                    self.fault("revocations.sealed")
                touched += sealed
            for batch_id in touched:  # the transactions go out together and share blocks
                self.drive(batch_id, wait=False, timeout=timeout)
            if wait:
                for batch_id in touched:
                    self.drive(batch_id, wait=True, timeout=timeout)
            return [self.report(batch_id) for batch_id in touched]
        finally:
            release_lease(self.engine, CHAIN_LEASE, self.holder)

    def issuers_with_work(self) -> list[str]:
        with self.engine.connect() as conn:
            waiting = conn.execute(
                select(revocation_t.c.issuer_id).where(revocation_t.c.batch_id.is_(None)).distinct()
            ).scalars()
            unfinished = conn.execute(
                select(revocation_batch_t.c.issuer_id)
                .where(revocation_batch_t.c.state != BatchState.CONFIRMED)
                .distinct()
            ).scalars()
            return sorted(set(waiting) | set(unfinished))

    # -- what revoking adds to the state machine -------------------------------------------
    def digests(self, job: Row[Any]) -> list[str]:
        """The batch's digests, oldest revocation first; raises if the index no longer holds
        as many as were sealed (then nothing is sent or adopted for it)."""
        with self.engine.connect() as conn:
            digests = list(
                conn.execute(
                    select(revocation_t.c.digest)
                    .where(revocation_t.c.batch_id == job.id)
                    .order_by(revocation_t.c.id)
                ).scalars()
            )
        if len(digests) != job.size or not digests:
            raise NodeError(
                f"revocation batch {job.id} was sealed with {job.size} digests; the index "
                f"holds {len(digests)} for it"
            )
        return digests

    def calldata(self, job: Row[Any]) -> bytes:
        return self.ledger.revoke_calldata(
            [bytes.fromhex(d) for d in self.digests(job)], job.reason
        )

    def _address(self, job: Row[Any]) -> str:
        return str(self.account_for(job.issuer_id).address)

    def done_on_chain(self, job: Row[Any]) -> bool:
        """Every digest revoked on chain by this issuer (usually the first is not)."""
        address = self._address(job)
        return all(
            self.ledger.revoked_at(address, bytes.fromhex(d)) != 0 for d in self.digests(job)
        )

    def find_transaction(self, job: Row[Any]) -> str:
        """The newest transaction of this issuer that revoked any of the batch's digests
        (a digest revoked on chain before keeps an older one: the newest is the batch's)."""
        wanted = set(self.digests(job))
        address = self._address(job)
        start = self._scan_start(job.id)
        to_block = self.client.block_number()
        while to_block >= start:
            from_block = max(start, to_block - _LOG_CHUNK + 1)
            events = self.ledger.events("CredentialRevoked", from_block, to_block, issuer=address)
            for event in reversed(events):
                if bytes(event["args"]["digest"]).hex() in wanted:
                    return "0x" + bytes(event["transactionHash"]).hex()
            to_block = from_block - 1
        raise ChainError(
            f"revocation batch {job.id} is on chain but no CredentialRevoked event of it was found"
        )

    def check_effect(self, job: Row[Any], receipt: Receipt) -> dict[str, tuple[str, int]]:
        """Every digest has its `CredentialRevoked` event: in this receipt, or (for a
        digest another transaction revoked) in that one. Returns digest -> (transaction, block)."""
        address = self._address(job)
        placed: dict[str, tuple[str, int]] = {}
        for event in self.ledger.events(
            "CredentialRevoked", receipt.block_number, receipt.block_number, issuer=address
        ):
            if "0x" + bytes(event["transactionHash"]).hex() == receipt.transaction_hash:
                placed[bytes(event["args"]["digest"]).hex()] = (
                    receipt.transaction_hash,
                    receipt.block_number,
                )
        for digest in self.digests(job):
            if digest not in placed:
                placed[digest] = self._other_event(job, address, digest)
        return placed

    def _other_event(self, job: Row[Any], address: str, digest: str) -> tuple[str, int]:
        """The event of a digest that another transaction revoked (before this batch's, or
        after an adopted older one), newest first from the head."""
        if self.ledger.revoked_at(address, bytes.fromhex(digest)) == 0:
            raise ChainError(f"revocation batch {job.id}: {digest} is not revoked on chain")
        to_block = self.client.block_number()
        while to_block >= 0:
            from_block = max(0, to_block - _LOG_CHUNK + 1)
            found = self.ledger.events(
                "CredentialRevoked",
                from_block,
                to_block,
                issuer=address,
                digest=bytes.fromhex(digest),
            )
            if found:
                return "0x" + bytes(found[0]["transactionHash"]).hex(), int(found[0]["blockNumber"])
            to_block = from_block - 1
        raise ChainError(
            f"{digest} is revoked on chain but its CredentialRevoked event was not found"
        )

    def record_effect(
        self, conn: Connection, job: Row[Any], placed: dict[str, tuple[str, int]]
    ) -> None:
        """Each revocation gets the transaction and block of its own event."""
        conn.execute(
            update(revocation_t)
            .where(revocation_t.c.batch_id == job.id, revocation_t.c.digest == bindparam("d"))
            .values(transaction_hash=bindparam("tx"), block_number=bindparam("block")),
            [{"d": d, "tx": tx, "block": block} for d, (tx, block) in placed.items()],
        )

    def report(self, batch_id: int) -> RevocationBatchReport:
        job = self._job(batch_id)
        return RevocationBatchReport(
            batch_id=job.id,
            issuer_id=job.issuer_id,
            reason=job.reason,
            size=job.size,
            state=job.state,
            transaction_hash=job.transaction_hash,
            block_number=job.block_number,
            last_error=job.last_error,
        )


def flush_all(
    flusher: RevocationFlusher, *, wait: bool = True, seal: bool = True
) -> Sequence[RevocationBatchReport]:
    """`flush_pending` for every issuer with waiting or unfinished revocations."""
    reports: list[RevocationBatchReport] = []
    for issuer_id in flusher.issuers_with_work():
        reports += flusher.flush_pending(issuer_id, wait=wait, seal=seal)
    return reports
