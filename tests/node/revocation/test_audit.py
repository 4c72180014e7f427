"""`audit_index` on a real Anvil and a real index (SQLite and PostgreSQL): a clean
index audits clean, and each kind of tampering is reported by its kind."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from sqlalchemy import Engine, delete, select, update

from mcledger.node.index.models import (
    anchor_attempt_t,
    batch_t,
    revocation_t,
    submission_t,
    tree_tile_t,
    utcnow,
)
from mcledger.node.index.sequence import holds_submission, insert_submissions
from mcledger.node.issuing.issuers import ensure_issuer
from mcledger.node.pipeline.anchorer import Anchorer, AnchoringPolicy
from mcledger.node.pipeline.revocation_flush import RevocationFlusher
from mcledger.node.revocation.audit import audit_index
from mcledger.node.revocation.findings import (
    CHAIN_ONLY,
    DIFFERS,
    INDEX_ONLY,
    REVOCATION,
    TREE_MISMATCH,
)
from mcledger.node.verifier.events import read_events
from tests.node.samples import insert_revocations

FAST = AnchoringPolicy(wait_timeout=20, poll_interval=0.05, replace_after=3600)


def _anchor_batches(engine: Engine, deployed, sizes: list[int]) -> list:
    ensure_issuer(engine, "uni", chain_address=deployed.issuer.address)
    anchorer = Anchorer(engine, deployed.ledger, lambda _id: deployed.issuer, FAST)
    reports = []
    for size in sizes:
        with engine.begin() as conn:
            insert_submissions(
                conn,
                [
                    {"issuer_id": "uni", "digest": os.urandom(32).hex(), "submitted_at": utcnow()}
                    for _ in range(size)
                ],
            )
        reports += anchorer.anchor_pending("uni")
    assert [r.state for r in reports] == ["confirmed"] * len(sizes)
    return reports


@pytest.fixture
def deployed(deployed_v1):
    """A version-1 contract: revocations go out per digest, as `CredentialRevoked` events
    (a version-2 contract's commitments: test_audit_commitments.py)."""
    return deployed_v1


@pytest.fixture
def anchored(index_engine: Engine, deployed) -> list:
    return _anchor_batches(index_engine, deployed, [3, 5, 1])


def _audit(engine: Engine, deployed, **kwargs):
    return audit_index(engine, deployed.ledger, from_block=deployed.deploy_block, **kwargs)


def _kinds(report) -> list[tuple[str, str | None]]:
    return sorted((f.kind, f.field) for f in report.findings)


def test_an_untouched_index_audits_clean(anchored, deployed, index_engine):
    seen: list[tuple[int, int]] = []
    report = _audit(index_engine, deployed, chunk=2, progress=lambda d, t: seen.append((d, t)))
    assert report.ok and report.findings == []
    assert report.events_read == 3 and report.batches_checked == 3
    assert report.counts() == {CHAIN_ONLY: 0, INDEX_ONLY: 0, DIFFERS: 0, TREE_MISMATCH: 0}
    total = report.to_block - report.from_block + 1
    assert seen[0] == (0, total) and seen[-1] == (total, total)
    assert report.to_json()["ok"] is True


def test_events_of_other_issuers_are_counted_not_reported(
    anchored, deployed, index_engine, funded_account
):
    other = funded_account()
    deployed.ledger.register_issuer(deployed.admin, other.address, "did:example:other")
    deployed.ledger.anchor(other, os.urandom(32), 4)
    report = _audit(index_engine, deployed)
    assert report.ok and report.events_read == 4 and report.foreign_events == 1


def test_a_changed_stored_digest_is_a_tree_mismatch(anchored, deployed, index_engine):
    batch_id = anchored[1].batch_id
    with index_engine.begin() as conn:
        row_id = conn.execute(
            select(submission_t.c.id)
            .select_from(submission_t.join(batch_t, holds_submission()))
            .where(batch_t.c.id == batch_id)
            .limit(1)
        ).scalar_one()
        conn.execute(
            update(submission_t)
            .where(submission_t.c.id == row_id)
            .values(digest=os.urandom(32).hex())
        )
    report = _audit(index_engine, deployed)
    assert not report.ok
    assert _kinds(report) == [(TREE_MISMATCH, None)]
    assert report.findings[0].batch_id == batch_id


def test_a_changed_stored_root_is_a_tree_mismatch_an_index_only_and_a_chain_only(
    anchored, deployed, index_engine
):
    target = anchored[0]
    forged = os.urandom(32).hex()
    with index_engine.begin() as conn:
        conn.execute(update(batch_t).where(batch_t.c.id == target.batch_id).values(root=forged))
    report = _audit(index_engine, deployed)
    assert _kinds(report) == [(CHAIN_ONLY, None), (INDEX_ONLY, None), (TREE_MISMATCH, None)]
    [chain_only] = report.of_kind(CHAIN_ONLY)
    assert chain_only.root == target.root
    assert f"stored digests of batch {target.batch_id}" in chain_only.detail
    assert report.of_kind(INDEX_ONLY)[0].root == forged
    assert report.of_kind(TREE_MISMATCH)[0].batch_id == target.batch_id


def test_a_batch_no_longer_confirmed_is_chain_only(anchored, deployed, index_engine):
    target = anchored[2]
    with index_engine.begin() as conn:
        conn.execute(update(batch_t).where(batch_t.c.id == target.batch_id).values(state="sealed"))
    report = _audit(index_engine, deployed)
    assert _kinds(report) == [(CHAIN_ONLY, None)]
    assert report.findings[0].root == target.root
    assert "sealed, not confirmed" in report.findings[0].detail


def test_a_deleted_batch_is_chain_only(anchored, deployed, index_engine):
    target = anchored[1]
    with index_engine.begin() as conn:
        conn.execute(delete(tree_tile_t).where(tree_tile_t.c.batch_id == target.batch_id))
        conn.execute(delete(anchor_attempt_t).where(anchor_attempt_t.c.batch_id == target.batch_id))
        conn.execute(delete(batch_t).where(batch_t.c.id == target.batch_id))
    report = _audit(index_engine, deployed)
    assert _kinds(report) == [(CHAIN_ONLY, None)]
    assert report.findings[0].root == target.root and report.findings[0].batch_id is None


def test_a_changed_tree_size_differs_on_tree_size(anchored, deployed, index_engine):
    target = anchored[1]
    with index_engine.begin() as conn:
        conn.execute(update(batch_t).where(batch_t.c.id == target.batch_id).values(tree_size=6))
    report = _audit(index_engine, deployed)
    # A batch's digests are its seq range, so its tree changes with its size too.
    assert _kinds(report) == [(DIFFERS, "treeSize"), (TREE_MISMATCH, None)]
    finding = report.of_kind(DIFFERS)[0]
    assert (finding.index_value, finding.chain_value) == (6, 5)


def test_changed_anchor_fields_differ_by_name(anchored, deployed, index_engine):
    target = anchored[0]
    with index_engine.begin() as conn:
        conn.execute(
            update(batch_t)
            .where(batch_t.c.id == target.batch_id)
            .values(transaction_hash="0x" + "ab" * 32, block_number=target.block_number + 1)
        )
    report = _audit(index_engine, deployed)
    assert _kinds(report) == [(DIFFERS, "blockNumber"), (DIFFERS, "transactionHash")]


def test_a_range_before_the_anchors_skips_their_batches(anchored, deployed, index_engine):
    before = anchored[0].block_number - 1
    report = _audit(index_engine, deployed, to_block=before)
    assert report.ok and report.events_read == 0 and report.batches_checked == 3


def _cli(tmp_path, monkeypatch, database_url, deployed, *args: str):
    import typer
    from typer.testing import CliRunner

    from mcledger.cli.audit import audit_command
    from mcledger.node.runtime.chain_setup import DEPLOYMENT_FILE, Deployment

    Deployment(
        chain_id=deployed.ledger.client.chain_id,
        contract=deployed.ledger.address,
        admin=deployed.admin.address,
        transaction_hash="0x" + "00" * 32,
        block_number=deployed.deploy_block,
    ).save(tmp_path / "chain" / DEPLOYMENT_FILE)
    monkeypatch.setenv("MCLEDGER_DATABASE_URL", database_url)
    monkeypatch.delenv("MCLEDGER_CONTRACT_ADDRESS", raising=False)
    app = typer.Typer()
    app.command()(audit_command)
    return CliRunner().invoke(
        app,
        ["--rpc", deployed.ledger.client.rpc_url, "--data-dir", str(tmp_path), *args],
    )


def test_cli_reports_clean_then_findings_with_exit_codes(
    anchored, deployed, index_engine, database_url, tmp_path, monkeypatch
):
    import json

    clean = _cli(tmp_path, monkeypatch, database_url, deployed, "--json")
    assert clean.exit_code == 0, clean.output
    assert json.loads(clean.output)["eventsRead"] == 3
    monkeypatch.setattr("mcledger.cli.audit.CHUNK", 2)  # a "long" scan: the progress bar path
    table = _cli(tmp_path, monkeypatch, database_url, deployed)
    assert table.exit_code == 0 and "agrees with the chain" in table.output
    with index_engine.begin() as conn:
        conn.execute(
            update(batch_t).where(batch_t.c.id == anchored[0].batch_id).values(tree_size=9)
        )
    found = _cli(tmp_path, monkeypatch, database_url, deployed, "--json")
    assert found.exit_code == 1
    findings = json.loads(found.output)["findings"]  # and the tree of the longer range
    assert sorted((f["kind"], f.get("field") or "") for f in findings) == [
        ("differs", "treeSize"),
        ("tree-mismatch", ""),
    ]
    shown = _cli(tmp_path, monkeypatch, database_url, deployed)
    assert shown.exit_code == 1 and "treeSize" in shown.output
    past = _cli(tmp_path, monkeypatch, database_url, deployed, "--from-block", "999999")
    assert past.exit_code == 2


# -- revocations -----------------------------------------------------------------------------


def _revoke(engine: Engine, count: int, reason: int = 1) -> list[str]:
    return insert_revocations(engine, "uni", count, reason)


@pytest.fixture
def revoked(anchored, index_engine: Engine, deployed) -> list[str]:
    """Three anchored batches, five revocations sent to the chain (two reasons), one not."""
    digests = _revoke(index_engine, 3, reason=1) + _revoke(index_engine, 2, reason=2)
    flusher = RevocationFlusher(index_engine, deployed.ledger, lambda _id: deployed.issuer, FAST)
    reports = flusher.flush_pending("uni")
    assert [r.state for r in reports] == ["confirmed", "confirmed"]
    _revoke(index_engine, 1)  # waits for the next flush
    return digests


def _set_revocation(engine: Engine, target: str, **values) -> int:
    with engine.begin() as conn:
        row_id = conn.execute(
            select(revocation_t.c.id).where(revocation_t.c.digest == target)
        ).scalar_one()
        conn.execute(update(revocation_t).where(revocation_t.c.id == row_id).values(**values))
    return row_id


def test_sent_revocations_audit_clean_and_unsent_ones_are_counted(revoked, deployed, index_engine):
    report = _audit(index_engine, deployed)
    assert report.ok, report.findings
    assert report.revocation_events_read == 5 and report.revocations_checked == 5
    assert report.revocations_pending == 1
    assert report.events_read == 3 and report.batches_checked == 3


def test_a_deleted_revocation_row_is_chain_only(revoked, deployed, index_engine):
    with index_engine.begin() as conn:
        conn.execute(delete(revocation_t).where(revocation_t.c.digest == revoked[0]))
    report = _audit(index_engine, deployed)
    assert _kinds(report) == [(CHAIN_ONLY, None)]
    [finding] = report.findings
    assert finding.subject == REVOCATION and finding.digest == revoked[0]
    assert "no such revocation in the index" in finding.detail


def test_a_changed_revoked_digest_is_chain_only_and_index_only(revoked, deployed, index_engine):
    forged = os.urandom(32).hex()
    row_id = _set_revocation(index_engine, revoked[3], digest=forged)
    report = _audit(index_engine, deployed)
    assert _kinds(report) == [(CHAIN_ONLY, None), (INDEX_ONLY, None)]
    assert report.of_kind(CHAIN_ONLY, REVOCATION)[0].digest == revoked[3]
    [index_only] = report.of_kind(INDEX_ONLY, REVOCATION)
    assert (index_only.digest, index_only.batch_id) == (forged, row_id)


def test_a_backdated_revocation_differs_on_revoked_at(revoked, deployed, index_engine):
    with index_engine.connect() as conn:
        was = conn.execute(
            select(revocation_t.c.revoked_at).where(revocation_t.c.digest == revoked[1])
        ).scalar_one()
    row_id = _set_revocation(index_engine, revoked[1], revoked_at=was - timedelta(days=30))
    report = _audit(index_engine, deployed)
    assert _kinds(report) == [(DIFFERS, "revokedAt")]
    [finding] = report.findings
    assert (finding.subject, finding.digest, finding.batch_id) == (REVOCATION, revoked[1], row_id)
    assert "backdated" in finding.detail
    assert finding.index_value < finding.chain_value  # both ISO 8601 UTC


def test_a_revocation_dated_after_the_chain_differs_on_revoked_at(revoked, deployed, index_engine):
    _set_revocation(index_engine, revoked[2], revoked_at=utcnow() + timedelta(hours=2))
    report = _audit(index_engine, deployed)
    assert _kinds(report) == [(DIFFERS, "revokedAt")]
    assert "after the chain recorded it" in report.findings[0].detail


def test_a_changed_reason_and_transaction_differ_by_name(revoked, deployed, index_engine):
    _set_revocation(index_engine, revoked[4], reason=5, transaction_hash="0x" + "cd" * 32)
    report = _audit(index_engine, deployed)
    assert _kinds(report) == [(DIFFERS, "reason"), (DIFFERS, "transactionHash")]
    reason = next(f for f in report.findings if f.field == "reason")
    assert (reason.index_value, reason.chain_value) == (5, 2)


def test_revocations_of_other_issuers_are_counted_not_reported(
    revoked, deployed, index_engine, funded_account
):
    other = funded_account()
    deployed.ledger.register_issuer(deployed.admin, other.address, "did:example:other")
    deployed.ledger.revoke(other, [os.urandom(32), bytes.fromhex(revoked[0])], 3)
    report = _audit(index_engine, deployed)
    assert report.ok and report.foreign_revocations == 2 and report.revocations_checked == 5


def test_cli_names_a_deleted_revocation(
    revoked, deployed, index_engine, database_url, tmp_path, monkeypatch
):
    import json

    clean = _cli(tmp_path, monkeypatch, database_url, deployed)
    assert clean.exit_code == 0, clean.output
    assert "revocations checked" in clean.output and "agrees with the chain" in clean.output
    with index_engine.begin() as conn:
        conn.execute(delete(revocation_t).where(revocation_t.c.digest == revoked[2]))
    found = _cli(tmp_path, monkeypatch, database_url, deployed, "--json")
    assert found.exit_code == 1
    body = json.loads(found.output)
    [finding] = body["findings"]
    assert (finding["kind"], finding["subject"], finding["digest"]) == (
        "chain-only",
        "revocation",
        revoked[2],
    )
    assert body["revocationEventsRead"] == 5


def test_hand_decoded_events_equal_web3s_abi_decoding(revoked, deployed, index_engine):
    head = deployed.ledger.client.block_number()
    fast = read_events(deployed.ledger, deployed.deploy_block, head, chunk=3)
    anchors = deployed.ledger.events("RootAnchored", deployed.deploy_block, head)
    revocations = deployed.ledger.events("CredentialRevoked", deployed.deploy_block, head)
    assert [
        (e.root, e.issuer, e.tree_size, e.transaction_hash, e.block_number) for e in fast.anchors
    ] == [
        (
            bytes(e["args"]["root"]).hex(),
            e["args"]["issuer"],
            e["args"]["treeSize"],
            "0x" + bytes(e["transactionHash"]).hex(),
            e["blockNumber"],
        )
        for e in anchors
    ]
    assert [
        (e.digest, e.issuer, e.reason, e.transaction_hash, e.block_number) for e in fast.revocations
    ] == [
        (
            bytes(e["args"]["digest"]).hex(),
            e["args"]["issuer"],
            e["args"]["reason"],
            "0x" + bytes(e["transactionHash"]).hex(),
            e["blockNumber"],
        )
        for e in revocations
    ]
    assert len(fast.anchors) == 3 and len(fast.revocations) == 5


def test_a_revocation_mined_but_not_yet_confirmed_is_pending_not_a_finding(
    anchored, deployed, index_engine
):
    digests = _revoke(index_engine, 2)
    waiting = AnchoringPolicy(confirmations=3, wait_timeout=0.5, poll_interval=0.05)
    flusher = RevocationFlusher(index_engine, deployed.ledger, lambda _id: deployed.issuer, waiting)
    [report] = flusher.flush_pending("uni")
    assert report.state == "submitted"  # mined at once, 1 of 3 confirmations
    audit = _audit(index_engine, deployed)
    assert audit.ok, audit.findings
    assert audit.revocation_events_read == 2 and audit.revocations_pending == 2
    assert all(
        len(deployed.ledger.events("CredentialRevoked", 0, "latest", digest=bytes.fromhex(d))) == 1
        for d in digests
    )
