"""What an audit reports: findings by kind and subject, and the report with its counts
(the kinds are described in ``audit``'s docstring)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

CHAIN_ONLY = "chain-only"
INDEX_ONLY = "index-only"
DIFFERS = "differs"
TREE_MISMATCH = "tree-mismatch"
KINDS = (CHAIN_ONLY, INDEX_ONLY, DIFFERS, TREE_MISMATCH)

ANCHOR = "anchor"
REVOCATION = "revocation"
COMMITMENT = "commitment"  # a revocation commitment: key is its new root
STATUS_LIST = "status-list"  # a committed status list: key is its on-chain id
_KEYS = {  # the JSON names of a finding's key and id, by subject
    ANCHOR: ("root", "batchId"),
    REVOCATION: ("digest", "revocationId"),
    COMMITMENT: ("root", "revocationBatchId"),
    STATUS_LIST: ("listId", "statusList"),
}


@dataclass(frozen=True)
class Finding:
    """One disagreement between the chain and the index. ``key`` is the root (anchors) or
    the digest (revocations), 64 lower-case hex; ``batch_id`` the anchoring batch or the
    revocation's id in the index."""

    kind: str
    key: str
    batch_id: int | str | None = None  # a status list's finding names the list
    field: str | None = None  # for `differs`
    index_value: Any = None
    chain_value: Any = None
    detail: str = ""
    subject: str = ANCHOR

    @property
    def root(self) -> str | None:
        return self.key if self.subject == ANCHOR else None

    @property
    def digest(self) -> str | None:
        return self.key if self.subject == REVOCATION else None

    def to_json(self) -> dict[str, Any]:
        key, ident = _KEYS[self.subject]
        return {
            "kind": self.kind,
            "subject": self.subject,
            key: self.key,
            ident: self.batch_id,
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
    revocation_events_read: int = 0
    foreign_revocations: int = 0
    revocations_checked: int = 0  # sent to the chain: compared with their events
    revocations_pending: int = 0  # not yet confirmed on chain: nothing to compare
    findings: list[Finding] = field(default_factory=list)
    # The ebsi-timestamp target: the Timestamp contract read, its timestamped hashes (by
    # any sender; by others than the index's issuers), and confirmed batches anchored on a
    # contract the audit did not read (another Timestamp contract, or none was given).
    timestamp_contract: str | None = None
    timestamps_read: int = 0
    foreign_timestamps: int = 0
    batches_elsewhere: int = 0
    # Revocation commitments (contract version 2): events read (by anyone; by others than
    # the index's issuers), commitments whose root was recomputed and compared, and status
    # lists compared with their last committed hash (or changed since: pending).
    commitments_read: int = 0
    foreign_commitments: int = 0
    commitments_checked: int = 0
    status_lists_checked: int = 0
    status_lists_pending: int = 0

    @property
    def ok(self) -> bool:
        return not self.findings

    def counts(self) -> dict[str, int]:
        """Findings per kind, every kind present (zero when none)."""
        counts = dict.fromkeys(KINDS, 0)
        for finding in self.findings:
            counts[finding.kind] += 1
        return counts

    def of_kind(self, kind: str, subject: str | None = None) -> list[Finding]:
        return [f for f in self.findings if f.kind == kind and subject in (None, f.subject)]

    def to_json(self) -> dict[str, Any]:
        return (
            {
                "ok": self.ok,
                "contract": self.contract,
                "fromBlock": self.from_block,
                "toBlock": self.to_block,
                "eventsRead": self.events_read,
                "foreignEvents": self.foreign_events,
                "batchesChecked": self.batches_checked,
                "revocationEventsRead": self.revocation_events_read,
                "foreignRevocations": self.foreign_revocations,
                "revocationsChecked": self.revocations_checked,
                "revocationsPending": self.revocations_pending,
            }
            | self._timestamps_json()
            | {
                "commitmentsRead": self.commitments_read,
                "foreignCommitments": self.foreign_commitments,
                "commitmentsChecked": self.commitments_checked,
                "statusListsChecked": self.status_lists_checked,
                "statusListsPending": self.status_lists_pending,
            }
            | {
                "findingsByKind": self.counts(),
                "findings": [f.to_json() for f in self.findings],
            }
        )

    def _timestamps_json(self) -> dict[str, Any]:
        """The timestamp target's counts; absent from a ledger-only audit, as before."""
        if self.timestamp_contract is None and not self.batches_elsewhere:
            return {}
        return {
            "timestampContract": self.timestamp_contract,
            "timestampsRead": self.timestamps_read,
            "foreignTimestamps": self.foreign_timestamps,
            "batchesElsewhere": self.batches_elsewhere,
        }
