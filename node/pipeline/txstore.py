"""The transaction machine's persistence: every read and write of its jobs and attempts.

`TxStore` holds the SQL of `node.pipeline.txmachine` (which decides the state
transitions): a job table (an anchoring or revocation batch: id, issuer_id,
state, last_error, …) and its attempt table (one row per signed transaction,
``batch_id`` -> jobs.id). It records a signed attempt before it is broadcast,
marks attempts and job states (each state change with its operation-log entry),
loads jobs and their live attempts, and records replacements, adoptions and
confirmations. It decides nothing: which transition happens is the machine's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, Row, Table, insert, select, update

from mcledger.anchoring.chain import Receipt, SentTransaction
from mcledger.node.index.models import AttemptState, BatchState, utcnow
from mcledger.node.index.oplog import record_operation

LIVE = (AttemptState.PENDING, AttemptState.MINED, AttemptState.REPLACED)
"""Attempt states still watched for a receipt."""


@dataclass(frozen=True)
class TxStore:
    """The jobs and attempts of one table pair, read and written on ``engine``."""

    engine: Engine
    jobs: Table  # batch_t, revocation_batch_t
    attempts: Table  # anchor_attempt_t, revocation_attempt_t
    kind: str  # "anchor", "revocation": operation names
    job_name: str  # "batch", "revocation-batch": operation subjects

    # -- reads -----------------------------------------------------------------------------
    def job(self, job_id: int) -> Row[Any]:
        with self.engine.connect() as conn:
            return conn.execute(select(self.jobs).where(self.jobs.c.id == job_id)).one()

    def attempts_of(self, job_id: int, *, live_only: bool) -> list[Row[Any]]:
        query = select(self.attempts).where(self.attempts.c.batch_id == job_id)
        if live_only:
            query = query.where(self.attempts.c.state.in_([str(s) for s in LIVE]))
        with self.engine.connect() as conn:
            return list(conn.execute(query.order_by(self.attempts.c.id)).all())

    def unfinished(self, issuer_id: str | None = None) -> list[int]:
        """The jobs not yet confirmed (of one issuer, or all), oldest first."""
        query = select(self.jobs.c.id).where(self.jobs.c.state != BatchState.CONFIRMED)
        if issuer_id is not None:
            query = query.where(self.jobs.c.issuer_id == issuer_id)
        with self.engine.connect() as conn:
            return list(conn.execute(query.order_by(self.jobs.c.id)).scalars())

    def scan_start(self, job_id: int) -> int:
        """The block just before the job's first attempt (or block 0)."""
        with self.engine.connect() as conn:
            first = conn.execute(
                select(self.attempts.c.head_block)
                .where(self.attempts.c.batch_id == job_id)
                .order_by(self.attempts.c.head_block)
                .limit(1)
            ).scalar_one_or_none()
        return max(int(first) - 1, 0) if first is not None else 0

    # -- writes inside a caller's transaction ----------------------------------------------
    def record_attempt(
        self, conn: Connection, job_id: int, signed: SentTransaction, head_block: int
    ) -> None:
        """Store a signed transaction (before it is broadcast)."""
        conn.execute(
            insert(self.attempts).values(
                batch_id=job_id,
                transaction_hash=signed.transaction_hash,
                sender=signed.sender,
                nonce=signed.nonce,
                max_fee_per_gas=signed.max_fee_per_gas,
                max_priority_fee_per_gas=signed.max_priority_fee_per_gas,
                gas=signed.gas,
                state=AttemptState.PENDING,
                raw=signed.raw,
                head_block=head_block,
                sent_at=utcnow(),
            )
        )

    def set_state(
        self, conn: Connection, job_id: int, state: BatchState, action: str, details: dict[str, Any]
    ) -> None:
        conn.execute(update(self.jobs).where(self.jobs.c.id == job_id).values(state=state))
        record_operation(
            conn,
            actor="anchorer",
            action=action,
            subject=f"{self.job_name}:{job_id}",
            details=details,
        )

    def record_confirmation(
        self,
        conn: Connection,
        job_id: int,
        receipt: Receipt,
        *,
        chain_id: int,
        contract: str,
        block_time: datetime,
        seen: int,
    ) -> None:
        """Where and when the job's transaction was mined (its state is set apart)."""
        conn.execute(
            update(self.jobs)
            .where(self.jobs.c.id == job_id)
            .values(
                chain_id=chain_id,
                contract=contract,
                transaction_hash=receipt.transaction_hash,
                block_number=receipt.block_number,
                block_hash=receipt.block_hash,
                block_time=block_time,
                confirmations=seen,
                confirmed_at=utcnow(),
                last_error=None,
            )
        )

    # -- writes in a transaction of their own ----------------------------------------------
    def record_submission(self, job_id: int, signed: SentTransaction, head_block: int) -> None:
        """sealed → submitted: the signed transaction and the new state, together."""
        with self.engine.begin() as conn:
            self.record_attempt(conn, job_id, signed, head_block)
            self.set_state(
                conn,
                job_id,
                BatchState.SUBMITTED,
                f"{self.job_name}.submitted",
                {"transactionHash": signed.transaction_hash, "nonce": signed.nonce},
            )

    def record_replacement(
        self, job_id: int, stuck: Row[Any], signed: SentTransaction, max_fee: int
    ) -> None:
        """The stuck attempt is replaced by ``signed`` (same nonce, higher fee)."""
        with self.engine.begin() as conn:
            conn.execute(
                update(self.attempts)
                .where(self.attempts.c.id == stuck.id)
                .values(state=AttemptState.REPLACED)
            )
            self.record_attempt(conn, job_id, signed, stuck.head_block)
            record_operation(
                conn,
                actor="anchorer",
                action=f"{self.kind}.replaced",
                subject=f"{self.job_name}:{job_id}",
                details={
                    "old": stuck.transaction_hash,
                    "new": signed.transaction_hash,
                    "maxFeePerGas": max_fee,
                },
            )

    def record_adoption(self, job_id: int, tx_hash: str, tx: Any) -> None:
        """The chain's transaction ``tx`` had the job's effect: keep it as a mined attempt
        (a new row unless it is one of ours) and mark the job submitted."""
        with self.engine.begin() as conn:
            known = conn.execute(
                select(self.attempts.c.id).where(self.attempts.c.transaction_hash == tx_hash)
            ).scalar_one_or_none()
            if known is None:
                conn.execute(
                    insert(self.attempts).values(
                        batch_id=job_id,
                        transaction_hash=tx_hash,
                        sender=str(tx["from"]),
                        nonce=int(tx["nonce"]),
                        # A legacy transaction's gasPrice stands in both fee columns.
                        max_fee_per_gas=int(tx.get("maxFeePerGas", tx.get("gasPrice", 0))),
                        max_priority_fee_per_gas=int(
                            tx.get("maxPriorityFeePerGas", tx.get("gasPrice", 0))
                        ),
                        gas=int(tx["gas"]),
                        state=AttemptState.MINED,
                        raw=b"",
                        head_block=int(tx["blockNumber"]),
                        sent_at=utcnow(),
                    )
                )
            else:
                conn.execute(
                    update(self.attempts)
                    .where(self.attempts.c.id == known)
                    .values(state=AttemptState.MINED)
                )
            self.set_state(
                conn,
                job_id,
                BatchState.SUBMITTED,
                f"{self.kind}.adopted",
                {"transactionHash": tx_hash},
            )

    def mark_attempt(
        self, attempt_id: int, state: AttemptState, receipt: Receipt | None = None
    ) -> None:
        values: dict[str, Any] = {"state": state}
        if receipt is not None:
            values |= {"block_number": receipt.block_number, "block_hash": receipt.block_hash}
        with self.engine.begin() as conn:
            conn.execute(
                update(self.attempts).where(self.attempts.c.id == attempt_id).values(**values)
            )

    def back_to_sealed(self, job_id: int, why: str) -> None:
        """Give up the job's live attempts and send it back to `sealed`, to be signed anew."""
        with self.engine.begin() as conn:
            conn.execute(
                update(self.attempts)
                .where(
                    self.attempts.c.batch_id == job_id,
                    self.attempts.c.state.in_([str(s) for s in LIVE]),
                )
                .values(state=AttemptState.REORGED)
            )
            conn.execute(
                update(self.jobs).where(self.jobs.c.id == job_id).values(last_error=why[:2000])
            )
            self.set_state(
                conn, job_id, BatchState.SEALED, f"{self.job_name}.resealed", {"why": why}
            )

    def note_error(self, job_id: int, message: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(self.jobs).where(self.jobs.c.id == job_id).values(last_error=message[:2000])
            )
