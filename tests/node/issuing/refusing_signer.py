"""A signer for the bulk-issuance tests that fails for two learners, as no real row can make
the signer fail: it is sent to the signing workers by name, so it lives in a module of its own
that they import cheaply."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from mcledger.node.credentials.dataintegrity import DataIntegrityError
from mcledger.node.credentials.fastpath import sign_and_digest
from mcledger.node.credentials.multikey import Ed25519SigningKey

REFUSED = "Refused Learner"  # DataIntegrityError, which crosses back to the parent as it is
KEY_HOLDER = "Key Holder"  # an error that carries the key object (it cannot be pickled)


def sign_or_refuse(
    unsigned: Mapping[str, Any], key: Ed25519SigningKey, method: str, created: datetime
) -> tuple[dict[str, Any], bytes]:
    """The fast path, except for the two learners above."""
    name = unsigned["credentialSubject"]["name"]
    if name == REFUSED:
        raise DataIntegrityError(f"cannot sign the credential of {REFUSED}: refused")
    if name == KEY_HOLDER:
        raise DataIntegrityError("cannot sign with", key)
    return sign_and_digest(unsigned, key, method, created)
