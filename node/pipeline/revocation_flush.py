"""Sending revocations to the chain, in batched transactions through the crash-safe state
machine.

A revocation is recorded in the index at once (and flips its status-list bit at
once); the flush carries it to the chain later, on its own schedule (default
every 10 minutes) or on demand (`mcledger anchor`). Sealing puts every waiting
revocation of an issuer into *revocation batches*, one per reason (the contract takes
one reason a call) and at most `revocations_per_transaction` digests each
(`commitments_per_transaction` for commitments), in one database transaction; from
there the batches go through the same state machine as anchors
(`node.pipeline.txmachine`): signed and stored before broadcast, rebroadcast, replaced,
adopted when the chain already shows them, never sent twice on a crash.

What a batch sends depends on the contract (`RevocationKind`, fixed when sealed):

- version 1: `revoke(digests, reason)`, a storage slot per digest. When a batch is
  confirmed, each revocation gets the transaction and block of its `CredentialRevoked`
  event; the contract keeps a digest's first revocation, so a digest revoked on chain
  before keeps that earlier transaction.
- version 2: `commitRevocations`, the issuer's revocation set moving from its committed
  root to a new one, with the SHA-256 of every status list the flush changed; lists that
  changed with no revocation waiting go in a `commitStatusLists` batch of their own
  (`node.pipeline.revocation_commit`). The sets are kept per process
  (`node.pipeline.revocation_sets`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from itertools import groupby
from typing import Any

from eth_account.signers.local import LocalAccount
from sqlalchemy import Connection, Engine, Row, func, insert, select, update

from mcledger.anchoring.chain import Receipt
from mcledger.anchoring.errors import ChainError, ContractRevertError
from mcledger.anchoring.ledger import COMMITMENT_VERSION, LedgerContract
from mcledger.node.errors import NodeError
from mcledger.node.index.lease import release as release_lease
from mcledger.node.index.models import (
    BatchState,
    RevocationKind,
    revocation_attempt_t,
    revocation_batch_t,
    revocation_t,
    utcnow,
)
from mcledger.node.index.oplog import record_operation
from mcledger.node.pipeline.revocation_commit import (
    CommitmentPlan,
    RevocationCommitments,
    StatusListSigner,
    changed_status_lists,
    declared_time,
    lists_in_flight,
    status_lists_pending,
)
from mcledger.node.pipeline.revocation_per_digest import PerDigestRevocations
from mcledger.node.pipeline.revocation_sets import CommittedSets, committed_sets
from mcledger.node.pipeline.txmachine import (
    CHAIN_LEASE,
    AnchoringPolicy,
    Fault,
    TransactionMachine,
)

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


def seal_revocations(
    engine: Engine,
    issuer_id: str,
    per_transaction: int,
    plan: Callable[[Connection], CommitmentPlan] | None = None,
) -> list[int]:
    """Put the issuer's waiting revocations into revocation batches (one per reason, at
    most ``per_transaction`` digests each), all in one database transaction. Returns
    the new batches' ids, oldest revocations first. With ``plan`` (a version-2 contract)
    the batches are commitments, chained on the issuer's set as the sealing transaction
    sees it, and the plan's status lists go with the first (or in a batch of their own)."""
    if per_transaction < 1:
        raise ValueError("per_transaction must be at least 1")
    created: list[int] = []
    with engine.begin() as conn:
        commitment = plan(conn) if plan is not None else None
        rows = conn.execute(
            select(revocation_t.c.id, revocation_t.c.reason, revocation_t.c.digest)
            .where(revocation_t.c.issuer_id == issuer_id, revocation_t.c.batch_id.is_(None))
            .order_by(revocation_t.c.reason, revocation_t.c.id)
        ).all()
        for reason, group in groupby(rows, key=lambda r: int(r.reason)):
            chunked = list(group)
            for start in range(0, len(chunked), per_transaction):
                chunk = chunked[start : start + per_transaction]
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
                details: dict[str, Any] = {
                    "issuer": issuer_id,
                    "reason": reason,
                    "size": len(chunk),
                }
                if commitment is not None:
                    columns = commitment.columns(batch_id, [r.digest for r in chunk], reason)
                    conn.execute(
                        update(revocation_batch_t)
                        .where(revocation_batch_t.c.id == batch_id)
                        .values(**columns)
                    )
                    details |= {"newRoot": columns["new_root"], "newSize": columns["new_size"]}
                _claim(conn, issuer_id, batch_id, [r.id for r in chunk])
                record_operation(
                    conn,
                    actor="anchorer",
                    action="revocation-batch.sealed",
                    subject=f"revocation-batch:{batch_id}",
                    details=details,
                )
                created.append(batch_id)
        if commitment is not None:
            own = commitment.attach_lists(conn, issuer_id, created)
            if own is not None:
                record_operation(
                    conn,
                    actor="anchorer",
                    action="revocation-batch.sealed",
                    subject=f"revocation-batch:{own}",
                    details={"issuer": issuer_id, "statusLists": len(commitment.lists)},
                )
                created.append(own)
    return created


def _claim(conn: Connection, issuer_id: str, batch_id: int, ids: list[int]) -> None:
    """Give the revocations ``ids`` to the batch; if another sealer took any, undo it all."""
    for part in range(0, len(ids), _IN_CHUNK):
        ids_part = ids[part : part + _IN_CHUNK]
        claimed = conn.execute(
            update(revocation_t)
            .where(revocation_t.c.id.in_(ids_part), revocation_t.c.batch_id.is_(None))
            .values(batch_id=batch_id)
        ).rowcount
        if claimed != len(ids_part):
            raise NodeError(f"revocations of {issuer_id} were sealed by another process meanwhile")


class RevocationFlusher(TransactionMachine):
    """Sends the revocations of the issuers whose chain keys it holds. ``status_lists``: the
    identity that signs (and the URL that serves) one issuer's status lists, whose hashes a
    flush commits on a version-2 contract; ``sets``: the revocation sets, shared with the
    API (by default the process's one for ``engine``)."""

    jobs = revocation_batch_t
    attempts = revocation_attempt_t
    kind = "revocation"
    job_name = "revocation-batch"

    def __init__(
        self,
        engine: Engine,
        ledger: LedgerContract,
        account_for: Callable[[str], LocalAccount],
        policy: AnchoringPolicy | None = None,
        *,
        fault: Fault | None = None,
        holder: str | None = None,
        status_lists: StatusListSigner | None = None,
        sets: CommittedSets | None = None,
    ) -> None:
        super().__init__(engine, ledger, account_for, policy, fault=fault, holder=holder)
        self.status_lists = status_lists
        self.sets = sets or committed_sets(engine)
        self._per_digest = PerDigestRevocations(self)
        self._commitments = RevocationCommitments(self)

    @cached_property
    def commits(self) -> bool:
        """Whether the contract takes revocation commitments (version 2 or later): new
        batches commit the issuer's set; a version-1 contract gets per-digest `revoke`."""
        return self.ledger_version >= COMMITMENT_VERSION

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
                policy, commits = self.policy, self.commits
                sealed = seal_revocations(
                    self.engine,
                    issuer_id,
                    policy.commitments_per_transaction
                    if commits
                    else policy.revocations_per_transaction,
                    self._plan(issuer_id) if commits else None,
                )
                if sealed:
                    self.fault("revocations.sealed")
                touched += sealed
            chained = set(self._of_kind(touched, RevocationKind.COMMIT))
            others = [batch_id for batch_id in touched if batch_id not in chained]
            for batch_id in others:  # these transactions go out together and share blocks
                self.drive(batch_id, wait=False, timeout=timeout)
            for batch_id in sorted(chained):
                # Each commitment builds on the root the one before leaves: the chain must
                # hold it before the next is signed (its gas estimate runs the check too).
                if self.drive(batch_id, wait=wait, timeout=timeout) != BatchState.CONFIRMED:
                    break  # the rest go in a later run
            if wait:
                for batch_id in others:
                    self.drive(batch_id, wait=True, timeout=timeout)
            return [self.report(batch_id) for batch_id in touched]
        finally:
            release_lease(self.engine, CHAIN_LEASE, self.holder)

    def _of_kind(self, batch_ids: list[int], kind: RevocationKind) -> list[int]:
        """Those of ``batch_ids`` that are of ``kind``."""
        with self.engine.connect() as conn:
            return list(
                conn.execute(
                    select(revocation_batch_t.c.id).where(
                        revocation_batch_t.c.id.in_(batch_ids), revocation_batch_t.c.kind == kind
                    )
                ).scalars()
            )

    def _plan(self, issuer_id: str) -> Callable[[Connection], CommitmentPlan]:
        """How the sealing transaction plans a version-2 flush: the time it declares and the
        lists it commits are taken first (chain and signing work, outside the transaction)."""
        declared = declared_time(self.client)
        signer = self.status_lists
        lists = []
        if signer is not None and signer.issuer_id == issuer_id:
            lists = changed_status_lists(self.engine, signer)

        def plan(conn: Connection) -> CommitmentPlan:
            waiting = lists_in_flight(conn, issuer_id)  # an older hash must land first
            return CommitmentPlan(
                lambda: self.sets.working_copy(conn, issuer_id), declared, [] if waiting else lists
            )

        return plan

    def issuers_with_work(self, *, pending: bool = True) -> list[str]:
        """Issuers with unfinished batches and, with ``pending`` (a run that seals), those
        with waiting revocations and (on a version-2 contract) the issuer whose lists this
        node signs when one may have changed since it was last committed."""
        with self.engine.connect() as conn:
            found = set(
                conn.execute(
                    select(revocation_batch_t.c.issuer_id)
                    .where(revocation_batch_t.c.state != BatchState.CONFIRMED)
                    .distinct()
                ).scalars()
            )
            if pending:
                found |= set(
                    conn.execute(
                        select(revocation_t.c.issuer_id)
                        .where(revocation_t.c.batch_id.is_(None))
                        .distinct()
                    ).scalars()
                )
        signer = self.status_lists
        if pending and signer is not None and signer.issuer_id not in found:
            try:
                commits = self.commits
            except ChainError:  # the chain does not answer: the lists wait for it
                commits = False
            if commits and status_lists_pending(self.engine, signer.issuer_id):
                found.add(signer.issuer_id)
        return sorted(found)

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

    def _handles(self, job: Row[Any]) -> PerDigestRevocations | RevocationCommitments:
        return self._per_digest if job.kind == RevocationKind.REVOKE else self._commitments

    def calldata(self, job: Row[Any]) -> bytes:
        return self._handles(job).calldata(job)

    def done_on_chain(self, job: Row[Any]) -> bool:
        return self._handles(job).done_on_chain(job)

    def find_transaction(self, job: Row[Any]) -> str:
        return self._handles(job).find_transaction(job)

    def adopt_after_revert(self, error: ContractRevertError) -> bool:
        return self._commitments.adopt_after_revert(error)

    def check_effect(self, job: Row[Any], receipt: Receipt) -> Any:
        return self._handles(job).check_effect(job, receipt)

    def record_effect(self, conn: Connection, job: Row[Any], effect: Any) -> None:
        self._handles(job).record_effect(conn, job, effect)

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
