"""Ed25519 keys: base58-btc and multibase, Multikey, did:key, the encrypted secret key."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_dataintegrity import (
    SPEC_PUBLIC_KEY_MULTIBASE,
    SPEC_SECRET_KEY_MULTIBASE,
    SPEC_SEED_HEX,
)

from mcledger.node.credentials import (
    Ed25519SigningKey,
    MultikeyError,
    did_key,
    public_key_from_multibase,
    public_key_multibase,
    resolve_did_key,
    verification_method,
)
from mcledger.node.credentials.multikey import base58btc_decode, base58btc_encode
from mcledger.node.errors import KeyStoreError


@pytest.fixture(scope="module")
def spec_key() -> Ed25519SigningKey:
    return Ed25519SigningKey.from_secret_key_multibase(SPEC_SECRET_KEY_MULTIBASE)


@given(st.binary(max_size=64))
def test_base58_round_trip(data: bytes) -> None:
    assert base58btc_decode(base58btc_encode(data)) == data


@given(st.binary(min_size=32, max_size=32))
def test_multikey_round_trip(raw: bytes) -> None:
    encoded = public_key_multibase(raw)
    assert encoded.startswith("z6Mk")
    assert public_key_from_multibase(encoded) == raw
    assert resolve_did_key(verification_method(did_key(raw))) == raw
    assert resolve_did_key(did_key(raw)) == raw


def test_did_key_errors() -> None:
    with pytest.raises(MultikeyError, match="fragment"):
        resolve_did_key(f"did:key:{SPEC_PUBLIC_KEY_MULTIBASE}#key-1")
    with pytest.raises(MultikeyError):
        resolve_did_key("did:web:academy.example")
    with pytest.raises(MultikeyError):  # a secp256k1 key (multicodec 0xe7), not Ed25519
        resolve_did_key("did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme")
    with pytest.raises(MultikeyError):
        public_key_multibase(b"\x00" * 31)
    with pytest.raises(MultikeyError):
        public_key_from_multibase("z0OIl")


def test_secret_key_encrypted_at_rest_and_never_shown(spec_key: Ed25519SigningKey) -> None:
    pem = spec_key.to_encrypted_pem("correct horse")
    assert b"ENCRYPTED PRIVATE KEY" in pem
    loaded = Ed25519SigningKey.from_encrypted_pem(pem, "correct horse")
    assert loaded.public_key == spec_key.public_key
    assert loaded.sign(b"m") == spec_key.sign(b"m")
    with pytest.raises(KeyStoreError, match="wrong passphrase"):
        Ed25519SigningKey.from_encrypted_pem(pem, "wrong")
    with pytest.raises(KeyStoreError):
        spec_key.to_encrypted_pem("")
    for shown in (repr(spec_key), str(spec_key), f"{spec_key}"):
        assert SPEC_SEED_HEX not in shown
        assert SPEC_SECRET_KEY_MULTIBASE not in shown
        assert SPEC_PUBLIC_KEY_MULTIBASE in shown
    with pytest.raises(TypeError):
        pickle.dumps(spec_key)
