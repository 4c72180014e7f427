"""The node's secp256k1 keys, encrypted at rest (Web3 Secret Storage, scrypt + AES-128-CTR).

Keys are never logged or printed: LocalAccount objects carry them in memory
only, and the files on disk hold only the encrypted form.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

from mcledger.node.credentials.multikey import Ed25519SigningKey
from mcledger.node.errors import KeyStoreError

_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
DEV_PASSPHRASE_FILE = ".dev-passphrase"


class KeyStore:
    """A directory of encrypted key files, one per name (`admin`, `issuer-local`, ...)."""

    def __init__(self, directory: Path, passphrase: str) -> None:
        if not passphrase:
            raise KeyStoreError("the keystore passphrase is empty; set MCLEDGER_KEY_PASSWORD")
        self.directory = directory
        self._passphrase = passphrase
        self._cache: dict[str, LocalAccount] = {}
        self._signing: dict[str, Ed25519SigningKey] = {}

    def path(self, name: str) -> Path:
        if not _NAME.match(name):
            raise KeyStoreError(f"invalid key name {name!r}")
        return self.directory / f"{name}.json"

    def exists(self, name: str) -> bool:
        return self.path(name).is_file()

    def load(self, name: str) -> LocalAccount:
        if name in self._cache:
            return self._cache[name]
        path = self.path(name)
        try:
            keyfile = json.loads(path.read_text())
        except FileNotFoundError:
            raise KeyStoreError(f"no key named {name!r} in {self.directory}") from None
        except (OSError, ValueError) as exc:
            raise KeyStoreError(f"key file {path} is unreadable: {exc}") from None
        try:
            account: LocalAccount = Account.from_key(Account.decrypt(keyfile, self._passphrase))
        except ValueError:
            raise KeyStoreError(
                f"cannot decrypt {path}: wrong passphrase (MCLEDGER_KEY_PASSWORD)"
            ) from None
        self._cache[name] = account
        return account

    def create(self, name: str) -> LocalAccount:
        path = self.path(name)
        if path.exists():
            raise KeyStoreError(f"key {name!r} already exists at {path}")
        account: LocalAccount = Account.create()
        keyfile = Account.encrypt(account.key, self._passphrase)
        _write_private(path, json.dumps(keyfile).encode())
        self._cache[name] = account
        return account

    def load_or_create(self, name: str) -> LocalAccount:
        return self.load(name) if self.exists(name) else self.create(name)

    def signing_key(self, name: str) -> Ed25519SigningKey:
        """The Ed25519 credential-signing key ``name``, created on first use; kept as a
        PKCS#8 PEM encrypted with the keystore passphrase."""
        cached = self._signing.get(name)
        if cached is not None:
            return cached
        path = self.path(name).with_suffix(".pem")
        if path.is_file():
            key = Ed25519SigningKey.from_encrypted_pem(path.read_bytes(), self._passphrase)
        else:
            key = Ed25519SigningKey.generate()
            _write_private(path, key.to_encrypted_pem(self._passphrase))
        self._signing[name] = key
        return key


def _write_private(path: Path, data: bytes) -> None:
    """Write a key file readable by the owner only, atomically (no half-written keys)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


def dev_passphrase(directory: Path) -> str:
    """Development mode only: a random passphrase kept beside the keys (mode 0600), so
    `make run` works without setup. Real deployments set MCLEDGER_KEY_PASSWORD."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / DEV_PASSPHRASE_FILE
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(32))
    return path.read_text().strip()


def open_keystore(keys_dir: Path, passphrase: str | None, *, dev: bool) -> KeyStore:
    if passphrase:
        return KeyStore(keys_dir, passphrase)
    # Keys made in development mode stay usable by every command on that data directory.
    if dev or (keys_dir / DEV_PASSPHRASE_FILE).is_file():
        return KeyStore(keys_dir, dev_passphrase(keys_dir))
    raise KeyStoreError(
        "no keystore passphrase: set MCLEDGER_KEY_PASSWORD (or run in development mode)"
    )
