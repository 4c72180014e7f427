"""Revision 0007 (anchor targets) on SQLite and PostgreSQL: a batch anchored before it keeps
its proof bundle byte for byte (target "ledger", no timestamp fields), and the downgrade
refuses, changing nothing, while a batch sealed for another target would lose where it
went."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, insert, select, text, update

from mcledger.anchoring.tiles import MemoryTileStore
from mcledger.anchoring.tree import MerkleTree, save_tree
from mcledger.node.index.db import MIGRATIONS_DIR, make_engine, migrate
from mcledger.node.index.models import batch_t, issuer_t
from mcledger.node.pipeline.batches import proof_status
from tests.node.index.revisions import alembic, revision_of

ISSUER = "0x" + "ab" * 20
CONTRACT = "0x" + "cd" * 20
TX, BLOCK_HASH = "0x" + "11" * 32, "0x" + "22" * 32


@pytest.fixture
def before_0007(database_url: str):
    """An index at revision 0006 holding one confirmed batch of 3 digests, as the node
    wrote it then; yields the engine and the digests."""
    engine = make_engine(database_url)
    alembic(engine, "upgrade", "0006")
    digests = [os.urandom(32) for _ in range(3)]
    tree = MerkleTree.from_digests(b"".join(digests))
    with engine.begin() as conn:
        conn.execute(insert(issuer_t).values(id="uni", chain_address=ISSUER, did="", name=""))
        # Written by hand: the table model of today has columns revision 0006 lacks.
        conn.execute(
            text(
                "INSERT INTO batch (id, issuer_id, state, tree_size, root, tile_height,"
                " sealed_at, chain_id, contract, transaction_hash, block_number, block_hash,"
                " block_time, confirmations, confirmed_at) VALUES (1, 'uni', 'confirmed', 3,"
                " :root, 8, :at, 31337, :contract, :tx, 12, :block_hash, :at, 1, :at)"
            ),
            {
                "root": tree.root.hex(),
                "at": datetime(2026, 11, 24, 2, 0, 13, tzinfo=UTC),
                "contract": CONTRACT,
                "tx": TX,
                "block_hash": BLOCK_HASH,
            },
        )
        _write_batch_rows_of_0006(conn, digests, tree)
    try:
        yield engine, digests
    finally:
        engine.dispose()


def _write_batch_rows_of_0006(conn: Connection, digests: list[bytes], tree: MerkleTree) -> None:
    """Batch 1's submissions (hex, with batch_id and leaf_index) and every tile, level 0
    too, as the node wrote them before revision 0009."""
    conn.execute(
        text(
            "INSERT INTO submission (issuer_id, digest, credential_id, submitted_at, batch_id,"
            " leaf_index) VALUES ('uni', :digest, NULL, :at, 1, :leaf)"
        ),
        [{"digest": d.hex(), "at": datetime.now(UTC), "leaf": i} for i, d in enumerate(digests)],
    )
    store = MemoryTileStore()
    save_tree(store, tree, tile_height=8)
    conn.execute(
        text("INSERT INTO tree_tile (batch_id, level, idx, data) VALUES (1, :level, :idx, :data)"),
        [{"level": lv, "idx": k, "data": data} for (lv, k), data in store._tiles.items()],
    )


def _head() -> str:
    return str(ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head())


def test_a_batch_anchored_before_keeps_its_bundle_byte_for_byte(before_0007) -> None:
    engine, digests = before_0007
    migrate(engine)
    assert revision_of(engine) == _head()
    with engine.connect() as conn:
        row = conn.execute(select(batch_t)).one()
    assert (row.target, row.hash_algorithm_id, row.issuer_did, row.ledger_contract) == (
        "ledger",
        None,
        None,
        None,
    )
    tree = MerkleTree.from_digests(b"".join(digests))
    status = proof_status(engine, digest=digests[1].hex())
    assert status is not None and status.bundle is not None
    written_then = {  # the mcledger-proof/1 bundle of a ledger anchor, member by member
        "version": "mcledger-proof/1",
        "digest": digests[1].hex(),
        **tree.inclusion_proof(1).to_json(),
        "anchor": {
            "chainId": 31337,
            "contract": CONTRACT,
            "transactionHash": TX,
            "blockNumber": 12,
            "blockHash": BLOCK_HASH,
            "anchoredAt": "2026-11-24T02:00:13Z",
            "issuer": ISSUER,
        },
    }
    assert status.bundle.dumps() == json.dumps(written_then, indent=2) + "\n"


def test_the_downgrade_refuses_while_a_batch_went_elsewhere(before_0007) -> None:
    engine, _ = before_0007
    migrate(engine)
    with engine.begin() as conn:
        conn.execute(update(batch_t).values(target="ebsi-timestamp", hash_algorithm_id=1))
    with pytest.raises(RuntimeError, match="sealed for another target"):
        alembic(engine, "downgrade", "0006")
    assert revision_of(engine) == _head()  # nothing changed
    with engine.connect() as conn:
        assert conn.execute(select(batch_t.c.target)).scalar_one() == "ebsi-timestamp"

    with engine.begin() as conn:
        conn.execute(update(batch_t).values(target="ledger", hash_algorithm_id=None))
    alembic(engine, "downgrade", "0006")  # only ledger batches: nothing is lost
    assert revision_of(engine) == "0006"
    with engine.connect() as conn:
        columns = conn.execute(text("SELECT * FROM batch")).keys()
    assert "target" not in columns and "tree_size" in columns
