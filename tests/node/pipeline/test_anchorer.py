"""The anchoring state machine on a real Anvil and a real index (SQLite and PostgreSQL)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import Engine, func, select, text

from mcledger.anchoring.chain import ChainClient
from mcledger.anchoring.merkle import verify_inclusion
from mcledger.node.index.models import anchor_attempt_t, batch_t, utcnow
from mcledger.node.index.sequence import insert_submissions
from mcledger.node.issuing.issuers import ensure_issuer
from mcledger.node.pipeline.anchorer import Anchorer, AnchoringPolicy
from mcledger.node.pipeline.batches import proof_status

FAST = AnchoringPolicy(wait_timeout=20, poll_interval=0.05, replace_after=3600)


def _submit(engine: Engine, issuer_id: str, count: int) -> list[str]:
    digests = [os.urandom(32).hex() for _ in range(count)]
    with engine.begin() as conn:
        insert_submissions(
            conn, [{"issuer_id": issuer_id, "digest": d, "submitted_at": utcnow()} for d in digests]
        )
    return digests


@pytest.fixture
def anchorer(index_engine: Engine, deployed) -> Anchorer:
    ensure_issuer(index_engine, "uni", chain_address=deployed.issuer.address)
    return Anchorer(index_engine, deployed.ledger, lambda _id: deployed.issuer, FAST)


def _root_events(deployed, root: str) -> list:
    return deployed.ledger.events(
        "RootAnchored", deployed.deploy_block, "latest", root=bytes.fromhex(root)
    )


def test_pending_digests_are_sealed_anchored_and_provable(anchorer, deployed, index_engine):
    digests = _submit(index_engine, "uni", 7)
    [report] = anchorer.anchor_pending("uni")
    assert report.state == "confirmed" and report.tree_size == 7
    onchain = deployed.ledger.anchor_of(bytes.fromhex(report.root))
    assert onchain.issuer == deployed.issuer.address and onchain.tree_size == 7
    for digest in digests:
        bundle = proof_status(index_engine, digest=digest).bundle
        assert bundle is not None and bundle.anchor.transaction_hash == report.transaction_hash
        verify_inclusion(
            bytes.fromhex(digest), bundle.proof, root=onchain_root(report), tree_size=7
        )
    assert anchorer.anchor_pending("uni") == []  # nothing new: nothing sent
    assert len(_root_events(deployed, report.root)) == 1


def onchain_root(report) -> bytes:
    return bytes.fromhex(report.root)


def test_a_root_already_on_chain_is_adopted_not_sent_again(anchorer, deployed, index_engine):
    _submit(index_engine, "uni", 3)
    with pytest.raises(RuntimeError):
        # Crash between sealing and sending: the batch is sealed, nothing recorded as sent.
        Anchorer(
            index_engine,
            deployed.ledger,
            lambda _id: deployed.issuer,
            FAST,
            fault=_raise_at("batch.sealed"),
        ).anchor_pending("uni")
    root = index_engine.connect().execute(select(batch_t.c.root)).scalar_one()
    # Meanwhile the same root reached the chain (as if sent just before the crash).
    receipt = deployed.ledger.anchor(deployed.issuer, bytes.fromhex(root), 3)
    [report] = anchorer.anchor_pending("uni")
    assert report.state == "confirmed"
    assert report.transaction_hash == receipt.transaction_hash
    assert len(_root_events(deployed, root)) == 1


def _raise_at(point: str):
    def hit(name: str) -> None:
        if name == point:
            raise RuntimeError(f"simulated crash at {name}")

    return hit


@pytest.mark.parametrize("point", ["anchor.signed", "anchor.sent", "anchor.mined"])
def test_resume_after_a_crash_at_each_step(point, anchorer, deployed, index_engine):
    digests = _submit(index_engine, "uni", 5)
    crashing = Anchorer(
        index_engine, deployed.ledger, lambda _id: deployed.issuer, FAST, fault=_raise_at(point)
    )
    with pytest.raises(RuntimeError):
        crashing.anchor_pending("uni")
    _release_lease(index_engine)  # a killed process leaves its lease; it expires, here at once
    [report] = anchorer.anchor_pending("uni")
    assert report.state == "confirmed"
    assert len(_root_events(deployed, report.root)) == 1
    assert all(proof_status(index_engine, digest=d).bundle for d in digests)


def _release_lease(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM lease"))


def test_a_stuck_transaction_is_replaced_with_a_higher_fee(deployed, index_engine, chain):
    ensure_issuer(index_engine, "uni", chain_address=deployed.issuer.address)
    policy = AnchoringPolicy(wait_timeout=3, poll_interval=0.05, replace_after=0.2)
    anchorer = Anchorer(index_engine, deployed.ledger, lambda _id: deployed.issuer, policy)
    _submit(index_engine, "uni", 4)
    chain.w3.provider.make_request("evm_setAutomine", [False])
    try:
        [report] = anchorer.anchor_pending("uni")  # times out while nothing is mined
        assert report.state == "submitted"
    finally:
        chain.w3.provider.make_request("evm_setAutomine", [True])
    with index_engine.connect() as conn:
        fees = conn.execute(
            select(anchor_attempt_t.c.max_fee_per_gas, anchor_attempt_t.c.nonce).order_by(
                anchor_attempt_t.c.id
            )
        ).all()
    assert len(fees) >= 2 and len({nonce for _, nonce in fees}) == 1
    assert all(b[0] > a[0] for a, b in zip(fees, fees[1:], strict=False))
    chain.dev_mine(1)
    [report] = anchorer.anchor_pending("uni")
    assert report.state == "confirmed"
    assert len(_root_events(deployed, report.root)) == 1


def test_a_reorged_anchor_is_sent_again(deployed, index_engine, chain):
    ensure_issuer(index_engine, "uni", chain_address=deployed.issuer.address)
    policy = AnchoringPolicy(confirmations=3, wait_timeout=0.5, poll_interval=0.05)
    anchorer = Anchorer(index_engine, deployed.ledger, lambda _id: deployed.issuer, policy)
    _submit(index_engine, "uni", 2)
    snapshot = chain.w3.provider.make_request("evm_snapshot", [])["result"]
    [report] = anchorer.anchor_pending("uni")  # mined at once, 1 of 3 confirmations
    assert report.state == "submitted"
    first_block = _mined_block(index_engine)
    chain.w3.provider.make_request("evm_revert", [snapshot])
    chain.dev_mine(3)  # the canonical chain now has other blocks at that height
    anchorer.policy = AnchoringPolicy(confirmations=3, wait_timeout=20, poll_interval=0.05)
    with _mining_in_background(chain):
        [report] = anchorer.anchor_pending("uni")
    assert report.state == "confirmed"
    assert report.block_number is not None
    canonical = chain.block(report.block_number)
    assert "0x" + bytes(canonical["hash"]).hex() == _batch_block_hash(index_engine)
    assert (report.block_number, _batch_block_hash(index_engine)) != first_block
    assert len(_root_events(deployed, report.root)) == 1


def _mined_block(engine: Engine):
    with engine.connect() as conn:
        return conn.execute(
            select(anchor_attempt_t.c.block_number, anchor_attempt_t.c.block_hash)
        ).first()


def _batch_block_hash(engine: Engine) -> str:
    with engine.connect() as conn:
        return conn.execute(select(batch_t.c.block_hash)).scalar_one()


@contextmanager
def _mining_in_background(chain: ChainClient) -> Iterator[None]:
    """Mine a block every 0.1 s while the block runs (confirmations need later blocks)."""
    stop = threading.Event()

    def mine() -> None:
        while not stop.wait(0.1):
            chain.dev_mine(1)

    worker = threading.Thread(target=mine, daemon=True)
    worker.start()
    try:
        yield
    finally:
        stop.set()
        worker.join()


def test_only_one_process_anchors_at_a_time(anchorer, deployed, index_engine):
    _submit(index_engine, "uni", 2)
    other = Anchorer(index_engine, deployed.ledger, lambda _id: deployed.issuer, FAST)
    from mcledger.node.index.lease import ANCHORING_LEASE, LeaseHeldError, try_acquire

    assert try_acquire(index_engine, ANCHORING_LEASE, other.holder, ttl=60)
    # LeaseHeldError: the API answers 409 anchoring-busy, not 500
    with pytest.raises(LeaseHeldError, match="another node process is anchoring or revoking"):
        anchorer.anchor_pending("uni")
    with index_engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(batch_t)).scalar_one() == 0
