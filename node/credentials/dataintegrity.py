"""Data Integrity proofs with the ``eddsa-rdfc-2022`` cryptosuite, and the credential digest.

Follows W3C "Data Integrity EdDSA Cryptosuites v1.0", section 3.3 (eddsa-rdfc-2022):
the document and the proof configuration are each canonicalized with RDFC-1.0,
hashed with SHA-256, and the two hashes (proof configuration first) are signed
with Ed25519. Contexts come from the local loader only (never the network).

Canonicalization refuses a document from which JSON-LD expansion would
silently drop a property (a term no context defines): such a property would be
unsigned, so a change to it would go unnoticed ("safe mode", as other
Data Integrity implementations do).
"""

from __future__ import annotations

import copy
import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pyld import jsonld

from mcledger.node.credentials.loader import (
    ContextCheckError,
    LocalContextLoader,
    UnknownContextError,
    check_contexts,
    default_loader,
)
from mcledger.node.credentials.multikey import (
    Ed25519SigningKey,
    MultikeyError,
    multibase_decode,
    multibase_encode,
    verify_ed25519,
)
from mcledger.node.errors import NodeError

PROOF_TYPE = "DataIntegrityProof"
CRYPTOSUITE = "eddsa-rdfc-2022"
PROOF_PURPOSE = "assertionMethod"
ANCHOR_PROPERTY = "anchorProof"

# XML Schema 1.1 dateTime, as Data Integrity requires for `created` and `expires`.
_DATETIME = re.compile(
    r"-?\d{4,}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d+)?"
    r"(Z|[+-]((0\d|1[0-3]):[0-5]\d|14:00))?"
)


class DataIntegrityError(NodeError):
    """A credential cannot be signed or digested as given (bad proof options, bad document)."""


class CanonicalizationError(DataIntegrityError):
    """RDFC-1.0 canonicalization failed: invalid JSON-LD, or a property no context defines."""


@dataclass(frozen=True)
class VerificationResult:
    """Outcome of :func:`verify_credential`; ``detail`` says why when ``ok`` is false."""

    ok: bool
    detail: str
    verification_method: str | None = None


class _DroppedProperty(Exception):
    def __init__(self, term: str | None) -> None:
        super().__init__(term)
        self.term = term


def _refuse_dropped(term: str | None) -> None:
    raise _DroppedProperty(term)


def _root_cause(exc: BaseException, kind: type[BaseException]) -> BaseException | None:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, kind):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def canonicalize(document: Mapping[str, Any], loader: LocalContextLoader | None = None) -> str:
    """RDFC-1.0 (URDNA2015) canonical N-Quads of a JSON-LD document, contexts from ``loader``.

    Raises UnknownContextError for a context the loader does not hold, and
    CanonicalizationError for anything else that keeps the document from
    turning into RDF whole.
    """
    loader = loader or default_loader()
    options = loader.options()
    options.update({"algorithm": "URDNA2015", "format": "application/n-quads"})
    processor = jsonld.JsonLdProcessor(on_property_dropped=_refuse_dropped)
    try:
        result = processor.normalize(dict(document), options)
    except Exception as exc:  # pyld wraps every cause in JsonLdError chains
        unknown = _root_cause(exc, UnknownContextError)
        if unknown is not None:
            raise unknown from None
        dropped = _root_cause(exc, _DroppedProperty)
        if isinstance(dropped, _DroppedProperty):
            raise CanonicalizationError(
                f"property {dropped.term!r} is not defined by any context: it would not be "
                "signed; define it in a context or remove it"
            ) from None
        # Anything else pyld raises (its own errors, or KeyError/TypeError on odd input) means
        # the document cannot be canonicalized; a verifier must report that, not crash.
        raise CanonicalizationError(f"not valid JSON-LD: {_jsonld_reason(exc)}") from None
    if not isinstance(result, str):
        raise CanonicalizationError("canonicalization did not produce N-Quads")
    return result


def _jsonld_reason(exc: BaseException) -> str:
    reasons = []
    seen: BaseException | None = exc
    while seen is not None:
        reasons.append(str(getattr(seen, "message", None) or seen).splitlines()[0])
        seen = seen.__cause__
    return "; ".join(reasons)


def format_created(created: datetime | str) -> str:
    """``created`` as an XML Schema dateTime: an aware datetime in UTC to the second, or a
    string that already is one."""
    if isinstance(created, datetime):
        if created.tzinfo is None:
            raise DataIntegrityError("created: a datetime needs a time zone (use UTC)")
        return created.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if not isinstance(created, str) or not _DATETIME.fullmatch(created):
        raise DataIntegrityError(f"created: {created!r} is not an XML Schema dateTime")
    return created


def proof_configuration(
    document: Mapping[str, Any], proof_options: Mapping[str, Any]
) -> dict[str, Any]:
    """The proof configuration (section 3.3.5): the proof options with the document's @context.

    Raises DataIntegrityError when the type or cryptosuite is not ours or a date is malformed.
    """
    if proof_options.get("type") != PROOF_TYPE or proof_options.get("cryptosuite") != CRYPTOSUITE:
        raise DataIntegrityError(f"proof: type must be {PROOF_TYPE}, cryptosuite {CRYPTOSUITE}")
    for name in ("created", "expires"):
        value = proof_options.get(name)
        if value is not None and not (isinstance(value, str) and _DATETIME.fullmatch(value)):
            raise DataIntegrityError(f"proof.{name}: {value!r} is not an XML Schema dateTime")
    config = copy.deepcopy(dict(proof_options))
    config.pop("proofValue", None)
    config["@context"] = copy.deepcopy(document["@context"])
    return config


def hash_data(canonical_proof_config: str, canonical_document: str) -> bytes:
    """SHA-256(canonical proof configuration) ‖ SHA-256(canonical document) (section 3.3.4)."""
    return (
        hashlib.sha256(canonical_proof_config.encode("utf-8")).digest()
        + hashlib.sha256(canonical_document.encode("utf-8")).digest()
    )


def sign_credential(
    credential: Mapping[str, Any],
    key: Ed25519SigningKey,
    verification_method: str,
    created: datetime | str,
    *,
    loader: LocalContextLoader | None = None,
) -> dict[str, Any]:
    """A copy of ``credential`` with an ``eddsa-rdfc-2022`` proof (section 3.3.1, Add Proof).

    ``verification_method`` is the DID URL a verifier resolves to ``key``'s public key.
    """
    loader = loader or default_loader()
    if "proof" in credential:
        raise DataIntegrityError("proof: the credential is already signed")
    if ANCHOR_PROPERTY in credential:
        raise DataIntegrityError(f"{ANCHOR_PROPERTY}: an anchor proof is added after signing")
    check_contexts(credential, loader)
    proof: dict[str, Any] = {
        "type": PROOF_TYPE,
        "cryptosuite": CRYPTOSUITE,
        "created": format_created(created),
        "verificationMethod": verification_method,
        "proofPurpose": PROOF_PURPOSE,
    }
    config = proof_configuration(credential, proof)
    data = hash_data(canonicalize(config, loader), canonicalize(credential, loader))
    proof["proofValue"] = multibase_encode(key.sign(data))
    signed = copy.deepcopy(dict(credential))
    signed["proof"] = proof
    return signed


def verify_credential(
    credential: Mapping[str, Any],
    resolve_key: Callable[[str], bytes],
    *,
    loader: LocalContextLoader | None = None,
) -> VerificationResult:
    """Check the credential's one ``eddsa-rdfc-2022`` proof (section 3.3.2, Verify Proof).

    ``resolve_key`` maps the proof's verificationMethod to a raw Ed25519 public
    key (e.g. :func:`node.credentials.multikey.resolve_did_key`). Never raises
    on a bad credential: the result says what failed. Whether the key may speak
    for the credential's issuer is the caller's policy, not checked here.
    """
    loader = loader or default_loader()
    try:
        return _verify(credential, resolve_key, loader)
    except (DataIntegrityError, UnknownContextError, ContextCheckError, MultikeyError) as exc:
        return VerificationResult(False, str(exc))


def _verify(
    credential: Mapping[str, Any],
    resolve_key: Callable[[str], bytes],
    loader: LocalContextLoader,
) -> VerificationResult:
    proof = credential.get("proof")
    if isinstance(proof, list):
        return VerificationResult(False, "proof: proof sets and chains are not supported")
    if not isinstance(proof, dict):
        return VerificationResult(False, "proof: missing or not an object")
    method = proof.get("verificationMethod")
    if not isinstance(method, str):
        return VerificationResult(False, "proof.verificationMethod: missing")
    if proof.get("proofPurpose") != PROOF_PURPOSE:
        return VerificationResult(False, f"proof.proofPurpose: must be {PROOF_PURPOSE}", method)
    proof_value = proof.get("proofValue")
    if not isinstance(proof_value, str):
        return VerificationResult(False, "proof.proofValue: missing", method)
    expires = proof.get("expires")
    if isinstance(expires, str) and _DATETIME.fullmatch(expires) and is_past(expires):
        return VerificationResult(False, f"proof.expires: the proof expired at {expires}", method)
    check_contexts(credential, loader)
    unsecured = {k: v for k, v in credential.items() if k not in ("proof", ANCHOR_PROPERTY)}
    options = {k: v for k, v in proof.items() if k != "proofValue"}
    if "@context" in options:
        # A proof that names its own contexts must name a prefix of the document's (3.3.2 step 4).
        proof_contexts = options["@context"]
        if not isinstance(proof_contexts, list):
            proof_contexts = [proof_contexts]
        if unsecured["@context"][: len(proof_contexts)] != proof_contexts:
            return VerificationResult(
                False, "proof.@context: does not match the start of the document's", method
            )
        unsecured["@context"] = proof_contexts
        del options["@context"]
    config = proof_configuration(unsecured, options)
    try:
        signature = multibase_decode(proof_value)
    except MultikeyError as exc:
        return VerificationResult(False, f"proof.proofValue: {exc}", method)
    if len(signature) != 64:
        return VerificationResult(
            False, "proof.proofValue: not a 64-byte Ed25519 signature", method
        )
    try:
        public_key = resolve_key(method)
    except Exception as exc:  # any resolver failure is a verification failure, not a crash
        return VerificationResult(False, f"proof.verificationMethod: {exc}", method)
    data = hash_data(canonicalize(config, loader), canonicalize(unsecured, loader))
    if not verify_ed25519(public_key, signature, data):
        return VerificationResult(False, "proof.proofValue: the signature does not match", method)
    return VerificationResult(True, "signature valid (eddsa-rdfc-2022)", method)


def is_past(timestamp: str) -> bool:
    """Whether an XML Schema dateTime lies in the past (no zone = UTC); unparsable = no."""
    try:
        moment = datetime.fromisoformat(timestamp)
    except ValueError:
        return False
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment < datetime.now(UTC)


def credential_digest(
    signed: Mapping[str, Any], *, loader: LocalContextLoader | None = None
) -> bytes:
    """The credential's digest, the leaf the node anchors (docs/architecture.md, the flow, step 1).

    SHA-256 over the RDFC-1.0 canonical N-Quads of the signed credential,
    its ``proof`` included, with any top-level ``anchorProof`` left out: that
    property is where the learner's copy later carries the proof bundle, which
    cannot be part of what it proves.
    """
    loader = loader or default_loader()
    if "proof" not in signed:
        raise DataIntegrityError("proof: the digest is taken over a signed credential")
    check_contexts(signed, loader)
    document = {k: v for k, v in signed.items() if k != ANCHOR_PROPERTY}
    return hashlib.sha256(canonicalize(document, loader).encode("utf-8")).digest()
