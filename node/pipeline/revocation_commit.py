"""Revocation commitments (contract version 2): a flush moves the issuer's revocation set from
its committed root to a new one, and commits the hashes of the status lists it changed
(docs/formats.md "Version 2: revocation commitments", "Status lists on the record").

Sealing (`CommitmentPlan`) fixes everything a batch's transaction says before anything is
signed: its previous and new root, the new size and the revokedAt it declares (the earlier
of the node's clock and the latest block's time: the contract refuses a time after its
block), and the status lists whose hashes it carries, so a resumed batch sends the same
call. Batches of one flush are chained, each on the one before's root; the contract's
compare-and-swap makes them land in that order or not at all.

`RevocationCommitments` is what the transaction machine asks of such a batch: its
calldata, whether the chain already shows it (the issuer's root on chain is this batch's
new root or a later batch's: the chain went through it), which transaction did it (its
`RevocationsCommitted` event, found by the indexed new root), and what the receipt must show.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, Row, insert, select, update

from mcledger.anchoring.chain import ChainClient, Receipt
from mcledger.anchoring.errors import ContractRevertError
from mcledger.anchoring.revocation_proof import RevocationRecord
from mcledger.anchoring.revocation_set import RevocationSet
from mcledger.anchoring.status_commitment import status_list_hash, status_list_key
from mcledger.node.credentials.multikey import Ed25519SigningKey
from mcledger.node.errors import NodeError
from mcledger.node.index.models import (
    BatchState,
    RevocationKind,
    revocation_batch_t,
    revocation_t,
)
from mcledger.node.index.models_commitments import (
    revocation_batch_list_t,
    status_list_publication_t,
)
from mcledger.node.index.models_status import status_list_t
from mcledger.node.issuing.status_lists import status_list_url
from mcledger.node.issuing.status_publish import publish_status_list, status_versions

if TYPE_CHECKING:
    from mcledger.node.pipeline.revocation_flush import RevocationFlusher

STALE_ROOT = "StaleRevocationRoot"  # the contract's refusal of a flush not built on its root


class CommitmentConflictError(NodeError):
    """The chain holds another commitment than the batch sealed (roots, size, digests, time
    or a status list differ): nothing is recorded as confirmed; run `mcledger audit`."""


@dataclass(frozen=True)
class StatusListSigner:
    """Who signs an issuer's status lists, and where the node serves them: the flush commits
    the hash of the very document `GET /v1/status-lists/{id}` serves."""

    issuer_id: str
    key: Ed25519SigningKey
    did: str
    verification_method: str
    base_url: str

    def served(self, engine: Engine, list_id: str) -> dict[str, Any]:
        """The list as `GET /v1/status-lists/{id}` serves it now (signed and kept once)."""
        return publish_status_list(
            engine,
            list_id,
            self.key,
            self.did,
            self.verification_method,
            self.base_url,
            issuer_id=self.issuer_id,
        ).credential


@dataclass(frozen=True)
class ListHash:
    """A status list and the hash a batch commits for it (64 hex each)."""

    list_id: str
    list_key: str  # SHA-256 of the list's URL: the contract's listId
    list_hash: str  # SHA-256 of the list credential's JCS form


def declared_time(client: ChainClient) -> int:
    """The revokedAt a flush sealed now declares: the node's clock, but never after the latest
    block (the contract refuses a time after the block that holds the call)."""
    latest = int(client.block("latest")["timestamp"])
    return max(1, min(int(time.time()), latest))


def changed_status_lists(engine: Engine, signer: StatusListSigner) -> list[ListHash]:
    """The issuer's lists whose served document differs from the last hash a batch committed
    (or carries: a sealed batch will commit it), each as it is served now."""
    with engine.connect() as conn:
        lists = list(
            conn.execute(
                select(status_list_t.c.id)
                .where(status_list_t.c.issuer_id == signer.issuer_id)
                .order_by(status_list_t.c.id)
            ).scalars()
        )
        carried = _last_carried(conn, lists)
    changed = []
    for list_id in lists:
        served = status_list_hash(signer.served(engine, list_id)).hex()
        if carried.get(list_id) != served:
            url = status_list_url(signer.base_url, list_id)
            changed.append(ListHash(list_id, status_list_key(url).hex(), served))
    return changed


def status_lists_pending(engine: Engine, issuer_id: str) -> bool:
    """Whether a list of the issuer may differ from the last hash committed for it, without
    signing anything: a list never published, published at an older status version (a bit
    may have flipped since), or whose published hash is not the one last carried."""
    publication = status_list_publication_t.c
    with engine.connect() as conn:
        versions = status_versions(conn, issuer_id)
        rows = conn.execute(
            select(
                status_list_t.c.id,
                status_list_t.c.purpose,
                publication.version,
                publication.document_hash,
            )
            .select_from(status_list_t.outerjoin(status_list_publication_t))
            .where(status_list_t.c.issuer_id == issuer_id)
        ).all()
        carried = _last_carried(conn, [r.id for r in rows])
    return any(
        r.version != versions.get(r.purpose) or r.document_hash != carried.get(r.id) for r in rows
    )


def _last_carried(conn: Connection, lists: list[str]) -> dict[str, str]:
    """Each list's hash in the newest batch that carries it."""
    rows = conn.execute(
        select(revocation_batch_list_t.c.list_id, revocation_batch_list_t.c.list_hash)
        .where(revocation_batch_list_t.c.list_id.in_(lists))
        .order_by(revocation_batch_list_t.c.batch_id)
    )
    return {list_id: list_hash for list_id, list_hash in rows}


def lists_in_flight(conn: Connection, issuer_id: str) -> bool:
    """Whether an unconfirmed batch of the issuer carries status-list hashes: the next ones
    wait for it, so that an older hash can never land after a newer one."""
    found = conn.execute(
        select(revocation_batch_list_t.c.batch_id)
        .join(revocation_batch_t, revocation_batch_t.c.id == revocation_batch_list_t.c.batch_id)
        .where(
            revocation_batch_t.c.issuer_id == issuer_id,
            revocation_batch_t.c.state != BatchState.CONFIRMED,
        )
        .limit(1)
    ).first()
    return found is not None


@dataclass
class CommitmentPlan:
    """What the batches of one flush commit: the set they grow (a working copy, made by
    ``copy_set`` when the first batch needs it: a flush of status lists alone copies
    nothing), the time they declare, and the status-list hashes the first of them carries."""

    copy_set: Callable[[], RevocationSet]
    declared_at: int
    lists: list[ListHash] = field(default_factory=list)

    @cached_property
    def working(self) -> RevocationSet:
        return self.copy_set()

    def columns(self, batch_id: int, digests: list[str], reason: int) -> dict[str, Any]:
        """The commitment columns of a batch of ``digests``, the set grown by them."""
        previous = self.working.root.hex()
        record = RevocationRecord(reason, self.declared_at)
        added = self.working.insert_many([bytes.fromhex(d) for d in digests], record)
        if added != len(digests):
            raise NodeError(
                f"revocation batch {batch_id}: {len(digests) - added} of its digests are in "
                "the issuer's revocation set already; the index holds a revocation twice"
            )
        return {
            "kind": RevocationKind.COMMIT,
            "previous_root": previous,
            "new_root": self.working.root.hex(),
            "new_size": self.working.size,
            "declared_at": self.declared_at,
        }

    def attach_lists(self, conn: Connection, issuer_id: str, batches: list[int]) -> int | None:
        """Record the lists on the flush's first batch, or on a batch of their own (kind
        ``status-lists``) when the flush has no revocation; returns that new batch's id."""
        if not self.lists:
            return None
        own = None
        if not batches:
            own = conn.execute(
                insert(revocation_batch_t)
                .values(
                    issuer_id=issuer_id,
                    reason=0,
                    state=BatchState.SEALED,
                    size=0,
                    kind=RevocationKind.STATUS_LISTS,
                )
                .returning(revocation_batch_t.c.id)
            ).scalar_one()
        conn.execute(
            insert(revocation_batch_list_t),
            [
                {
                    "batch_id": own or batches[0],
                    "list_id": item.list_id,
                    "list_key": item.list_key,
                    "list_hash": item.list_hash,
                }
                for item in self.lists
            ],
        )
        return own


def batch_lists(engine: Engine, batch_id: int) -> list[tuple[bytes, bytes]]:
    """The (listId, listHash) pairs a batch commits, in list order."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(revocation_batch_list_t.c.list_key, revocation_batch_list_t.c.list_hash)
            .where(revocation_batch_list_t.c.batch_id == batch_id)
            .order_by(revocation_batch_list_t.c.list_id)
        ).all()
    return [(bytes.fromhex(key), bytes.fromhex(value)) for key, value in rows]


class RevocationCommitments:
    """The transaction machine's questions about batches of kind ``commit`` and
    ``status-lists`` (see the module docstring)."""

    def __init__(self, flusher: RevocationFlusher) -> None:
        self.flusher = flusher
        self.ledger = flusher.ledger
        self.engine = flusher.engine

    def _address(self, job: Row[Any]) -> str:
        return str(self.flusher.account_for(job.issuer_id).address)

    def calldata(self, job: Row[Any]) -> bytes:
        lists = batch_lists(self.engine, job.id)
        if job.kind == RevocationKind.STATUS_LISTS:
            return self.ledger.commit_status_lists_calldata(lists)
        return self.ledger.commit_revocations_calldata(
            bytes.fromhex(job.previous_root),
            bytes.fromhex(job.new_root),
            job.new_size,
            [bytes.fromhex(d) for d in self.flusher.digests(job)],
            job.reason,
            job.declared_at,
            lists,
        )

    def _roots_from(self, job: Row[Any]) -> set[str]:
        """This batch's new root and those of the issuer's later commitments."""
        with self.engine.connect() as conn:
            return set(
                conn.execute(
                    select(revocation_batch_t.c.new_root).where(
                        revocation_batch_t.c.issuer_id == job.issuer_id,
                        revocation_batch_t.c.kind == RevocationKind.COMMIT,
                        revocation_batch_t.c.id >= job.id,
                    )
                ).scalars()
            )

    def done_on_chain(self, job: Row[Any]) -> bool:
        address = self._address(job)
        if job.kind == RevocationKind.STATUS_LISTS:
            return all(
                self.ledger.status_list_hash_of(address, key).list_hash == value
                for key, value in batch_lists(self.engine, job.id)
            )
        # The chain went through this root if it holds it or a later one of ours.
        return self.ledger.revocation_root_of(address).root.hex() in self._roots_from(job)

    def adopt_after_revert(self, error: ContractRevertError) -> bool:
        """A flush refused as stale whose root (or a later one of ours) the chain holds was
        committed by an earlier attempt: adopt it. Any other refusal stands."""
        roots = [arg.hex() for arg in error.error_args if isinstance(arg, bytes)]
        if error.error_name != STALE_ROOT or len(roots) != 2:
            return False
        current, sent = roots  # the chain's root, and the previous root the call gave
        with self.engine.connect() as conn:
            holder = conn.execute(
                select(revocation_batch_t.c.issuer_id, revocation_batch_t.c.id).where(
                    revocation_batch_t.c.new_root == current
                )
            ).first()
            if holder is None:
                return False
            refused = conn.execute(
                select(revocation_batch_t.c.id).where(
                    revocation_batch_t.c.issuer_id == holder.issuer_id,
                    revocation_batch_t.c.previous_root == sent,
                )
            ).scalar_one_or_none()
        return refused is not None and refused <= holder.id

    def find_transaction(self, job: Row[Any]) -> str:
        address = self._address(job)
        if job.kind == RevocationKind.STATUS_LISTS:
            key, value = batch_lists(self.engine, job.id)[0]
            event = self.flusher.find_event(
                job,
                "StatusListCommitted",
                f"status list {key.hex()}",
                match=lambda e: bytes(e["args"]["listHash"]) == value,
                issuer=address,
                listId=key,
            )
        else:
            event = self.flusher.find_event(
                job,
                "RevocationsCommitted",
                f"revocation root {job.new_root}",
                issuer=address,
                newRoot=bytes.fromhex(job.new_root),
            )
        return "0x" + bytes(event["transactionHash"]).hex()

    def check_effect(self, job: Row[Any], receipt: Receipt) -> tuple[str, int]:
        """The receipt's transaction committed exactly this batch (and its lists)."""
        address, block = self._address(job), receipt.block_number
        problems: list[str] = []
        mine: Callable[[Any], bool] = lambda e: e.transaction_hash == receipt.transaction_hash  # noqa: E731
        if job.kind == RevocationKind.COMMIT:
            found = [
                e for e in self.ledger.revocation_commitments(block, block, address) if mine(e)
            ]
            wanted = (
                job.previous_root,
                job.new_root,
                job.new_size,
                job.reason,
                job.declared_at,
                self.flusher.digests(job),
            )
            if len(found) != 1:
                problems.append(f"{len(found)} RevocationsCommitted events, not 1")
            else:
                [event] = found
                seen = (
                    event.previous_root.hex(),
                    event.new_root.hex(),
                    event.new_size,
                    event.reason,
                    event.revoked_at,
                    [d.hex() for d in event.digests],
                )
                if seen != wanted:
                    problems.append(f"RevocationsCommitted holds {seen[:5]}, not {wanted[:5]}")
        lists = {
            (e.list_id, e.list_hash)
            for e in self.ledger.status_list_commitments(block, block, address)
            if mine(e)
        }
        if lists != set(batch_lists(self.engine, job.id)):
            problems.append("its StatusListCommitted events are not the batch's lists")
        if problems:
            message = (
                f"revocation batch {job.id}: transaction {receipt.transaction_hash} "
                + "; ".join(problems)
            )
            self.flusher.store.note_error(job.id, message)
            raise CommitmentConflictError(message)
        return receipt.transaction_hash, block

    def record_effect(self, conn: Connection, job: Row[Any], effect: tuple[str, int]) -> None:
        """Every revocation of the batch was committed by its transaction."""
        tx_hash, block = effect
        conn.execute(
            update(revocation_t)
            .where(revocation_t.c.batch_id == job.id)
            .values(transaction_hash=tx_hash, block_number=block)
        )
