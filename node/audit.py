"""Reconciling the index with the chain: every anchored root against every confirmed batch.

`audit_anchors` reads the contract's `RootAnchored` events in block ranges and
compares them with the index's confirmed batches. Each finding has a stable
``kind``:

chain-only     a root anchored on chain by one of the index's issuers' addresses, with no
               confirmed batch in the index (a deleted row, a batch not marked confirmed,
               or a stored root that was changed)
index-only     a confirmed batch whose root has no `RootAnchored` event in the range read
differs        the event and the batch disagree on one field (``field`` names it:
               ``treeSize``, ``issuer``, ``transactionHash`` or ``blockNumber``)
tree-mismatch  the batch's stored digests no longer hash to its stored root (a changed
               digest or a changed root in the index)

Events by addresses that are none of the index's issuers are counted, not reported: the
contract is shared by many issuers.

Revocations are not audited yet: this node does not send `CredentialRevoked` to the
chain (its revocations live only in the index and the status lists), so there is
nothing on chain to reconcile them with.

Pure logic over an engine and a `LedgerContract`: no printing, no settings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, select
from web3.exceptions import Web3Exception

from anchoring.errors import ChainError
from anchoring.ledger import LedgerContract
from node.batches import rebuild_root
from node.models import BatchState, batch_t, issuer_t

CHAIN_ONLY = "chain-only"
INDEX_ONLY = "index-only"
DIFFERS = "differs"
TREE_MISMATCH = "tree-mismatch"
KINDS = (CHAIN_ONLY, INDEX_ONLY, DIFFERS, TREE_MISMATCH)

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Finding:
    """One disagreement between the chain and the index."""

    kind: str
    root: str  # 64 lower-case hex, no 0x
    batch_id: int | None = None
    field: str | None = None  # for `differs`
    index_value: Any = None
    chain_value: Any = None
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "root": self.root,
            "batchId": self.batch_id,
            "field": self.field,
            "index": self.index_value,
            "chain": self.chain_value,
            "detail": self.detail,
        }


@dataclass
class AuditReport:
    contract: str
    from_block: int
    to_block: int
    events_read: int = 0
    foreign_events: int = 0  # by addresses that are not the index's issuers
    batches_checked: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def counts(self) -> dict[str, int]:
        """Findings per kind, every kind present (zero when none)."""
        counts = dict.fromkeys(KINDS, 0)
        for finding in self.findings:
            counts[finding.kind] += 1
        return counts

    def of_kind(self, kind: str) -> list[Finding]:
        return [f for f in self.findings if f.kind == kind]

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "contract": self.contract,
            "fromBlock": self.from_block,
            "toBlock": self.to_block,
            "eventsRead": self.events_read,
            "foreignEvents": self.foreign_events,
            "batchesChecked": self.batches_checked,
            "findingsByKind": self.counts(),
            "findings": [f.to_json() for f in self.findings],
        }


@dataclass(frozen=True)
class _Event:
    root: str
    issuer: str  # checksummed
    tree_size: int
    transaction_hash: str  # 0x + lower-case hex
    block_number: int


def _hex(value: Any) -> str:
    return bytes(value).hex()


def read_root_events(
    ledger: LedgerContract,
    from_block: int,
    to_block: int,
    *,
    chunk: int = 2000,
    progress: Progress | None = None,
) -> list[_Event]:
    """Every `RootAnchored` event in [from_block, to_block], read ``chunk`` blocks at a time."""
    if chunk < 1:
        raise ValueError("chunk must be at least 1")
    total = max(0, to_block - from_block + 1)
    events: list[_Event] = []
    if progress is not None:
        progress(0, total)
    start = from_block
    while start <= to_block:
        end = min(start + chunk - 1, to_block)
        try:
            logs = ledger.events("RootAnchored", start, end)
        except Web3Exception as exc:
            raise ChainError(f"eth_getLogs for blocks {start}-{end} failed: {exc}") from exc
        for log in logs:
            args = log["args"]
            events.append(
                _Event(
                    root=_hex(args["root"]),
                    issuer=str(args["issuer"]),
                    tree_size=int(args["treeSize"]),
                    transaction_hash="0x" + _hex(log["transactionHash"]),
                    block_number=int(log["blockNumber"]),
                )
            )
        if progress is not None:
            progress(end - from_block + 1, total)
        start = end + 1
    return events


def audit_anchors(
    engine: Engine,
    ledger: LedgerContract,
    *,
    from_block: int,
    to_block: int | None = None,
    chunk: int = 2000,
    progress: Progress | None = None,
) -> AuditReport:
    """Reconcile the `RootAnchored` events in [from_block, to_block] (default: the chain
    head) with the index's confirmed batches. See the module docstring for the kinds."""
    if to_block is None:
        to_block = ledger.client.block_number()
    if from_block < 0 or to_block < from_block:
        raise ValueError(f"bad block range [{from_block}, {to_block}]")
    report = AuditReport(ledger.address, from_block, to_block)

    with engine.connect() as conn:
        address_of = {
            issuer_id: str(address)
            for issuer_id, address in conn.execute(select(issuer_t.c.id, issuer_t.c.chain_address))
        }
        issuers = {address.lower() for address in address_of.values()}
        rows = conn.execute(
            select(
                batch_t.c.id,
                batch_t.c.issuer_id,
                batch_t.c.state,
                batch_t.c.root,
                batch_t.c.tree_size,
                batch_t.c.transaction_hash,
                batch_t.c.block_number,
            ).order_by(batch_t.c.id)
        ).all()
    confirmed = {r.root: r for r in rows if r.state == BatchState.CONFIRMED and r.root}
    unconfirmed = {r.root: r for r in rows if r.state != BatchState.CONFIRMED and r.root}

    events = read_root_events(ledger, from_block, to_block, chunk=chunk, progress=progress)
    report.events_read = len(events)
    by_root: dict[str, _Event] = {}
    for event in events:
        by_root.setdefault(event.root, event)  # the contract anchors a root only once

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
            report.foreign_events += 1
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
            in_range = row.block_number is None or from_block <= row.block_number <= to_block
            if in_range:
                report.findings.append(
                    Finding(
                        INDEX_ONLY,
                        row.root,
                        row.id,
                        detail=f"no RootAnchored event in blocks {from_block}-{to_block}",
                    )
                )
            continue
        expected = {
            "treeSize": (row.tree_size, match.tree_size),
            "issuer": (address_of.get(row.issuer_id), match.issuer),
            "transactionHash": (row.transaction_hash, match.transaction_hash),
            "blockNumber": (row.block_number, match.block_number),
        }
        for name, (mine, theirs) in expected.items():
            same = (
                str(mine or "").lower() == str(theirs).lower()
                if name in ("issuer", "transactionHash")
                else mine == theirs
            )
            if not same:
                report.findings.append(
                    Finding(DIFFERS, row.root, row.id, name, mine, theirs, f"{name} differs")
                )
    return report
