"""Verifying the learner's copy of a credential, and stacks of them, on a real Anvil."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from anchoring.anvil import AnvilProcess
from node.batches import proof_status
from node.catalogue import create_achievement
from node.credential_verify import (
    COMPONENT_DIGEST,
    COMPONENT_PROVIDED,
    CREDENTIAL_CHECK_NAMES,
    ChainReader,
    CredentialReport,
    verify_credential_file,
)
from node.credentials.annex import EXAMPLE_ACHIEVEMENT, EXAMPLE_AWARD
from node.credentials.dataintegrity import ANCHOR_PROPERTY, credential_digest, sign_credential
from node.credentials.multikey import Ed25519SigningKey
from node.issuance import IssuedCredential
from node.service import Node, open_node
from node.settings import load_settings


@dataclass
class Issued:
    node: Node
    chain: ChainReader
    copies: dict[str, dict[str, Any]]  # name -> the learner's copy
    digests: dict[str, str]


def _issue(node: Node, achievement: str, **changes: Any) -> IssuedCredential:
    award = copy.deepcopy(EXAMPLE_AWARD)
    award.pop("components")
    award.update(achievement=achievement, **changes)
    return node.credentials.issue_award(award, actor="test")


def _anchor(node: Node) -> None:
    reports = node.anchorer.anchor_pending("local")
    assert reports and all(r.state == "confirmed" for r in reports)


def _copy(node: Node, issued: IssuedCredential) -> dict[str, Any]:
    status = proof_status(node.engine, digest=issued.digest)
    assert status is not None and status.bundle is not None
    return {**issued.credential, ANCHOR_PROPERTY: status.bundle.to_json()}


@pytest.fixture(scope="module")
def issued(anvil: AnvilProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Issued]:
    """Two anchored components, a stack of both (anchored later), and one never anchored."""
    tmp: Path = tmp_path_factory.mktemp("verify")
    settings = load_settings(
        data_dir=tmp / "data",
        rpc_url=anvil.rpc_url,
        database_url=f"sqlite:///{tmp / 'index.sqlite3'}",
        dev=True,
    )
    node = open_node(settings)
    try:
        achievement = create_achievement(node.engine, "local", EXAMPLE_ACHIEVEMENT).id
        first = _issue(node, achievement, place="Tartu")
        second = _issue(node, achievement, place="Kaunas")
        _anchor(node)
        components = [{"id": c.credential["id"], "digest": c.digest} for c in (first, second)]
        stack = _issue(node, achievement, components=components)
        _anchor(node)
        pending = _issue(node, achievement)
        yield Issued(
            node,
            ChainReader(anvil.rpc_url),
            {
                "first": _copy(node, first),
                "second": _copy(node, second),
                "stack": _copy(node, stack),
                "pending": pending.credential,
            },
            {"first": first.digest, "second": second.digest, "stack": stack.digest},
        )
    finally:
        node.close()


def _failed(report: CredentialReport) -> set[str]:
    return set(report.failed)


def test_an_anchored_copy_passes_every_check_by_name(issued: Issued) -> None:
    report = verify_credential_file(issued.copies["first"], issued.chain)
    assert [c.name for c in report.checks] == list(CREDENTIAL_CHECK_NAMES)
    assert report.ok, [c for c in report.checks if not c.passed]
    assert report.credential_id == issued.copies["first"]["id"]
    assert issued.digests["first"] in report.check("credential.digest").detail
    assert report.to_json()["ok"] is True and report.to_json()["components"] == []


def test_a_changed_field_fails_the_signature_and_the_digest(issued: Issued) -> None:
    tampered = copy.deepcopy(issued.copies["first"])
    tampered["credentialSubject"]["name"] = "Someone Else"
    report = verify_credential_file(tampered, issued.chain)
    assert not report.ok
    assert {"credential.signature", "credential.digest"} <= _failed(report)
    assert "signature does not match" in report.check("credential.signature").detail
    # The bundle itself is still a good proof of the original digest.
    assert report.check("merkle.inclusion").passed


def test_a_copy_without_anchor_proof_never_passes_the_chain_checks(issued: Issued) -> None:
    report = verify_credential_file(issued.copies["pending"], issued.chain)
    assert not report.ok
    assert report.check("credential.signature").passed
    assert report.check("credential.issuer").passed
    chain_checks = [c for c in report.checks if not c.name.startswith("credential.")]
    chain_checks.append(report.check("credential.digest"))
    assert chain_checks and all(
        not c.passed and "not anchored yet: no anchorProof" in c.detail for c in chain_checks
    )


def test_another_credentials_anchor_proof_fails_digest_and_id(issued: Issued) -> None:
    mixed = {**issued.copies["first"], ANCHOR_PROPERTY: issued.copies["second"][ANCHOR_PROPERTY]}
    report = verify_credential_file(mixed, issued.chain)
    assert _failed(report) == {"credential.digest", "credential.id"}


def test_a_malformed_anchor_proof_fails_the_bundle_format(issued: Issued) -> None:
    broken = copy.deepcopy(issued.copies["first"])
    broken[ANCHOR_PROPERTY]["treeSize"] = "many"
    report = verify_credential_file(broken, issued.chain)
    assert report.check("credential.signature").passed
    assert not report.check("bundle.format").passed
    assert len(report.checks) == len(CREDENTIAL_CHECK_NAMES)


def test_a_credential_signed_by_another_key_fails_the_issuer_check(issued: Issued) -> None:
    other = Ed25519SigningKey.generate()
    unsigned = {
        k: v for k, v in issued.copies["first"].items() if k not in ("proof", ANCHOR_PROPERTY)
    }
    forged = sign_credential(unsigned, other, other.verification_method, "2026-11-20T10:00:00Z")
    forged[ANCHOR_PROPERTY] = issued.copies["first"][ANCHOR_PROPERTY]
    report = verify_credential_file(forged, issued.chain)
    assert report.check("credential.signature").passed  # a valid signature, by the wrong key
    assert "credential.issuer" in _failed(report)
    assert other.did in report.check("credential.issuer").detail


def test_an_issuer_registered_under_another_did_fails_issuer_did(issued: Issued) -> None:
    # A registered issuer anchoring a credential it signed as someone else: the signature,
    # the key and the anchor are all good, but the chain binds the address to another DID.
    other = Ed25519SigningKey.generate()
    unsigned = {
        k: v for k, v in issued.copies["first"].items() if k not in ("proof", ANCHOR_PROPERTY)
    }
    unsigned["issuer"] = {**unsigned["issuer"], "id": other.did}
    unsigned["id"] = f"urn:uuid:{uuid.uuid4()}"
    signed = sign_credential(unsigned, other, other.verification_method, "2026-11-20T10:00:00Z")
    issued.node.credentials.store_many(
        [(IssuedCredential(signed, credential_digest(signed).hex(), "k" * 32), None)], "test"
    )
    _anchor(issued.node)
    status = proof_status(issued.node.engine, credential_id=signed["id"])
    assert status is not None and status.bundle is not None
    report = verify_credential_file(
        {**signed, ANCHOR_PROPERTY: status.bundle.to_json()}, issued.chain
    )
    assert _failed(report) == {"issuer.did"}
    assert "is registered as did:key:" in report.check("issuer.did").detail


def test_a_stack_verifies_as_a_tree(issued: Issued) -> None:
    report = verify_credential_file(
        issued.copies["stack"], issued.chain, [issued.copies["second"], issued.copies["first"]]
    )
    assert report.ok, report.to_json()
    assert [c.credential_id for c in report.components] == [
        issued.copies["first"]["id"],
        issued.copies["second"]["id"],
    ]
    for child in report.components:
        names = [c.name for c in child.checks]
        assert names == [COMPONENT_PROVIDED, COMPONENT_DIGEST, *CREDENTIAL_CHECK_NAMES]
    tree = report.to_json()
    assert [child["ok"] for child in tree["components"]] == [True, True]
    assert all(child["components"] == [] for child in tree["components"])


def test_a_missing_component_fails_the_stack(issued: Issued) -> None:
    report = verify_credential_file(issued.copies["stack"], issued.chain, [issued.copies["first"]])
    assert not report.ok
    assert report.failed == ()  # the stack's own checks pass; one of its components fails
    first, second = report.components
    assert first.ok
    assert not second.ok and second.credential_id == issued.copies["second"]["id"]
    assert "component not provided" in second.check(COMPONENT_PROVIDED).detail


def test_a_tampered_component_fails_its_digest_against_the_stack(issued: Issued) -> None:
    tampered = copy.deepcopy(issued.copies["second"])
    tampered["credentialSubject"]["awardingPlace"] = "Vilnius"
    report = verify_credential_file(
        issued.copies["stack"], issued.chain, [issued.copies["first"], tampered]
    )
    assert not report.ok
    second = report.components[1]
    assert {COMPONENT_DIGEST, "credential.signature", "credential.digest"} <= _failed(second)
