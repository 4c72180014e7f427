"""The anchoring state machine: sealed → submitted → confirmed, persisted at every step.

Each transition commits its new state before the next side effect, so a crash
or an RPC failure anywhere resumes from the index alone:

- a transaction is signed and stored (raw bytes, hash, nonce) *before* it is
  broadcast; on resume an unknown transaction is broadcast again, byte for byte;
- a root the contract already holds for this issuer is adopted from the chain's
  `RootAnchored` event instead of being sent again (the contract refuses a
  second anchor of a root, so a root is never anchored twice);
- a transaction pending too long is replaced with the same nonce and a higher
  fee, up to the fee cap; every attempt stays watched until one is mined;
- a receipt whose block left the canonical chain sends the batch back to
  `sealed`, so the root is anchored again on the new chain.

Only the holder of the `anchoring` lease drives batches, so several node
processes on one database never anchor at the same time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from eth_account.signers.local import LocalAccount
from sqlalchemy import Engine, Row, insert, select, update
from web3.exceptions import TransactionNotFound, Web3RPCError

from anchoring.chain import Receipt, ReorgedError, SentTransaction
from anchoring.errors import ChainError, ContractRevertError
from anchoring.ledger import LedgerContract
from node.batches import seal_batch
from node.errors import NodeError
from node.lease import ANCHORING_LEASE, holder_id, try_acquire
from node.lease import release as release_lease
from node.models import AttemptState, BatchState, anchor_attempt_t, batch_t, submission_t, utcnow
from node.oplog import record_operation

log = logging.getLogger("mcledger.anchorer")

Fault = Callable[[str], None]
"""Called at named points of the state machine; tests use it to kill the process there."""

LOG_SCAN_CHUNK = 5_000  # blocks per eth_getLogs request: small enough for hosted RPCs
_LIVE = (AttemptState.PENDING, AttemptState.MINED, AttemptState.REPLACED)


class AnchorConflictError(NodeError):
    """The batch's root is anchored on chain by a different issuer."""


@dataclass(frozen=True)
class AnchoringPolicy:
    confirmations: int = 1
    wait_timeout: float = 120.0  # how long one run drives a batch before leaving it for the next
    replace_after: float = 60.0  # seconds pending before a higher-fee replacement
    fee_bump: float = 1.125  # replacement fee factor (nodes require at least +10 %)
    max_fee_cap: int = 500 * 10**9
    poll_interval: float = 0.2
    lease_ttl: float = 120.0
    max_batch_size: int | None = None


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


def _no_fault(_point: str) -> None:
    return None


def _record_attempt(conn: Any, batch_id: int, signed: SentTransaction, head_block: int) -> None:
    """Store a signed anchor transaction (before it is broadcast)."""
    conn.execute(
        insert(anchor_attempt_t).values(
            batch_id=batch_id,
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


class Anchorer:
    """Drives the batches of the issuers whose chain keys it holds."""

    def __init__(
        self,
        engine: Engine,
        ledger: LedgerContract,
        account_for: Callable[[str], LocalAccount],
        policy: AnchoringPolicy | None = None,
        *,
        fault: Fault | None = None,
        holder: str | None = None,
    ) -> None:
        self.engine = engine
        self.ledger = ledger
        self.client = ledger.client
        self.account_for = account_for
        self.policy = policy or AnchoringPolicy()
        self.fault = fault or _no_fault
        self.holder = holder or holder_id()

    # -- entry points ----------------------------------------------------------------------
    def anchor_pending(
        self, issuer_id: str, *, wait: bool = True, seal: bool = True, timeout: float | None = None
    ) -> list[BatchReport]:
        """Finish the issuer's unfinished batches, seal what is pending (unless not
        ``seal``), and anchor it.

        With ``wait`` each batch is driven until confirmed or ``wait_timeout``; without,
        until its transaction is sent. Returns reports of the batches touched. Raises
        NodeError when another process holds the anchoring lease.
        """
        if not try_acquire(self.engine, ANCHORING_LEASE, self.holder, self.policy.lease_ttl):
            raise NodeError("another node process is anchoring now; try again shortly")
        try:
            touched = self._unfinished(issuer_id)
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
            release_lease(self.engine, ANCHORING_LEASE, self.holder)

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

    def drive(self, batch_id: int, *, wait: bool = True, timeout: float | None = None) -> str:
        """Advance one batch until confirmed (or sent, without ``wait``) or the time is up
        (``timeout``, default the policy's ``wait_timeout``)."""
        deadline = time.monotonic() + (self.policy.wait_timeout if timeout is None else timeout)
        delay = self.policy.poll_interval
        while True:
            batch = self._batch(batch_id)
            if batch.state == BatchState.CONFIRMED:
                return str(batch.state)
            if batch.state == BatchState.SUBMITTED and not wait:
                return str(batch.state)
            try:
                if batch.state == BatchState.SEALED:
                    self.submit_anchor(batch)
                else:
                    self.check_anchor(batch)
                delay = self.policy.poll_interval
            except ContractRevertError as exc:
                self._note_error(batch_id, str(exc))
                raise NodeError(f"batch {batch_id}: {exc}") from exc
            except ChainError as exc:
                # RPC down or timing out: keep the state, back off, try again.
                self._note_error(batch_id, str(exc))
                log.warning("batch %s: chain error, retrying: %s", batch_id, exc)
                delay = min(delay * 2, 10.0)
            if time.monotonic() >= deadline:
                return str(self._batch(batch_id).state)
            time.sleep(delay)
            try_acquire(self.engine, ANCHORING_LEASE, self.holder, self.policy.lease_ttl)

    # -- transitions -----------------------------------------------------------------------
    def submit_anchor(self, batch: Row[Any]) -> None:
        """sealed → submitted: sign, store the signed transaction, then broadcast it."""
        account = self.account_for(batch.issuer_id)
        root = bytes.fromhex(batch.root)
        onchain = self.ledger.anchor_of(root)
        if onchain.exists:
            self._adopt_onchain_anchor(batch, account)
            return
        signed = self.client.sign(
            account,
            to=self.ledger.address,
            data=self.ledger.anchor_calldata(root, batch.tree_size),
            decoder=self.ledger.decoder,
        )
        head = self.client.block_number()
        with self.engine.begin() as conn:
            _record_attempt(conn, batch.id, signed, head)
            self._set_state(
                conn,
                batch.id,
                BatchState.SUBMITTED,
                "batch.submitted",
                {
                    "transactionHash": signed.transaction_hash,
                    "nonce": signed.nonce,
                },
            )
        self.fault("anchor.signed")
        self.client.send_raw(signed.raw)
        self.fault("anchor.sent")

    def check_anchor(self, batch: Row[Any]) -> None:
        """submitted → confirmed, or back to sealed; rebroadcast or replace when stuck."""
        attempts = self._attempts(batch.id, live_only=True)
        if not attempts:
            self._back_to_sealed(batch.id, "no live transaction")
            return
        for attempt in attempts:
            receipt = self.client.receipt(attempt.transaction_hash)
            if receipt is None:
                continue
            if not receipt.success:
                self._handle_failed_receipt(batch, attempt, receipt)
                return
            self._mark_attempt(attempt.id, AttemptState.MINED, receipt)
            try:
                seen = self.client.confirmations(receipt)
            except ReorgedError:
                # Its block left the chain: the same signed transaction goes out again below.
                self._mark_attempt(attempt.id, AttemptState.PENDING)
                log.warning("batch %s: %s was reorganised away", batch.id, attempt.transaction_hash)
                continue
            self.fault("anchor.mined")
            if seen >= self.policy.confirmations:
                self.confirm_anchor(batch, receipt, seen)
            return
        self._unstick(batch, self._attempts(batch.id, live_only=True))

    def confirm_anchor(self, batch: Row[Any], receipt: Receipt, seen: int) -> None:
        """submitted → confirmed: the contract holds the root for this issuer and size."""
        account = self.account_for(batch.issuer_id)
        onchain = self.ledger.anchor_of(bytes.fromhex(batch.root), block=receipt.block_number)
        if onchain.issuer != account.address or onchain.tree_size != batch.tree_size:
            raise AnchorConflictError(
                f"batch {batch.id}: the chain holds root {batch.root} for {onchain.issuer} "
                f"with size {onchain.tree_size}, not for {account.address} with {batch.tree_size}"
            )
        block = self.client.block(receipt.block_number)
        with self.engine.begin() as conn:
            conn.execute(
                update(batch_t)
                .where(batch_t.c.id == batch.id)
                .values(
                    chain_id=self.client.chain_id,
                    contract=self.ledger.address,
                    transaction_hash=receipt.transaction_hash,
                    block_number=receipt.block_number,
                    block_hash=receipt.block_hash,
                    block_time=datetime.fromtimestamp(int(block["timestamp"]), UTC),
                    confirmations=seen,
                    confirmed_at=utcnow(),
                    last_error=None,
                )
            )
            self._set_state(
                conn,
                batch.id,
                BatchState.CONFIRMED,
                "batch.confirmed",
                {
                    "transactionHash": receipt.transaction_hash,
                    "blockNumber": receipt.block_number,
                },
            )
        self.fault("anchor.confirmed")

    # -- helpers for the transitions -------------------------------------------------------
    def _handle_failed_receipt(self, batch: Row[Any], attempt: Row[Any], receipt: Receipt) -> None:
        error = self.client.revert_reason(
            attempt.sender,
            self.ledger.address,
            self.ledger.anchor_calldata(bytes.fromhex(batch.root), batch.tree_size),
            receipt.block_number,
            self.ledger.decoder,
        )
        self._mark_attempt(attempt.id, AttemptState.FAILED, receipt)
        if error.error_name == "RootAlreadyAnchored":
            # Another attempt of ours got there first (e.g. before a crash): adopt it.
            self._adopt_onchain_anchor(batch, self.account_for(batch.issuer_id))
            return
        self._back_to_sealed(batch.id, str(error))
        raise error

    def _unstick(self, batch: Row[Any], attempts: list[Row[Any]]) -> None:
        """No receipt yet: rebroadcast what the chain does not know, replace what waits long."""
        if not attempts:
            self._back_to_sealed(batch.id, "no live transaction")
            return
        newest = max(attempts, key=lambda a: a.id)
        if self._nonce_used(newest):
            # The nonce is spent but none of our attempts has a receipt: find out on chain.
            onchain = self.ledger.anchor_of(bytes.fromhex(batch.root))
            if onchain.exists:
                self._adopt_onchain_anchor(batch, self.account_for(batch.issuer_id))
            else:
                self._back_to_sealed(
                    batch.id, f"nonce {newest.nonce} was used by another transaction"
                )
            return
        if not self._known_to_chain(newest.transaction_hash) and newest.raw:
            self.client.send_raw(bytes(newest.raw))
            log.info("batch %s: rebroadcast %s", batch.id, newest.transaction_hash)
            return
        waited = (utcnow() - newest.sent_at.replace(tzinfo=UTC)).total_seconds()
        if waited >= self.policy.replace_after:
            self._replace(batch, newest)

    def _replace(self, batch: Row[Any], stuck: Row[Any]) -> None:
        cap = self.policy.max_fee_cap
        if stuck.max_fee_per_gas >= cap:
            return  # at the cap: keep waiting rather than overpay
        current_max, current_tip = self.client.current_fees()
        max_fee = min(max(int(stuck.max_fee_per_gas * self.policy.fee_bump) + 1, current_max), cap)
        tip = min(
            max(int(stuck.max_priority_fee_per_gas * self.policy.fee_bump) + 1, current_tip),
            max_fee,
        )
        signed = self.client.sign(
            self.account_for(batch.issuer_id),
            to=self.ledger.address,
            data=self.ledger.anchor_calldata(bytes.fromhex(batch.root), batch.tree_size),
            nonce=stuck.nonce,
            gas=stuck.gas,
            max_fee_per_gas=max_fee,
            max_priority_fee_per_gas=tip,
        )
        with self.engine.begin() as conn:
            conn.execute(
                update(anchor_attempt_t)
                .where(anchor_attempt_t.c.id == stuck.id)
                .values(state=AttemptState.REPLACED)
            )
            _record_attempt(conn, batch.id, signed, stuck.head_block)
            record_operation(
                conn,
                actor="anchorer",
                action="anchor.replaced",
                subject=f"batch:{batch.id}",
                details={
                    "old": stuck.transaction_hash,
                    "new": signed.transaction_hash,
                    "maxFeePerGas": max_fee,
                },
            )
        self.fault("anchor.replacement-signed")
        self.client.send_raw(signed.raw)

    def _adopt_onchain_anchor(self, batch: Row[Any], account: LocalAccount) -> None:
        """The root is already on chain: record the transaction that put it there."""
        root = bytes.fromhex(batch.root)
        onchain = self.ledger.anchor_of(root)
        if onchain.issuer != account.address:
            raise AnchorConflictError(
                f"batch {batch.id}: root {batch.root} is anchored by {onchain.issuer}, "
                f"not by this issuer ({account.address})"
            )
        event = self._find_anchor_event(root, batch.id)
        tx = self.client.w3.eth.get_transaction(event["transactionHash"])
        tx_hash = "0x" + bytes(event["transactionHash"]).hex()
        with self.engine.begin() as conn:
            known = conn.execute(
                select(anchor_attempt_t.c.id).where(anchor_attempt_t.c.transaction_hash == tx_hash)
            ).scalar_one_or_none()
            if known is None:
                conn.execute(
                    insert(anchor_attempt_t).values(
                        batch_id=batch.id,
                        transaction_hash=tx_hash,
                        sender=account.address,
                        nonce=int(tx["nonce"]),
                        max_fee_per_gas=int(tx.get("maxFeePerGas", 0)),
                        max_priority_fee_per_gas=int(tx.get("maxPriorityFeePerGas", 0)),
                        gas=int(tx["gas"]),
                        state=AttemptState.MINED,
                        raw=b"",
                        head_block=int(event["blockNumber"]),
                        sent_at=utcnow(),
                    )
                )
            else:
                conn.execute(
                    update(anchor_attempt_t)
                    .where(anchor_attempt_t.c.id == known)
                    .values(state=AttemptState.MINED)
                )
            self._set_state(
                conn,
                batch.id,
                BatchState.SUBMITTED,
                "anchor.adopted",
                {
                    "transactionHash": tx_hash,
                },
            )

    def _find_anchor_event(self, root: bytes, batch_id: int) -> Any:
        start = self._scan_start(batch_id)
        head = self.client.block_number()
        to_block = head
        while to_block >= start:  # newest first: the anchor is usually recent
            from_block = max(start, to_block - LOG_SCAN_CHUNK + 1)
            events = self.ledger.events("RootAnchored", from_block, to_block, root=root)
            if events:
                return events[-1]
            to_block = from_block - 1
        raise ChainError(f"root {root.hex()} is anchored but its RootAnchored event was not found")

    def _scan_start(self, batch_id: int) -> int:
        with self.engine.connect() as conn:
            first = conn.execute(
                select(anchor_attempt_t.c.head_block)
                .where(anchor_attempt_t.c.batch_id == batch_id)
                .order_by(anchor_attempt_t.c.head_block)
                .limit(1)
            ).scalar_one_or_none()
        return max(int(first) - 1, 0) if first is not None else 0

    def _known_to_chain(self, tx_hash: str) -> bool:
        try:
            self.client.w3.eth.get_transaction(tx_hash)  # type: ignore[arg-type]
        except TransactionNotFound:
            return False
        except (OSError, Web3RPCError) as exc:
            raise ChainError(f"eth_getTransactionByHash failed: {exc}") from exc
        return True

    def _nonce_used(self, attempt: Row[Any]) -> bool:
        """Whether a mined block already holds a transaction with this attempt's nonce."""
        try:
            mined = self.client.w3.eth.get_transaction_count(attempt.sender, "latest")
        except (OSError, Web3RPCError) as exc:
            raise ChainError(f"eth_getTransactionCount failed: {exc}") from exc
        return int(mined) > int(attempt.nonce)

    # -- persistence -----------------------------------------------------------------------
    def _batch(self, batch_id: int) -> Row[Any]:
        with self.engine.connect() as conn:
            return conn.execute(select(batch_t).where(batch_t.c.id == batch_id)).one()

    def _attempts(self, batch_id: int, *, live_only: bool) -> list[Row[Any]]:
        query = select(anchor_attempt_t).where(anchor_attempt_t.c.batch_id == batch_id)
        if live_only:
            query = query.where(anchor_attempt_t.c.state.in_([str(s) for s in _LIVE]))
        with self.engine.connect() as conn:
            return list(conn.execute(query.order_by(anchor_attempt_t.c.id)).all())

    def _unfinished(self, issuer_id: str) -> list[int]:
        with self.engine.connect() as conn:
            return list(
                conn.execute(
                    select(batch_t.c.id)
                    .where(
                        batch_t.c.issuer_id == issuer_id, batch_t.c.state != BatchState.CONFIRMED
                    )
                    .order_by(batch_t.c.id)
                ).scalars()
            )

    def _set_state(
        self, conn: Any, batch_id: int, state: BatchState, action: str, details: dict[str, Any]
    ) -> None:
        conn.execute(update(batch_t).where(batch_t.c.id == batch_id).values(state=state))
        record_operation(
            conn, actor="anchorer", action=action, subject=f"batch:{batch_id}", details=details
        )

    def _mark_attempt(
        self, attempt_id: int, state: AttemptState, receipt: Receipt | None = None
    ) -> None:
        values: dict[str, Any] = {"state": state}
        if receipt is not None:
            values |= {"block_number": receipt.block_number, "block_hash": receipt.block_hash}
        with self.engine.begin() as conn:
            conn.execute(
                update(anchor_attempt_t).where(anchor_attempt_t.c.id == attempt_id).values(**values)
            )

    def _back_to_sealed(self, batch_id: int, why: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(anchor_attempt_t)
                .where(
                    anchor_attempt_t.c.batch_id == batch_id,
                    anchor_attempt_t.c.state.in_([str(s) for s in _LIVE]),
                )
                .values(state=AttemptState.REORGED)
            )
            conn.execute(
                update(batch_t).where(batch_t.c.id == batch_id).values(last_error=why[:2000])
            )
            self._set_state(conn, batch_id, BatchState.SEALED, "batch.resealed", {"why": why})
        log.warning("batch %s back to sealed: %s", batch_id, why)

    def _note_error(self, batch_id: int, message: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(batch_t).where(batch_t.c.id == batch_id).values(last_error=message[:2000])
            )

    def report(self, batch_id: int) -> BatchReport:
        batch = self._batch(batch_id)
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
