"""Anchoring: batches of digests, their roots sent to the batch's target: `anchor(root,
size)` on the MicroCredentialLedger, or `timestampHashes` through EBSI's Timestamp
interface (`node.pipeline.targets`).

The transaction lifecycle (sealed → submitted → confirmed, persisted at every
step, rebroadcast, replacement, reorgs) is `node.pipeline.txmachine`'s; this module says
what anchoring adds: a root the target already holds for this issuer is adopted from
the transaction whose event put it there instead of being sent again (either contract
refuses a root twice, so a root is never anchored twice); a root held for another address
is an AnchorConflictError; and a confirmed anchor must hold this issuer's root with this
batch's size (and, timestamped, its DID and hash algorithm).

A batch is sealed for the target the Anchorer is configured with, and keeps it: an
unfinished batch is finished on the contract its target names even after the settings
changed.

Only the holder of the chain lease drives batches, so several node processes on
one database never anchor at the same time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount
from sqlalchemy import Connection, Engine, Row, select, update

from mcledger.anchoring.bundle import LEDGER_TARGET
from mcledger.anchoring.chain import Receipt
from mcledger.anchoring.contract import ContractBinding
from mcledger.anchoring.errors import ContractRevertError
from mcledger.anchoring.ledger import LedgerContract
from mcledger.anchoring.timestamp import TimestampContract
from mcledger.node.errors import NodeError
from mcledger.node.index.lease import release as release_lease
from mcledger.node.index.models import (
    BatchState,
    anchor_attempt_t,
    batch_t,
    issuer_t,
)
from mcledger.node.pipeline.batches import seal_batch
from mcledger.node.pipeline.targets import (
    AnchorTarget,
    LedgerTarget,
    RootOnChain,
    TimestampTarget,
)
from mcledger.node.pipeline.txmachine import CHAIN_LEASE, AnchoringPolicy, Fault, TransactionMachine

__all__ = ["AnchorConflictError", "Anchorer", "AnchoringPolicy", "BatchReport", "Fault"]


class AnchorConflictError(NodeError):
    """The batch's root is on chain for a different address (or size, DID, algorithm)."""


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

    def __init__(
        self,
        engine: Engine,
        ledger: LedgerContract,
        account_for: Callable[[str], LocalAccount],
        policy: AnchoringPolicy | None = None,
        *,
        target: AnchorTarget | None = None,
        fault: Fault | None = None,
        holder: str | None = None,
    ) -> None:
        """``target``: where batches sealed from now on go (default: ``ledger``)."""
        super().__init__(engine, ledger, account_for, policy, fault=fault, holder=holder)
        self.ledger_target = LedgerTarget(ledger)
        self.target = target or self.ledger_target
        self._timestamp_targets: dict[tuple[str, int], TimestampTarget] = {}

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
                seal_batch(
                    self.engine,
                    issuer_id,
                    max_size=self.policy.max_batch_size,
                    target=self.target.batch_target(self.ledger.address, self._did(issuer_id)),
                )
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

    def issuers_with_work(self, *, pending: bool = True) -> list[str]:
        """The issuers with unfinished batches, and (with ``pending``) digests to seal."""
        with self.engine.connect() as conn:
            unfinished = conn.execute(
                select(batch_t.c.issuer_id)
                .where(batch_t.c.state != BatchState.CONFIRMED)
                .distinct()
            ).scalars()
            waiting: Iterable[str] = (
                conn.execute(
                    select(issuer_t.c.id).where(issuer_t.c.next_seq > issuer_t.c.sealed_seq)
                ).scalars()
                if pending
                else []
            )
            return sorted(set(waiting) | set(unfinished))

    # -- the batch's target ---------------------------------------------------------------
    def _did(self, issuer_id: str) -> str | None:
        with self.engine.connect() as conn:
            did = conn.execute(
                select(issuer_t.c.did).where(issuer_t.c.id == issuer_id)
            ).scalar_one_or_none()
        return did or None

    def target_of(self, job: Row[Any]) -> AnchorTarget:
        """The target the batch was sealed for: the ledger, or the Timestamp contract and
        hash algorithm its row names (the configured one, or one bound here for it)."""
        if job.target == LEDGER_TARGET:
            return self.ledger_target
        key = (str(job.contract).lower(), int(job.hash_algorithm_id))
        configured = self.target
        if isinstance(configured, TimestampTarget) and key == (
            configured.timestamps.address.lower(),
            configured.hash_algorithm_id,
        ):
            return configured
        if key not in self._timestamp_targets:
            from mcledger.contracts.toolchain import load_artifact

            abi = load_artifact("EbsiTimestamp")["abi"]
            contract = TimestampContract(self.client, job.contract, abi)
            self._timestamp_targets[key] = TimestampTarget(contract, key[1])
        return self._timestamp_targets[key]

    def contract_for(self, job: Row[Any]) -> ContractBinding:
        return self.target_of(job).contract

    # -- what anchoring adds to the state machine ------------------------------------------
    def calldata(self, job: Row[Any]) -> bytes:
        return self.target_of(job).calldata(bytes.fromhex(job.root), job.tree_size, job.issuer_did)

    def done_on_chain(self, job: Row[Any]) -> bool:
        return self.target_of(job).read(bytes.fromhex(job.root)).exists

    def _expected(self, job: Row[Any]) -> RootOnChain:
        address = self.account_for(job.issuer_id).address
        return self.target_of(job).expected(address, job.tree_size, job.issuer_did)

    def _conflict(self, job: Row[Any], onchain: RootOnChain) -> AnchorConflictError:
        where = self.target_of(job)
        message = (
            f"batch {job.id}: {where.name} {where.contract.address} holds root {job.root} "
            f"{onchain.describe()}, not {self._expected(job).describe()}"
        )
        self.store.note_error(job.id, message)
        return AnchorConflictError(message)

    def find_transaction(self, job: Row[Any]) -> str:
        root = bytes.fromhex(job.root)
        target = self.target_of(job)
        onchain = target.read(root)
        if not onchain.matches(self._expected(job)):
            raise self._conflict(job, onchain)
        query = target.event_query(root, onchain)
        event = self.find_event(
            job,
            query.event,
            f"root {job.root}",
            match=query.match,
            blocks=query.blocks,
            **query.filters,
        )
        return "0x" + bytes(event["transactionHash"]).hex()

    def adopt_after_revert(self, error: ContractRevertError) -> bool:
        # Either target's "already there": `find_transaction` then checks whose it is.
        return error.error_name in (LedgerTarget.already_there, TimestampTarget.already_there)

    def check_effect(self, job: Row[Any], receipt: Receipt) -> int | None:
        """The target holds the root for this issuer and size (and, timestamped, with this
        batch's DID and hash algorithm); returns the version of its ledger, to record."""
        onchain = self.target_of(job).read(bytes.fromhex(job.root), block=receipt.block_number)
        if not onchain.matches(self._expected(job)):
            raise self._conflict(job, onchain)
        return self._ledger_version_of(job)

    def record_effect(self, conn: Connection, job: Row[Any], effect: int | None) -> None:
        """The version of the batch's ledger, for its bundles' ``anchor.contractVersion``."""
        conn.execute(update(batch_t).where(batch_t.c.id == job.id).values(contract_version=effect))

    def _ledger_version_of(self, job: Row[Any]) -> int | None:
        """`version()` of the MicroCredentialLedger the root went to (or, timestamped, the one
        beside it); None when that is not this node's ledger (its version is not read) or
        there is none."""
        ledger = self.ledger.address if job.target == LEDGER_TARGET else job.ledger_contract
        if ledger is None or ledger.lower() != self.ledger.address.lower():
            return None
        return self.ledger_version

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
