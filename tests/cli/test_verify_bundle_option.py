"""`mcledger verify CREDENTIAL --bundle BUNDLE.json`: a credential held apart from its proof
bundle verifies as the learner's copy with that bundle as ``anchorProof``, on a real Anvil;
a bundle that does not go with the file is a usage error (exit 2) that verifies nothing."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from typer.testing import CliRunner

from mcledger.anchoring.chain import ChainClient
from mcledger.anchoring.tree import MerkleTree
from mcledger.cli.main import build_app
from mcledger.node.credentials.dataintegrity import credential_digest, sign_credential
from mcledger.node.credentials.multikey import Ed25519SigningKey
from mcledger.node.verifier.names import CREDENTIAL_CHECK_NAMES
from tests.cli.bundles import anchored_bundle


@dataclass
class Held:
    """What the learner holds: the bare credential, its proof bundle, and the learner's copy
    (the two in one file); and another credential's proof bundle."""

    credential: Path
    bundle: Path
    copy: Path
    other_bundle: Path


def _write(path: Path, document: Any) -> Path:
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


@pytest.fixture
def held(tmp_path: Path, deployed: Any, funded_account: Callable[[], LocalAccount]) -> Held:
    """A credential signed with a fresh did:key, its issuer address registered under that
    DID, its digest anchored in a tree of three leaves (leaf 1)."""
    key = Ed25519SigningKey.generate()
    did = key.verification_method.partition("#")[0]
    issuer = funded_account()
    deployed.ledger.register_issuer(deployed.admin, issuer.address, did)
    credential_id = "urn:uuid:6f2d4f7e-3c1b-4a8e-9d2f-1b7c5e0a9c41"
    signed = sign_credential(
        {
            "@context": ["https://www.w3.org/ns/credentials/v2"],
            "id": credential_id,
            "type": ["VerifiableCredential"],
            "issuer": did,
            "validFrom": "2026-11-20T10:00:00Z",
            "credentialSubject": {"id": "did:example:learner"},
        },
        key,
        key.verification_method,
        "2026-11-20T10:00:00Z",
    )
    rng = random.Random(7)
    leaves = [rng.randbytes(32), credential_digest(signed), rng.randbytes(32)]
    anchored = anchored_bundle(deployed.ledger, issuer, leaves, 1, credential_id)
    bundle = anchored.to_json()
    # Leaf 0's bundle of the same anchoring: sound, but for another digest and no id.
    proof = MerkleTree.from_leaves(leaves).inclusion_proof(0)
    other = replace(anchored, digest=leaves[0], proof=proof, credential_id=None).to_json()
    return Held(
        credential=_write(tmp_path / "credential.json", signed),
        bundle=_write(tmp_path / "proof.json", bundle),
        copy=_write(tmp_path / "copy.json", {**signed, "anchorProof": bundle}),
        other_bundle=_write(tmp_path / "other-proof.json", other),
    )


def verify(*args: str | Path) -> Any:
    return CliRunner().invoke(build_app("verify"), ["verify", *map(str, args)])


def test_a_separate_bundle_gives_the_learners_copy_report(held: Held, chain: ChainClient) -> None:
    separate = verify(held.credential, "--bundle", held.bundle, "--rpc", chain.rpc_url, "--json")
    assert separate.exit_code == 0, separate.output
    together = verify(held.copy, "--rpc", chain.rpc_url, "--json")
    assert together.exit_code == 0, together.output
    report = json.loads(separate.stdout)
    assert report == json.loads(together.stdout)
    assert [c["name"] for c in report["checks"]] == list(CREDENTIAL_CHECK_NAMES)
    assert report["ok"] is True
    # The copy's own anchorProof given again as --bundle is the same bundle: no error.
    again = verify(held.copy, "--bundle", held.bundle, "--rpc", chain.rpc_url, "--json")
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout) == report


def test_another_credentials_bundle_fails_digest_and_id(held: Held, chain: ChainClient) -> None:
    result = verify(
        held.credential, "--bundle", held.other_bundle, "--rpc", chain.rpc_url, "--json"
    )
    assert result.exit_code == 1, result.output
    failed = [c["name"] for c in json.loads(result.stdout)["checks"] if not c["passed"]]
    assert failed == ["credential.digest", "credential.id"]


def test_a_bundle_that_does_not_go_with_the_file_is_a_usage_error(
    held: Held, tmp_path: Path
) -> None:
    not_json = tmp_path / "not-json.json"
    not_json.write_bytes(b'{"version": "mcledger-proof/1",')
    # No chain is read for any of these: the RPC URL answers nothing.
    rpc = ("--rpc", "http://127.0.0.1:9")
    cases = [
        ((held.bundle, "--bundle", held.bundle), "FILE is a proof bundle"),
        ((not_json, "--bundle", held.bundle), "FILE is not UTF-8 JSON"),
        ((held.credential, "--bundle", not_json), f"--bundle {not_json}: not UTF-8 JSON"),
        ((held.credential, "--bundle", held.copy), "a credential (it has an @context)"),
        ((held.copy, "--bundle", held.other_bundle), "already has an anchorProof"),
        ((held.credential, "--bundle", tmp_path / "missing.json"), "cannot read"),
        ((held.credential, "--bundle", "-"), "only FILE may be -"),
    ]
    for args, message in cases:
        result = verify(*args, *rpc)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.stderr, (args, result.stderr)
        assert result.stdout == "" and "Traceback" not in result.output
