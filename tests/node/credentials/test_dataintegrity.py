"""eddsa-rdfc-2022 Data Integrity proofs, local contexts and Multikey keys.

The test vector is the one in W3C "Data Integrity EdDSA Cryptosuites v1.0"
(repository w3c/vc-di-eddsa, TestVectors/keyPair.json, unsigned.json and
eddsa-rdfc-2022/): every intermediate value is compared byte for byte.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from mcledger.node.credentials import (
    DataIntegrityError,
    Ed25519SigningKey,
    LocalContextLoader,
    canonicalize,
    credential_digest,
    resolve_did_key,
    sign_credential,
    verify_credential,
)
from mcledger.node.credentials.dataintegrity import hash_data, proof_configuration
from mcledger.node.credentials.multikey import base58btc_decode, base58btc_encode
from tests.node.samples import academy_credential

# The W3C examples context, as the specification's test vectors use it (test only).
EXAMPLES_CONTEXT_URL = "https://www.w3.org/ns/credentials/examples/v2"
EXAMPLES_CONTEXT = {"@context": {"@vocab": "https://www.w3.org/ns/credentials/examples#"}}

# --- Test vector: TestVectors/keyPair.json -------------------------------------------------
SPEC_PUBLIC_KEY_MULTIBASE = "z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2"
SPEC_SECRET_KEY_MULTIBASE = "z3u2en7t5LR2WtQH5PfFqMqwVHBeXouLzo6haApm8XHqvjxq"
SPEC_SEED_HEX = "c96ef9ea10c5e414c471723aff9de72c35fa5b70fae97e8832ecac7d2e2b8ed6"
SPEC_VM = f"did:key:{SPEC_PUBLIC_KEY_MULTIBASE}#{SPEC_PUBLIC_KEY_MULTIBASE}"

# --- TestVectors/unsigned.json ---------------------------------------------------------------
SPEC_UNSIGNED: dict[str, Any] = {
    "@context": ["https://www.w3.org/ns/credentials/v2", EXAMPLES_CONTEXT_URL],
    "id": "urn:uuid:58172aac-d8ba-11ed-83dd-0b3aef56cc33",
    "type": ["VerifiableCredential", "AlumniCredential"],
    "name": "Alumni Credential",
    "description": "A minimum viable example of an Alumni Credential.",
    "issuer": "https://vc.example/issuers/5678",
    "validFrom": "2023-01-01T00:00:00Z",
    "credentialSubject": {"id": "did:example:abcdefgh", "alumniOf": "The School of Examples"},
}

# --- TestVectors/eddsa-rdfc-2022/ ------------------------------------------------------------
SPEC_CREATED = "2023-02-24T23:36:38Z"
SPEC_PROOF_CONFIG: dict[str, Any] = {
    "type": "DataIntegrityProof",
    "cryptosuite": "eddsa-rdfc-2022",
    "created": SPEC_CREATED,
    "verificationMethod": SPEC_VM,
    "proofPurpose": "assertionMethod",
    "@context": ["https://www.w3.org/ns/credentials/v2", EXAMPLES_CONTEXT_URL],
}
_U = "<urn:uuid:58172aac-d8ba-11ed-83dd-0b3aef56cc33>"
SPEC_CANONICAL_DOCUMENT = (
    "<did:example:abcdefgh> <https://www.w3.org/ns/credentials/examples#alumniOf>"
    ' "The School of Examples" .\n'
    f"{_U} <http://www.w3.org/1999/02/22-rdf-syntax-ns#type>"
    " <https://www.w3.org/2018/credentials#VerifiableCredential> .\n"
    f"{_U} <http://www.w3.org/1999/02/22-rdf-syntax-ns#type>"
    " <https://www.w3.org/ns/credentials/examples#AlumniCredential> .\n"
    f"{_U} <https://schema.org/description>"
    ' "A minimum viable example of an Alumni Credential." .\n'
    f'{_U} <https://schema.org/name> "Alumni Credential" .\n'
    f"{_U} <https://www.w3.org/2018/credentials#credentialSubject> <did:example:abcdefgh> .\n"
    f"{_U} <https://www.w3.org/2018/credentials#issuer> <https://vc.example/issuers/5678> .\n"
    f"{_U} <https://www.w3.org/2018/credentials#validFrom>"
    ' "2023-01-01T00:00:00Z"^^<http://www.w3.org/2001/XMLSchema#dateTime> .\n'
)
SPEC_CANONICAL_PROOF_CONFIG = (
    '_:c14n0 <http://purl.org/dc/terms/created> "2023-02-24T23:36:38Z"'
    "^^<http://www.w3.org/2001/XMLSchema#dateTime> .\n"
    "_:c14n0 <http://www.w3.org/1999/02/22-rdf-syntax-ns#type>"
    " <https://w3id.org/security#DataIntegrityProof> .\n"
    '_:c14n0 <https://w3id.org/security#cryptosuite> "eddsa-rdfc-2022"'
    "^^<https://w3id.org/security#cryptosuiteString> .\n"
    "_:c14n0 <https://w3id.org/security#proofPurpose>"
    " <https://w3id.org/security#assertionMethod> .\n"
    f"_:c14n0 <https://w3id.org/security#verificationMethod> <{SPEC_VM}> .\n"
)
SPEC_DOCUMENT_HASH = "517744132ae165a5349155bef0bb0cf2258fff99dfe1dbd914b938d775a36017"
SPEC_PROOF_CONFIG_HASH = "bea7b7acfbad0126b135104024a5f1733e705108f42d59668b05c0c50004c6b0"
SPEC_SIGNATURE_HEX = (
    "4d8e53c2d5b3f2a7891753eb16ca993325bdb0d3cfc5be1093d0a18426f5ef85"
    "78cadc0fd4b5f4dd0d1ce0aefd15ab120b7a894d0eb094ffda4e6553cd1ed50d"
)
SPEC_PROOF_VALUE = (
    "z2YwC8z3ap7yx1nZYCg4L3j3ApHsF8kgPdSb5xoS1VR7vPG3F561B52hYnQF9iseabecm3ijx4K1FBTQsCZahKZme"
)
SPEC_SIGNED: dict[str, Any] = {
    **SPEC_UNSIGNED,
    "proof": {
        "type": "DataIntegrityProof",
        "cryptosuite": "eddsa-rdfc-2022",
        "created": SPEC_CREATED,
        "verificationMethod": SPEC_VM,
        "proofPurpose": "assertionMethod",
        "proofValue": SPEC_PROOF_VALUE,
    },
}


@pytest.fixture(scope="module")
def loader() -> LocalContextLoader:
    return LocalContextLoader({EXAMPLES_CONTEXT_URL: EXAMPLES_CONTEXT})


@pytest.fixture(scope="module")
def spec_key() -> Ed25519SigningKey:
    return Ed25519SigningKey.from_secret_key_multibase(SPEC_SECRET_KEY_MULTIBASE)


def sample_micro_credential(issuer_did: str) -> dict[str, Any]:
    """A typical micro-credential on the standard contexts (VC 2.0 + Open Badges 3.0)."""
    return {
        "@context": [
            "https://www.w3.org/ns/credentials/v2",
            "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json",
        ],
        "id": "urn:uuid:3f1c2a9e-7b4d-4c1e-9a57-2d8e6f0b1c42",
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "name": "Data Protection Fundamentals",
        "issuer": {
            "id": issuer_did,
            "type": ["Profile"],
            "name": "Rīga Technical Academy",
            "url": "https://academy.example/",
            "address": {
                "type": ["Address"],
                "addressCountry": "Latvia",
                "addressCountryCode": "LV",
                "addressRegion": "Rīga",
            },
        },
        "validFrom": "2026-11-20T00:00:00Z",
        "credentialSubject": {
            "type": ["AchievementSubject"],
            "name": "Anna Bērziņa",
            "awardedDate": "2026-11-20T00:00:00Z",
            "achievement": {
                "id": "https://academy.example/achievements/dpf/1",
                "type": ["Achievement"],
                "name": "Data Protection Fundamentals",
                "description": "The GDPR in practice for data controllers.",
                "criteria": {"narrative": "Pass the written examination (60%)."},
                "creditsAvailable": 3.0,
                "alignment": [
                    {
                        "type": ["Alignment"],
                        "targetName": "EQF level 5",
                        "targetUrl": "https://europa.eu/europass/en/eqf/5",
                        "targetFramework": "European Qualifications Framework",
                        "targetCode": "5",
                    }
                ],
            },
            "result": [{"type": ["Result"], "value": "9/10"}],
        },
        "credentialStatus": {
            "id": "https://academy.example/status/1#42",
            "type": "BitstringStatusListEntry",
            "statusPurpose": "revocation",
            "statusListIndex": "42",
            "statusListCredential": "https://academy.example/status/1",
        },
    }


def mcledger_credential(issuer_did: str) -> dict[str, Any]:
    """A full micro-credential as the node builds it (VC 2.0 + Open Badges 3.0 + mcledger)."""
    return academy_credential(issuer_did)


def leaf_paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Paths to every string and number in a JSON value."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from leaf_paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from leaf_paths(item, (*path, index))
    elif isinstance(value, (str, int, float)) and not isinstance(value, bool):
        yield path


def altered(document: dict[str, Any], path: tuple[Any, ...]) -> dict[str, Any]:
    changed = copy.deepcopy(document)
    parent: Any = changed
    for step in path[:-1]:
        parent = parent[step]
    old = parent[path[-1]]
    parent[path[-1]] = old + "x" if isinstance(old, str) else old + 1
    return changed


# --- the specification's test vector, byte for byte ----------------------------------------


def test_spec_key_pair(spec_key: Ed25519SigningKey) -> None:
    assert spec_key.public_key_multibase == SPEC_PUBLIC_KEY_MULTIBASE
    assert spec_key.verification_method == SPEC_VM
    assert Ed25519SigningKey.from_seed(bytes.fromhex(SPEC_SEED_HEX)).public_key == (
        spec_key.public_key
    )


def test_spec_canonical_forms_and_hashes(loader: LocalContextLoader) -> None:
    options = {k: v for k, v in SPEC_PROOF_CONFIG.items() if k != "@context"}
    config = proof_configuration(SPEC_UNSIGNED, options)
    assert config == SPEC_PROOF_CONFIG
    canonical_document = canonicalize(SPEC_UNSIGNED, loader)
    canonical_config = canonicalize(config, loader)
    assert canonical_document == SPEC_CANONICAL_DOCUMENT
    assert canonical_config == SPEC_CANONICAL_PROOF_CONFIG
    assert hashlib.sha256(canonical_document.encode()).hexdigest() == SPEC_DOCUMENT_HASH
    assert hashlib.sha256(canonical_config.encode()).hexdigest() == SPEC_PROOF_CONFIG_HASH
    combined = hash_data(canonical_config, canonical_document)
    assert combined.hex() == SPEC_PROOF_CONFIG_HASH + SPEC_DOCUMENT_HASH


def test_spec_signature_and_signed_document(
    loader: LocalContextLoader, spec_key: Ed25519SigningKey
) -> None:
    signed = sign_credential(SPEC_UNSIGNED, spec_key, SPEC_VM, SPEC_CREATED, loader=loader)
    assert signed == SPEC_SIGNED
    assert base58btc_decode(SPEC_PROOF_VALUE[1:]).hex() == SPEC_SIGNATURE_HEX
    assert "proof" not in SPEC_UNSIGNED  # the input is left alone


def test_spec_signed_document_verifies(loader: LocalContextLoader) -> None:
    result = verify_credential(SPEC_SIGNED, resolve_did_key, loader=loader)
    assert result.ok, result.detail
    assert result.verification_method == SPEC_VM


def test_created_from_a_datetime(loader: LocalContextLoader, spec_key: Ed25519SigningKey) -> None:
    created = datetime(2023, 2, 24, 23, 36, 38, 123456, tzinfo=UTC)
    signed = sign_credential(SPEC_UNSIGNED, spec_key, SPEC_VM, created, loader=loader)
    assert signed["proof"]["proofValue"] == SPEC_PROOF_VALUE
    with pytest.raises(DataIntegrityError, match="time zone"):
        sign_credential(SPEC_UNSIGNED, spec_key, SPEC_VM, datetime(2023, 1, 1), loader=loader)
    with pytest.raises(DataIntegrityError, match="created"):
        sign_credential(SPEC_UNSIGNED, spec_key, SPEC_VM, "yesterday", loader=loader)


# --- tampering -------------------------------------------------------------------------------


def test_every_changed_value_fails(loader: LocalContextLoader) -> None:
    key = Ed25519SigningKey.generate()
    signed = sign_credential(
        sample_micro_credential(key.did), key, key.verification_method, SPEC_CREATED
    )
    assert verify_credential(signed, resolve_did_key).ok
    paths = list(leaf_paths(signed))
    assert len(paths) > 35
    for path in paths:
        result = verify_credential(altered(signed, path), resolve_did_key)
        assert not result.ok, f"a change at {path} went unnoticed"


def test_every_changed_value_of_a_micro_credential_fails() -> None:
    key = Ed25519SigningKey.generate()
    signed = sign_credential(
        mcledger_credential(key.did), key, key.verification_method, SPEC_CREATED
    )
    assert verify_credential(signed, resolve_did_key).ok
    for path in leaf_paths(signed):
        result = verify_credential(altered(signed, path), resolve_did_key)
        assert not result.ok, f"a change at {path} went unnoticed"


def test_every_changed_value_of_the_spec_document_fails(loader: LocalContextLoader) -> None:
    for path in leaf_paths(SPEC_SIGNED):
        result = verify_credential(altered(SPEC_SIGNED, path), resolve_did_key, loader=loader)
        assert not result.ok, f"a change at {path} went unnoticed"


def test_changed_proof_value_fails(loader: LocalContextLoader) -> None:
    tampered = copy.deepcopy(SPEC_SIGNED)
    signature = bytearray(base58btc_decode(SPEC_PROOF_VALUE[1:]))
    signature[0] ^= 1
    tampered["proof"]["proofValue"] = "z" + base58btc_encode(bytes(signature))
    result = verify_credential(tampered, resolve_did_key, loader=loader)
    assert (result.ok, result.detail) == (False, "proof.proofValue: the signature does not match")
    tampered["proof"]["proofValue"] = "u" + SPEC_PROOF_VALUE[1:]
    assert "base58-btc" in verify_credential(tampered, resolve_did_key, loader=loader).detail


@pytest.mark.parametrize(
    ("field", "value", "detail"),
    [
        ("type", "Ed25519Signature2020", "type must be DataIntegrityProof"),
        ("cryptosuite", "eddsa-jcs-2022", "cryptosuite eddsa-rdfc-2022"),
        ("proofPurpose", "authentication", "proofPurpose"),
        ("created", "not a date", "created"),
        ("expires", "2024-01-01T00:00:00Z", "expired"),
        ("verificationMethod", "did:key:zNotAKey", "verificationMethod"),
    ],
)
def test_bad_proof_options_fail(
    loader: LocalContextLoader, field: str, value: str, detail: str
) -> None:
    tampered = copy.deepcopy(SPEC_SIGNED)
    tampered["proof"][field] = value
    result = verify_credential(tampered, resolve_did_key, loader=loader)
    assert not result.ok
    assert detail in result.detail


def test_unsupported_proof_shapes_fail(loader: LocalContextLoader) -> None:
    as_set = {**SPEC_SIGNED, "proof": [SPEC_SIGNED["proof"]]}
    assert "not supported" in verify_credential(as_set, resolve_did_key, loader=loader).detail
    assert not verify_credential(SPEC_UNSIGNED, resolve_did_key, loader=loader).ok


def test_a_resolver_failure_is_a_failed_verification(loader: LocalContextLoader) -> None:
    def unreachable(url: str) -> bytes:
        raise RuntimeError(f"cannot resolve {url}")

    result = verify_credential(SPEC_SIGNED, unreachable, loader=loader)
    assert not result.ok
    assert "cannot resolve" in result.detail


def test_other_key_fails(loader: LocalContextLoader) -> None:
    other = Ed25519SigningKey.generate().public_key
    result = verify_credential(SPEC_SIGNED, lambda _: other, loader=loader)
    assert not result.ok


# --- digest ----------------------------------------------------------------------------------


def test_digest_covers_the_proof_and_skips_the_anchor_proof() -> None:
    key = Ed25519SigningKey.generate()
    credential = sample_micro_credential(key.did)
    signed = sign_credential(credential, key, key.verification_method, SPEC_CREATED)
    digest = credential_digest(signed)
    assert len(digest) == 32
    assert credential_digest(copy.deepcopy(signed)) == digest
    with_anchor = {**signed, "anchorProof": {"version": 1, "root": "ab" * 32}}
    assert credential_digest(with_anchor) == digest
    assert verify_credential(with_anchor, resolve_did_key).ok
    later = sign_credential(credential, key, key.verification_method, "2024-01-01T00:00:00Z")
    assert credential_digest(later) != digest
    with pytest.raises(DataIntegrityError, match="signed"):
        credential_digest(credential)
    with pytest.raises(DataIntegrityError, match="anchorProof"):
        sign_credential(
            {**credential, "anchorProof": {}}, key, key.verification_method, SPEC_CREATED
        )
