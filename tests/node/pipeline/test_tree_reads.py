"""The proof read path on both databases: a proof reads on one pooled connection, cached
tiles serve later proofs, and no cache serves a stale anchor or another tree: a batch
whose anchor was reorganised away (state back to submitted) and sent again (another
transaction and block) is proved with what its row says now, and a batch id that comes
back with another tree is proved with its own tiles."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from sqlalchemy import Connection, Engine, delete, event, select, text, update

from mcledger.anchoring.merkle import verify_inclusion
from mcledger.node.errors import NodeError
from mcledger.node.index.models import BatchState, batch_t, issuer_t, submission_t, tree_tile_t
from mcledger.node.issuing.issuers import ensure_issuer
from mcledger.node.pipeline import proof_reads, tree_reads
from mcledger.node.pipeline.batches import ProofStatus, proof_status, seal_batch
from mcledger.node.pipeline.submissions import submit_digests


@pytest.fixture
def engine(index_engine: Engine) -> Iterator[Engine]:
    ensure_issuer(index_engine, "uni", chain_address="0x" + "11" * 20)
    proof_reads.clear_caches()
    yield index_engine
    proof_reads.clear_caches()


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
    digests, batch_id, root = _sealed(engine, 700)  # 44 level-0 tiles, 3 level-1, one level-2
    _anchor(engine, batch_id, BatchState.CONFIRMED, "0x" + "aa" * 32, 10)
    checkouts = _checkouts(engine)
    status = proof_status(engine, digest=digests[300])  # nothing cached: reads tiles
    assert len(checkouts) == 1  # the lookup and every tile on the same connection
    assert status is not None and status.bundle is not None
    verify_inclusion(bytes.fromhex(digests[300]), status.bundle.proof, root=root)
    cache = proof_reads.tile_cache
    if _postgres(engine):
        # The level-0 digests come with the row; levels 1 and 2 have few tiles (3 and 1):
        # read whole once and kept (and a mark that they were): the path's two and the
        # mark missed, then found.
        assert (cache.misses, cache.hits, len(cache)) == (3, 2, 3 + 1 + 1)
    else:  # SQLite reads each tile of the path and keeps it
        assert (cache.misses, len(cache)) == (3, 3)
    again = proof_status(engine, digest=digests[301])  # same tiles
    assert again is not None and again.bundle is not None
    assert (cache.misses, cache.hits) == ((3, 4) if _postgres(engine) else (3, 3))
    verify_inclusion(bytes.fromhex(digests[301]), again.bundle.proof, root=root)
    elsewhere = proof_status(engine, digest=digests[699])  # level-1 tile 2: kept, not read
    assert elsewhere is not None and elsewhere.bundle is not None
    assert len(checkouts) == 3 and cache.misses == (3 if _postgres(engine) else 5)
    verify_inclusion(bytes.fromhex(digests[699]), elsewhere.bundle.proof, root=root)


def _postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


@pytest.mark.parametrize(
    ("size", "kept_levels", "kept_tiles"),
    [
        (65_536, [1, 2, 3, 4], 256 + 16 + 1 + 1),  # level 1: 256 tiles, kept
        (65_537, [2, 3, 4], 17 + 2 + 1),  # level 1: 257 tiles, read with each proof
    ],
)
def test_postgres_reads_the_levels_of_many_tiles_with_the_row_and_keeps_the_others(
    engine: Engine, size: int, kept_levels: list[int], kept_tiles: int
) -> None:
    """A tile level of more than CACHED_LEVEL_TILES (256) tiles is read with each proof's
    row; the levels above are read whole once and kept. At the boundary: 256 * 256 leaves
    fill 256 level-1 tiles, one leaf more makes 257."""
    if not _postgres(engine):
        pytest.skip("SQLite reads every tile of the path through its cache")
    digests, batch_id, root = _sealed(engine, size)
    _anchor(engine, batch_id, BatchState.CONFIRMED, "0x" + "aa" * 32, 10)
    for index in (0, 40_000, size - 1):
        status = proof_status(engine, digest=digests[index])
        assert status is not None and status.bundle is not None
        verify_inclusion(bytes.fromhex(digests[index]), status.bundle.proof, root=root)
    kept = [key for key in proof_reads.tile_cache._tiles if key[-2] != "levels above"]
    assert sorted({key[3] for key in kept}) == kept_levels and len(kept) == kept_tiles
    proof_reads.clear_caches()  # a process started now: it reads the damaged tile anew
    with engine.begin() as conn:  # a level-1 tile, read with the proof or kept
        at = (tree_tile_t.c.batch_id == batch_id) & (tree_tile_t.c.level == 1)
        data = conn.execute(select(tree_tile_t.c.data).where(at & (tree_tile_t.c.idx == 0)))
        changed = bytes(byte ^ 1 for byte in data.scalar_one())
        conn.execute(update(tree_tile_t).where(at & (tree_tile_t.c.idx == 0)).values(data=changed))
    with pytest.raises(NodeError, match="damaged"):
        proof_status(engine, digest=digests[0])
    # nothing of the tree is kept past the error: once repaired, the index is read again
    assert not [key for key in proof_reads.tile_cache._tiles if key[0] == root.hex()]
    with engine.begin() as conn:  # repaired
        conn.execute(
            update(tree_tile_t)
            .where(at & (tree_tile_t.c.idx == 0))
            .values(data=bytes(byte ^ 1 for byte in changed))
        )
    status = proof_status(engine, digest=digests[0])
    assert status is not None and status.bundle is not None
    verify_inclusion(bytes.fromhex(digests[0]), status.bundle.proof, root=root)


@pytest.mark.parametrize("damage", ["tile changed", "tile missing", "digest missing"])
def test_a_damaged_index_is_an_error_never_a_wrong_proof(engine: Engine, damage: str) -> None:
    digests, batch_id, _root = _sealed(engine, 700)
    _anchor(engine, batch_id, BatchState.CONFIRMED, "0x" + "aa" * 32, 10)
    with engine.begin() as conn:
        tile = tree_tile_t.c
        at = (tile.batch_id == batch_id) & (tile.level == 1) & (tile.idx == 1)  # seqs 256..511
        if damage == "tile changed":
            data = conn.execute(select(tile.data).where(at)).scalar_one()
            changed = bytes(byte ^ 1 for byte in data)  # every node of it
            conn.execute(update(tree_tile_t).where(at).values(data=changed))
        elif damage == "tile missing":
            conn.execute(delete(tree_tile_t).where(at))
        else:
            conn.execute(delete(submission_t).where(submission_t.c.digest == digests[301]))
    with pytest.raises(NodeError, match="damaged"):
        proof_status(engine, digest=digests[300])
    elsewhere = proof_status(engine, digest=digests[100])  # the rest proves as before
    assert elsewhere is not None and elsewhere.bundle is not None


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

    def prove(conn: Connection) -> ProofStatus | None:  # the proof's own read: the driver's
        calls.append(conn.connection.driver_connection.info.backend_pid)  # type: ignore[union-attr]
        return proof_status(engine, digest=digests[3], conn=conn)

    status = tree_reads.with_proof_connection(engine, prove)
    assert calls[0] == pid and len(calls) == 2 and calls[1] != pid  # failed, then a new one
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


@pytest.mark.parametrize("size", [1, 8, 9, 16, 17, 256, 257, 4097])
def test_every_tile_level_is_read_at_the_sizes_where_a_level_begins(
    engine: Engine, size: int
) -> None:
    """Tiles of 4 levels: a tile level more from 9, 257, 4097 leaves (on PostgreSQL, below
    65,537 leaves, every stored level is kept by the process: where the statement begins
    to read level 1 is the test above)."""
    digests, batch_id, root = _sealed(engine, size)
    _anchor(engine, batch_id, BatchState.CONFIRMED, "0x" + "aa" * 32, 10)
    for index in sorted({0, size // 2, size - 1}):
        status = proof_status(engine, digest=digests[index])
        assert status is not None and status.bundle is not None
        assert (status.bundle.proof.leaf_index, status.bundle.proof.tree_size) == (index, size)
        verify_inclusion(bytes.fromhex(digests[index]), status.bundle.proof, root=root)
