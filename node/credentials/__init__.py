"""Verifiable credentials: local JSON-LD contexts, Multikey/did:key keys, Data Integrity proofs.

The names below are imported from their modules on first use (``anchoring.lazy``): the
plain modules of this package (``annex``, ``statuslist``) then load without the JSON-LD
processor and the cryptography library.
"""

from typing import TYPE_CHECKING

from mcledger.anchoring.lazy import lazy_exports

if TYPE_CHECKING:
    from mcledger.node.credentials.dataintegrity import (
        ANCHOR_PROPERTY,
        CanonicalizationError,
        DataIntegrityError,
        VerificationResult,
        canonicalize,
        credential_digest,
        sign_credential,
        verify_credential,
    )
    from mcledger.node.credentials.loader import (
        ContextCheckError,
        ContextFileError,
        LocalContextLoader,
        UnknownContextError,
        check_contexts,
        default_loader,
    )
    from mcledger.node.credentials.multikey import (
        Ed25519SigningKey,
        MultikeyError,
        did_key,
        public_key_from_multibase,
        public_key_multibase,
        resolve_did_key,
        verification_method,
    )

__all__ = [
    "ANCHOR_PROPERTY",
    "CanonicalizationError",
    "ContextCheckError",
    "ContextFileError",
    "DataIntegrityError",
    "Ed25519SigningKey",
    "LocalContextLoader",
    "MultikeyError",
    "UnknownContextError",
    "VerificationResult",
    "canonicalize",
    "check_contexts",
    "credential_digest",
    "default_loader",
    "did_key",
    "public_key_from_multibase",
    "public_key_multibase",
    "resolve_did_key",
    "sign_credential",
    "verification_method",
    "verify_credential",
]

_MODULES = {
    "dataintegrity": (
        "ANCHOR_PROPERTY",
        "CanonicalizationError",
        "DataIntegrityError",
        "VerificationResult",
        "canonicalize",
        "credential_digest",
        "sign_credential",
        "verify_credential",
    ),
    "loader": (
        "ContextCheckError",
        "ContextFileError",
        "LocalContextLoader",
        "UnknownContextError",
        "check_contexts",
        "default_loader",
    ),
    "multikey": (
        "Ed25519SigningKey",
        "MultikeyError",
        "did_key",
        "public_key_from_multibase",
        "public_key_multibase",
        "resolve_did_key",
        "verification_method",
    ),
}
__getattr__ = lazy_exports(__name__, _MODULES)
