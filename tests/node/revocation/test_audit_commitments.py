"""`audit_index` on a version-2 contract, a real Anvil and a real index (SQLite and
PostgreSQL): every committed revocation root recomputed from the chain's events and compared
with each commitment and with the index, and every committed status-list hash with the list
the node serves. Tamper tests: a revocation dropped from the index, a digest added to a
flush's event but not to its root (a commitment crafted with the binding), a served list that
differs from the committed one."""

from __future__ import annotations

import json
import os
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import Engine, delete, insert, select, update

from mcledger.anchoring.revocation_proof import RevocationRecord
from mcledger.anchoring.revocation_set import RevocationSet
from mcledger.node.credentials.multikey import Ed25519SigningKey
from mcledger.node.index.models import revocation_batch_t, revocation_t
from mcledger.node.index.models_commitments import status_list_publication_t
from mcledger.node.index.models_credentials import credential_t
from mcledger.node.issuing.issuers import ensure_issuer
from mcledger.node.issuing.status_lists import reserve
from mcledger.node.pipeline.revocation_commit import StatusListSigner
from mcledger.node.pipeline.revocation_flush import RevocationFlusher
from mcledger.node.pipeline.txmachine import AnchoringPolicy
from mcledger.node.revocation.audit import audit_index
from mcledger.node.revocation.findings import (
    CHAIN_ONLY,
    COMMITMENT,
    DIFFERS,
    REVOCATION,
    STATUS_LIST,
    TREE_MISMATCH,
)
from tests.node.samples import revoke_digests

FAST = AnchoringPolicy(wait_timeout=20, poll_interval=0.05, replace_after=3600)


def _revoke(engine: Engine, digests: list[str], reason: int) -> None:
    revoke_digests(engine, "uni", digests, reason)


def _issue(engine: Engine, count: int) -> list[str]:
    """Credentials of issuer uni in the index, each with its status slots; their digests."""
    digests = []
    with engine.begin() as conn:
        for _ in range(count):
            credential_id, digest = f"urn:uuid:{uuid.uuid4()}", os.urandom(32).hex()
            conn.execute(
                insert(credential_t).values(id=credential_id, issuer_id="uni", digest=digest)
            )
            reserve(conn, "uni", credential_id)
            digests.append(digest)
    return digests


class Flushed:
    def __init__(self, engine: Engine, deployed) -> None:
        ensure_issuer(engine, "uni", chain_address=deployed.issuer.address)
        key = Ed25519SigningKey.generate()
        signer = StatusListSigner(
            "uni", key, key.did, key.verification_method, "https://uni.example"
        )
        self.engine, self.deployed = engine, deployed
        self.flusher = RevocationFlusher(
            engine, deployed.ledger, lambda _id: deployed.issuer, FAST, status_lists=signer
        )
        self.digests = _issue(engine, 6)
        _revoke(engine, self.digests[:2], 2)
        _revoke(engine, self.digests[2:3], 1)
        assert all(r.state == "confirmed" for r in self.flusher.flush_pending("uni"))
        _revoke(engine, self.digests[3:4], 4)
        assert all(r.state == "confirmed" for r in self.flusher.flush_pending("uni"))

    def audit(self, **kwargs):
        return audit_index(
            self.engine, self.deployed.ledger, from_block=self.deployed.deploy_block, **kwargs
        )


@pytest.fixture
def flushed(index_engine: Engine, deployed) -> Flushed:
    return Flushed(index_engine, deployed)


def _kinds(report) -> list[tuple[str, str, str | None]]:
    return sorted((f.kind, f.subject, f.field) for f in report.findings)


def test_committed_roots_recomputed_from_the_chain_agree_with_the_index(flushed: Flushed):
    report = flushed.audit()
    assert report.ok, report.findings
    assert (report.commitments_read, report.commitments_checked) == (3, 3)
    assert report.revocations_checked == 4 and report.revocation_events_read == 0
    assert (report.status_lists_checked, report.status_lists_pending) == (2, 0)
    body = report.to_json()
    assert (body["commitmentsChecked"], body["statusListsChecked"]) == (3, 2)

    # From a block after the first commitment: the ones before are found on the chain.
    with flushed.engine.connect() as conn:
        blocks = (
            conn.execute(
                select(revocation_batch_t.c.block_number)
                .where(revocation_batch_t.c.kind == "commit")
                .order_by(revocation_batch_t.c.id)
            )
            .scalars()
            .all()
        )
    later = audit_index(flushed.engine, flushed.deployed.ledger, from_block=blocks[-1])
    assert later.ok and later.commitments_checked == 1, later.findings


def test_a_revocation_dropped_from_the_index_is_chain_only(flushed: Flushed):
    with flushed.engine.begin() as conn:
        conn.execute(delete(revocation_t).where(revocation_t.c.digest == flushed.digests[1]))
    report = flushed.audit()
    assert _kinds(report) == [(CHAIN_ONLY, REVOCATION, None)]
    [finding] = report.findings
    assert finding.digest == flushed.digests[1]
    assert "no such revocation in the index" in finding.detail


def test_a_digest_in_a_flushs_event_but_not_in_its_root_is_a_tree_mismatch(flushed: Flushed):
    ledger, issuer = flushed.deployed.ledger, flushed.deployed.issuer
    current = ledger.revocation_root_of(issuer.address)
    # The issuer's key (a node gone wrong, or a forger with the key) commits a root that
    # holds one of the two digests its event lists.
    listed, hidden = os.urandom(32), os.urandom(32)
    revoked = RevocationSet()
    with flushed.engine.connect() as conn:
        for batch in conn.execute(
            select(revocation_batch_t)
            .where(revocation_batch_t.c.kind == "commit")
            .order_by(revocation_batch_t.c.id)
        ):
            rows = conn.execute(
                select(revocation_t.c.digest).where(revocation_t.c.batch_id == batch.id)
            ).scalars()
            revoked.insert_many(
                [bytes.fromhex(d) for d in rows], RevocationRecord(batch.reason, batch.declared_at)
            )
    assert revoked.root == current.root
    revoked.insert_many([listed], RevocationRecord(1, 1_767_225_600))
    receipt = ledger.commit_revocations(
        issuer, current.root, revoked.root, revoked.size, [listed, hidden], 1, 1_767_225_600
    )

    report = flushed.audit()
    assert _kinds(report) == [
        (CHAIN_ONLY, COMMITMENT, None),
        (TREE_MISMATCH, COMMITMENT, "newRoot"),
    ]
    mismatch = report.of_kind(TREE_MISMATCH)[0]
    assert mismatch.key == revoked.root.hex() and receipt.transaction_hash in mismatch.detail
    assert f"with {revoked.size + 1}" in mismatch.detail  # the events describe one entry more


def test_a_changed_batch_differs_by_name(flushed: Flushed):
    with flushed.engine.begin() as conn:
        batch_id = conn.execute(
            select(revocation_batch_t.c.id).where(revocation_batch_t.c.reason == 4)
        ).scalar_one()
        conn.execute(
            update(revocation_batch_t).where(revocation_batch_t.c.id == batch_id).values(reason=5)
        )
    report = flushed.audit()
    assert _kinds(report) == [(DIFFERS, COMMITMENT, "reason")]
    assert (report.findings[0].index_value, report.findings[0].chain_value) == (5, 4)


def test_a_served_list_that_differs_from_the_committed_one(flushed: Flushed):
    with flushed.engine.connect() as conn:
        kept = conn.execute(
            select(status_list_publication_t).order_by(status_list_publication_t.c.list_id)
        ).first()
    assert kept is not None
    document = json.loads(kept.document)
    document["validFrom"] = "2026-01-01T00:00:00Z"  # another list, signed before the commitment
    with flushed.engine.begin() as conn:
        conn.execute(
            update(status_list_publication_t)
            .where(status_list_publication_t.c.list_id == kept.list_id)
            .values(document=json.dumps(document), signed_at=kept.signed_at - timedelta(days=1))
        )
    report = flushed.audit()
    assert _kinds(report) == [(DIFFERS, STATUS_LIST, "served")]
    finding = report.findings[0]
    assert finding.batch_id == kept.list_id and "a split view" in finding.detail
    assert finding.to_json()["statusList"] == kept.list_id

    # A list that changed since the last flush is pending, not a finding.
    with flushed.engine.begin() as conn:
        conn.execute(
            update(status_list_publication_t)
            .where(status_list_publication_t.c.list_id == kept.list_id)
            .values(document=kept.document, signed_at=kept.signed_at)
        )
    _revoke(flushed.engine, flushed.digests[4:5], 1)
    report = flushed.audit()
    assert report.ok and report.status_lists_pending == 1 and report.status_lists_checked == 1
