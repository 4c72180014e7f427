"""Verifying the learner's copy of a credential, and stacks of them, on a real Anvil."""

from __future__ import annotations

import copy
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from eth_utils import to_checksum_address
from sqlalchemy import select

from mcledger.anchoring.anvil import AnvilProcess, free_loopback_port
from mcledger.anchoring.bundle import format_time
from mcledger.anchoring.ledger import RevocationReason
from mcledger.node.api import create_app
from mcledger.node.credentials.annex import EXAMPLE_ACHIEVEMENT, EXAMPLE_AWARD
from mcledger.node.credentials.dataintegrity import (
    ANCHOR_PROPERTY,
    credential_digest,
    sign_credential,
)
from mcledger.node.credentials.multikey import Ed25519SigningKey
from mcledger.node.index.models import revocation_batch_t
from mcledger.node.issuing.catalogue import create_achievement
from mcledger.node.issuing.issuance import IssuedCredential
from mcledger.node.issuing.tokens import create_token
from mcledger.node.pipeline.batches import proof_status
from mcledger.node.pipeline.revocation_flush import flush_all
from mcledger.node.revocation.revocation_proofs import with_revocation
from mcledger.node.revocation.revocations import list_revocations, revoke_credential
from mcledger.node.runtime.service import Node, open_node
from mcledger.node.settings import load_settings
from mcledger.node.verifier.credential import ChainReader, verify_credential_file
from mcledger.node.verifier.names import (
    COMPONENT_DIGEST,
    COMPONENT_PROVIDED,
    CREDENTIAL_CHECK_NAMES,
    DIGEST_NOT_REVOKED,
    STATUS_COMMITTED,
    STATUS_REVOCATION,
    STATUS_SUSPENSION,
)
from mcledger.node.verifier.report import CredentialReport

ALL_CHECKS = [
    *CREDENTIAL_CHECK_NAMES,
    STATUS_REVOCATION,
    STATUS_SUSPENSION,
    STATUS_COMMITTED,  # the revocation list's
    STATUS_COMMITTED,  # the suspension list's
]


@dataclass
class Issued:
    node: Node
    chain: ChainReader
    copies: dict[str, dict[str, Any]]  # name -> the learner's copy
    digests: dict[str, str]
    url: str  # the live node, which publishes the status lists
    token: str  # may revoke and suspend
    achievement: str


@contextmanager
def _serving(node: Node, port: int) -> Iterator[None]:
    """The node's HTTP API under uvicorn on a loopback port, in a thread."""
    app = create_app(node.settings, node.engine, credentials=node.credentials)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _issue(node: Node, achievement: str, **changes: Any) -> IssuedCredential:
    award = copy.deepcopy(EXAMPLE_AWARD)
    award.pop("components")
    award.update(achievement=achievement, **changes)
    return node.credentials.issue_award(award, actor="test")


def _anchor(node: Node) -> None:
    """Anchor what is pending and, as `mcledger anchor` does, commit the status lists."""
    reports = node.anchorer.anchor_pending("local")
    assert reports and all(r.state == "confirmed" for r in reports)
    assert all(r.state == "confirmed" for r in flush_all(node.flusher))


def _copy(node: Node, issued: IssuedCredential) -> dict[str, Any]:
    """The learner's copy as the node serves it now (its revocation proof included)."""
    status = proof_status(node.engine, digest=issued.digest)
    assert status is not None and status.bundle is not None
    bundle = with_revocation(node.engine, status.bundle)
    return {**issued.credential, ANCHOR_PROPERTY: bundle.to_json()}


@pytest.fixture(scope="module")
def issued(anvil: AnvilProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Issued]:
    """Two anchored components, a stack of both (anchored later), and one never anchored."""
    tmp: Path = tmp_path_factory.mktemp("verify")
    port = free_loopback_port()
    settings = load_settings(
        data_dir=tmp / "data",
        rpc_url=anvil.rpc_url,
        database_url=f"sqlite:///{tmp / 'index.sqlite3'}",
        dev=True,
        node_url=f"http://127.0.0.1:{port}",
    )
    node = open_node(settings)
    try:
        with _serving(node, port):
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
                settings.node_url,
                create_token(node.engine, settings.issuer_id, {"revoke"}),
                achievement,
            )
    finally:
        node.close()


def _failed(report: CredentialReport) -> set[str]:
    return set(report.failed)


def test_an_anchored_copy_passes_every_check_by_name(issued: Issued) -> None:
    report = verify_credential_file(issued.copies["first"], issued.chain)
    assert [c.name for c in report.checks] == ALL_CHECKS
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
    chain_checks = [c for c in report.checks if not c.name.startswith(("credential.", "status."))]
    assert report.check(STATUS_REVOCATION).passed  # the status list needs no anchor
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
    assert len(report.checks) == len(ALL_CHECKS)


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
    # The status lists it names are the node issuer's, not the other DID's: they fail too.
    assert _failed(report) == {"issuer.did", STATUS_REVOCATION, STATUS_SUSPENSION}
    assert f"the credential's issuer is {other.did}" in report.check(STATUS_REVOCATION).detail
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
        assert names == [COMPONENT_PROVIDED, COMPONENT_DIGEST, *ALL_CHECKS]
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


# -- the Bitstring Status List checks, against the live node over real HTTP ----------------


def _post(issued: Issued, credential_id: str, action: str, body: Any = None) -> httpx.Response:
    response = httpx.post(
        f"{issued.url}/v1/credentials/{credential_id}/{action}",
        json=body if body is not None else {},
        headers={"Authorization": f"Bearer {issued.token}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response


def _status(issued: Issued, credential: dict[str, Any]) -> dict[str, Any]:
    """The status-list checks of the credential's bits (status.committed is on the chain)."""
    report = verify_credential_file(credential, issued.chain)
    return {
        c.name: c
        for c in report.checks
        if c.name.startswith("status") and c.name != STATUS_COMMITTED
    }


def test_an_issued_credential_passes_both_status_checks_over_http(issued: Issued) -> None:
    credential = _issue(issued.node, issued.achievement).credential
    purposes = {entry["statusPurpose"] for entry in credential["credentialStatus"]}
    assert purposes == {"revocation", "suspension"}
    for entry in credential["credentialStatus"]:
        assert entry["statusListCredential"].startswith(issued.url)
    checks = _status(issued, credential)
    assert set(checks) == {STATUS_REVOCATION, STATUS_SUSPENSION}
    assert all(c.passed for c in checks.values()), checks
    assert "not revoked" in checks[STATUS_REVOCATION].detail
    # A single entry object (not a list) is read the same way.
    single = {**credential, "credentialStatus": credential["credentialStatus"][0]}
    report = verify_credential_file(single, issued.chain)
    assert [c.name for c in report.checks if c.name.startswith("status")] == [
        f"status.{credential['credentialStatus'][0]['statusPurpose']}",
        STATUS_COMMITTED,  # failed: this copy is not anchored
    ]


def test_a_revocation_fails_the_status_check_within_a_second(issued: Issued) -> None:
    credential = _issue(issued.node, issued.achievement).credential
    assert _status(issued, credential)[STATUS_REVOCATION].passed
    _post(issued, credential["id"], "revoke", {"reason": 2})
    revoked_at = time.monotonic()
    checks = _status(issued, credential)
    elapsed = time.monotonic() - revoked_at
    assert not checks[STATUS_REVOCATION].passed
    detail = checks[STATUS_REVOCATION].detail
    assert detail.startswith("revoked per the status list published at"), detail
    # Reason and time from the node's public revocation history (no credential named).
    assert "reason 2 (fraud or misconduct), revoked at 20" in detail, detail
    assert elapsed < 1.0, elapsed
    assert checks[STATUS_SUSPENSION].passed  # revoking moves no suspension bit


def test_reading_the_reason_names_no_credential_to_the_issuer(issued: Issued) -> None:
    from mcledger.node.verifier.fetch import fetch_json

    credential = _issue(issued.node, issued.achievement).credential
    _post(issued, credential["id"], "revoke", {"reason": 1})
    asked: list[str] = []

    def recording(url: str) -> dict[str, Any]:
        asked.append(url)
        return fetch_json(url)

    report = verify_credential_file(credential, issued.chain, fetch_json=recording)
    assert "reason 1 (issued in error)" in report.check(STATUS_REVOCATION).detail
    history = [url for url in asked if "/v1/revocations" in url]
    assert history, asked
    digest = credential_digest(credential).hex()
    for url in asked:  # lists and history pages: nothing that singles the credential out
        assert credential["id"] not in url and digest not in url, url
        assert credential["id"].removeprefix("urn:uuid:") not in url, url
    since = credential["validFrom"][:10] + "T00%3A00%3A00Z"
    assert all(f"since={since}" in url for url in history), history


def test_a_flushed_revocation_fails_the_chain_check_with_reason_and_time(issued: Issued) -> None:
    node, issuer_id = issued.node, issued.node.settings.issuer_id
    fresh = _issue(node, issued.achievement)
    _anchor(node)
    credential = _copy(node, fresh)
    report = verify_credential_file(credential, issued.chain)
    assert report.ok, [c for c in report.checks if not c.passed]
    assert report.check(DIGEST_NOT_REVOKED).passed

    revoked = revoke_credential(
        node.engine, issuer_id, credential["id"], RevocationReason.FRAUD_OR_MISCONDUCT, actor="test"
    )
    assert revoked.created and revoked.transaction_hash is None
    # Before the flush: the status list shows it, the chain does not know yet, and the list
    # served is newer than the one committed.
    report = verify_credential_file(credential, issued.chain)
    assert _failed(report) == {STATUS_REVOCATION, STATUS_COMMITTED}
    status_url = next(
        e["statusListCredential"]
        for e in credential["credentialStatus"]
        if e["statusPurpose"] == "revocation"
    )
    [unsettled] = [c for c in report.checks if c.name == STATUS_COMMITTED and not c.passed]
    assert unsettled.detail.startswith(f"not yet committed: the list at {status_url} changed")
    # The list has the bit; the issuer's public history beside it the reason and time.
    from_status_list = (
        f"revoked per the status list published at {status_url}: reason 2 (fraud or "
        f"misconduct), revoked at {format_time(revoked.revoked_at)} (the issuer's revocation "
        "history)"
    )
    assert report.check(STATUS_REVOCATION).detail == from_status_list
    assert report.check(DIGEST_NOT_REVOKED).detail.startswith("not revoked by ")

    reports = node.flusher.flush_pending(issuer_id)
    assert reports and all(r.state == "confirmed" for r in reports), reports
    [row] = [
        r
        for r in list_revocations(node.engine, issuer=issuer_id, limit=10_000).items
        if r.credential_id == credential["id"]
    ]
    [flushed] = [r for r in reports if r.transaction_hash == row.transaction_hash]
    assert flushed.reason == RevocationReason.FRAUD_OR_MISCONDUCT
    assert row.transaction_hash is not None and row.transaction_hash.startswith("0x")
    assert row.block_number == flushed.block_number is not None
    receipt = issued.chain.client.receipt(row.transaction_hash)
    assert receipt is not None and receipt.success and receipt.block_number == row.block_number

    # The time on chain is the one the flush declared: no later than its block.
    with node.engine.connect() as conn:
        declared = conn.execute(
            select(revocation_batch_t.c.declared_at).where(
                revocation_batch_t.c.id == flushed.batch_id
            )
        ).scalar_one()
    assert declared <= int(issued.chain.client.block(row.block_number)["timestamp"])
    revoked_on_chain = format_time(datetime.fromtimestamp(declared, UTC))
    address = to_checksum_address(credential[ANCHOR_PROPERTY]["anchor"]["issuer"])
    # The copy held since before the flush: its proof is stale, the commitments since say it.
    report = verify_credential_file(credential, issued.chain)
    assert _failed(report) == {DIGEST_NOT_REVOKED, STATUS_REVOCATION}
    assert report.check(DIGEST_NOT_REVOKED).detail == (
        f"revoked by {address} at {revoked_on_chain}, reason 2 (fraud or misconduct)"
        f" (committed in block {row.block_number}, transaction {row.transaction_hash})"
    )
    assert report.check(STATUS_REVOCATION).detail == from_status_list
    assert report.check(STATUS_SUSPENSION).passed
    # A copy fetched now proves it against the root on chain.
    head = node.flusher.sets.head(issuer_id)
    report = verify_credential_file(_copy(node, fresh), issued.chain)
    assert _failed(report) == {DIGEST_NOT_REVOKED, STATUS_REVOCATION}
    assert report.check(DIGEST_NOT_REVOKED).detail == (
        f"revoked by {address} at {revoked_on_chain}, reason 2 (fraud or misconduct)"
        f" (in its revocation set, root {head.root.hex()}, {head.size} entries)"
    )


def test_a_suspension_fails_and_lifting_it_passes_again(issued: Issued) -> None:
    credential = _issue(issued.node, issued.achievement).credential
    _post(issued, credential["id"], "suspend", {"note": "under review"})
    checks = _status(issued, credential)
    assert not checks[STATUS_SUSPENSION].passed
    assert checks[STATUS_SUSPENSION].detail.startswith("suspended per the status list")
    assert checks[STATUS_REVOCATION].passed
    _post(issued, credential["id"], "unsuspend")
    assert all(c.passed for c in _status(issued, credential).values())


def test_an_unreachable_or_forged_list_fails_the_status_check(issued: Issued) -> None:
    credential = copy.deepcopy(_issue(issued.node, issued.achievement).credential)
    dead = f"http://127.0.0.1:{free_loopback_port()}/v1/status-lists/nowhere"
    for entry in credential["credentialStatus"]:
        entry["statusListCredential"] = dead  # the signature fails too; the status must also
    checks = _status(issued, credential)
    assert set(checks) == {STATUS_REVOCATION, STATUS_SUSPENSION}
    for check in checks.values():
        assert not check.passed and "cannot fetch it" in check.detail, check

    kept = _issue(issued.node, issued.achievement).credential
    entries = {e["statusPurpose"]: e for e in kept["credentialStatus"]}
    listed = httpx.get(entries["revocation"]["statusListCredential"], timeout=10).json()

    def serve(document: dict[str, Any]) -> Any:
        return lambda url: document

    tampered = copy.deepcopy(listed)
    tampered["credentialSubject"]["encodedList"] = listed["credentialSubject"]["encodedList"]
    tampered["validFrom"] = "2020-01-01T00:00:00Z"
    report = verify_credential_file(kept, issued.chain, fetch_json=serve(tampered))
    assert "signature" in report.check(STATUS_REVOCATION).detail
    assert not report.check(STATUS_REVOCATION).passed
    # The right list served for the other purpose fails on the purpose (or the id).
    report = verify_credential_file(kept, issued.chain, fetch_json=serve(listed))
    assert report.check(STATUS_REVOCATION).passed
    assert not report.check(STATUS_SUSPENSION).passed
    # A list of another issuer, validly signed by it, fails.
    other = Ed25519SigningKey.generate()
    foreign = {k: v for k, v in listed.items() if k != "proof"} | {"issuer": other.did}
    signed = sign_credential(foreign, other, other.verification_method, "2026-11-20T10:00:00Z")
    report = verify_credential_file(kept, issued.chain, fetch_json=serve(signed))
    assert "credential's issuer is" in report.check(STATUS_REVOCATION).detail
    # A non-http URL is refused before any fetch.
    for entry in kept["credentialStatus"]:
        entry["statusListCredential"] = "file:///etc/passwd"
    assert "not an http(s) URL" in _status(issued, kept)[STATUS_REVOCATION].detail
