"""``digest.notRevoked``: is the digest revoked on the chain by the issuer that anchored it?

A bundle that records its contract's version (``anchor.contractVersion``) fails at once when
`version()` returns another: it was not written for this contract. Then two records, both
read (docs/formats.md "The revocation set", "The proof bundle"):

- the per-digest one every contract version keeps (`revokedAt(issuer, digest)`): a digest
  revoked with `revoke` (a version-1 contract, or the old path of version 2);
- on a contract with revocation commitments (version 2), the issuer's revocation set, whose
  root and size `revocationRootOf(issuer)` returns (one `eth_call`). The bundle's
  ``revocation`` member proves the digest in or out of the set at a committed root; when
  that root is the contract's now, the proof decides. When the root moved since (a *stale*
  proof: a non-membership proof says nothing about later flushes), the commitments made
  since are read from the chain, newest first, one `eth_getLogs` of one block each, by
  following ``previousRoot`` and ``previousBlock`` from `revocationRootOf`'s block down to
  the proof's root: each one lists its digests, so the digest is revoked since exactly when
  one of them lists it (with that flush's reason and time). A bundle without the member
  is walked the same way down to the empty root. A walk longer than ``MAX_WALK``
  commitments, or one that never meets the proof's root, fails: the proof is too old (or
  not the chain's) and a fresh one is needed.

The walk trusts each event's digests to be what its root added, which the contract does not
check; ``mcledger audit`` recomputes every root from the events and reports a root that
does not match them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from mcledger.anchoring.bundle import ProofBundle, RevocationMember, format_time
from mcledger.anchoring.errors import InvalidRevocationProofError, RevocationSetError
from mcledger.anchoring.ledger import (
    COMMITMENT_VERSION,
    LedgerContract,
    RevocationCommitment,
    RevocationReason,
    RevocationsCommitted,
)
from mcledger.anchoring.revocation_proof import EMPTY, RevocationRecord, verify
from mcledger.node.verifier.names import DIGEST_NOT_REVOKED
from mcledger.node.verifier.report import Check

MAX_WALK = 128
"""Commitments a verifier reads back from the contract's root to a stale proof's root."""

T = TypeVar("T")


class StaleProofError(Exception):
    """The commitments since the proof's root cannot be read back to it; says why."""


def reason_text(code: int) -> str:
    """``reason 2 (fraud or misconduct)``."""
    try:
        name = RevocationReason(code).name.lower().replace("_", " ")
    except ValueError:
        name = "unknown"
    return f"reason {code} ({name})"


def iso(timestamp: int) -> str:
    return format_time(datetime.fromtimestamp(timestamp, UTC))


def _attempt(fn: Callable[[], T]) -> tuple[T | None, str | None]:
    try:
        return fn(), None
    except Exception as exc:  # the RPC and web3 raise many unrelated types
        return None, f"{type(exc).__name__}: {str(exc).strip() or 'no message'}"


def check_not_revoked(bundle: ProofBundle, ledger: LedgerContract, issuer: str) -> Check:
    """``digest.notRevoked`` for ``bundle``'s digest, revoked by ``issuer`` (the address that
    anchored its root) on ``ledger`` (see the module docstring)."""
    digest = bundle.digest
    claimed = bundle.anchor.contract_version
    if claimed is not None:  # the bundle says which interface it was written for: check it
        version, error = _attempt(ledger.version)
        if version is None:
            return Check(DIGEST_NOT_REVOKED, False, f"cannot read version(): {error}")
        if version != claimed:
            return Check(
                DIGEST_NOT_REVOKED, False, version_mismatch(ledger.address, claimed, version)
            )
    revoked_at, error = _attempt(lambda: ledger.revoked_at(issuer, digest))
    if revoked_at is None:
        return Check(DIGEST_NOT_REVOKED, False, f"cannot read revokedAt: {error}")
    if revoked_at:
        why, error = _attempt(lambda: ledger.contract.functions.revocationOf(issuer, digest).call())
        reason = f"reason unreadable: {error}" if why is None else reason_text(int(why[1]))
        return Check(
            DIGEST_NOT_REVOKED, False, f"revoked by {issuer} at {iso(revoked_at)}, {reason}"
        )
    member = bundle.revocation
    if member is None and claimed is None:  # a claimed version is 2 or more: it has a set
        version, error = _attempt(ledger.version)
        if version is None:
            return Check(DIGEST_NOT_REVOKED, False, f"cannot read version(): {error}")
        if version < COMMITMENT_VERSION:
            return Check(DIGEST_NOT_REVOKED, True, f"not revoked by {issuer}")
    current, error = _attempt(lambda: ledger.revocation_root_of(issuer))
    if current is None:
        return Check(DIGEST_NOT_REVOKED, False, f"cannot read revocationRootOf: {error}")
    return _against_set(digest, ledger, issuer, member, current)


def version_mismatch(contract: str, claimed: int, version: int) -> str:
    """The detail of a bundle whose ``anchor.contractVersion`` is not the contract's."""
    return (
        f"the bundle says its root was anchored in a version-{claimed} MicroCredentialLedger;"
        f" version() of {contract} returns {version}: the bundle does not describe this contract"
    )


def _revoked(issuer: str, record: RevocationRecord, where: str) -> Check:
    return Check(
        DIGEST_NOT_REVOKED,
        False,
        f"revoked by {issuer} at {iso(record.revoked_at)}, {reason_text(record.reason)} ({where})",
    )


def _against_set(
    digest: bytes,
    ledger: LedgerContract,
    issuer: str,
    member: RevocationMember | None,
    current: RevocationCommitment,
) -> Check:
    now = f"root {current.root.hex()}, {current.size} entries"
    base, base_record = EMPTY, None
    if member is not None:
        try:
            verdict = verify(member.root, digest, member.proof)
        except (InvalidRevocationProofError, RevocationSetError) as exc:
            return Check(DIGEST_NOT_REVOKED, False, f"the bundle's revocation proof: {exc}")
        base, base_record = member.root, verdict.record
        if member.root == current.root:
            if member.size != current.size:
                return Check(
                    DIGEST_NOT_REVOKED,
                    False,
                    f"the bundle says the set at root {current.root.hex()} has {member.size}"
                    f" entries, the contract {current.size}",
                )
            if verdict.record is not None:
                return _revoked(issuer, verdict.record, f"in its revocation set, {now}")
            return Check(
                DIGEST_NOT_REVOKED,
                True,
                f"not revoked by {issuer}: outside its revocation set ({now},"
                f" committed at {iso(current.updated_at)})",
            )
    elif current.root == EMPTY:
        return Check(
            DIGEST_NOT_REVOKED, True, f"not revoked by {issuer}: it has committed no revocation"
        )
    try:
        since = walk_commitments(ledger, issuer, current, base)
    except StaleProofError as exc:
        held = (
            "the bundle's revocation proof is for root " + base.hex()
            if member
            else ("the bundle has no revocation proof")
        )
        return Check(
            DIGEST_NOT_REVOKED,
            False,
            f"{held}; the contract holds {now} and {exc}: get a fresh proof bundle"
            " (GET /v1/proofs/{digest} on the issuer's node, or mcledger prove)",
        )
    except Exception as exc:  # the RPC and web3 raise many unrelated types
        return Check(
            DIGEST_NOT_REVOKED,
            False,
            f"cannot read RevocationsCommitted: {type(exc).__name__}: {exc}",
        )
    if base_record is not None:  # a set only grows: revoked then, revoked now
        return _revoked(issuer, base_record, f"in its revocation set at root {base.hex()}")
    for event in reversed(since):  # oldest first: the first record of a digest stands
        if digest in event.digests:
            return _revoked(
                issuer,
                RevocationRecord(event.reason, event.revoked_at),
                f"committed in block {event.block_number}, transaction {event.transaction_hash}",
            )
    start = f"outside its revocation set at root {base.hex()}" if member else "in none of"
    if member is not None:
        start += f" and in none of the {len(since)} commitments since"
    else:
        start += f" its {len(since)} revocation commitments"
    return Check(DIGEST_NOT_REVOKED, True, f"not revoked by {issuer}: {start} ({now})")


def walk_commitments(
    ledger: LedgerContract,
    issuer: str,
    current: RevocationCommitment,
    base: bytes,
    *,
    unlimited: bool = False,
) -> list[RevocationsCommitted]:
    """The issuer's `RevocationsCommitted` events from its current root back to ``base``,
    newest first; StaleProofError when there are more than ``MAX_WALK`` (unless
    ``unlimited``: the auditor reads them all) or the chain of commitments does not pass
    through ``base``."""
    most = None if unlimited else MAX_WALK
    found: list[RevocationsCommitted] = []
    root, block = current.root, current.updated_block
    while root != base:
        if len(found) == most:
            raise StaleProofError(f"more than {most} commitments were made since")
        if root == EMPTY:
            raise StaleProofError(f"root {base.hex()} is not one of its commitments")
        matching: list[Any] = [
            e for e in ledger.revocation_commitments(block, block, issuer) if e.new_root == root
        ]
        if len(matching) != 1:
            raise StaleProofError(
                f"block {block} holds {len(matching)} RevocationsCommitted events to root"
                f" {root.hex()}, not 1"
            )
        event = matching[0]
        found.append(event)
        root, block = event.previous_root, event.previous_block
    return found
