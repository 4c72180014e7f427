"""Revision 0008 (revocation commitments) on SQLite and PostgreSQL: a revocation batch sent
before it is a per-digest `revoke` batch afterwards, unchanged; an issuer's commitments
cannot fork (a root is reached and built on once); the downgrade refuses, changing nothing,
while the index holds a commitment."""

from __future__ import annotations

import pytest
from sqlalchemy import insert, select, text, update
from sqlalchemy.exc import IntegrityError

from mcledger.node.index.db import make_engine
from mcledger.node.index.models import issuer_t, revocation_batch_t
from tests.node.index.revisions import alembic, revision_of

SEALED_AT = "2026-12-01 10:00:00"


@pytest.fixture
def at_0007(database_url: str):
    """An index at revision 0007 with one confirmed revocation batch, as the node wrote it."""
    engine = make_engine(database_url)
    alembic(engine, "upgrade", "0007")
    with engine.begin() as conn:
        conn.execute(insert(issuer_t).values(id="uni", chain_address="0x" + "ab" * 20, did=""))
        conn.execute(  # by hand: today's model has columns revision 0007 lacks
            text(
                "INSERT INTO revocation_batch (id, issuer_id, reason, state, size, sealed_at,"
                " transaction_hash, block_number) VALUES (1, 'uni', 2, 'confirmed', 3,"
                " :at, :tx, 40)"
            ),
            {"at": SEALED_AT, "tx": "0x" + "11" * 32},
        )
    try:
        yield engine
    finally:
        engine.dispose()


def _commit_batch(batch_id: int, previous: str, new: str) -> dict[str, object]:
    return {
        "id": batch_id,
        "issuer_id": "uni",
        "reason": 1,
        "state": "sealed",
        "size": 1,
        "kind": "commit",
        "previous_root": previous,
        "new_root": new,
        "new_size": batch_id,
        "declared_at": 1_767_225_600,
    }


def test_an_earlier_batch_stays_a_per_digest_revoke(at_0007) -> None:
    alembic(at_0007, "upgrade", "0008")
    with at_0007.connect() as conn:
        row = conn.execute(select(revocation_batch_t)).one()
    assert (row.kind, row.previous_root, row.new_root, row.new_size, row.declared_at) == (
        "revoke",
        None,
        None,
        None,
        None,
    )
    assert (row.reason, row.state, row.size, row.block_number) == (2, "confirmed", 3, 40)


def test_an_issuers_commitments_cannot_fork(at_0007) -> None:
    alembic(at_0007, "upgrade", "0008")
    zero, a, b = "00" * 32, "aa" * 32, "bb" * 32
    with at_0007.begin() as conn:
        conn.execute(insert(revocation_batch_t).values(**_commit_batch(2, zero, a)))
    for other in (_commit_batch(3, zero, b), _commit_batch(3, b, a)):  # same base, same result
        with pytest.raises(IntegrityError), at_0007.begin() as conn:
            conn.execute(insert(revocation_batch_t).values(**other))
    with at_0007.begin() as conn:  # the next link of the chain, and per-digest batches, fit
        conn.execute(insert(revocation_batch_t).values(**_commit_batch(3, a, b)))
        conn.execute(
            text(
                "INSERT INTO revocation_batch (id, issuer_id, reason, state, size, sealed_at)"
                " VALUES (4, 'uni', 1, 'sealed', 1, :at)"
            ),
            {"at": SEALED_AT},
        )
    with at_0007.connect() as conn:
        assert conn.execute(select(revocation_batch_t.c.id)).scalars().all() == [1, 2, 3, 4]


def test_the_downgrade_refuses_while_the_index_holds_a_commitment(at_0007) -> None:
    alembic(at_0007, "upgrade", "0008")
    with at_0007.begin() as conn:
        conn.execute(insert(revocation_batch_t).values(**_commit_batch(2, "00" * 32, "aa" * 32)))
    with pytest.raises(RuntimeError, match="revocation commitments"):
        alembic(at_0007, "downgrade", "0007")
    assert revision_of(at_0007) == "0008"  # nothing changed
    with at_0007.connect() as conn:
        assert conn.execute(select(revocation_batch_t.c.kind)).scalars().all() == [
            "revoke",
            "commit",
        ]

    with at_0007.begin() as conn:
        conn.execute(
            update(revocation_batch_t)
            .where(revocation_batch_t.c.id == 2)
            .values(kind="revoke", previous_root=None, new_root=None)
        )
    alembic(at_0007, "downgrade", "0007")
    assert revision_of(at_0007) == "0007"
    with at_0007.connect() as conn:
        columns = conn.execute(text("SELECT * FROM revocation_batch")).keys()
        tables = conn.execute(text("SELECT count(*) FROM revocation_batch")).scalar_one()
    assert "kind" not in columns and "new_root" not in columns and tables == 2
