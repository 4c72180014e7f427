"""Verify a micro-credential (the learner's copy) with nothing but an RPC endpoint.

The learner's copy is the signed credential with its proof bundle as a top-level
``anchorProof`` (DESIGN.md, "The flow", steps 4 and 5). The report names every
check, in this order, pass or fail:

- ``credential.signature``: the Data Integrity ``eddsa-rdfc-2022`` proof, with the key
  its ``verificationMethod`` names (did:key, resolved locally: no network);
- ``credential.issuer``: that key's DID is the credential's ``issuer`` id;
- ``credential.digest``: SHA-256 of the canonical N-Quads of the credential without
  ``anchorProof`` is the bundle's ``digest``;
- ``credential.id``: the credential's ``id`` is the bundle's ``credentialId``;
- every check of :func:`anchoring.verify.verify_bundle` on ``anchorProof``;
- ``issuer.did``: the address that anchored the root was registered on the contract
  under the credential's issuer DID (its latest ``IssuerRegistered`` event at or before
  the anchor's block). Without it the anchor says only that *some* registered issuer
  vouches for the digest, not the one the credential names.

- ``status.revocation`` / ``status.suspension``: one check per ``credentialStatus``
  entry (named by its ``statusPurpose``; W3C Bitstring Status List v1.0). The list
  credential is fetched from ``statusListCredential`` (http/https only, 10 s, 2 MiB), its
  ``eddsa-rdfc-2022`` signature verified with its did:key, its issuer and signer must be
  the credential's issuer, its id the URL and its purpose the entry's; the bit at
  ``statusListIndex`` (index 0 = the most significant bit of the first byte) must be 0.
  A list that cannot be fetched or verified fails the check, with the reason. The list
  shows a revocation at once; ``digest.notRevoked`` shows it once it is anchored.

A copy without ``anchorProof`` fails every chain check ("not anchored yet"); nothing is
ever skipped into a pass. Stacking: each ``credentialSubject.components[]`` entry
(``id``, ``digest``) becomes a child report, verified in full from the component's own
learner's copy when one is given; a component without a copy fails.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any
from urllib.parse import urlencode, urlsplit

from mcledger.anchoring.bundle import ProofBundle
from mcledger.anchoring.chain import ChainClient
from mcledger.anchoring.errors import MerkleError
from mcledger.anchoring.ledger import LedgerContract
from mcledger.node.credentials.dataintegrity import (
    ANCHOR_PROPERTY,
    credential_digest,
    is_past,
    verify_credential,
)
from mcledger.node.credentials.multikey import resolve_did_key
from mcledger.node.credentials.statuslist import (
    ENTRY_TYPE,
    StatusListCredential,
    StatusListError,
    StatusListFormatError,
)
from mcledger.node.errors import NodeError
from mcledger.node.verifier.bundle import (
    CHECK_NAMES,
    Check,
    VerificationReport,
    reason_text,
    unparsable_bundle_report,
    verify_bundle,
)

CREDENTIAL_SIGNATURE = "credential.signature"
CREDENTIAL_ISSUER = "credential.issuer"
CREDENTIAL_DIGEST = "credential.digest"
CREDENTIAL_ID = "credential.id"
ISSUER_DID = "issuer.did"
COMPONENT_PROVIDED = "component.provided"
COMPONENT_DIGEST = "component.digest"
STATUS_REVOCATION = "status.revocation"
STATUS_SUSPENSION = "status.suspension"
STATUS_MALFORMED = "status"
"""A ``credentialStatus`` entry that names no usable ``statusPurpose``."""

CREDENTIAL_CHECK_NAMES = (
    CREDENTIAL_SIGNATURE,
    CREDENTIAL_ISSUER,
    CREDENTIAL_DIGEST,
    CREDENTIAL_ID,
    *CHECK_NAMES,
    ISSUER_DID,
)
"""Every check a credential's report carries, in report order (a component's report
starts with ``component.provided`` and ``component.digest``); one ``status.<purpose>``
check per ``credentialStatus`` entry follows them."""

STATUS_FETCH_TIMEOUT = 10.0
STATUS_LIST_MAX_BYTES = 2 * 1024 * 1024
_PURPOSE_NAME = re.compile(r"[a-z][a-zA-Z]{0,31}")
_STATUS_VERBS = {"revocation": "revoked", "suspension": "suspended"}
REVOCATION_PURPOSE = "revocation"
STATUS_LIST_PATH = "/v1/status-lists/"  # where a node serves its lists; history beside it
HISTORY_PAGE = 500  # records a page (the node's maximum)
HISTORY_PAGES = 40  # pages read at most, to name a revocation's reason and time

FetchJson = Callable[[str], Mapping[str, Any]]
"""Fetches a status list credential: its URL to the JSON object it serves; raises on
any failure (the message becomes the failed check's detail)."""


class StatusFetchError(NodeError):
    """A status list credential could not be fetched or is not a JSON object."""


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: Any,
        code: int,
        msg: str,
        headers: Any,
        newurl: str,
    ) -> urllib.request.Request | None:
        if urlsplit(newurl).scheme.lower() not in ("http", "https"):
            raise StatusFetchError(f"redirected to a URL that is not http(s): {newurl}")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_OPENER = urllib.request.build_opener(_HttpOnlyRedirects)


def fetch_json(url: str) -> dict[str, Any]:
    """GET ``url`` (http or https only) with a 10 s timeout and a 2 MiB cap; the JSON
    object it serves. Raises StatusFetchError on any failure."""
    if urlsplit(url).scheme.lower() not in ("http", "https"):
        raise StatusFetchError(f"not an http(s) URL: {url}")
    request = urllib.request.Request(
        url, headers={"Accept": "application/vc+ld+json, application/ld+json, application/json"}
    )
    try:
        with _OPENER.open(request, timeout=STATUS_FETCH_TIMEOUT) as response:
            body = response.read(STATUS_LIST_MAX_BYTES + 1)
    except StatusFetchError:
        raise
    except (OSError, ValueError) as exc:  # URLError, HTTPError, timeouts, bad URLs
        raise StatusFetchError(f"{type(exc).__name__}: {exc}") from None
    if len(body) > STATUS_LIST_MAX_BYTES:
        raise StatusFetchError(f"the response is larger than {STATUS_LIST_MAX_BYTES} bytes")
    try:
        document = json.loads(body)
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        raise StatusFetchError(f"not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise StatusFetchError("not a JSON object")
    return document


NOT_ANCHORED = f"not anchored yet: no {ANCHOR_PROPERTY}"


@dataclass(frozen=True)
class CredentialReport(VerificationReport):
    """One credential's checks (``failed`` and ``check`` are about these alone) and its
    components' reports; ``ok`` only when there are checks, all passed, and every
    component is ok."""

    credential_id: str | None = None
    components: tuple[CredentialReport, ...] = ()

    @property
    def ok(self) -> bool:
        return super().ok and all(component.ok for component in self.components)

    def walk(self) -> Iterator[CredentialReport]:
        """This report and every component report below it, depth first."""
        yield self
        for component in self.components:
            yield from component.walk()

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.credential_id,
            "ok": self.ok,
            "checks": [check.to_json() for check in self.checks],
            "components": [component.to_json() for component in self.components],
        }


class ChainReader:
    """The chain behind one RPC endpoint, read through the committed contract ABI."""

    def __init__(self, rpc_url: str) -> None:
        self.client = ChainClient(rpc_url)

    @cached_property
    def _abi(self) -> list[Any]:
        from mcledger.contracts.toolchain import load_artifact

        return list(load_artifact()["abi"])

    def ledger(self, address: str) -> LedgerContract:
        return LedgerContract(self.client, address, self._abi)

    def verify_bundle(self, bundle: ProofBundle) -> VerificationReport:
        """The bundle's chain checks, against the contract the bundle names."""
        return verify_bundle(bundle, self.client, self.ledger(bundle.anchor.contract))

    def registered_did(self, bundle: ProofBundle) -> str | None:
        """The DID the bundle's issuer address was registered under, as of the anchor's
        block (the latest registration then); None if it never was."""
        events = self.ledger(bundle.anchor.contract).events(
            "IssuerRegistered", 0, bundle.anchor.block_number, issuer=bundle.anchor.issuer
        )
        return str(events[-1]["args"]["did"]) if events else None


def verify_credential_file(
    document: Mapping[str, Any],
    chain: ChainReader,
    components: Sequence[Mapping[str, Any]] = (),
    *,
    fetch_json: FetchJson = fetch_json,
) -> CredentialReport:
    """Verify the learner's copy ``document`` and, recursively, the component credentials it
    lists, each from its own learner's copy in ``components`` (matched by ``id``).
    ``fetch_json`` fetches the status list credentials its ``credentialStatus`` names."""
    return _verify(document, chain, components, (), fetch_json)[0]


def _verify(
    document: Mapping[str, Any],
    chain: ChainReader,
    pool: Sequence[Mapping[str, Any]],
    path: tuple[str, ...],
    fetch: FetchJson,
) -> tuple[CredentialReport, bytes | str]:
    """The report, and the credential's digest (or why it cannot be taken)."""
    credential_id = document.get("id") if isinstance(document.get("id"), str) else None
    issuer = _issuer_did(document)
    digest = _digest(document)
    checks = [_check_signature(document), _check_issuer(document, issuer)]
    if ANCHOR_PROPERTY not in document:
        shown = (
            f" (its digest is {digest.hex()})"
            if isinstance(digest, bytes)
            else f" (and no digest: {digest})"
        )
        checks += [
            Check(CREDENTIAL_DIGEST, False, NOT_ANCHORED + shown),
            Check(CREDENTIAL_ID, False, NOT_ANCHORED),
            *(Check(name, False, NOT_ANCHORED) for name in (*CHECK_NAMES, ISSUER_DID)),
        ]
    else:
        try:
            bundle = ProofBundle.from_json(document[ANCHOR_PROPERTY])
        except MerkleError as exc:  # BundleError, or a malformed proof inside it
            skipped = f"skipped: the {ANCHOR_PROPERTY} did not parse"
            checks += [
                Check(CREDENTIAL_DIGEST, False, skipped),
                Check(CREDENTIAL_ID, False, skipped),
                *unparsable_bundle_report(f"{ANCHOR_PROPERTY}: {exc}").checks,
                Check(ISSUER_DID, False, skipped),
            ]
        else:
            checks += [
                _check_digest(digest, bundle),
                _check_id(credential_id, bundle),
                *chain.verify_bundle(bundle).checks,
                _check_issuer_did(chain, bundle, issuer),
            ]
    checks += _status_checks(document, issuer, fetch, digest)
    here = (*path, credential_id or "")
    children = tuple(
        _component(entry, chain, pool, here, fetch) for entry in _listed_components(document)
    )
    return CredentialReport(tuple(checks), credential_id, children), digest


def _issuer_did(document: Mapping[str, Any]) -> str | None:
    issuer = document.get("issuer")
    if isinstance(issuer, Mapping):
        issuer = issuer.get("id")
    return issuer if isinstance(issuer, str) else None


def _digest(document: Mapping[str, Any]) -> bytes | str:
    """The credential's digest, or why it cannot be taken."""
    try:
        return credential_digest(document)
    except (NodeError, TypeError, ValueError, KeyError, AttributeError) as exc:
        # A verifier reports a document it cannot digest; it never crashes on one.
        return f"{type(exc).__name__}: {exc}" if not isinstance(exc, NodeError) else str(exc)


def _check_signature(document: Mapping[str, Any]) -> Check:
    try:
        result = verify_credential(document, resolve_did_key)
    except (TypeError, ValueError, KeyError, AttributeError) as exc:  # malformed document
        return Check(CREDENTIAL_SIGNATURE, False, f"cannot verify: {type(exc).__name__}: {exc}")
    if not result.ok:
        return Check(CREDENTIAL_SIGNATURE, False, result.detail)
    return Check(CREDENTIAL_SIGNATURE, True, f"{result.detail} by {result.verification_method}")


def _check_issuer(document: Mapping[str, Any], issuer: str | None) -> Check:
    proof = document.get("proof")
    method = proof.get("verificationMethod") if isinstance(proof, Mapping) else None
    if not isinstance(method, str):
        return Check(CREDENTIAL_ISSUER, False, "the proof names no verificationMethod")
    if issuer is None:
        return Check(CREDENTIAL_ISSUER, False, "the credential names no issuer id")
    signer = method.partition("#")[0]
    if signer != issuer:
        return Check(
            CREDENTIAL_ISSUER, False, f"signed by {signer}, but the credential's issuer is {issuer}"
        )
    return Check(CREDENTIAL_ISSUER, True, f"signed by the issuer, {issuer}")


def _check_digest(digest: bytes | str, bundle: ProofBundle) -> Check:
    if isinstance(digest, str):
        return Check(CREDENTIAL_DIGEST, False, f"cannot take the digest: {digest}")
    if digest != bundle.digest:
        return Check(
            CREDENTIAL_DIGEST,
            False,
            f"the credential's digest is {digest.hex()}, the {ANCHOR_PROPERTY} proves"
            f" {bundle.digest.hex()}",
        )
    return Check(CREDENTIAL_DIGEST, True, f"{digest.hex()}, as the {ANCHOR_PROPERTY} proves")


def _check_id(credential_id: str | None, bundle: ProofBundle) -> Check:
    if bundle.credential_id is None:
        return Check(CREDENTIAL_ID, False, f"the {ANCHOR_PROPERTY} names no credentialId")
    if credential_id != bundle.credential_id:
        return Check(
            CREDENTIAL_ID,
            False,
            f"the credential's id is {credential_id}, the {ANCHOR_PROPERTY} is for"
            f" {bundle.credential_id}",
        )
    return Check(CREDENTIAL_ID, True, credential_id)


def _check_issuer_did(chain: ChainReader, bundle: ProofBundle, issuer: str | None) -> Check:
    address = bundle.anchor.issuer
    if issuer is None:
        return Check(ISSUER_DID, False, "the credential names no issuer id")
    try:
        registered = chain.registered_did(bundle)
    except Exception as exc:  # the RPC and web3 raise many unrelated types
        return Check(
            ISSUER_DID, False, f"cannot read IssuerRegistered: {type(exc).__name__}: {exc}"
        )
    if registered is None:
        return Check(ISSUER_DID, False, f"{address} was never registered on the contract")
    if registered != issuer:
        return Check(
            ISSUER_DID,
            False,
            f"{address} is registered as {registered}, the credential's issuer is {issuer}",
        )
    return Check(ISSUER_DID, True, f"{address} is registered as {issuer}")


def _status_checks(
    document: Mapping[str, Any], issuer: str | None, fetch: FetchJson, digest: bytes | str
) -> list[Check]:
    """One check per ``credentialStatus`` entry; none when the credential has none."""
    status = document.get("credentialStatus")
    if status is None:
        return []
    entries = status if isinstance(status, list) else [status]
    if not entries:
        return [Check(STATUS_MALFORMED, False, "credentialStatus is an empty list")]
    return [
        _check_status(
            entry, issuer, fetch, lambda url: _revocation_record(url, document, digest, fetch)
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
    entry: Any, issuer: str | None, fetch: FetchJson, explain: Callable[[str], str] | None = None
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
        listed = _verified_list(url, purpose, issuer, fetch)
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


def _verified_list(url: str, purpose: str, issuer: str, fetch: FetchJson) -> StatusListCredential:
    """The list credential at ``url``, fetched and checked; raises with the reason."""
    try:
        document = fetch(url)
    except Exception as exc:  # an injected fetcher may raise anything: a failure, not a crash
        detail = str(exc) if isinstance(exc, StatusFetchError) else f"{type(exc).__name__}: {exc}"
        raise StatusFetchError(f"cannot fetch it: {detail}") from None
    if not isinstance(document, Mapping):
        raise StatusFetchError("cannot fetch it: not a JSON object")
    try:
        result = verify_credential(document, resolve_did_key)
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


def _listed_components(document: Mapping[str, Any]) -> list[Any]:
    subjects = document.get("credentialSubject")
    if not isinstance(subjects, list):
        subjects = [subjects]
    listed: list[Any] = []
    for subject in subjects:
        if isinstance(subject, Mapping) and isinstance(subject.get("components"), list):
            listed += subject["components"]
    return listed


def _component(
    entry: Any,
    chain: ChainReader,
    pool: Sequence[Mapping[str, Any]],
    path: tuple[str, ...],
    fetch: FetchJson,
) -> CredentialReport:
    component_id = entry.get("id") if isinstance(entry, Mapping) else None
    listed = entry.get("digest") if isinstance(entry, Mapping) else None
    if not isinstance(component_id, str) or not isinstance(listed, str):
        return _missing(None, f"a malformed components entry: {entry!r}")
    if component_id in path:
        return _missing(component_id, "a cycle: the component lists a credential above it")
    copy = next((doc for doc in pool if doc.get("id") == component_id), None)
    if copy is None:
        return _missing(component_id, "component not provided (give its learner's copy)")
    report, digest = _verify(copy, chain, pool, path, fetch)
    if not isinstance(digest, bytes):
        matches = Check(COMPONENT_DIGEST, False, f"cannot take the digest: {digest}")
    elif digest.hex() != listed:
        matches = Check(
            COMPONENT_DIGEST,
            False,
            f"the copy's digest is {digest.hex()}, the stack lists {listed}",
        )
    else:
        matches = Check(COMPONENT_DIGEST, True, f"{listed}, as the stack lists")
    provided = Check(COMPONENT_PROVIDED, True, "its learner's copy is given")
    return CredentialReport((provided, matches, *report.checks), component_id, report.components)


def _missing(component_id: str | None, why: str) -> CredentialReport:
    return CredentialReport(
        (
            Check(COMPONENT_PROVIDED, False, why),
            Check(COMPONENT_DIGEST, False, "skipped: no learner's copy to compare"),
        ),
        component_id,
    )
