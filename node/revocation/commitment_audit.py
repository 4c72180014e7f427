"""Reconciling revocation commitments (contract version 2) with the chain and the index
(docs/formats.md "Version 2: revocation commitments", "Status lists on the record").

- **Every committed root is recomputed from the chain's events**: for each of the index's
  issuers, its `RevocationsCommitted` events in chain order (those before the range read are
  found by following ``previousBlock``), each adding its digests with its reason and time to
  a set that starts empty; the set's root and size after each must be the event's. A
  commitment whose root is not what its events describe (a digest in the event but not in
  the root, or the other way) is a ``tree-mismatch`` of subject ``commitment``.
- **Each commitment against its batch in the index** (matched by the new root): a commitment
  with no confirmed batch is ``chain-only``, a confirmed batch with no commitment in the range
  ``index-only``, a field that differs (previous root, size, reason, revokedAt, transaction,
  block) ``differs``; a digest the event lists and the batch does not hold (a revocation
  dropped from the index) is ``chain-only`` of subject ``revocation``, the other way round
  ``index-only``.
- **Every committed status-list hash**: the newest `StatusListCommitted` of each list against
  the hash the index's newest confirmed batch carried for it (``differs`` on ``listHash``),
  and against the list the node serves (the signed document it keeps and serves as is, its
  hash recomputed here): a different list signed before that commitment is ``differs`` on
  ``served`` (the node serves a list it did not commit: a split view); one signed after it
  has changed since the last flush and is counted as pending.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select

from mcledger.anchoring.ledger import LedgerContract, RevocationCommitment, RevocationsCommitted
from mcledger.anchoring.revocation_proof import EMPTY, RevocationRecord
from mcledger.anchoring.revocation_set import RevocationSet
from mcledger.anchoring.status_commitment import status_list_hash
from mcledger.node.index.models import BatchState, RevocationKind, revocation_batch_t, revocation_t
from mcledger.node.index.models_commitments import (
    revocation_batch_list_t,
    status_list_publication_t,
)
from mcledger.node.index.models_status import status_list_t
from mcledger.node.issuing.status_publish import status_versions
from mcledger.node.revocation.findings import (
    CHAIN_ONLY,
    COMMITMENT,
    DIFFERS,
    INDEX_ONLY,
    REVOCATION,
    STATUS_LIST,
    TREE_MISMATCH,
    AuditReport,
    Finding,
)
from mcledger.node.verifier.events import ChainEvents
from mcledger.node.verifier.revocation import walk_commitments


def audit_commitments(
    engine: Engine,
    ledger: LedgerContract,
    report: AuditReport,
    events: ChainEvents,
    address_of: dict[str, str],
) -> None:
    """Add the findings and counts of the commitments in ``events`` (see the module
    docstring); ``address_of`` maps the index's issuers to their chain addresses."""
    issuer_of = {address.lower(): issuer_id for issuer_id, address in address_of.items()}
    report.commitments_read = len(events.commitments)
    mine: dict[str, list[RevocationsCommitted]] = defaultdict(list)
    for event in events.commitments:
        issuer_id = issuer_of.get(event.issuer.lower())
        if issuer_id is None:
            report.foreign_commitments += 1
        else:
            mine[issuer_id].append(event)
    for issuer_id, address in address_of.items():
        chain = mine.get(issuer_id, [])
        _recompute(ledger, address, chain, report)
        _against_index(engine, issuer_id, chain, report)
    _audit_status_lists(engine, ledger, events, issuer_of, report)


def _recompute(
    ledger: LedgerContract, address: str, chain: list[RevocationsCommitted], report: AuditReport
) -> None:
    """Rebuild the issuer's set from its events (from the very first) and compare roots."""
    if not chain:
        return
    earlier: list[RevocationsCommitted] = []
    first = chain[0]
    if first.previous_root != EMPTY:  # the range starts after earlier commitments
        before = RevocationCommitment(first.previous_root, 0, 0, first.previous_block)
        earlier = walk_commitments(ledger, address, before, EMPTY, unlimited=True)[::-1]
    revoked = RevocationSet()
    for event in [*earlier, *chain]:
        revoked.insert_many(list(event.digests), RevocationRecord(event.reason, event.revoked_at))
        if event in earlier:
            continue
        if revoked.root != event.new_root or revoked.size != event.new_size:
            report.findings.append(
                Finding(
                    TREE_MISMATCH,
                    event.new_root.hex(),
                    field="newRoot",
                    index_value=None,
                    chain_value=event.new_root.hex(),
                    detail=(
                        f"the commitment in block {event.block_number} (tx "
                        f"{event.transaction_hash}) says root {event.new_root.hex()} with "
                        f"{event.new_size} entries; its events' digests hash to "
                        f"{revoked.root.hex()} with {revoked.size}"
                    ),
                    subject=COMMITMENT,
                )
            )


def _commit_batches(engine: Engine, issuer_id: str) -> list[Any]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(revocation_batch_t)
                .where(
                    revocation_batch_t.c.issuer_id == issuer_id,
                    revocation_batch_t.c.kind == RevocationKind.COMMIT,
                )
                .order_by(revocation_batch_t.c.id)
            ).all()
        )


def _digests_of(engine: Engine, batch_id: int) -> dict[str, int]:
    """The batch's revocations: digest -> revocation id."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(revocation_t.c.digest, revocation_t.c.id).where(
                revocation_t.c.batch_id == batch_id
            )
        )
        return {digest: row_id for digest, row_id in rows}


def _against_index(
    engine: Engine, issuer_id: str, chain: list[RevocationsCommitted], report: AuditReport
) -> None:
    by_root = {event.new_root.hex(): event for event in chain}
    batches = _commit_batches(engine, issuer_id)
    known = {batch.new_root: batch for batch in batches}
    for event in chain:
        batch = known.get(event.new_root.hex())
        if batch is None or batch.state != BatchState.CONFIRMED:
            if batch is not None and batch.transaction_hash is None:
                report.revocations_pending += batch.size  # mined, not yet confirmed
                continue
            report.findings.append(
                Finding(
                    CHAIN_ONLY,
                    event.new_root.hex(),
                    detail=f"committed by {issuer_id} in block {event.block_number}, tx "
                    f"{event.transaction_hash}; no confirmed revocation batch in the index",
                    subject=COMMITMENT,
                )
            )
            continue
        report.commitments_checked += 1
        compared = {
            "previousRoot": (batch.previous_root, event.previous_root.hex()),
            "newSize": (batch.new_size, event.new_size),
            "reason": (batch.reason, event.reason),
            "revokedAt": (batch.declared_at, event.revoked_at),
            "transactionHash": (str(batch.transaction_hash).lower(), event.transaction_hash),
            "blockNumber": (batch.block_number, event.block_number),
        }
        for name, (mine, theirs) in compared.items():
            if mine != theirs:
                report.findings.append(
                    Finding(
                        DIFFERS,
                        event.new_root.hex(),
                        batch.id,
                        name,
                        mine,
                        theirs,
                        f"{name} differs",
                        subject=COMMITMENT,
                    )
                )
        _compare_digests(engine, batch, event, report)
    for batch in batches:
        if batch.state != BatchState.CONFIRMED or batch.new_root in by_root:
            continue
        if batch.block_number is None or report.from_block <= batch.block_number <= report.to_block:
            report.findings.append(
                Finding(
                    INDEX_ONLY,
                    batch.new_root,
                    batch.id,
                    detail=f"recorded as committed in tx {batch.transaction_hash}; no "
                    f"RevocationsCommitted to this root in blocks "
                    f"{report.from_block}-{report.to_block}",
                    subject=COMMITMENT,
                )
            )


def _compare_digests(
    engine: Engine, batch: Any, event: RevocationsCommitted, report: AuditReport
) -> None:
    held = _digests_of(engine, batch.id)
    listed = [d.hex() for d in event.digests]
    for digest in listed:
        if digest in held:
            report.revocations_checked += 1
            continue
        report.findings.append(
            Finding(
                CHAIN_ONLY,
                digest,
                detail=f"committed in block {event.block_number}, tx {event.transaction_hash}"
                f" (revocation batch {batch.id}); no such revocation in the index",
                subject=REVOCATION,
            )
        )
    for digest in sorted(set(held) - set(listed)):
        report.findings.append(
            Finding(
                INDEX_ONLY,
                digest,
                held[digest],
                detail=f"in revocation batch {batch.id}; the commitment in tx "
                f"{event.transaction_hash} does not list it",
                subject=REVOCATION,
            )
        )


def _audit_status_lists(
    engine: Engine,
    ledger: LedgerContract,
    events: ChainEvents,
    issuer_of: dict[str, str],
    report: AuditReport,
) -> None:
    newest: dict[tuple[str, str], Any] = {}  # (issuer, list key) -> its last event read
    for event in events.status_lists:
        issuer_id = issuer_of.get(event.issuer.lower())
        if issuer_id is not None:
            newest[issuer_id, event.list_id.hex()] = event
    carried = _carried_lists(engine)
    block_times: dict[int, int] = {}

    def block_time(number: int) -> int:
        if number not in block_times:
            block_times[number] = int(ledger.client.block(number)["timestamp"])
        return block_times[number]

    for (issuer_id, key), event in newest.items():
        row = carried.get((issuer_id, key))
        if row is None:
            report.findings.append(
                Finding(
                    CHAIN_ONLY,
                    key,
                    detail=f"committed by {issuer_id} in block {event.block_number}; no "
                    "confirmed batch of the index carries this list",
                    subject=STATUS_LIST,
                )
            )
            continue
        if row.list_hash != event.list_hash.hex():
            report.findings.append(
                Finding(
                    DIFFERS,
                    key,
                    row.list_id,
                    "listHash",
                    row.list_hash,
                    event.list_hash.hex(),
                    f"the index carried another hash in revocation batch {row.batch_id}",
                    subject=STATUS_LIST,
                )
            )
            continue
        _against_served(engine, row, event, block_time(event.block_number), report)
    for (issuer_id, key), row in carried.items():
        if (issuer_id, key) in newest or row.block_number is None:
            continue
        if report.from_block <= row.block_number <= report.to_block:
            report.findings.append(
                Finding(
                    INDEX_ONLY,
                    key,
                    row.list_id,
                    detail=f"carried by revocation batch {row.batch_id} (tx "
                    f"{row.transaction_hash}); no StatusListCommitted for it in blocks "
                    f"{report.from_block}-{report.to_block}",
                    subject=STATUS_LIST,
                )
            )


def _carried_lists(engine: Engine) -> dict[tuple[str, str], Any]:
    """Each list's newest carrying batch that is confirmed, by (issuer, list key)."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                revocation_batch_t.c.issuer_id,
                revocation_batch_t.c.transaction_hash,
                revocation_batch_t.c.block_number,
                revocation_batch_list_t,
            )
            .join(revocation_batch_t, revocation_batch_t.c.id == revocation_batch_list_t.c.batch_id)
            .where(revocation_batch_t.c.state == BatchState.CONFIRMED)
            .order_by(revocation_batch_list_t.c.batch_id)
        ).all()
    return {(row.issuer_id, row.list_key): row for row in rows}


def _against_served(
    engine: Engine, row: Any, event: Any, committed_at: int, report: AuditReport
) -> None:
    """The list the node serves (its kept document, while the issuer's status is unchanged
    since it was signed) against the hash committed for it."""
    with engine.connect() as conn:
        kept = conn.execute(
            select(status_list_publication_t, status_list_t.c.issuer_id, status_list_t.c.purpose)
            .join(status_list_t, status_list_t.c.id == status_list_publication_t.c.list_id)
            .where(status_list_publication_t.c.list_id == row.list_id)
        ).first()
        versions = status_versions(conn, kept.issuer_id) if kept is not None else {}
    if kept is None or kept.version != versions.get(kept.purpose):
        report.status_lists_pending += 1  # re-derived at the next request: changed since
        return
    served = status_list_hash(json.loads(kept.document)).hex()
    if served == event.list_hash.hex():
        report.status_lists_checked += 1
        return
    signed_at = kept.signed_at if kept.signed_at.tzinfo else kept.signed_at.replace(tzinfo=UTC)
    if signed_at.timestamp() > committed_at:
        report.status_lists_pending += 1  # changed after the last flush: the next commits it
        return
    report.findings.append(
        Finding(
            DIFFERS,
            event.list_id.hex(),
            row.list_id,
            "served",
            served,
            event.list_hash.hex(),
            f"the node serves a list signed at {signed_at.isoformat()}, before the commitment "
            f"at {datetime.fromtimestamp(committed_at, UTC).isoformat()}, that is not the one "
            "committed: a split view",
            subject=STATUS_LIST,
        )
    )
