"""The proof read path on both databases: a proof reads on one pooled connection, cached
tiles serve later proofs, and no cache serves a stale anchor or another tree: a batch
whose anchor was reorganised away (state back to submitted) and sent again (another
transaction and block) is proved with what its row says now, and a batch id that comes
back with another tree is proved with its own tiles."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from sqlalchemy import Connection, Engine, delete, event, text, update

from mcledger.anchoring.merkle import verify_inclusion
from mcledger.node.index.models import BatchState, batch_t, issuer_t, submission_t, tree_tile_t
from mcledger.node.issuing.issuers import ensure_issuer
from mcledger.node.pipeline import tree_reads
from mcledger.node.pipeline.batches import ProofStatus, proof_status, seal_batch
from mcledger.node.pipeline.submissions import submit_digests


@pytest.fixture
def engine(index_engine: Engine) -> Iterator[Engine]:
    ensure_issuer(index_engine, "uni", chain_address="0x" + "11" * 20)
    tree_reads.clear_caches()
    yield index_engine
    tree_reads.clear_caches()


def _sealed(engine: Engine, count: int) -> tuple[list[str], int, bytes]:
    digests = sorted(os.urandom(32).hex() for _ in range(count))  # intake numbers them sorted
    submit_digests(engine, "uni", [(d, None) for d in digests], actor="t")
    sealed = seal_batch(engine, "uni")
    assert sealed is not None
    return digests, sealed.id, sealed.root


def _anchor(engine: Engine, batch_id: int, state: BatchState, tx: str, block: int) -> None:
    """What the transaction machine writes: confirmed with a transaction and block, or back
    to submitted when that block was reorganised away."""
    with engine.begin() as conn:
        conn.execute(
            update(batch_t)
            .where(batch_t.c.id == batch_id)
            .values(
                state=state,
                chain_id=31337,
                contract="0x" + "cd" * 20,
                transaction_hash=tx,
                block_number=block,
                block_hash="0x" + f"{block:064x}",
            )
        )


def _checkouts(engine: Engine) -> list[int]:
    """Checkouts of the pool proofs read on (on PostgreSQL one of their own)."""
    seen: list[int] = []
    event.listen(tree_reads.proof_engine(engine).pool, "checkout", lambda *_: seen.append(1))
    return seen


def test_a_proof_reads_on_one_connection_and_cached_tiles_serve_the_next(
    engine: Engine,
) -> None:
    digests, batch_id, root = _sealed(engine, 700)  # three level-0 tiles, one level-1 tile
    _anchor(engine, batch_id, BatchState.CONFIRMED, "0x" + "aa" * 32, 10)
    checkouts = _checkouts(engine)
    status = proof_status(engine, digest=digests[300])  # nothing cached: reads tiles
    assert len(checkouts) == 1  # the lookup and every tile on the same connection
    assert status is not None and status.bundle is not None
    verify_inclusion(bytes.fromhex(digests[300]), status.bundle.proof, root=root)
    reads = tree_reads.cached_tile.cache_info().misses
    again = proof_status(engine, digest=digests[301])  # same tiles
    assert again is not None and again.bundle is not None
    assert tree_reads.cached_tile.cache_info().misses == reads  # no tile read again
    verify_inclusion(bytes.fromhex(digests[301]), again.bundle.proof, root=root)


def test_a_proof_connection_the_server_dropped_is_replaced_and_the_read_made_again(
    engine: Engine,
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no server to drop a connection")
    digests, batch_id, root = _sealed(engine, 20)
    _anchor(engine, batch_id, BatchState.CONFIRMED, "0x" + "aa" * 32, 10)
    with tree_reads.proof_connection(engine) as conn:  # the pooled one the next proof gets
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
    with engine.begin() as admin:  # what a server restart does to it
        assert admin.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar_one()
    calls: list[int] = []

    def prove(conn: Connection) -> ProofStatus | None:
        calls.append(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
        return proof_status(engine, digest=digests[3], conn=conn)

    status = tree_reads.with_proof_connection(engine, prove)
    assert len(calls) == 1 and calls[0] != pid  # the dead one failed before its first row
    assert status is not None and status.bundle is not None
    verify_inclusion(bytes.fromhex(digests[3]), status.bundle.proof, root=root)


def test_a_reorged_and_resent_anchor_is_never_served_from_a_cache(engine: Engine) -> None:
    digests, batch_id, root = _sealed(engine, 300)
    _anchor(engine, batch_id, BatchState.CONFIRMED, "0x" + "aa" * 32, 10)
    first = proof_status(engine, digest=digests[7])
    assert first is not None and first.bundle is not None
    assert (first.bundle.anchor.transaction_hash, first.bundle.anchor.block_number) == (
        "0x" + "aa" * 32,
        10,
    )
    _anchor(engine, batch_id, BatchState.SUBMITTED, "0x" + "aa" * 32, 10)  # reorged away
    waiting = proof_status(engine, digest=digests[7])
    assert waiting is not None and (waiting.state, waiting.bundle) == ("submitted", None)
    _anchor(engine, batch_id, BatchState.CONFIRMED, "0x" + "bb" * 32, 12)  # sent again
    again = proof_status(engine, digest=digests[7])
    assert again is not None and again.bundle is not None
    anchor = again.bundle.anchor
    assert (anchor.transaction_hash, anchor.block_number) == ("0x" + "bb" * 32, 12)
    assert anchor.block_hash == "0x" + f"{12:064x}"
    assert again.bundle.proof == first.bundle.proof  # the tree did not change: its tiles hold
    verify_inclusion(bytes.fromhex(digests[7]), again.bundle.proof, root=root)


def test_a_batch_id_back_with_another_tree_gets_its_own_tiles(engine: Engine) -> None:
    old, batch_id, old_root = _sealed(engine, 300)
    _anchor(engine, batch_id, BatchState.CONFIRMED, "0x" + "aa" * 32, 10)
    assert proof_status(engine, digest=old[5]) is not None  # its tiles are cached now
    with engine.begin() as conn:  # the index emptied by hand: the id may be given again
        conn.execute(delete(tree_tile_t))
        conn.execute(delete(batch_t))
        conn.execute(delete(submission_t))
        conn.execute(update(issuer_t).values(next_seq=0, sealed_seq=0))
    new, new_id, new_root = _sealed(engine, 300)
    _anchor(engine, new_id, BatchState.CONFIRMED, "0x" + "bb" * 32, 11)
    assert new_root != old_root
    status = proof_status(engine, digest=new[5])
    assert status is not None and status.bundle is not None
    assert status.bundle.proof.root == new_root
    verify_inclusion(bytes.fromhex(new[5]), status.bundle.proof, root=new_root)
