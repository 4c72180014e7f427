"""Verify a micro-credential (the learner's copy) with nothing but an RPC endpoint.

The learner's copy is the signed credential with its proof bundle as a top-level
``anchorProof`` (docs/architecture.md, "The flow", steps 4 and 5). The report names every
check, in this order, pass or fail:

- ``credential.signature``: the Data Integrity ``eddsa-rdfc-2022`` proof, with the key
  its ``verificationMethod`` names (did:key, resolved locally; did:web, from the DID
  document its web server serves: ``node.verifier.didweb``);
- ``credential.issuer``: that key's DID is the credential's ``issuer`` id;
- ``credential.digest``: SHA-256 of the canonical N-Quads of the credential without
  ``anchorProof`` is the bundle's ``digest``;
- ``credential.id``: the credential's ``id`` is the bundle's ``credentialId``;
- every check of :func:`node.verifier.bundle.verify_bundle` on ``anchorProof``;
- ``issuer.did``: the address that anchored the root was registered on the contract
  under the credential's issuer DID (its latest ``IssuerRegistered`` event at or before
  the anchor's block). Without it the anchor says only that *some* registered issuer
  vouches for the digest, not the one the credential names.

- ``status.committed``: one check per status list, when the ledger beside the anchor
  takes commitments: the list served is the one the issuer committed on chain
  (``node.verifier.status_commitment``).

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

from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import Any, Protocol

from mcledger.anchoring.bundle import ProofBundle
from mcledger.anchoring.chain import ChainClient
from mcledger.anchoring.errors import MerkleError
from mcledger.anchoring.ledger import LedgerContract
from mcledger.anchoring.timestamp import TimestampContract
from mcledger.node.credentials.dataintegrity import (
    ANCHOR_PROPERTY,
    credential_digest,
    verify_credential,
)
from mcledger.node.errors import NodeError
from mcledger.node.verifier.bundle import verify_bundle
from mcledger.node.verifier.didweb import DidResolver, KeyResolver
from mcledger.node.verifier.fetch import FetchJson, fetch_json, fetching_once
from mcledger.node.verifier.names import (
    CHECK_NAMES,
    COMPONENT_DIGEST,
    COMPONENT_PROVIDED,
    CREDENTIAL_DIGEST,
    CREDENTIAL_ID,
    CREDENTIAL_ISSUER,
    CREDENTIAL_SIGNATURE,
    ISSUER_DID,
)
from mcledger.node.verifier.report import (
    Check,
    CredentialReport,
    VerificationReport,
    unparsable_bundle_report,
)
from mcledger.node.verifier.status import status_checks
from mcledger.node.verifier.status_commitment import committed_list_checks
from mcledger.node.verifier.timestamped import timestamp_did, verify_timestamped_bundle

TIMESTAMP_CONTRACT = "EbsiTimestamp"

NOT_ANCHORED = f"not anchored yet: no {ANCHOR_PROPERTY}"


class ChainReads(Protocol):
    """What verifying a credential reads from the chain: one endpoint's :class:`ChainReader`,
    or a reader that picks the endpoint by each bundle's chain id (``verifier.chains``)."""

    def verify_bundle(self, bundle: ProofBundle) -> VerificationReport: ...

    def registered_did(self, bundle: ProofBundle) -> str | None: ...

    def revocation_ledger(self, bundle: ProofBundle) -> LedgerContract | None: ...


class ChainReader:
    """The chain behind one RPC endpoint, read through the committed contract ABI; ``token``
    goes as ``Authorization: Bearer`` on every request (give it only to the endpoint it
    belongs to: MCLEDGER_RPC_TOKEN is for MCLEDGER_RPC_URL)."""

    def __init__(self, rpc_url: str, *, token: str | None = None) -> None:
        self.client = ChainClient(rpc_url, token=token)

    @cached_property
    def _abi(self) -> list[Any]:
        from mcledger.contracts.toolchain import load_artifact

        return list(load_artifact()["abi"])

    @cached_property
    def _timestamp_abi(self) -> list[Any]:
        from mcledger.contracts.toolchain import load_artifact

        return list(load_artifact(TIMESTAMP_CONTRACT)["abi"])

    def ledger(self, address: str) -> LedgerContract:
        return LedgerContract(self.client, address, self._abi)

    def timestamps(self, address: str) -> TimestampContract:
        return TimestampContract(self.client, address, self._timestamp_abi)

    def verify_bundle(self, bundle: ProofBundle) -> VerificationReport:
        """The bundle's chain checks, against the contract the bundle names (and, for a
        root timestamped through EBSI's interface, the ledger it names beside it)."""
        anchor = bundle.anchor
        if anchor.timestamped:
            ledger = None if anchor.ledger is None else self.ledger(anchor.ledger)
            return verify_timestamped_bundle(
                bundle, self.client, self.timestamps(anchor.contract), ledger
            )
        return verify_bundle(bundle, self.client, self.ledger(anchor.contract))

    def revocation_ledger(self, bundle: ProofBundle) -> LedgerContract | None:
        """The MicroCredentialLedger that holds the revocations and status-list commitments
        of the bundle's issuer: the anchor's contract, or the ledger named beside an
        ebsi-timestamp anchor (None when it names none)."""
        anchor = bundle.anchor
        if anchor.timestamped:
            return None if anchor.ledger is None else self.ledger(anchor.ledger)
        return self.ledger(anchor.contract)

    def registered_did(self, bundle: ProofBundle) -> str | None:
        """The DID the bundle's issuer address was registered under, as of the anchor's
        block (the latest registration then); None if it never was. For a root timestamped
        through EBSI's interface with no ledger beside it: the DID its sender declared in
        the timestamp's data."""
        anchor = bundle.anchor
        if anchor.timestamped and anchor.ledger is None:
            record = self.timestamps(anchor.contract).get_timestamp(bundle.proof.root)
            if not record.exists or record.timestamped_by.lower() != anchor.issuer.lower():
                return None
            return timestamp_did(record)
        events = self.ledger(anchor.ledger or anchor.contract).events(
            "IssuerRegistered", 0, anchor.block_number, issuer=anchor.issuer
        )
        return str(events[-1]["args"]["did"]) if events else None


def verify_credential_file(
    document: Mapping[str, Any],
    chain: ChainReads,
    components: Sequence[Mapping[str, Any]] = (),
    *,
    fetch_json: FetchJson = fetch_json,
    resolve_key: KeyResolver | None = None,
) -> CredentialReport:
    """Verify the learner's copy ``document`` and, recursively, the component credentials it
    lists, each from its own learner's copy in ``components`` (matched by ``id``).
    ``fetch_json`` fetches the status list credentials its ``credentialStatus`` names;
    ``resolve_key`` gives the signers' keys (default: did:key, and did:web over HTTPS)."""
    resolver = resolve_key or DidResolver()
    return _verify(document, chain, components, (), fetch_json, resolver)[0]


def _verify(
    document: Mapping[str, Any],
    chain: ChainReads,
    pool: Sequence[Mapping[str, Any]],
    path: tuple[str, ...],
    fetch: FetchJson,
    resolver: KeyResolver,
) -> tuple[CredentialReport, bytes | str]:
    """The report, and the credential's digest (or why it cannot be taken)."""
    credential_id = document.get("id") if isinstance(document.get("id"), str) else None
    issuer = _issuer_did(document)
    digest = _digest(document)
    fetch = fetching_once(fetch)  # a list fetched for its bits is the one hashed
    checks = [_check_signature(document, resolver), _check_issuer(document, issuer)]
    anchored: ProofBundle | str = NOT_ANCHORED
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
            anchored = skipped
            checks += [
                Check(CREDENTIAL_DIGEST, False, skipped),
                Check(CREDENTIAL_ID, False, skipped),
                *unparsable_bundle_report(f"{ANCHOR_PROPERTY}: {exc}").checks,
                Check(ISSUER_DID, False, skipped),
            ]
        else:
            anchored = bundle
            checks += [
                _check_digest(digest, bundle),
                _check_id(credential_id, bundle),
                *chain.verify_bundle(bundle).checks,
                _check_issuer_did(chain, bundle, issuer),
            ]
    checks += status_checks(document, issuer, fetch, digest, resolver)
    checks += committed_list_checks(document, chain, anchored, fetch)
    here = (*path, credential_id or "")
    children = tuple(
        _component(entry, chain, pool, here, fetch, resolver)
        for entry in _listed_components(document)
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


def _check_signature(document: Mapping[str, Any], resolver: KeyResolver) -> Check:
    try:
        result = verify_credential(document, resolver)
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


def _check_issuer_did(chain: ChainReads, bundle: ProofBundle, issuer: str | None) -> Check:
    address = bundle.anchor.issuer
    if issuer is None:
        return Check(ISSUER_DID, False, "the credential names no issuer id")
    try:
        registered = chain.registered_did(bundle)
    except Exception as exc:  # the RPC and web3 raise many unrelated types
        return Check(
            ISSUER_DID, False, f"cannot read IssuerRegistered: {type(exc).__name__}: {exc}"
        )
    if bundle.anchor.timestamped and bundle.anchor.ledger is None:
        # No registry to read: the sender's own declaration, said as such.
        if registered is None:
            why = f"no timestamp of the root by {address} names an issuer DID"
            return Check(ISSUER_DID, False, why)
        if registered != issuer:
            return Check(
                ISSUER_DID,
                False,
                f"{address} declared {registered} in the timestamp's data, the credential's"
                f" issuer is {issuer}",
            )
        return Check(
            ISSUER_DID,
            True,
            f"{address} declared {issuer} in the timestamp's data (its own declaration;"
            " EBSI's Trusted Issuers Registry is not consulted)",
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
    chain: ChainReads,
    pool: Sequence[Mapping[str, Any]],
    path: tuple[str, ...],
    fetch: FetchJson,
    resolver: KeyResolver,
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
    report, digest = _verify(copy, chain, pool, path, fetch, resolver)
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
