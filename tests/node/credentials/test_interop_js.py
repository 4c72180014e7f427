"""Interoperability: Digital Bazaar's JavaScript Data Integrity libraries verify what we sign,
and we verify what they sign (tests/interop/verify_credential.mjs, no network on either side).

Needs Node.js and `npm ci` in tests/interop (`make test` does both); without them the
tests fail, so an interop check can never pass by being skipped.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from test_dataintegrity import mcledger_credential, sample_micro_credential

from mcledger.node.credentials import (
    Ed25519SigningKey,
    LocalContextLoader,
    credential_digest,
    resolve_did_key,
    sign_credential,
    verify_credential,
)

INTEROP_DIR = Path(__file__).resolve().parents[2] / "interop"
SCRIPT = INTEROP_DIR / "verify_credential.mjs"
CREATED = "2026-11-20T09:30:00Z"


@pytest.fixture(autouse=True, scope="module")
def _javascript_side_installed() -> None:
    if shutil.which("node") is None or not (INTEROP_DIR / "node_modules").is_dir():
        pytest.fail("the JavaScript verifier is not installed: run `make setup`")


@pytest.fixture(scope="module")
def contexts_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Our local contexts, as the JavaScript side's only source of contexts."""
    loader = LocalContextLoader()
    documents = {}
    for url in sorted(loader.known_urls):
        documents[url] = loader.document(url)
    path = tmp_path_factory.mktemp("interop") / "contexts.json"
    path.write_text(json.dumps(documents), encoding="utf-8")
    return path


def run_js(contexts_file: Path, document: dict[str, Any], *args: str) -> dict[str, Any]:
    completed = subprocess.run(
        ["node", str(SCRIPT), str(contexts_file), *args],
        input=json.dumps(document),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result: dict[str, Any] = json.loads(completed.stdout)
    return result


@pytest.fixture(scope="module")
def key() -> Ed25519SigningKey:
    return Ed25519SigningKey.generate()


@pytest.fixture(scope="module")
def signed(key: Ed25519SigningKey) -> dict[str, Any]:
    credential = sample_micro_credential(key.did)
    return sign_credential(credential, key, key.verification_method, CREATED)


def test_javascript_verifies_our_credential(contexts_file: Path, signed: dict[str, Any]) -> None:
    assert run_js(contexts_file, signed) == {"verified": True}


def test_javascript_verifies_our_micro_credential(
    contexts_file: Path, key: Ed25519SigningKey
) -> None:
    credential = mcledger_credential(key.did)
    signed = sign_credential(credential, key, key.verification_method, CREATED)
    assert run_js(contexts_file, signed) == {"verified": True}
    tampered = {**signed, "awardedDate": "2026-11-21T00:00:00Z"}
    assert run_js(contexts_file, tampered)["verified"] is False


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("credentialSubject", "achievement", "name"), "Data Protection Advanced"),
        (("credentialSubject", "result", 0, "value"), "10/10"),
        (("issuer", "address", "addressCountryCode"), "EE"),
        (("validFrom",), "2026-11-21T00:00:00Z"),
        (("proof", "created"), "2026-11-20T09:30:01Z"),
    ],
)
def test_javascript_refuses_a_changed_field(
    contexts_file: Path, signed: dict[str, Any], path: tuple[Any, ...], value: str
) -> None:
    tampered = json.loads(json.dumps(signed))
    parent: Any = tampered
    for step in path[:-1]:
        parent = parent[step]
    assert parent[path[-1]] != value
    parent[path[-1]] = value
    assert not verify_credential(tampered, resolve_did_key).ok
    result = run_js(contexts_file, tampered)
    assert result["verified"] is False
    assert result.get("error")


def test_we_verify_a_javascript_credential(contexts_file: Path) -> None:
    seed = bytes(range(32))  # JS signs with a seed we choose; the key pair follows from it
    key = Ed25519SigningKey.from_seed(seed)
    credential = sample_micro_credential(key.did)
    signed_by_js = run_js(contexts_file, credential, "--sign", seed.hex(), CREATED)
    assert "proof" in signed_by_js, signed_by_js
    proof = signed_by_js["proof"]
    assert proof["cryptosuite"] == "eddsa-rdfc-2022"
    assert proof["verificationMethod"] == key.verification_method
    result = verify_credential(signed_by_js, resolve_did_key)
    assert result.ok, result.detail
    # Same key, same document, same created: Ed25519 is deterministic, so the proofs agree.
    ours = sign_credential(credential, key, key.verification_method, proof["created"])
    assert ours == signed_by_js
    assert credential_digest(ours) == credential_digest(signed_by_js)
    tampered = {**signed_by_js, "name": "Something else"}
    assert not verify_credential(tampered, resolve_did_key).ok
