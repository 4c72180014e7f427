"""Bitstring Status List checks (``status.revocation``, ``status.suspension``).

One check per ``credentialStatus`` entry (named by its ``statusPurpose``; W3C Bitstring
Status List v1.0). The list credential is fetched from ``statusListCredential``
(``fetch``), its ``eddsa-rdfc-2022`` signature verified with its did:key, its issuer
and signer must be the credential's issuer, its id the URL and its purpose the entry's;
the bit at ``statusListIndex`` must be 0. A set revocation bit is explained from the
issuer's public revocation history when the list is a node's.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlencode

from mcledger.node.credentials.dataintegrity import is_past, verify_credential
from mcledger.node.credentials.statuslist import (
    ENTRY_TYPE,
    StatusListCredential,
    StatusListError,
    StatusListFormatError,
)
from mcledger.node.verifier.didweb import DidResolver, KeyResolver
from mcledger.node.verifier.fetch import FetchJson, StatusFetchError
from mcledger.node.verifier.names import STATUS_MALFORMED
from mcledger.node.verifier.report import Check
from mcledger.node.verifier.revocation import reason_text

_PURPOSE_NAME = re.compile(r"[a-z][a-zA-Z]{0,31}")
_STATUS_VERBS = {"revocation": "revoked", "suspension": "suspended"}
REVOCATION_PURPOSE = "revocation"
STATUS_LIST_PATH = "/v1/status-lists/"  # where a node serves its lists; history beside it
HISTORY_PAGE = 500  # records a page (the node's maximum)
HISTORY_PAGES = 40  # pages read at most, to name a revocation's reason and time


def status_checks(
    document: Mapping[str, Any],
    issuer: str | None,
    fetch: FetchJson,
    digest: bytes | str,
    resolver: KeyResolver | None = None,
) -> list[Check]:
    """One check per ``credentialStatus`` entry; none when the credential has none.
    ``resolver`` gives the lists' signing keys (default: did:key, and did:web over HTTPS)."""
    resolver = resolver or DidResolver()
    status = document.get("credentialStatus")
    if status is None:
        return []
    entries = status if isinstance(status, list) else [status]
    if not entries:
        return [Check(STATUS_MALFORMED, False, "credentialStatus is an empty list")]
    return [
        _check_status(
            entry,
            issuer,
            fetch,
            lambda url: _revocation_record(url, document, digest, fetch),
            resolver,
        )
        for entry in entries
    ]


def _revocation_record(
    url: str, document: Mapping[str, Any], digest: bytes | str, fetch: FetchJson
) -> str:
    """The reason and time of a revocation whose bit is set in the list at ``url``, from
    the issuer's public revocation history (`GET /v1/revocations` beside the list), read
    from the day the credential became valid: the requests name no credential, so the
    issuer still cannot tell whom a verifier checks. Empty for lists not served by a node."""
    base, found, _ = url.partition(STATUS_LIST_PATH)
    if not found:
        return ""
    query: dict[str, Any] = {"limit": HISTORY_PAGE}
    valid_from = document.get("validFrom")
    if isinstance(valid_from, str) and len(valid_from) >= 10:
        query["since"] = valid_from[:10] + "T00:00:00Z"
    wanted_id = document.get("id")
    wanted_digest = digest.hex() if isinstance(digest, bytes) else None
    try:
        for _ in range(HISTORY_PAGES):
            page = fetch(f"{base}/v1/revocations?{urlencode(query)}")
            for record in page.get("revocations") or []:
                if isinstance(record, Mapping) and (
                    record.get("credentialId") == wanted_id or record.get("digest") == wanted_digest
                ):
                    return (
                        f": {reason_text(int(record['reason']))}, revoked at "
                        f"{record['revokedAt']} (the issuer's revocation history)"
                    )
            if page.get("nextAfter") is None:
                break
            query["after"] = page["nextAfter"]
    except (StatusFetchError, KeyError, TypeError, ValueError) as exc:
        return f"; reason and time unknown: {exc}"
    return "; reason and time not in the issuer's revocation history"


def _check_status(
    entry: Any,
    issuer: str | None,
    fetch: FetchJson,
    explain: Callable[[str], str] | None = None,
    resolver: KeyResolver | None = None,
) -> Check:
    """One entry's check; ``explain(url)`` adds to the detail of a set revocation bit."""
    if not isinstance(entry, Mapping):
        return Check(
            STATUS_MALFORMED, False, f"a credentialStatus entry is not an object: {entry!r}"
        )
    purpose = entry.get("statusPurpose")
    if not isinstance(purpose, str) or not _PURPOSE_NAME.fullmatch(purpose):
        return Check(
            STATUS_MALFORMED, False, f"a credentialStatus entry's statusPurpose: {purpose!r}"
        )
    name = f"status.{purpose}"
    types = entry.get("type")
    if ENTRY_TYPE not in (types if isinstance(types, list) else [types]):
        return Check(name, False, f"not a {ENTRY_TYPE}: type {types!r}")
    if purpose not in _STATUS_VERBS:
        return Check(name, False, f"statusPurpose {purpose!r} is not one this verifier checks")
    if entry.get("statusSize", 1) not in (1, "1"):
        return Check(name, False, f"statusSize {entry.get('statusSize')!r} is not supported")
    raw_index = entry.get("statusListIndex")
    if isinstance(raw_index, str) and raw_index.isascii() and raw_index.isdigit():
        index = int(raw_index)
    elif isinstance(raw_index, int) and not isinstance(raw_index, bool) and raw_index >= 0:
        index = raw_index
    else:
        return Check(name, False, f"statusListIndex is not a non-negative integer: {raw_index!r}")
    url = entry.get("statusListCredential")
    if not isinstance(url, str) or not url:
        return Check(name, False, "the entry names no statusListCredential")
    if issuer is None:
        return Check(name, False, "the credential names no issuer id to check the list against")
    try:
        listed = _verified_list(url, purpose, issuer, fetch, resolver or DidResolver())
        bit = listed.bits().get(index)
    except (StatusFetchError, StatusListFormatError, StatusListError) as exc:
        return Check(name, False, f"the status list at {url}: {exc}")
    if bit:
        more = explain(url) if explain is not None and purpose == REVOCATION_PURPOSE else ""
        return Check(
            name, False, f"{_STATUS_VERBS[purpose]} per the status list published at {url}{more}"
        )
    return Check(
        name,
        True,
        f"not {_STATUS_VERBS[purpose]}: bit {index} is 0 in the list at {url}"
        f" (valid from {listed.valid_from})",
    )


def _verified_list(
    url: str, purpose: str, issuer: str, fetch: FetchJson, resolver: KeyResolver
) -> StatusListCredential:
    """The list credential at ``url``, fetched and checked; raises with the reason."""
    try:
        document = fetch(url)
    except Exception as exc:  # an injected fetcher may raise anything: a failure, not a crash
        detail = str(exc) if isinstance(exc, StatusFetchError) else f"{type(exc).__name__}: {exc}"
        raise StatusFetchError(f"cannot fetch it: {detail}") from None
    if not isinstance(document, Mapping):
        raise StatusFetchError("cannot fetch it: not a JSON object")
    try:
        result = verify_credential(document, resolver)
    except (TypeError, ValueError, KeyError, AttributeError) as exc:  # malformed document
        raise StatusListFormatError(f"cannot verify it: {type(exc).__name__}: {exc}") from None
    if not result.ok:
        raise StatusListFormatError(f"its signature: {result.detail}")
    signer = (result.verification_method or "").partition("#")[0]
    listed = StatusListCredential.from_json(document)
    if listed.issuer != issuer:
        raise StatusListFormatError(
            f"issued by {listed.issuer}, but the credential's issuer is {issuer}"
        )
    if signer != issuer:
        raise StatusListFormatError(f"signed by {signer}, but the credential's issuer is {issuer}")
    if listed.url != url:
        raise StatusListFormatError(f"its id is {listed.url}, not the URL it was fetched from")
    if str(listed.purpose) != purpose:
        raise StatusListFormatError(
            f"its statusPurpose is {listed.purpose}, the entry's is {purpose}"
        )
    valid_until = document.get("validUntil")
    if isinstance(valid_until, str) and is_past(valid_until):
        raise StatusListFormatError(f"it expired at {valid_until} (validUntil)")
    return listed
