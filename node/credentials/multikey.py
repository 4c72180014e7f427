"""Ed25519 keys as Multikey and did:key, and the issuer's signing key encrypted at rest.

Encodings (W3C Controlled Identifiers v1.0, "Multikey"; did:key method v0.7):
a public key is the multicodec prefix ``0xed 0x01`` followed by the 32 raw key
bytes, base58-btc encoded with the multibase prefix ``z``, which always starts
``z6Mk``. A did:key DID is ``did:key:`` + that string, and its one
verification method has the same string as its fragment.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from mcledger.node.errors import KeyStoreError, NodeError

ED25519_PUBLIC_PREFIX = b"\xed\x01"  # multicodec ed25519-pub, as an unsigned varint
ED25519_SECRET_PREFIX = b"\x80\x26"  # multicodec ed25519-priv (0x1300), as an unsigned varint
DID_KEY_PREFIX = "did:key:"

_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_INDEX = {char: value for value, char in enumerate(_ALPHABET)}


class MultikeyError(NodeError):
    """A multibase string, Multikey or did:key identifier is malformed or not Ed25519."""


def base58btc_encode(data: bytes) -> str:
    """Base58 with the Bitcoin alphabet; each leading zero byte becomes a leading ``1``."""
    zeros = len(data) - len(data.lstrip(b"\0"))
    number = int.from_bytes(data, "big")
    digits = []
    while number:
        number, digit = divmod(number, 58)
        digits.append(_ALPHABET[digit])
    return "1" * zeros + "".join(reversed(digits))


def base58btc_decode(text: str) -> bytes:
    """Inverse of :func:`base58btc_encode`; MultikeyError on a character outside the alphabet."""
    number = 0
    for char in text:
        try:
            number = number * 58 + _INDEX[char]
        except KeyError:
            raise MultikeyError(f"{char!r} is not a base58-btc character") from None
    zeros = len(text) - len(text.lstrip("1"))
    body = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return b"\0" * zeros + body


def multibase_encode(data: bytes) -> str:
    """Multibase base58-btc: ``z`` + base58btc(data)."""
    return "z" + base58btc_encode(data)


def multibase_decode(text: str) -> bytes:
    """Decode a multibase base58-btc string (prefix ``z``); other bases are refused."""
    if not isinstance(text, str) or not text.startswith("z"):
        raise MultikeyError("expected a multibase base58-btc string starting with 'z'")
    return base58btc_decode(text[1:])


def public_key_multibase(public_key: bytes) -> str:
    """The Multikey ``publicKeyMultibase`` of a raw 32-byte Ed25519 public key: ``z6Mk…``."""
    if len(public_key) != 32:
        raise MultikeyError(f"an Ed25519 public key is 32 bytes, not {len(public_key)}")
    return multibase_encode(ED25519_PUBLIC_PREFIX + public_key)


def public_key_from_multibase(text: str) -> bytes:
    """The raw 32-byte key of an Ed25519 ``publicKeyMultibase``."""
    data = multibase_decode(text)
    if not data.startswith(ED25519_PUBLIC_PREFIX) or len(data) != 34:
        raise MultikeyError(f"{text!r} is not an Ed25519 Multikey (z6Mk…, 34 bytes decoded)")
    return data[2:]


def did_key(public_key: bytes) -> str:
    """The did:key DID of a raw Ed25519 public key."""
    return DID_KEY_PREFIX + public_key_multibase(public_key)


def verification_method(did: str) -> str:
    """The DID URL of a did:key's verification method: the DID, ``#``, the key's multibase."""
    if not did.startswith(DID_KEY_PREFIX) or "#" in did:
        raise MultikeyError(f"{did!r} is not a did:key DID")
    return f"{did}#{did[len(DID_KEY_PREFIX) :]}"


def resolve_did_key(did_url: str) -> bytes:
    """The raw Ed25519 public key a did:key DID (or its verification method URL) names.

    Pure: the key is encoded in the identifier itself. A fragment, if any, must
    be the key's own multibase, as the did:key method defines it.
    """
    if not isinstance(did_url, str) or not did_url.startswith(DID_KEY_PREFIX):
        raise MultikeyError(f"{did_url!r} is not a did:key identifier")
    did, _, fragment = did_url.partition("#")
    encoded = did[len(DID_KEY_PREFIX) :]
    if fragment and fragment != encoded:
        raise MultikeyError(f"{did_url!r}: the fragment must repeat the key ({encoded})")
    return public_key_from_multibase(encoded)


def verify_ed25519(public_key: bytes, signature: bytes, message: bytes) -> bool:
    """True when ``signature`` is a valid Ed25519 signature of ``message`` by ``public_key``."""
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


class Ed25519SigningKey:
    """An Ed25519 secret key held in memory only; stored as passphrase-encrypted PKCS#8 PEM.

    The secret never appears in ``repr`` or ``str``; the public parts are free to show.
    """

    __slots__ = ("_key", "public_key")

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        self.public_key: bytes = key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

    @classmethod
    def generate(cls) -> Ed25519SigningKey:
        """A fresh random key."""
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes | bytearray) -> Ed25519SigningKey:
        """The key whose 32-byte secret seed (RFC 8032 section 5.1.5) is ``seed``."""
        if len(seed) != 32:
            raise MultikeyError(f"an Ed25519 seed is 32 bytes, not {len(seed)}")
        return cls(Ed25519PrivateKey.from_private_bytes(seed))

    @classmethod
    def from_secret_key_multibase(cls, text: str) -> Ed25519SigningKey:
        """A key from a Multikey ``secretKeyMultibase`` (multicodec ed25519-priv + seed)."""
        data = multibase_decode(text)
        if not data.startswith(ED25519_SECRET_PREFIX) or len(data) != 34:
            raise MultikeyError("not an Ed25519 secret Multikey (z3u2…, 34 bytes decoded)")
        return cls.from_seed(data[2:])

    @classmethod
    def from_encrypted_pem(cls, pem: bytes, passphrase: str) -> Ed25519SigningKey:
        """Load a key written by :meth:`to_encrypted_pem`."""
        if not passphrase:
            raise KeyStoreError("the key passphrase is empty; set MCLEDGER_KEY_PASSWORD")
        try:
            key = serialization.load_pem_private_key(pem, password=passphrase.encode())
        except (ValueError, TypeError):
            raise KeyStoreError(
                "cannot decrypt the Ed25519 key: wrong passphrase or damaged file"
            ) from None
        if not isinstance(key, Ed25519PrivateKey):
            raise KeyStoreError("the PEM file holds a key that is not Ed25519")
        return cls(key)

    def to_encrypted_pem(self, passphrase: str) -> bytes:
        """PKCS#8 PEM encrypted with the best scheme the library offers for ``passphrase``."""
        if not passphrase:
            raise KeyStoreError("refusing to write an unencrypted key: the passphrase is empty")
        return self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(passphrase.encode()),
        )

    def secret_seed(self) -> bytes:
        """The raw 32-byte seed (RFC 8032 section 5.1.5): only for handing the key to a signing
        process over a pipe. Never log it, write it out, or put it in argv or the environment."""
        return self._key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )

    def sign(self, message: bytes) -> bytes:
        """The 64-byte Ed25519 signature of ``message`` (deterministic, RFC 8032)."""
        return self._key.sign(message)

    @property
    def public_key_multibase(self) -> str:
        return public_key_multibase(self.public_key)

    @property
    def did(self) -> str:
        return did_key(self.public_key)

    @property
    def verification_method(self) -> str:
        return verification_method(self.did)

    def __repr__(self) -> str:
        return f"Ed25519SigningKey(public={self.public_key_multibase})"

    __str__ = __repr__

    def __reduce__(self) -> str:
        # Pickling would write the secret out in the clear; keys travel as encrypted PEM only.
        raise TypeError("Ed25519SigningKey cannot be pickled; use to_encrypted_pem")
