"""One crash-safe state machine for every transaction the node sends: sealed → submitted →
confirmed, persisted at every step.

A *job* is a row that one contract call settles: an anchoring batch (`anchor(root,
size)` on the ledger, or `timestampHashes` on a Timestamp contract: `contract_for` names
the job's contract) or a revocation batch (`revoke(digests, reason)`). Each transition commits
its new state before the next side effect, so a crash or an RPC failure anywhere
resumes from the index alone:

- a transaction is signed and stored (raw bytes, hash, nonce) *before* it is
  broadcast; on resume an unknown transaction is broadcast again, byte for byte;
- a job whose effect the chain already shows (the root anchored, the digests
  revoked) adopts the transaction that did it instead of sending another;
- a transaction pending too long is replaced with the same nonce and a higher
  fee (EIP-1559 fees or a legacy gasPrice), up to the fee cap; at a fixed price
  (0 on a gas-free network) it is broadcast again instead; every attempt stays
  watched until one is mined;
- a receipt whose block left the canonical chain sends the same signed
  transaction again; a nonce spent by some other transaction sends the job back
  to `sealed`, to be signed anew.

Only the holder of the chain lease sends, so several node processes on one
database never sign with the same nonce. Subclasses say what a job's call is,
how to see its effect on chain and what to record when it is confirmed.

This module holds the decisions (`TransactionMachine`: send, rebroadcast,
replace with a higher fee, reorgs, adoption, the lease) and `AnchoringPolicy`;
the SQL that persists jobs and attempts is `node.pipeline.txstore`'s.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, ClassVar

from eth_account.signers.local import LocalAccount
from sqlalchemy import Connection, Engine, Row, Table
from web3.exceptions import TransactionNotFound, Web3RPCError

from mcledger.anchoring.chain import Receipt, ReorgedError
from mcledger.anchoring.contract import ContractBinding
from mcledger.anchoring.errors import ChainError, ContractRevertError
from mcledger.anchoring.ledger import LedgerContract
from mcledger.node.errors import NodeError
from mcledger.node.index.lease import ANCHORING_LEASE, LeaseHeldError, holder_id, try_acquire
from mcledger.node.index.models import AttemptState, BatchState, utcnow
from mcledger.node.metrics import count_rpc_errors, record_transaction
from mcledger.node.pipeline.txstore import TxStore

log = logging.getLogger("mcledger.txmachine")

Fault = Callable[[str], None]
"""Called at named points of the state machine; tests use it to kill the process there."""

CHAIN_LEASE = ANCHORING_LEASE  # one lease for every transaction the node's issuers sign
LOG_SCAN_CHUNK = 5_000  # blocks per eth_getLogs request: small enough for hosted RPCs


@dataclass(frozen=True)
class AnchoringPolicy:
    confirmations: int = 1
    wait_timeout: float = 120.0  # how long one run drives a job before leaving it for the next
    replace_after: float = 60.0  # seconds pending before a higher-fee replacement
    fee_bump: float = 1.125  # replacement fee factor (nodes require at least +10 %)
    max_fee_cap: int = 500 * 10**9
    poll_interval: float = 0.2
    lease_ttl: float = 120.0
    max_batch_size: int | None = None
    revocations_per_transaction: int = 1_000  # ~25 M gas: under a 30 M block gas limit
    commitments_per_transaction: int = 10_000  # ~12.8 M gas: under EIP-7825's 2^24 a call


def _no_fault(_point: str) -> None:
    return None


class TransactionMachine:
    """Drives jobs of one table through their transactions (see the module docstring)."""

    jobs: ClassVar[Table]  # batch_t, revocation_batch_t: id, issuer_id, state, last_error, …
    attempts: ClassVar[Table]  # one row per signed transaction, ``batch_id`` -> jobs.id
    kind: ClassVar[str]  # "anchor", "revocation": fault points and operation names
    job_name: ClassVar[str]  # "batch", "revocation-batch": operation subjects

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
        self._rebroadcast_at: dict[int, float] = {}  # attempt id -> when last sent again
        count_rpc_errors(self.client.w3)  # the node's RPC errors, in /metrics

    @cached_property
    def store(self) -> TxStore:
        """The SQL reads and writes of this machine's jobs and attempts."""
        return TxStore(self.engine, self.jobs, self.attempts, self.kind, self.job_name)

    @cached_property
    def ledger_version(self) -> int:
        """What the ledger's `version()` returns (1 for the first version), read once: a
        contract's code, and so its version, never changes."""
        return self.ledger.version()

    # -- what a subclass says about its jobs -------------------------------------------------
    def contract_for(self, job: Row[Any]) -> ContractBinding:
        """The contract the job's transactions go to (and whose events and errors tell what
        they did): the ledger unless a subclass says otherwise."""
        return self.ledger

    def calldata(self, job: Row[Any]) -> bytes:
        raise NotImplementedError

    def done_on_chain(self, job: Row[Any]) -> bool:
        """Whether the chain already shows the job's effect."""
        raise NotImplementedError

    def find_transaction(self, job: Row[Any]) -> str:
        """The hash of the transaction that had the job's effect (when `done_on_chain`)."""
        raise NotImplementedError

    def check_effect(self, job: Row[Any], receipt: Receipt) -> Any:
        """Before confirming: raise if the chain holds something else than the job asked;
        what it returns is handed to `record_effect`."""
        return None

    def record_effect(self, conn: Connection, job: Row[Any], effect: Any) -> None:
        """Inside the confirming transaction: what else the index keeps of the effect."""

    def adopt_after_revert(self, error: ContractRevertError) -> bool:
        """Whether a reverted transaction means the effect is on chain already."""
        return False

    # -- running ---------------------------------------------------------------------------
    def _take_lease(self) -> None:
        if not try_acquire(self.engine, CHAIN_LEASE, self.holder, self.policy.lease_ttl):
            raise LeaseHeldError(
                "another node process is anchoring or revoking on the chain now; try again shortly"
            )

    def drive(self, job_id: int, *, wait: bool = True, timeout: float | None = None) -> str:
        """Advance one job until confirmed (or sent, without ``wait``) or the time is up
        (``timeout``, default the policy's ``wait_timeout``)."""
        deadline = time.monotonic() + (self.policy.wait_timeout if timeout is None else timeout)
        delay = self.policy.poll_interval
        while True:
            job = self._job(job_id)
            if job.state == BatchState.CONFIRMED:
                return str(job.state)
            if job.state == BatchState.SUBMITTED and not wait:
                return str(job.state)
            try:
                if job.state == BatchState.SEALED:
                    self.submit(job)
                else:
                    self.check(job)
                delay = self.policy.poll_interval
            except ContractRevertError as exc:
                self.store.note_error(job_id, str(exc))
                raise NodeError(f"{self.job_name} {job_id}: {exc}") from exc
            except ChainError as exc:
                # RPC down or timing out: keep the state, back off, try again.
                self.store.note_error(job_id, str(exc))
                log.warning("%s %s: chain error, retrying: %s", self.job_name, job_id, exc)
                delay = min(delay * 2, 10.0)
            if time.monotonic() >= deadline:
                return str(self._job(job_id).state)
            time.sleep(delay)
            if not try_acquire(self.engine, CHAIN_LEASE, self.holder, self.policy.lease_ttl):
                # Stalled past the lease: another process sends now; leave the job to it.
                raise NodeError(
                    f"{self.job_name} {job_id}: the chain lease passed to another process"
                )

    # -- transitions -----------------------------------------------------------------------
    def submit(self, job: Row[Any]) -> None:
        """sealed → submitted: sign, store the signed transaction, then broadcast it."""
        if self.done_on_chain(job):
            self._adopt(job)
            return
        contract = self.contract_for(job)
        signed = self.client.sign(
            self.account_for(job.issuer_id),
            to=contract.address,
            data=self.calldata(job),
            decoder=contract.decoder,
        )
        head = self.client.block_number()
        self.store.record_submission(job.id, signed, head)
        self.fault(f"{self.kind}.signed")
        self.client.send_raw(signed.raw)
        self.fault(f"{self.kind}.sent")

    def check(self, job: Row[Any]) -> None:
        """submitted → confirmed, or back to sealed; rebroadcast or replace when stuck."""
        attempts = self.store.attempts_of(job.id, live_only=True)
        if not attempts:
            self._back_to_sealed(job.id, "no live transaction")
            return
        for attempt in attempts:
            receipt = self.client.receipt(attempt.transaction_hash)
            if receipt is None:
                continue
            if not receipt.success:
                self._handle_failed_receipt(job, attempt, receipt)
                return
            self.store.mark_attempt(attempt.id, AttemptState.MINED, receipt)
            try:
                seen = self.client.confirmations(receipt)
            except ReorgedError:
                # Its block left the chain: the same signed transaction goes out again below.
                self.store.mark_attempt(attempt.id, AttemptState.PENDING)
                log.warning(
                    "%s %s: %s was reorganised away",
                    self.job_name,
                    job.id,
                    attempt.transaction_hash,
                )
                continue
            self.fault(f"{self.kind}.mined")
            if seen >= self.policy.confirmations:
                self.confirm(job, receipt, seen)
            return
        self._unstick(job, self.store.attempts_of(job.id, live_only=True))

    def confirm(self, job: Row[Any], receipt: Receipt, seen: int) -> None:
        """submitted → confirmed: the receipt has its confirmations and the chain holds
        what the job asked for."""
        effect = self.check_effect(job, receipt)
        block = self.client.block(receipt.block_number)
        with self.engine.begin() as conn:
            self.store.record_confirmation(
                conn,
                job.id,
                receipt,
                chain_id=self.client.chain_id,
                contract=self.contract_for(job).address,
                block_time=datetime.fromtimestamp(int(block["timestamp"]), UTC),
                seen=seen,
            )
            self.record_effect(conn, job, effect)
            self.store.set_state(
                conn,
                job.id,
                BatchState.CONFIRMED,
                f"{self.job_name}.confirmed",
                {"transactionHash": receipt.transaction_hash, "blockNumber": receipt.block_number},
            )
        record_transaction(self.kind, receipt.gas_used, receipt.effective_gas_price)
        self.fault(f"{self.kind}.confirmed")

    # -- helpers for the transitions -------------------------------------------------------
    def _handle_failed_receipt(self, job: Row[Any], attempt: Row[Any], receipt: Receipt) -> None:
        contract = self.contract_for(job)
        error = self.client.revert_reason(
            attempt.sender,
            contract.address,
            self.calldata(job),
            receipt.block_number,
            contract.decoder,
        )
        self.store.mark_attempt(attempt.id, AttemptState.FAILED, receipt)
        if self.adopt_after_revert(error):
            # Another attempt of ours got there first (e.g. before a crash): adopt it.
            self._adopt(job)
            return
        self._back_to_sealed(job.id, str(error))
        raise error

    def _unstick(self, job: Row[Any], attempts: list[Row[Any]]) -> None:
        """No receipt yet: rebroadcast what the chain does not know, replace what waits long."""
        if not attempts:
            self._back_to_sealed(job.id, "no live transaction")
            return
        newest = max(attempts, key=lambda a: a.id)
        if self._nonce_used(newest):
            # The nonce is spent but none of our attempts has a receipt: find out on chain.
            if self.done_on_chain(job):
                self._adopt(job)
            else:
                self._back_to_sealed(
                    job.id, f"nonce {newest.nonce} was used by another transaction"
                )
            return
        if not self._known_to_chain(newest.transaction_hash) and newest.raw:
            self.client.send_raw(bytes(newest.raw))
            log.info("%s %s: rebroadcast %s", self.job_name, job.id, newest.transaction_hash)
            return
        waited = (utcnow() - newest.sent_at.replace(tzinfo=UTC)).total_seconds()
        if waited >= self.policy.replace_after:
            self._replace(job, newest)

    def _replace(self, job: Row[Any], stuck: Row[Any]) -> None:
        cap = self.policy.max_fee_cap
        if stuck.max_fee_per_gas >= cap:
            return  # at the cap: keep waiting rather than overpay
        current_max, current_tip = self.client.current_fees()
        if self.client.fees.fixed_price or current_max == 0:
            # A fixed price (0 on a gas-free network): there is no dearer transaction to send.
            self._rebroadcast_now_and_then(job, stuck)
            return
        # A legacy transaction has its gasPrice in both fee fields: both rise alike.
        max_fee = min(max(int(stuck.max_fee_per_gas * self.policy.fee_bump) + 1, current_max), cap)
        tip = min(
            max(int(stuck.max_priority_fee_per_gas * self.policy.fee_bump) + 1, current_tip),
            max_fee,
        )
        signed = self.client.sign(
            self.account_for(job.issuer_id),
            to=self.contract_for(job).address,
            data=self.calldata(job),
            nonce=stuck.nonce,
            gas=stuck.gas,
            max_fee_per_gas=max_fee,
            max_priority_fee_per_gas=tip,
        )
        self.store.record_replacement(job.id, stuck, signed, max_fee)
        self.fault(f"{self.kind}.replacement-signed")
        self.client.send_raw(signed.raw)

    def _rebroadcast_now_and_then(self, job: Row[Any], stuck: Row[Any]) -> None:
        """Send a waiting transaction's bytes again, once per ``replace_after``: a node that
        dropped it takes it back; one that has it answers "already known"."""
        now = time.monotonic()
        if now - self._rebroadcast_at.get(stuck.id, -math.inf) < self.policy.replace_after:
            return
        self._rebroadcast_at[stuck.id] = now
        if stuck.raw:
            self.client.send_raw(bytes(stuck.raw))
            log.info("%s %s: rebroadcast %s", self.job_name, job.id, stuck.transaction_hash)

    def _adopt(self, job: Row[Any]) -> None:
        """The effect is on chain already: record the transaction that had it."""
        tx_hash = self.find_transaction(job)
        tx = self.client.w3.eth.get_transaction(tx_hash)  # type: ignore[arg-type]
        self.store.record_adoption(job.id, tx_hash, tx)

    def find_event(
        self,
        job: Row[Any],
        event: str,
        what: str,
        *,
        match: Callable[[Any], bool] | None = None,
        blocks: tuple[int, int] | None = None,
        **filters: Any,
    ) -> Any:
        """The newest ``event`` of the job's contract matching ``filters`` (and ``match``,
        for what the indexed filters cannot say), read newest first in chunks over
        ``blocks``: by default from the chain head back to just before the job's first
        attempt (or block 0)."""
        contract = self.contract_for(job)
        start, to_block = blocks or (self._scan_start(job.id), self.client.block_number())
        while to_block >= start:  # newest first: the transaction is usually recent
            from_block = max(start, to_block - LOG_SCAN_CHUNK + 1)
            events = contract.events(event, from_block, to_block, **filters)
            if match is not None:
                events = [e for e in events if match(e)]
            if events:
                return events[-1]
            to_block = from_block - 1
        raise ChainError(f"{what} is on chain but its {event} event was not found")

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

    # -- persistence: `TxStore`'s, under the names the subclasses use ----------------------
    def _job(self, job_id: int) -> Row[Any]:
        return self.store.job(job_id)

    def _scan_start(self, job_id: int) -> int:
        return self.store.scan_start(job_id)

    def unfinished(self, issuer_id: str | None = None) -> list[int]:
        """The jobs not yet confirmed (of one issuer, or all), oldest first."""
        return self.store.unfinished(issuer_id)

    def _back_to_sealed(self, job_id: int, why: str) -> None:
        self.store.back_to_sealed(job_id, why)
        log.warning("%s %s back to sealed: %s", self.job_name, job_id, why)
