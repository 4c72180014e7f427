"""`audit_anchors` on a real Anvil and a real index (SQLite and PostgreSQL): a clean
index audits clean, and each kind of tampering is reported by its kind."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import Engine, delete, insert, select, update

from node.anchorer import Anchorer, AnchoringPolicy
from node.audit import CHAIN_ONLY, DIFFERS, INDEX_ONLY, TREE_MISMATCH, audit_anchors
from node.issuers import ensure_issuer
from node.models import anchor_attempt_t, batch_t, submission_t, tree_tile_t, utcnow

FAST = AnchoringPolicy(wait_timeout=20, poll_interval=0.05, replace_after=3600)


def _anchor_batches(engine: Engine, deployed, sizes: list[int]) -> list:
    ensure_issuer(engine, "uni", chain_address=deployed.issuer.address)
    anchorer = Anchorer(engine, deployed.ledger, lambda _id: deployed.issuer, FAST)
    reports = []
    for size in sizes:
        with engine.begin() as conn:
            conn.execute(
                insert(submission_t),
                [
                    {"issuer_id": "uni", "digest": os.urandom(32).hex(), "submitted_at": utcnow()}
                    for _ in range(size)
                ],
            )
        reports += anchorer.anchor_pending("uni")
    assert [r.state for r in reports] == ["confirmed"] * len(sizes)
    return reports


@pytest.fixture
def anchored(index_engine: Engine, deployed) -> list:
    return _anchor_batches(index_engine, deployed, [3, 5, 1])


def _audit(engine: Engine, deployed, **kwargs):
    return audit_anchors(engine, deployed.ledger, from_block=deployed.deploy_block, **kwargs)


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
            select(submission_t.c.id).where(submission_t.c.batch_id == batch_id).limit(1)
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
        conn.execute(
            update(submission_t)
            .where(submission_t.c.batch_id == target.batch_id)
            .values(batch_id=None, leaf_index=None)
        )
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
    assert _kinds(report) == [(DIFFERS, "treeSize")]
    finding = report.findings[0]
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

    from cli.audit import audit_command
    from node.chain_setup import DEPLOYMENT_FILE, Deployment

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
    monkeypatch.setattr("cli.audit.CHUNK", 2)  # a "long" scan: the progress bar path
    table = _cli(tmp_path, monkeypatch, database_url, deployed)
    assert table.exit_code == 0 and "agrees with the chain" in table.output
    with index_engine.begin() as conn:
        conn.execute(
            update(batch_t).where(batch_t.c.id == anchored[0].batch_id).values(tree_size=9)
        )
    found = _cli(tmp_path, monkeypatch, database_url, deployed, "--json")
    assert found.exit_code == 1
    [finding] = json.loads(found.output)["findings"]
    assert (finding["kind"], finding["field"]) == ("differs", "treeSize")
    shown = _cli(tmp_path, monkeypatch, database_url, deployed)
    assert shown.exit_code == 1 and "treeSize" in shown.output
    past = _cli(tmp_path, monkeypatch, database_url, deployed, "--from-block", "999999")
    assert past.exit_code == 2
