"""The revocation flush on a version-2 contract, a real Anvil and a real index (SQLite and
PostgreSQL): each flush commits the issuer's revocation set (`commitRevocations`, chained on
the previous root) and the hashes of the status lists it changed, through the crash-safe
state machine; the set is rebuilt from the index by a new process and refused when the index
no longer hashes to what was committed."""

from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import Engine, delete, insert, select, text

from mcledger.anchoring.ledger import RevocationReason
from mcledger.anchoring.revocation_proof import EMPTY, RevocationRecord, verify
from mcledger.anchoring.revocation_set import RevocationSet
from mcledger.anchoring.status_commitment import status_list_hash, status_list_key
from mcledger.node.credentials.multikey import Ed25519SigningKey
from mcledger.node.errors import NodeError
from mcledger.node.index.models import revocation_batch_t, revocation_t
from mcledger.node.index.models_commitments import (
    revocation_batch_list_t,
    status_list_publication_t,
)
from mcledger.node.index.models_credentials import credential_t
from mcledger.node.issuing.issuers import ensure_issuer
from mcledger.node.issuing.status_lists import reserve, status_list_url
from mcledger.node.pipeline.revocation_commit import StatusListSigner
from mcledger.node.pipeline.revocation_flush import RevocationFlusher, pending_revocations
from mcledger.node.pipeline.revocation_sets import CommittedSets, RevocationSetMismatchError
from mcledger.node.pipeline.txmachine import AnchoringPolicy
from tests.node.samples import insert_revocations, revoke_digests

FAST = AnchoringPolicy(wait_timeout=20, poll_interval=0.05, replace_after=3600)
BASE_URL = "https://uni.example"


def _flusher(engine: Engine, deployed, *, fault=None, signer=None, sets=None, policy=FAST):
    return RevocationFlusher(
        engine,
        deployed.ledger,
        lambda _id: deployed.issuer,
        policy,
        fault=fault,
        status_lists=signer,
        sets=sets or CommittedSets(engine),
    )


@pytest.fixture
def flusher(index_engine: Engine, deployed) -> RevocationFlusher:
    ensure_issuer(index_engine, "uni", chain_address=deployed.issuer.address)
    return _flusher(index_engine, deployed)


def _nonce(deployed) -> int:
    return deployed.ledger.client.w3.eth.get_transaction_count(deployed.issuer.address)


def _batches(engine: Engine) -> list:
    with engine.connect() as conn:
        return list(conn.execute(select(revocation_batch_t).order_by(revocation_batch_t.c.id)))


def _expected_set(engine: Engine) -> RevocationSet:
    """The set the index's confirmed commitments describe: each batch's digests with its
    reason and declared time, as docs/formats.md defines the leaves."""
    revoked = RevocationSet()
    with engine.connect() as conn:
        for batch in conn.execute(
            select(revocation_batch_t)
            .where(revocation_batch_t.c.kind == "commit", revocation_batch_t.c.state == "confirmed")
            .order_by(revocation_batch_t.c.id)
        ):
            digests = conn.execute(
                select(revocation_t.c.digest).where(revocation_t.c.batch_id == batch.id)
            ).scalars()
            revoked.insert_many(
                [bytes.fromhex(d) for d in digests],
                RevocationRecord(batch.reason, batch.declared_at),
            )
    return revoked


def _chain_root(deployed):
    return deployed.ledger.revocation_root_of(deployed.issuer.address)


def _crash_at(point: str, engine: Engine, deployed, signer=None) -> None:
    """A flush that dies at ``point``; its lease then expires (here at once)."""

    def crash(name: str) -> None:
        if name == point:
            raise RuntimeError(f"simulated crash at {name}")

    with pytest.raises(RuntimeError):
        _flusher(engine, deployed, fault=crash, signer=signer).flush_pending("uni")
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM lease"))


def _send_as_sealed(engine: Engine, deployed, batch):
    """The batch's very commitment, sent with the issuer's key by someone else."""
    with engine.connect() as conn:
        digests = conn.execute(
            select(revocation_t.c.digest)
            .where(revocation_t.c.batch_id == batch.id)
            .order_by(revocation_t.c.id)
        ).scalars()
        return deployed.ledger.commit_revocations(
            deployed.issuer,
            bytes.fromhex(batch.previous_root),
            bytes.fromhex(batch.new_root),
            batch.new_size,
            [bytes.fromhex(d) for d in digests],
            batch.reason,
            batch.declared_at,
        )


def test_a_flush_commits_the_set_one_chained_transaction_per_reason(
    flusher, deployed, index_engine
):
    fraud = insert_revocations(index_engine, "uni", 4, RevocationReason.FRAUD_OR_MISCONDUCT)
    error = insert_revocations(index_engine, "uni", 3, RevocationReason.ISSUED_IN_ERROR)
    nonce = _nonce(deployed)

    reports = flusher.flush_pending("uni")

    assert [(r.reason, r.size, r.state) for r in reports] == [
        (1, 3, "confirmed"),
        (2, 4, "confirmed"),
    ]
    assert _nonce(deployed) == nonce + 2 and pending_revocations(index_engine) == 0
    first, second = _batches(index_engine)
    assert (first.kind, second.kind) == ("commit", "commit")
    assert first.previous_root == EMPTY.hex() and second.previous_root == first.new_root
    assert (first.new_size, second.new_size) == (3, 7)
    expected = _expected_set(index_engine)
    onchain = _chain_root(deployed)
    assert (onchain.root, onchain.size) == (expected.root, 7)
    assert onchain.root.hex() == second.new_root
    events = deployed.ledger.revocation_commitments(deployed.deploy_block, onchain.updated_block)
    assert [(e.previous_root.hex(), e.new_root.hex(), e.reason, e.revoked_at) for e in events] == [
        (b.previous_root, b.new_root, b.reason, b.declared_at) for b in (first, second)
    ]
    assert {d.hex() for d in events[0].digests} == set(error)
    assert {d.hex() for d in events[1].digests} == set(fraud)
    for digest, reason in [(d, 2) for d in fraud] + [(d, 1) for d in error]:
        verdict = verify(onchain.root, bytes.fromhex(digest), expected.prove(bytes.fromhex(digest)))
        assert verdict.member and verdict.record.reason == reason
        # The per-digest storage is untouched: a commitment stores no digest.
        assert deployed.ledger.revoked_at(deployed.issuer.address, bytes.fromhex(digest)) == 0
    with index_engine.connect() as conn:
        rows = {r.digest: r for r in conn.execute(select(revocation_t))}
    for batch, report in zip((first, second), reports, strict=True):
        for digest in fraud if batch.reason == 2 else error:
            assert (rows[digest].transaction_hash, rows[digest].block_number) == (
                report.transaction_hash,
                report.block_number,
            )
    assert flusher.flush_pending("uni") == [] and _nonce(deployed) == nonce + 2


def test_the_next_flush_builds_on_the_committed_root_and_proofs_follow(
    flusher, deployed, index_engine
):
    first = insert_revocations(index_engine, "uni", 3)
    flusher.flush_pending("uni")
    head = flusher.sets.head("uni")
    proof, at = flusher.sets.prove("uni", bytes.fromhex(first[0]))
    assert at == head and verify(head.root, bytes.fromhex(first[0]), proof).member

    later = insert_revocations(index_engine, "uni", 2, RevocationReason.SUPERSEDED)
    [report] = flusher.flush_pending("uni")

    assert report.state == "confirmed"
    now = flusher.sets.head("uni")
    assert (now.root, now.size) == (
        _chain_root(deployed).root,
        5,
    ) and now.batch_id == report.batch_id
    assert now.transaction_hash == report.transaction_hash
    for digest in first + later:
        proof, _ = flusher.sets.prove("uni", bytes.fromhex(digest))
        assert verify(now.root, bytes.fromhex(digest), proof).member
    outsider = uuid.uuid4().bytes * 2
    proof, _ = flusher.sets.prove("uni", outsider)
    assert not verify(now.root, outsider, proof).member


@pytest.mark.parametrize(
    "point",
    ["revocations.sealed", "revocation.signed", "revocation.sent", "revocation.mined"],
)
def test_resume_after_a_crash_at_each_step_sends_the_sealed_root_once(
    point, flusher, deployed, index_engine
):
    digests = insert_revocations(index_engine, "uni", 5)
    nonce = _nonce(deployed)
    _crash_at(point, index_engine, deployed)
    [sealed] = _batches(index_engine)
    later = insert_revocations(index_engine, "uni", 2)  # revoked after the crash: next batch

    # A new process: its own sets, rebuilt from the index.
    reports = _flusher(index_engine, deployed).flush_pending("uni")

    assert [r.state for r in reports] == ["confirmed", "confirmed"]
    assert _nonce(deployed) == nonce + 2  # one transaction per batch, none sent twice
    resumed, after = _batches(index_engine)
    assert (resumed.new_root, resumed.declared_at) == (sealed.new_root, sealed.declared_at)
    assert after.previous_root == sealed.new_root
    assert (
        _chain_root(deployed).root.hex() == after.new_root == _expected_set(index_engine).root.hex()
    )
    assert _expected_set(index_engine).size == len(digests + later)


def test_a_commitment_already_on_chain_is_adopted_not_sent_again(flusher, deployed, index_engine):
    insert_revocations(index_engine, "uni", 3)
    _crash_at("revocations.sealed", index_engine, deployed)  # died before signing
    [batch] = _batches(index_engine)
    # Meanwhile the same commitment reached the chain (as if sent just before the crash).
    receipt = _send_as_sealed(index_engine, deployed, batch)
    nonce = _nonce(deployed)

    [report] = flusher.flush_pending("uni")

    assert report.state == "confirmed" and report.transaction_hash == receipt.transaction_hash
    assert _nonce(deployed) == nonce


def test_a_commitment_the_chain_went_past_is_adopted_too(flusher, deployed, index_engine):
    insert_revocations(index_engine, "uni", 2, RevocationReason.ISSUED_IN_ERROR)
    insert_revocations(index_engine, "uni", 2, RevocationReason.FRAUD_OR_MISCONDUCT)
    _crash_at("revocations.sealed", index_engine, deployed)
    # Both reached the chain, in order.
    sent = [_send_as_sealed(index_engine, deployed, b) for b in _batches(index_engine)]
    nonce = _nonce(deployed)

    reports = flusher.flush_pending("uni")

    assert [r.transaction_hash for r in reports] == [r.transaction_hash for r in sent]
    assert _nonce(deployed) == nonce


def test_a_new_process_rebuilds_the_set_and_a_changed_index_is_refused(
    flusher, deployed, index_engine
):
    digests = insert_revocations(index_engine, "uni", 4)
    flusher.flush_pending("uni")
    fresh = CommittedSets(index_engine)  # another process: nothing in memory
    assert fresh.head("uni").root == _chain_root(deployed).root

    with index_engine.begin() as conn:  # a committed revocation deleted by hand
        conn.execute(delete(revocation_t).where(revocation_t.c.digest == digests[0]))
    insert_revocations(index_engine, "uni", 1)
    nonce = _nonce(deployed)
    with pytest.raises(RevocationSetMismatchError, match="index was changed"):
        CommittedSets(index_engine).prove("uni", bytes.fromhex(digests[1]))
    with pytest.raises(RevocationSetMismatchError):
        _flusher(index_engine, deployed).flush_pending("uni")
    assert len(_batches(index_engine)) == 1 and _nonce(deployed) == nonce  # nothing sealed
    assert pending_revocations(index_engine) == 1


def test_a_flush_refused_as_stale_stays_sealed_and_says_why(flusher, deployed, index_engine):
    insert_revocations(index_engine, "uni", 2)
    # Someone else with the issuer's key committed another set first.
    deployed.ledger.commit_revocations(
        deployed.issuer, EMPTY, b"\x01" * 32, 1, [b"\x07" * 32], 1, 1_700_000_000
    )
    with pytest.raises(NodeError, match="StaleRevocationRoot"):
        flusher.flush_pending("uni")
    [batch] = _batches(index_engine)
    assert batch.state == "sealed" and "StaleRevocationRoot" in batch.last_error


# -- status lists ------------------------------------------------------------------------------


def _issue(engine: Engine, count: int) -> list[tuple[str, str]]:
    """Credentials of issuer uni in the index (id, digest), each with its status slots."""
    made = []
    with engine.begin() as conn:
        for _ in range(count):
            credential_id, digest = f"urn:uuid:{uuid.uuid4()}", uuid.uuid4().hex * 2
            conn.execute(
                insert(credential_t).values(id=credential_id, issuer_id="uni", digest=digest)
            )
            reserve(conn, "uni", credential_id)
            made.append((credential_id, digest))
    return made


def _revoke(engine: Engine, digest: str, reason: int = 1) -> None:
    revoke_digests(engine, "uni", [digest], reason)


def _served(engine: Engine, signer: StatusListSigner, list_id: str) -> dict:
    return signer.served(engine, list_id)


def test_status_lists_go_on_the_record_with_the_flush_that_changed_them(deployed, index_engine):
    ensure_issuer(index_engine, "uni", chain_address=deployed.issuer.address)
    key = Ed25519SigningKey.generate()
    signer = StatusListSigner("uni", key, key.did, key.verification_method, BASE_URL)
    flusher = _flusher(index_engine, deployed, signer=signer)
    issued = _issue(index_engine, 3)
    with index_engine.connect() as conn:
        lists = sorted(
            conn.execute(text("SELECT id, purpose FROM status_list ORDER BY purpose")).all(),
            key=lambda r: r.purpose,
        )
    revocation_list = next(r.id for r in lists if r.purpose == "revocation")
    suspension_list = next(r.id for r in lists if r.purpose == "suspension")
    address = deployed.issuer.address

    def committed(list_id: str) -> bytes:
        url = status_list_url(BASE_URL, list_id)
        return deployed.ledger.status_list_hash_of(address, status_list_key(url)).list_hash

    # New lists, no revocation: the flush commits them alone (commitStatusLists); a run
    # that seals nothing (the scheduler's follow-up) has nothing to do for them.
    assert flusher.issuers_with_work() == ["uni"]
    assert flusher.issuers_with_work(pending=False) == []
    [alone] = flusher.flush_pending("uni")
    assert alone.state == "confirmed" and alone.size == 0
    for list_id in (revocation_list, suspension_list):
        assert committed(list_id) == status_list_hash(_served(index_engine, signer, list_id))
    assert flusher.issuers_with_work() == [] and flusher.flush_pending("uni") == []

    # A revocation flips a bit: its commitment carries the revocation list's new hash only.
    before = _served(index_engine, signer, revocation_list)
    _revoke(index_engine, issued[1][1], RevocationReason.FRAUD_OR_MISCONDUCT)
    assert flusher.issuers_with_work() == ["uni"]
    [report] = flusher.flush_pending("uni")
    after = _served(index_engine, signer, revocation_list)
    assert after != before and committed(revocation_list) == status_list_hash(after)
    assert committed(suspension_list) == status_list_hash(
        _served(index_engine, signer, suspension_list)
    )
    with index_engine.connect() as conn:
        carried = (
            conn.execute(
                select(revocation_batch_list_t.c.list_id).where(
                    revocation_batch_list_t.c.batch_id == report.batch_id
                )
            )
            .scalars()
            .all()
        )
    assert carried == [revocation_list]
    events = deployed.ledger.status_list_commitments(report.block_number, report.block_number)
    assert [(e.transaction_hash, e.list_hash) for e in events] == [
        (report.transaction_hash, status_list_hash(after))
    ]

    # The served list is the stored one, byte for byte, in a new process and after the flush.
    with index_engine.connect() as conn:
        stored = conn.execute(
            select(status_list_publication_t.c.document).where(
                status_list_publication_t.c.list_id == revocation_list
            )
        ).scalar_one()
    assert json.loads(stored) == after


def test_a_list_changed_while_an_older_hash_is_in_flight_waits_for_it(deployed, index_engine):
    ensure_issuer(index_engine, "uni", chain_address=deployed.issuer.address)
    key = Ed25519SigningKey.generate()
    signer = StatusListSigner("uni", key, key.did, key.verification_method, BASE_URL)
    issued = _issue(index_engine, 2)
    _revoke(index_engine, issued[0][1])
    _crash_at("revocation.sent", index_engine, deployed, signer)  # died after sending
    _revoke(index_engine, issued[1][1])  # the list changes again while the first is in flight
    flusher = _flusher(index_engine, deployed, signer=signer)

    reports = flusher.flush_pending("uni")  # the first batch lands; the second carries no list

    assert [r.state for r in reports] == ["confirmed", "confirmed"]
    with index_engine.connect() as conn:
        carriers = (
            conn.execute(select(revocation_batch_list_t.c.batch_id).distinct()).scalars().all()
        )
    assert carriers == [reports[0].batch_id]
    [after] = flusher.flush_pending("uni")  # the next flush commits the newer hash alone
    assert after.size == 0 and after.state == "confirmed"
    with index_engine.connect() as conn:
        revocation_list = conn.execute(
            text("SELECT id FROM status_list WHERE purpose = 'revocation'")
        ).scalar_one()
    url = status_list_url(BASE_URL, revocation_list)
    onchain = deployed.ledger.status_list_hash_of(deployed.issuer.address, status_list_key(url))
    assert onchain.list_hash == status_list_hash(_served(index_engine, signer, revocation_list))
    assert flusher.issuers_with_work() == []
