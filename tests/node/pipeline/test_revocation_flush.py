"""The revocation flush on a version-1 contract, a real Anvil and a real index (SQLite and
PostgreSQL): batched `revoke(digests, reason)` transactions through the crash-safe state
machine. (Version 2's commitments: test_revocation_flush_commitments.py.)"""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select, text, update

from mcledger.anchoring.ledger import RevocationReason
from mcledger.node.errors import NodeError
from mcledger.node.index.models import revocation_attempt_t, revocation_batch_t, revocation_t
from mcledger.node.issuing.issuers import ensure_issuer
from mcledger.node.pipeline.revocation_flush import RevocationFlusher, pending_revocations
from mcledger.node.pipeline.txmachine import AnchoringPolicy
from tests.node.samples import insert_revocations

FAST = AnchoringPolicy(wait_timeout=20, poll_interval=0.05, replace_after=3600)


def _revoke(engine: Engine, issuer_id: str, count: int, reason: int = 1) -> list[str]:
    return insert_revocations(engine, issuer_id, count, reason)


def _flusher(engine: Engine, deployed, policy: AnchoringPolicy = FAST, fault=None):
    return RevocationFlusher(
        engine, deployed.ledger, lambda _id: deployed.issuer, policy, fault=fault
    )


@pytest.fixture
def deployed(deployed_v1):
    """A contract without revocation commitments: the flush keeps the per-digest path."""
    return deployed_v1


@pytest.fixture
def flusher(index_engine: Engine, deployed) -> RevocationFlusher:
    ensure_issuer(index_engine, "uni", chain_address=deployed.issuer.address)
    return _flusher(index_engine, deployed)


def _events(deployed, digest: str) -> list:
    return deployed.ledger.events(
        "CredentialRevoked", deployed.deploy_block, "latest", digest=bytes.fromhex(digest)
    )


def _nonce(deployed) -> int:
    return deployed.ledger.client.w3.eth.get_transaction_count(deployed.issuer.address)


def _rows(engine: Engine) -> dict[str, tuple[str | None, int | None, int | None]]:
    with engine.connect() as conn:
        return {
            r.digest: (r.transaction_hash, r.block_number, r.batch_id)
            for r in conn.execute(select(revocation_t))
        }


def test_waiting_revocations_go_out_in_one_transaction_per_reason(flusher, deployed, index_engine):
    fraud = _revoke(index_engine, "uni", 4, reason=RevocationReason.FRAUD_OR_MISCONDUCT)
    error = _revoke(index_engine, "uni", 3, reason=RevocationReason.ISSUED_IN_ERROR)
    assert pending_revocations(index_engine) == 7
    nonce = _nonce(deployed)

    reports = flusher.flush_pending("uni")

    assert [(r.reason, r.size, r.state) for r in reports] == [
        (1, 3, "confirmed"),
        (2, 4, "confirmed"),
    ]
    assert _nonce(deployed) == nonce + 2  # two transactions, nothing else sent
    assert pending_revocations(index_engine) == 0
    rows = _rows(index_engine)
    for digests, reason in ((fraud, 2), (error, 1)):
        report = next(r for r in reports if r.reason == reason)
        for digest in digests:
            [event] = _events(deployed, digest)
            assert event["args"]["issuer"] == deployed.issuer.address
            assert event["args"]["reason"] == reason
            assert rows[digest][:2] == (report.transaction_hash, report.block_number)
            tx_hash = "0x" + bytes(event["transactionHash"]).hex()
            assert tx_hash == report.transaction_hash
            at, onchain_reason = deployed.ledger.contract.functions.revocationOf(
                deployed.issuer.address, bytes.fromhex(digest)
            ).call()
            assert at > 0 and onchain_reason == reason
    assert flusher.flush_pending("uni") == []  # nothing waiting: nothing sent
    assert _nonce(deployed) == nonce + 2


def test_large_flushes_are_split_into_transactions_of_the_configured_size(index_engine, deployed):
    ensure_issuer(index_engine, "uni", chain_address=deployed.issuer.address)
    policy = AnchoringPolicy(wait_timeout=20, poll_interval=0.05, revocations_per_transaction=3)
    digests = _revoke(index_engine, "uni", 7)
    reports = _flusher(index_engine, deployed, policy).flush_pending("uni")
    assert sorted(r.size for r in reports) == [1, 3, 3]
    assert len({r.transaction_hash for r in reports}) == 3
    assert all(len(_events(deployed, d)) == 1 for d in digests)


def _raise_at(point: str):
    def hit(name: str) -> None:
        if name == point:
            raise RuntimeError(f"simulated crash at {name}")

    return hit


def _release_lease(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM lease"))


@pytest.mark.parametrize(
    "point",
    ["revocations.sealed", "revocation.signed", "revocation.sent", "revocation.mined"],
)
def test_resume_after_a_crash_at_each_step_sends_once(point, flusher, deployed, index_engine):
    digests = _revoke(index_engine, "uni", 5)
    nonce = _nonce(deployed)
    with pytest.raises(RuntimeError):
        _flusher(index_engine, deployed, fault=_raise_at(point)).flush_pending("uni")
    _release_lease(index_engine)  # a killed process leaves its lease; it expires, here at once
    later = _revoke(index_engine, "uni", 2)  # revoked after the crash: the next batch

    reports = flusher.flush_pending("uni")

    assert [r.state for r in reports] == ["confirmed", "confirmed"]
    assert _nonce(deployed) == nonce + 2  # one transaction per batch, none sent twice
    rows = _rows(index_engine)
    for digest in digests + later:
        [event] = _events(deployed, digest)
        assert rows[digest][0] == "0x" + bytes(event["transactionHash"]).hex()


def test_revocations_already_on_chain_are_adopted_not_sent_again(flusher, deployed, index_engine):
    digests = _revoke(index_engine, "uni", 3)
    with pytest.raises(RuntimeError):  # sealed, then the process died before signing
        _flusher(index_engine, deployed, fault=_raise_at("revocations.sealed")).flush_pending("uni")
    _release_lease(index_engine)
    # Meanwhile the same revocations reached the chain (as if sent just before the crash).
    receipt = deployed.ledger.revoke(deployed.issuer, [bytes.fromhex(d) for d in digests], 1)
    nonce = _nonce(deployed)

    [report] = flusher.flush_pending("uni")

    assert report.state == "confirmed" and report.transaction_hash == receipt.transaction_hash
    assert _nonce(deployed) == nonce
    assert {row[0] for row in _rows(index_engine).values()} == {receipt.transaction_hash}


def test_a_digest_revoked_on_chain_earlier_keeps_its_earlier_transaction(
    flusher, deployed, index_engine
):
    digests = _revoke(index_engine, "uni", 3)
    earlier = deployed.ledger.revoke(deployed.issuer, [bytes.fromhex(digests[1])], 1)
    [report] = flusher.flush_pending("uni")
    rows = _rows(index_engine)
    assert report.state == "confirmed"
    assert rows[digests[0]][0] == rows[digests[2]][0] == report.transaction_hash
    assert rows[digests[1]][:2] == (earlier.transaction_hash, earlier.block_number)
    assert len(_events(deployed, digests[1])) == 1


def test_a_refused_flush_keeps_the_revocations_for_the_next_one(flusher, deployed, index_engine):
    digests = _revoke(index_engine, "uni", 2)
    deployed.ledger.suspend_issuer(deployed.admin, deployed.issuer.address)
    with pytest.raises(NodeError, match="IssuerIsSuspended"):
        flusher.flush_pending("uni")
    with index_engine.connect() as conn:
        batch = conn.execute(select(revocation_batch_t)).one()
        attempts = conn.execute(select(revocation_attempt_t)).all()
    assert batch.state == "sealed" and "IssuerIsSuspended" in batch.last_error
    assert attempts == []  # refused at the gas estimate: nothing signed, nothing sent
    assert all(row[0] is None and row[2] == batch.id for row in _rows(index_engine).values())
    assert all(_events(deployed, d) == [] for d in digests)


def test_adoption_picks_the_batchs_transaction_not_an_older_one(flusher, deployed, index_engine):
    digests = _revoke(index_engine, "uni", 3)
    # The batch's last digest was revoked on chain long before, by another transaction.
    older = deployed.ledger.revoke(deployed.issuer, [bytes.fromhex(digests[2])], 1)
    with pytest.raises(RuntimeError):
        _flusher(index_engine, deployed, fault=_raise_at("revocations.sealed")).flush_pending("uni")
    _release_lease(index_engine)
    newer = deployed.ledger.revoke(deployed.issuer, [bytes.fromhex(d) for d in digests], 1)
    nonce = _nonce(deployed)

    [report] = flusher.flush_pending("uni")

    assert report.state == "confirmed" and report.transaction_hash == newer.transaction_hash
    assert _nonce(deployed) == nonce
    rows = _rows(index_engine)
    assert rows[digests[0]][0] == rows[digests[1]][0] == newer.transaction_hash
    assert rows[digests[2]][:2] == (older.transaction_hash, older.block_number)


def test_a_batch_that_lost_digests_in_the_index_is_not_sent(flusher, deployed, index_engine):
    digests = _revoke(index_engine, "uni", 3)
    with pytest.raises(RuntimeError):
        _flusher(index_engine, deployed, fault=_raise_at("revocations.sealed")).flush_pending("uni")
    _release_lease(index_engine)
    with index_engine.begin() as conn:  # e.g. a row taken by another sealer, or edited by hand
        conn.execute(
            update(revocation_t).where(revocation_t.c.digest == digests[0]).values(batch_id=None)
        )
    nonce = _nonce(deployed)
    with pytest.raises(NodeError, match="sealed with 3 digests; the index holds 2"):
        flusher.flush_pending("uni", seal=False)
    assert _nonce(deployed) == nonce
    assert all(_events(deployed, d) == [] for d in digests)
