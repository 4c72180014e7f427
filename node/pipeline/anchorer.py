"""Anchoring: batches of digests, their roots sent with `anchor(root, size)`.

The transaction lifecycle (sealed → submitted → confirmed, persisted at every
step, rebroadcast, replacement, reorgs) is `node.pipeline.txmachine`'s; this module says
what anchoring adds: a root the contract already holds for this issuer is
adopted from the chain's `RootAnchored` event instead of being sent again (the
contract refuses a second anchor of a root, so a root is never anchored twice),
and a confirmed anchor must hold this issuer's root with this batch's size.

Only the holder of the chain lease drives batches, so several node processes on
one database never anchor at the same time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, select

from mcledger.anchoring.chain import Receipt
from mcledger.anchoring.errors import ContractRevertError
from mcledger.node.errors import NodeError
from mcledger.node.index.lease import release as release_lease
from mcledger.node.index.models import BatchState, anchor_attempt_t, batch_t, submission_t
from mcledger.node.pipeline.batches import seal_batch
from mcledger.node.pipeline.txmachine import CHAIN_LEASE, AnchoringPolicy, Fault, TransactionMachine

__all__ = ["AnchorConflictError", "Anchorer", "AnchoringPolicy", "BatchReport", "Fault"]


class AnchorConflictError(NodeError):
    """The batch's root is anchored on chain by a different issuer."""


@dataclass(frozen=True)
class BatchReport:
    batch_id: int
    issuer_id: str
    state: str
    tree_size: int
    root: str
    transaction_hash: str | None
    block_number: int | None
    last_error: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "batchId": self.batch_id,
            "issuer": self.issuer_id,
            "state": self.state,
            "treeSize": self.tree_size,
            "root": self.root,
            "transactionHash": self.transaction_hash,
            "blockNumber": self.block_number,
            "lastError": self.last_error,
        }


class Anchorer(TransactionMachine):
    """Drives the batches of the issuers whose chain keys it holds."""

    jobs = batch_t
    attempts = anchor_attempt_t
    kind = "anchor"
    job_name = "batch"

    # -- entry points ----------------------------------------------------------------------
    def anchor_pending(
        self, issuer_id: str, *, wait: bool = True, seal: bool = True, timeout: float | None = None
    ) -> list[BatchReport]:
        """Finish the issuer's unfinished batches, seal what is pending (unless not
        ``seal``), and anchor it.

        With ``wait`` each batch is driven until confirmed or ``wait_timeout``; without,
        until its transaction is sent. Returns reports of the batches touched. Raises
        NodeError when another process holds the chain lease.
        """
        self._take_lease()
        try:
            touched = self.unfinished(issuer_id)
            sealed = (
                seal_batch(self.engine, issuer_id, max_size=self.policy.max_batch_size)
                if seal
                else None
            )
            if sealed is not None:
                self.fault("batch.sealed")
                touched.append(sealed.id)
            for batch_id in touched:
                self.drive(batch_id, wait=wait, timeout=timeout)
            return [self.report(batch_id) for batch_id in touched]
        finally:
            release_lease(self.engine, CHAIN_LEASE, self.holder)

    def issuers_with_work(self) -> list[str]:
        with self.engine.connect() as conn:
            pending = conn.execute(
                select(submission_t.c.issuer_id).where(submission_t.c.batch_id.is_(None)).distinct()
            ).scalars()
            unfinished = conn.execute(
                select(batch_t.c.issuer_id)
                .where(batch_t.c.state != BatchState.CONFIRMED)
                .distinct()
            ).scalars()
            return sorted(set(pending) | set(unfinished))

    # -- what anchoring adds to the state machine ------------------------------------------
    def calldata(self, job: Row[Any]) -> bytes:
        return self.ledger.anchor_calldata(bytes.fromhex(job.root), job.tree_size)

    def done_on_chain(self, job: Row[Any]) -> bool:
        return self.ledger.anchor_of(bytes.fromhex(job.root)).exists

    def find_transaction(self, job: Row[Any]) -> str:
        root = bytes.fromhex(job.root)
        onchain = self.ledger.anchor_of(root)
        account = self.account_for(job.issuer_id)
        if onchain.issuer != account.address:
            raise AnchorConflictError(
                f"batch {job.id}: root {job.root} is anchored by {onchain.issuer}, "
                f"not by this issuer ({account.address})"
            )
        event = self.find_event("RootAnchored", job.id, f"root {job.root}", root=root)
        return "0x" + bytes(event["transactionHash"]).hex()

    def adopt_after_revert(self, error: ContractRevertError) -> bool:
        return error.error_name == "RootAlreadyAnchored"

    def check_effect(self, job: Row[Any], receipt: Receipt) -> None:
        """The contract holds the root for this issuer and size."""
        account = self.account_for(job.issuer_id)
        onchain = self.ledger.anchor_of(bytes.fromhex(job.root), block=receipt.block_number)
        if onchain.issuer != account.address or onchain.tree_size != job.tree_size:
            raise AnchorConflictError(
                f"batch {job.id}: the chain holds root {job.root} for {onchain.issuer} "
                f"with size {onchain.tree_size}, not for {account.address} with {job.tree_size}"
            )

    def report(self, batch_id: int) -> BatchReport:
        batch = self._job(batch_id)
        return BatchReport(
            batch_id=batch.id,
            issuer_id=batch.issuer_id,
            state=batch.state,
            tree_size=batch.tree_size,
            root=batch.root,
            transaction_hash=batch.transaction_hash,
            block_number=batch.block_number,
            last_error=batch.last_error,
        )
