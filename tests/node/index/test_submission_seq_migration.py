"""Revision 0009 (submissions numbered per issuer) on SQLite and PostgreSQL, with data: an
index of the revision before it (0007's submissions and tiles) with two issuers' batches
interleaved and digests pending upgrades to seq ranges that prove every digest as before,
refuses (changing nothing) when a batch is not a range, and downgrades back to the very
rows and tiles it started from."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, select, text

from mcledger.anchoring.tiles import MemoryTileStore
from mcledger.anchoring.tree import MerkleTree, save_tree
from mcledger.node.index.db import MIGRATIONS_DIR, make_engine, migrate
from mcledger.node.index.models import batch_t, issuer_t
from mcledger.node.pipeline import proof_reads
from mcledger.node.pipeline.batches import pending_count, proof_status
from tests.node.index.revisions import alembic, revision_of

BEFORE = str(ScriptDirectory(str(MIGRATIONS_DIR)).get_revision("0009").down_revision)
AT = datetime(2026, 11, 24, 2, 0, 13, tzinfo=UTC)
# (batch id, issuer, size): the issuers' batches interleave, as nightly runs make them.
BATCHES = [(1, "uni", 300), (2, "academy", 2), (3, "uni", 5)]
PENDING = {"uni": 4, "academy": 1}


def _old_rows(conn: Connection) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    """The submissions and tiles as the revisions before 0009 hold them."""
    submissions = conn.execute(
        text(
            "SELECT id, issuer_id, digest, credential_id, batch_id, leaf_index FROM submission"
            " ORDER BY id"
        )
    ).all()
    tiles = conn.execute(
        text("SELECT batch_id, level, idx, data FROM tree_tile ORDER BY batch_id, level, idx")
    ).all()
    return [tuple(r) for r in submissions], [(*r[:3], bytes(r[3])) for r in tiles]


@pytest.fixture
def before_0009(database_url: str):
    """An index at the revision before 0009 as the node wrote it: confirmed batches, every tile
    stored, digests pending; yields the engine and each batch's digests and tree."""
    engine = make_engine(database_url)
    alembic(engine, "upgrade", BEFORE)
    trees: dict[int, tuple[list[bytes], MerkleTree]] = {}
    with engine.begin() as conn:
        for issuer in ("academy", "uni"):
            conn.execute(
                text(
                    "INSERT INTO issuer (id, name, chain_address, did, created_at)"
                    " VALUES (:id, '', :address, '', :at)"
                ),
                {"id": issuer, "address": "0x" + os.urandom(20).hex(), "at": AT},
            )
        pending_first = [  # an older pending row: numbered after the batches all the same
            {"issuer": "uni", "digest": os.urandom(32).hex(), "batch": None, "leaf": None}
        ]
        _insert_submissions(conn, pending_first)
        for batch_id, issuer, size in BATCHES:
            digests = [os.urandom(32) for _ in range(size)]
            tree = MerkleTree.from_digests(b"".join(digests))
            trees[batch_id] = (digests, tree)
            conn.execute(
                text(
                    "INSERT INTO batch (id, issuer_id, state, tree_size, root, tile_height,"
                    " sealed_at, chain_id, contract, transaction_hash, block_number,"
                    " block_hash, block_time, confirmations, confirmed_at, target)"
                    " VALUES (:id, :issuer, 'confirmed', :size, :root, 8, :at, 31337, :contract,"
                    " :tx, 12, :block, :at, 1, :at, 'ledger')"
                ),
                {
                    "id": batch_id,
                    "issuer": issuer,
                    "size": size,
                    "root": tree.root.hex(),
                    "at": AT,
                    "contract": "0x" + "cd" * 20,
                    "tx": "0x" + os.urandom(32).hex(),
                    "block": "0x" + os.urandom(32).hex(),
                },
            )
            rows = [
                {"issuer": issuer, "digest": d.hex(), "batch": batch_id, "leaf": i}
                for i, d in enumerate(digests)
            ]
            _insert_submissions(conn, rows[::-1])  # ids need not follow the leaves
            store = MemoryTileStore()
            save_tree(store, tree, tile_height=8)
            conn.execute(
                text("INSERT INTO tree_tile (batch_id, level, idx, data) VALUES (:b, :l, :k, :d)"),
                [{"b": batch_id, "l": lv, "k": k, "d": t} for (lv, k), t in store._tiles.items()],
            )
        _insert_submissions(
            conn,
            [
                {"issuer": issuer, "digest": os.urandom(32).hex(), "batch": None, "leaf": None}
                for issuer, n in PENDING.items()
                for _ in range(n - (issuer == "uni"))
            ],
        )
    proof_reads.clear_caches()
    try:
        yield engine, trees
    finally:
        engine.dispose()


def _insert_submissions(conn: Connection, rows: list[dict[str, object]]) -> None:
    conn.execute(
        text(
            "INSERT INTO submission (issuer_id, digest, credential_id, submitted_at, batch_id,"
            " leaf_index) VALUES (:issuer, :digest, NULL, :at, :batch, :leaf)"
        ),
        [{**r, "at": AT} for r in rows],
    )


def test_the_upgrade_numbers_the_batches_as_ranges_and_every_proof_stays(before_0009) -> None:
    engine, trees = before_0009
    alembic(engine, "upgrade", "0009")
    with engine.connect() as conn:
        firsts = dict(conn.execute(select(batch_t.c.id, batch_t.c.first_seq)).all())
        counters = {
            r.id: (r.next_seq, r.sealed_seq)
            for r in conn.execute(select(issuer_t.c.id, issuer_t.c.next_seq, issuer_t.c.sealed_seq))
        }
        levels = conn.execute(text("SELECT DISTINCT level FROM tree_tile")).scalars().all()
        stored = conn.execute(text("SELECT digest FROM submission LIMIT 1")).scalar_one()
    assert firsts == {1: 0, 2: 0, 3: 300}
    assert counters == {"uni": (309, 305), "academy": (3, 2)}
    assert levels == [1]  # the level-0 tiles are gone; batch 1 had one tile above them
    assert len(bytes(stored)) == 32
    assert pending_count(engine) == 5
    migrate(engine)  # today's proof reads columns of later revisions (0010's contract_version)
    for batch_id, (digests, tree) in trees.items():
        for i in {0, 1, len(digests) // 2, len(digests) - 1}:
            status = proof_status(engine, digest=digests[i].hex())
            assert status is not None and status.bundle is not None, (batch_id, i)
            assert status.batch_id == batch_id
            assert status.bundle.proof == tree.inclusion_proof(i)


def test_the_upgrade_refuses_a_batch_that_is_not_a_range(before_0009) -> None:
    engine, _ = before_0009
    with engine.begin() as conn:  # batch 3's leaves lose their order: not a seq range
        before = _old_rows(conn)
        conn.execute(text("UPDATE submission SET leaf_index = 7 WHERE batch_id = 3"))
    with pytest.raises(RuntimeError, match=r"batches \[3\] are not contiguous ranges"):
        alembic(engine, "upgrade", "0009")
    assert revision_of(engine) == BEFORE
    with engine.begin() as conn:
        columns = set(conn.execute(text("SELECT * FROM submission")).keys())
        assert {"batch_id", "leaf_index"} <= columns and "seq" not in columns
        assert len(_old_rows(conn)[1]) == len(before[1])


def test_the_downgrade_gives_back_the_rows_and_tiles_it_started_from(before_0009) -> None:
    engine, _ = before_0009
    with engine.connect() as conn:
        before = _old_rows(conn)
    alembic(engine, "upgrade", "0009")
    alembic(engine, "downgrade", BEFORE)
    assert revision_of(engine) == BEFORE
    with engine.connect() as conn:
        assert _old_rows(conn) == before
