"""Sealing on a real index (SQLite and PostgreSQL): a batch is a range of its issuer's seqs,
sealing writes no submission row and stores no level-0 tile, proofs rebuild that tile from
the digests, and a seal waits for an intake still open on the issuer."""

from __future__ import annotations

import os
import threading
import time

import pytest
from sqlalchemy import Engine, delete, func, select, update

from mcledger.anchoring.merkle import verify_inclusion
from mcledger.anchoring.tree import MerkleTree
from mcledger.node.errors import NodeError
from mcledger.node.index.models import BatchState, batch_t, issuer_t, submission_t, tree_tile_t
from mcledger.node.index.sequence import insert_submissions, lock_counter, set_next_seq
from mcledger.node.issuing.issuers import ensure_issuer
from mcledger.node.pipeline import batches, proof_reads
from mcledger.node.pipeline.batches import pending_count, proof_status, seal_batch
from mcledger.node.pipeline.submissions import submit_digests


@pytest.fixture
def engine(index_engine: Engine) -> Engine:
    ensure_issuer(index_engine, "uni", chain_address="0x" + "11" * 20)
    ensure_issuer(index_engine, "other", chain_address="0x" + "22" * 20)
    proof_reads.clear_caches()
    return index_engine


def _submit(engine: Engine, issuer_id: str, count: int) -> list[str]:
    digests = [os.urandom(32).hex() for _ in range(count)]
    submit_digests(engine, issuer_id, [(d, None) for d in digests], actor="t")
    return digests


def _confirm(engine: Engine, batch_id: int) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(batch_t)
            .where(batch_t.c.id == batch_id)
            .values(state=BatchState.CONFIRMED, chain_id=31337, contract="0x" + "cd" * 20)
        )


def _submission_rows(engine: Engine) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(submission_t).order_by(submission_t.c.id))]


def test_batches_are_ranges_and_sealing_leaves_the_submissions_as_they_were(
    engine: Engine,
) -> None:
    mine = _submit(engine, "uni", 600)
    theirs = _submit(engine, "other", 3)
    before = _submission_rows(engine)
    first = seal_batch(engine, "uni", max_size=500)
    second = seal_batch(engine, "uni")
    assert seal_batch(engine, "uni") is None  # nothing left
    assert first is not None and second is not None
    assert (first.tree_size, second.tree_size) == (500, 100)
    assert _submission_rows(engine) == before  # no row written, not even the same values
    # Leaves in seq order: the intake sorts each request's digests before numbering them.
    ordered = sorted(mine)
    assert first.root == MerkleTree.from_digests(bytes.fromhex("".join(ordered[:500]))).root
    assert second.root == MerkleTree.from_digests(bytes.fromhex("".join(ordered[500:]))).root
    with engine.connect() as conn:
        ranges = conn.execute(
            select(batch_t.c.id, batch_t.c.first_seq, batch_t.c.tree_size).order_by(batch_t.c.id)
        ).all()
        levels = set(conn.execute(select(tree_tile_t.c.batch_id, tree_tile_t.c.level)).all())
        counters = dict(
            conn.execute(select(issuer_t.c.id, issuer_t.c.sealed_seq)).all()  # type: ignore[arg-type]
        )
    assert [tuple(r) for r in ranges] == [(first.id, 0, 500), (second.id, 500, 100)]
    # Tiles of 4 levels from level 1 up (a level-0 tile is rebuilt from its 16 digests):
    # 500 leaves (9 levels) have tile levels 1 and 2, 100 leaves (7) tile level 1.
    assert levels == {(first.id, 1), (first.id, 2), (second.id, 1)}
    assert counters == {"uni": 600, "other": 0}
    assert pending_count(engine) == 3 and pending_count(engine, "uni") == 0
    theirs_batch = seal_batch(engine, "other")
    assert theirs_batch is not None and theirs_batch.tree_size == 3
    for batch in (first, second, theirs_batch):
        _confirm(engine, batch.id)
    for index in [0, 1, 255, 256, 499]:
        status = proof_status(engine, digest=ordered[index])
        assert status is not None and status.bundle is not None
        assert status.batch_id == first.id and status.bundle.proof.leaf_index == index
        verify_inclusion(bytes.fromhex(ordered[index]), status.bundle.proof, root=first.root)
    last = proof_status(engine, digest=ordered[599])
    assert last is not None and last.bundle is not None and last.batch_id == second.id
    assert last.bundle.proof.leaf_index == 99 and last.bundle.proof.root == second.root
    for d in theirs:
        status = proof_status(engine, digest=d)
        assert status is not None and status.bundle is not None
        assert status.bundle.proof.root == theirs_batch.root


def test_pending_and_sealed_states(engine: Engine) -> None:
    [d] = _submit(engine, "uni", 1)
    assert proof_status(engine, digest=d) == batches.ProofStatus(d, "pending", None, None)
    sealed = seal_batch(engine, "uni")
    assert sealed is not None
    status = proof_status(engine, digest=d)
    assert status is not None and (status.state, status.batch_id) == ("sealed", sealed.id)
    [later] = _submit(engine, "uni", 1)  # after the batch: pending, not in it
    assert proof_status(engine, digest=later) == batches.ProofStatus(later, "pending", None, None)
    assert proof_status(engine, digest="ab" * 32) is None
    assert proof_status(engine, digest="not a digest") is None


def test_a_missing_digest_is_a_clear_error_not_a_wrong_tree(engine: Engine) -> None:
    digests = _submit(engine, "uni", 10)
    with engine.begin() as conn:  # damage: a row of the pending range disappears
        conn.execute(delete(submission_t).where(submission_t.c.digest == digests[3]))
    with pytest.raises(NodeError, match="holds 9 digests .* not 10: it is damaged"):
        seal_batch(engine, "uni")
    with engine.connect() as conn:  # nothing sealed, nothing moved
        assert conn.execute(select(func.count()).select_from(batch_t)).scalar_one() == 0
    assert pending_count(engine, "uni") == 10


def test_a_proof_whose_tile_lost_a_digest_fails_instead_of_lying(engine: Engine) -> None:
    digests = sorted(_submit(engine, "uni", 300))
    sealed = seal_batch(engine, "uni")
    assert sealed is not None
    _confirm(engine, sealed.id)
    with engine.begin() as conn:
        conn.execute(delete(submission_t).where(submission_t.c.digest == digests[10]))
    with pytest.raises(NodeError, match="holds 15 digests .* not 16: it is damaged"):
        proof_status(engine, digest=digests[11])
    other_tile = proof_status(engine, digest=digests[290])  # tile 1 is whole
    assert other_tile is not None and other_tile.bundle is not None


def test_a_seal_waits_for_an_intake_still_open_on_the_issuer(engine: Engine) -> None:
    """The intake holds the issuer's counter row until it commits; a seal started in the
    meantime waits and then takes those digests too, so none is skipped."""
    _submit(engine, "uni", 5)
    opened, results = threading.Event(), []

    def slow_intake() -> None:
        with engine.begin() as conn:
            counter = lock_counter(conn, "uni")
            assert counter is not None
            rows = [{"issuer_id": "uni", "digest": os.urandom(32).hex()} for _ in range(3)]
            conn.execute(
                submission_t.insert(),
                [{**r, "seq": counter.next_seq + i} for i, r in enumerate(rows)],
            )
            set_next_seq(conn, "uni", counter.next_seq + 3)
            opened.set()
            time.sleep(1.0)

    def seal() -> None:
        opened.wait()
        results.append(seal_batch(engine, "uni"))

    threads = [threading.Thread(target=slow_intake), threading.Thread(target=seal)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    [sealed] = results
    assert sealed is not None and sealed.tree_size == 8
    assert pending_count(engine, "uni") == 0


def test_insert_submissions_numbers_after_what_is_there(engine: Engine) -> None:
    _submit(engine, "uni", 2)
    with engine.begin() as conn:
        insert_submissions(
            conn,
            [{"issuer_id": i, "digest": os.urandom(32).hex()} for i in ("uni", "other", "uni")],
        )
    with engine.connect() as conn:
        seqs = conn.execute(
            select(submission_t.c.issuer_id, submission_t.c.seq).order_by(submission_t.c.id)
        ).all()
    assert sorted(tuple(s) for s in seqs) == [
        ("other", 0),
        ("uni", 0),
        ("uni", 1),
        ("uni", 2),
        ("uni", 3),
    ]
    assert pending_count(engine, "uni") == 4 and pending_count(engine, "other") == 1
