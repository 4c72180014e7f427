"""``status.committed``: is the status list the verifier was served the one its issuer
committed on chain? (docs/formats.md "Status lists on the record")

One check per distinct ``statusListCredential`` a credential names, after its
``status.<purpose>`` checks, when the ledger beside the anchor takes commitments (version
2; a bundle with a ``revocation`` member says so, else `version()` is read). The list
fetched for the status check is hashed (SHA-256 of its JCS form) and compared with
`statusListHashOf(issuer, SHA-256(url))`, the issuer being the address that anchored the
credential's root:

- equal: passed;
- nothing committed, or a commitment older than the list (its ``validFrom`` is after the
  commitment's time, less ``GRACE`` seconds for a flush in flight): **not yet committed**,
  with the list's age: not passed, and the verifier page says "cannot check" (a list that
  changed since the last flush is not on the record yet; its issuer commits it at the next);
- different, and the list is older than the commitment: **failed**, a split view: the issuer
  committed one list and serves another.

The list's ``validFrom`` is the issuer's own claim, so only "passed" is evidence; a forged
list can at best be "not yet committed", never passed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from eth_utils import to_checksum_address

from mcledger.anchoring.bundle import ProofBundle
from mcledger.anchoring.ledger import COMMITMENT_VERSION, LedgerContract
from mcledger.anchoring.revocation_proof import EMPTY
from mcledger.anchoring.status_commitment import (
    CanonicalJsonError,
    status_list_hash,
    status_list_key,
)
from mcledger.node.verifier.fetch import FetchJson
from mcledger.node.verifier.names import STATUS_COMMITTED
from mcledger.node.verifier.report import Check
from mcledger.node.verifier.revocation import iso

GRACE = 600
"""Seconds a list may predate the commitment that does not carry it and still count as not
yet committed: a list that changed while a flush was on its way to the chain."""
NOT_YET = "not yet committed: "


class RevocationLedgers(Protocol):
    """Where a bundle's issuer keeps its commitments (``credential.ChainReads`` is one)."""

    def revocation_ledger(self, bundle: ProofBundle) -> LedgerContract | None: ...


def committed_list_checks(
    document: Mapping[str, Any],
    chain: RevocationLedgers,
    anchored: ProofBundle | str,
    fetch: FetchJson,
) -> list[Check]:
    """``status.committed`` for each list the credential names, where the ledger beside its
    anchor takes commitments; failed, with the reason, when that cannot be known."""
    urls = listed_urls(document)
    if not urls:
        return []
    if isinstance(anchored, str):
        return failed_everywhere(urls, anchored)
    try:
        ledger = chain.revocation_ledger(anchored)
        version = COMMITMENT_VERSION if anchored.revocation is not None else None
        if ledger is not None and version is None:
            version = ledger.version()
    except Exception as exc:  # no endpoint for the chain, or the RPC failed
        return failed_everywhere(urls, f"cannot read version(): {type(exc).__name__}: {exc}")
    if ledger is None or version is None or version < COMMITMENT_VERSION:
        return []  # no ledger beside the anchor, or one without commitments (version 1)
    return committed_checks(urls, fetch, ledger, to_checksum_address(anchored.anchor.issuer))


def listed_urls(document: Mapping[str, Any]) -> list[str]:
    """The distinct ``statusListCredential`` URLs of the credential's status entries."""
    status = document.get("credentialStatus")
    entries = status if isinstance(status, list) else [status] if status is not None else []
    urls: list[str] = []
    for entry in entries:
        url = entry.get("statusListCredential") if isinstance(entry, Mapping) else None
        if isinstance(url, str) and url and url not in urls:
            urls.append(url)
    return urls


def failed_everywhere(urls: Sequence[str], why: str) -> list[Check]:
    """The checks when none can run (not anchored, a bundle that did not parse, no chain)."""
    return [Check(STATUS_COMMITTED, False, why) for _ in urls]


def committed_checks(
    urls: Sequence[str],
    fetch: FetchJson,
    ledger: LedgerContract,
    issuer: str,
    now: datetime | None = None,
) -> list[Check]:
    """One ``status.committed`` check per URL against ``issuer``'s commitments on ``ledger``."""
    return [_check(url, fetch, ledger, issuer, now or datetime.now(UTC)) for url in urls]


def _check(url: str, fetch: FetchJson, ledger: LedgerContract, issuer: str, now: datetime) -> Check:
    try:
        document = fetch(url)
    except Exception as exc:  # a fetcher may raise anything: the list is not there to hash
        return Check(STATUS_COMMITTED, False, f"cannot fetch the list at {url}: {exc}")
    if not isinstance(document, Mapping):
        return Check(STATUS_COMMITTED, False, f"the list at {url} is not a JSON object")
    try:
        served = status_list_hash(document)
    except CanonicalJsonError as exc:
        return Check(STATUS_COMMITTED, False, f"cannot hash the list at {url}: {exc}")
    try:
        onchain = ledger.status_list_hash_of(issuer, status_list_key(url))
    except Exception as exc:  # the RPC and web3 raise many unrelated types
        return Check(
            STATUS_COMMITTED,
            False,
            f"cannot read statusListHashOf: {type(exc).__name__}: {exc}",
        )
    if onchain.list_hash == served:
        return Check(
            STATUS_COMMITTED,
            True,
            f"the list at {url} is the one {issuer} committed at {iso(onchain.updated_at)}"
            f" (SHA-256 {served.hex()})",
        )
    valid_from = _valid_from(document)
    age = _age(valid_from, now)
    if onchain.list_hash == EMPTY:
        return Check(
            STATUS_COMMITTED,
            False,
            f"{NOT_YET}{issuer} has committed no hash of the list at {url}; {age}",
        )
    if valid_from is None or valid_from > onchain.updated_at - GRACE:
        return Check(
            STATUS_COMMITTED,
            False,
            f"{NOT_YET}the list at {url} changed after {issuer}'s last commitment of it"
            f" ({iso(onchain.updated_at)}); {age}",
        )
    return Check(
        STATUS_COMMITTED,
        False,
        f"the list served at {url} is not the one {issuer} committed at"
        f" {iso(onchain.updated_at)}, though it is older (validFrom {iso(valid_from)}):"
        f" a split view (SHA-256 {served.hex()}, committed {onchain.list_hash.hex()})",
    )


def _valid_from(document: Mapping[str, Any]) -> int | None:
    text = document.get("validFrom")
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def _age(valid_from: int | None, now: datetime) -> str:
    if valid_from is None:
        return "the list has no readable validFrom"
    seconds = max(0, int(now.timestamp()) - valid_from)
    return f"the list is {seconds} s old (validFrom {iso(valid_from)})"
