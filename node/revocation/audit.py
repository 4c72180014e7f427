"""Reconciling the index with the chain: every anchored root against every confirmed batch,
every on-chain revocation against every revocation the index sent.

`audit_index` reads the contract's `RootAnchored` and `CredentialRevoked` events
in block ranges and compares them with the index; given the Timestamp contract (the
``ebsi-timestamp`` target), also its `TimestampedHashes` events, each hash with its
sender and decoded timestampData (`node.revocation.timestamp_events`), against the
batches sealed for that contract, as `RootAnchored` against the ledger's. Each finding
has a stable ``kind`` and a ``subject`` (``anchor`` or ``revocation``):

chain-only     on chain by one of the index's issuers' addresses, not in the index: a root
               with no confirmed batch (a deleted row, a batch not marked confirmed, a
               changed stored root) or a revoked digest with no revocation (a deleted
               row, a changed stored digest)
index-only     in the index as on chain, with no event in the range read: a confirmed batch
               whose root was never anchored, a sent revocation never revoked on chain
differs        the event and the index disagree on one field (``field`` names it:
               ``treeSize``, ``issuer``, ``transactionHash``, ``blockNumber``, ``reason``
               or ``revokedAt``; for a timestamp also ``issuerDid``, ``hashAlgorithmId``,
               and ``timestampData`` when the data is not the node's encoding)
tree-mismatch  the batch's stored digests no longer hash to its stored root (a changed
               digest or a changed root in the index)

A revocation's time is the index's (when the issuer revoked); the chain's is the
block time of the flush that carried it, which comes later. ``revokedAt`` differs
when the index time is after the chain's (beyond ``clock_skew``), or before the
sealing of its flush by more than ``max_lag`` (a running node seals what waits
every revocation interval, whether or not the chain answers): a backdated
revocation shows here. Revocations not yet sent, or sent and not yet confirmed,
are counted, not reported. Events by addresses that are none of the index's
issuers are counted, not reported: the contract is shared by many issuers.

Pure logic over an engine, a `LedgerContract` and a `TimestampContract`: no printing, no
settings.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, func, select

from mcledger.anchoring.bundle import EBSI_TIMESTAMP_TARGET, LEDGER_TARGET, format_time
from mcledger.anchoring.ledger import LedgerContract
from mcledger.anchoring.timestamp import TimestampContract
from mcledger.node.index.models import (
    BatchState,
    RevocationKind,
    batch_t,
    issuer_t,
    revocation_batch_t,
    revocation_t,
)
from mcledger.node.pipeline.batches import rebuild_root
from mcledger.node.revocation.commitment_audit import audit_commitments
from mcledger.node.revocation.findings import (
    CHAIN_ONLY,
    DIFFERS,
    INDEX_ONLY,
    REVOCATION,
    TREE_MISMATCH,
    AuditReport,
    Finding,
)
from mcledger.node.revocation.timestamp_events import TimestampEvent, read_timestamp_events
from mcledger.node.verifier.events import (
    AnchorEvent,
    Progress,
    RevocationEvent,
    read_events,
)

DEFAULT_MAX_LAG = 3600.0  # seconds from a revocation to its flush's block, at most
DEFAULT_CLOCK_SKEW = 120.0  # the node's clock against block times


def audit_index(
    engine: Engine,
    ledger: LedgerContract,
    *,
    from_block: int,
    to_block: int | None = None,
    timestamps: TimestampContract | None = None,
    chunk: int = 2000,
    progress: Progress | None = None,
    max_lag: float = DEFAULT_MAX_LAG,
    clock_skew: float = DEFAULT_CLOCK_SKEW,
) -> AuditReport:
    """Reconcile the events in [from_block, to_block] (default: the chain head) with the
    index's confirmed batches and sent revocations; with ``timestamps``, also the roots
    timestamped there. See the module docstring."""
    if to_block is None:
        to_block = ledger.client.block_number()
    if from_block < 0 or to_block < from_block:
        raise ValueError(f"bad block range [{from_block}, {to_block}]")
    stamped_at = timestamps.address if timestamps is not None else None
    report = AuditReport(ledger.address, from_block, to_block, timestamp_contract=stamped_at)
    with engine.connect() as conn:
        address_of = {
            issuer_id: str(address)
            for issuer_id, address in conn.execute(select(issuer_t.c.id, issuer_t.c.chain_address))
        }
    events = read_events(ledger, from_block, to_block, chunk=chunk, progress=progress)
    rows = _batches(engine)
    on_ledger = [r for r in rows if r.target == LEDGER_TARGET]
    stamped = [
        r
        for r in rows
        if r.target == EBSI_TIMESTAMP_TARGET
        and stamped_at is not None
        and str(r.contract).lower() == stamped_at.lower()
    ]
    read = {r.id for r in on_ledger} | {r.id for r in stamped}
    report.batches_elsewhere = sum(
        r.state == BatchState.CONFIRMED and r.id not in read for r in rows
    )
    report.events_read = len(events.anchors)
    report.foreign_events = _audit_anchors(
        engine, report, on_ledger, events.anchors, address_of, "RootAnchored"
    )
    if timestamps is not None:
        timestamped = read_timestamp_events(
            timestamps, from_block, to_block, chunk=chunk, progress=progress
        )
        report.timestamps_read = len(timestamped)
        report.foreign_timestamps = _audit_anchors(
            engine, report, stamped, timestamped, address_of, "TimestampedHashes"
        )
    _audit_revocations(engine, ledger, report, events.revocations, address_of, max_lag, clock_skew)
    audit_commitments(engine, ledger, report, events, address_of)
    return report


def timestamp_contracts(engine: Engine) -> list[str]:
    """The Timestamp contracts the index's batches were sealed for, oldest batch first."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(batch_t.c.contract)
            .where(batch_t.c.target == EBSI_TIMESTAMP_TARGET)
            .group_by(batch_t.c.contract)
            .order_by(func.min(batch_t.c.id))
        ).scalars()
        return [str(address) for address in rows]


def _batches(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(
                    batch_t.c.id,
                    batch_t.c.issuer_id,
                    batch_t.c.state,
                    batch_t.c.root,
                    batch_t.c.tree_size,
                    batch_t.c.transaction_hash,
                    batch_t.c.block_number,
                    batch_t.c.target,
                    batch_t.c.contract,
                    batch_t.c.hash_algorithm_id,
                    batch_t.c.issuer_did,
                ).order_by(batch_t.c.id)
            ).all()
        )


def _audit_anchors(
    engine: Engine,
    report: AuditReport,
    rows: list[Any],
    events: list[AnchorEvent] | list[TimestampEvent],
    address_of: dict[str, str],
    kind: str,
) -> int:
    """Reconcile one target's anchor events (``kind``) with the batches sealed for it;
    returns how many events were by addresses that are none of the index's issuers."""
    from_block, to_block = report.from_block, report.to_block
    issuers = {address.lower() for address in address_of.values()}
    foreign = 0
    confirmed = {r.root: r for r in rows if r.state == BatchState.CONFIRMED and r.root}
    unconfirmed = {r.root: r for r in rows if r.state != BatchState.CONFIRMED and r.root}

    by_root: dict[str, AnchorEvent | TimestampEvent] = {}
    for event in events:
        by_root.setdefault(event.root, event)  # either contract takes a root only once

    # Rebuild every confirmed batch's tree from its stored digests.
    rebuilt: dict[str, int] = {}  # rebuilt root -> batch id, where it differs from the stored
    for row in confirmed.values():
        report.batches_checked += 1
        try:
            root = rebuild_root(engine, row.id).hex()
        except Exception as exc:  # e.g. a malformed stored digest
            report.findings.append(
                Finding(TREE_MISMATCH, row.root, row.id, detail=f"cannot rebuild: {exc}")
            )
            continue
        if root != row.root:
            rebuilt[root] = row.id
            report.findings.append(
                Finding(
                    TREE_MISMATCH,
                    row.root,
                    row.id,
                    index_value=row.root,
                    chain_value=None,
                    detail=f"stored digests hash to {root}",
                )
            )

    # Chain side: every event by one of our issuers must have a confirmed batch.
    for event in events:
        if event.issuer.lower() not in issuers:
            foreign += 1
            continue
        if event.root in confirmed:
            continue
        notes = [f"anchored in block {event.block_number}, tx {event.transaction_hash}"]
        if event.root in unconfirmed:
            other = unconfirmed[event.root]
            notes.append(f"index batch {other.id} is {other.state}, not confirmed")
        if event.root in rebuilt:
            notes.append(f"matches the stored digests of batch {rebuilt[event.root]}")
        report.findings.append(Finding(CHAIN_ONLY, event.root, detail="; ".join(notes)))

    # Index side: every confirmed batch must match its event.
    for row in confirmed.values():
        match = by_root.get(row.root)
        if match is None:
            if row.block_number is None or from_block <= row.block_number <= to_block:
                report.findings.append(
                    Finding(
                        INDEX_ONLY,
                        row.root,
                        row.id,
                        detail=f"no {kind} event in blocks {from_block}-{to_block}",
                    )
                )
            continue
        expected = {
            "treeSize": (row.tree_size, match.tree_size),
            "issuer": (address_of.get(row.issuer_id), match.issuer),
            "transactionHash": (row.transaction_hash, match.transaction_hash),
            "blockNumber": (row.block_number, match.block_number),
        }
        if isinstance(match, TimestampEvent):
            if match.unreadable is not None:
                report.findings.append(
                    Finding(DIFFERS, row.root, row.id, "timestampData", detail=match.unreadable)
                )
                expected.pop("treeSize")
            else:
                expected["issuerDid"] = (row.issuer_did, match.issuer_did)
            expected["hashAlgorithmId"] = (row.hash_algorithm_id, match.hash_algorithm_id)
        for name, (mine, theirs) in expected.items():
            if not _same(name, mine, theirs):
                report.findings.append(
                    Finding(DIFFERS, row.root, row.id, name, mine, theirs, f"{name} differs")
                )
    return foreign


def _same(name: str, mine: Any, theirs: Any) -> bool:
    if name in ("issuer", "transactionHash"):
        return str(mine or "").lower() == str(theirs).lower()
    return bool(mine == theirs)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _time_problem(row: Any, onchain: datetime, max_lag: float, clock_skew: float) -> str:
    """Why the index's revocation time cannot be right, or "": it must come before the
    chain's block time, and before the sealing of its flush by at most ``max_lag`` (the
    flush seals what waits every interval, whether or not the chain answers)."""
    revoked = _aware(row.revoked_at)
    if (revoked - onchain).total_seconds() > clock_skew:
        return "the index says it was revoked after the chain recorded it"
    sealed = _aware(row.sealed_at) if row.sealed_at is not None else onchain
    lag = (sealed - revoked).total_seconds()
    if lag > max_lag:
        return (
            f"the index time is {lag:.0f} s before its flush was sealed, more than the "
            f"{max_lag:.0f} s a revocation may wait: backdated?"
        )
    return ""


def _audit_revocations(
    engine: Engine,
    ledger: LedgerContract,
    report: AuditReport,
    events: list[RevocationEvent],
    address_of: dict[str, str],
    max_lag: float,
    clock_skew: float,
) -> None:
    from_block, to_block = report.from_block, report.to_block
    issuer_of = {address.lower(): issuer_id for issuer_id, address in address_of.items()}
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                revocation_t.c.id,
                revocation_t.c.issuer_id,
                revocation_t.c.digest,
                revocation_t.c.reason,
                revocation_t.c.revoked_at,
                revocation_t.c.transaction_hash,
                revocation_t.c.block_number,
                revocation_batch_t.c.state,
                revocation_batch_t.c.sealed_at,
                revocation_batch_t.c.kind,
            )
            .select_from(revocation_t.outerjoin(revocation_batch_t))
            .order_by(revocation_t.c.id)
        ).all()
    # Committed revocations have no CredentialRevoked event: commitment_audit checks them.
    committed = [r for r in rows if r.kind == RevocationKind.COMMIT]
    rows = [r for r in rows if r.kind != RevocationKind.COMMIT]
    index = {(r.issuer_id, r.digest): r for r in rows}
    also_committed = {(r.issuer_id, r.digest): r for r in committed}
    report.revocation_events_read = len(events)
    block_times: dict[int, datetime] = {}

    def chain_time(block: int) -> datetime:
        if block not in block_times:
            stamp = int(ledger.client.block(block)["timestamp"])
            block_times[block] = datetime.fromtimestamp(stamp, UTC)
        return block_times[block]

    matched: set[int] = set()
    for event in events:
        issuer_id = issuer_of.get(event.issuer.lower())
        if issuer_id is None:
            report.foreign_revocations += 1
            continue
        row = index.get((issuer_id, event.digest))
        if row is None and (issuer_id, event.digest) in also_committed:
            row = also_committed[issuer_id, event.digest]  # revoked both ways: compared
        if row is None:
            report.findings.append(
                Finding(
                    CHAIN_ONLY,
                    event.digest,
                    detail=f"revoked by {issuer_id} in block {event.block_number}, "
                    f"tx {event.transaction_hash}; no such revocation in the index",
                    subject=REVOCATION,
                )
            )
            continue
        matched.add(row.id)
        if row.state != BatchState.CONFIRMED and row.transaction_hash is None:
            # Mined, not yet confirmed (or revoked on chain before its own flush): the
            # index has nothing to compare yet.
            report.revocations_pending += 1
            continue
        report.revocations_checked += 1
        compared = {
            "reason": (row.reason, event.reason),
            "transactionHash": (row.transaction_hash, event.transaction_hash),
            "blockNumber": (row.block_number, event.block_number),
        }
        for name, (mine, theirs) in compared.items():
            if not _same(name, mine, theirs):
                report.findings.append(
                    Finding(
                        DIFFERS,
                        event.digest,
                        row.id,
                        name,
                        mine,
                        theirs,
                        f"{name} differs",
                        subject=REVOCATION,
                    )
                )
        why = _time_problem(row, chain_time(event.block_number), max_lag, clock_skew)
        if why:
            report.findings.append(
                Finding(
                    DIFFERS,
                    event.digest,
                    row.id,
                    "revokedAt",
                    format_time(_aware(row.revoked_at)),
                    format_time(chain_time(event.block_number)),
                    why,
                    subject=REVOCATION,
                )
            )

    for row in rows:
        if row.id in matched:
            continue
        sent = row.state == BatchState.CONFIRMED or row.transaction_hash is not None
        if not sent:
            report.revocations_pending += 1
            continue
        if row.block_number is None or from_block <= row.block_number <= to_block:
            report.findings.append(
                Finding(
                    INDEX_ONLY,
                    row.digest,
                    row.id,
                    detail=f"recorded as sent in tx {row.transaction_hash}; no CredentialRevoked "
                    f"event for it in blocks {from_block}-{to_block}",
                    subject=REVOCATION,
                )
            )
