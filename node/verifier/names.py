"""The name of every check a verifier reports, in one place.

``mcledger verify --json``, the verifier library and the verifier page report checks
by these names and in these orders; a new check gets its name here first.
"""

from __future__ import annotations

BUNDLE_FORMAT = "bundle.format"
MERKLE_INCLUSION = "merkle.inclusion"
CHAIN_ID = "chain.id"
ANCHOR_ROOT = "anchor.root"
ANCHOR_ISSUER = "anchor.issuer"
ANCHOR_TREE_SIZE = "anchor.treeSize"
ANCHOR_BLOCK = "anchor.block"
ISSUER_REGISTERED = "issuer.registered"
DIGEST_NOT_REVOKED = "digest.notRevoked"

CHECK_NAMES = (
    BUNDLE_FORMAT,
    MERKLE_INCLUSION,
    CHAIN_ID,
    ANCHOR_ROOT,
    ANCHOR_ISSUER,
    ANCHOR_TREE_SIZE,
    ANCHOR_BLOCK,
    ISSUER_REGISTERED,
    DIGEST_NOT_REVOKED,
)
"""Every check a report carries, in report order."""

CREDENTIAL_SIGNATURE = "credential.signature"
CREDENTIAL_ISSUER = "credential.issuer"
CREDENTIAL_DIGEST = "credential.digest"
CREDENTIAL_ID = "credential.id"
ISSUER_DID = "issuer.did"
COMPONENT_PROVIDED = "component.provided"
COMPONENT_DIGEST = "component.digest"
STATUS_REVOCATION = "status.revocation"
STATUS_SUSPENSION = "status.suspension"
STATUS_COMMITTED = "status.committed"
"""The served status list is the one its issuer committed on chain (one per list)."""
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
check per ``credentialStatus`` entry follows them, then (where the ledger takes
commitments) one ``status.committed`` check per status list they name."""
