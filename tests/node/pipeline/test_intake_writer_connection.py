"""The intake writer's own connection (SQLite and PostgreSQL): kept across groups, given
back to the pool once requests stop, and on SQLite with its larger page cache undone."""

from __future__ import annotations

import os
import sqlite3
import time

import pytest
from sqlalchemy import Engine

from mcledger.node.issuing.issuers import ensure_issuer
from mcledger.node.pipeline import intake_writer
from mcledger.node.pipeline.intake_writer import IntakeWriter
from mcledger.node.pipeline.submissions import unique_items


@pytest.fixture
def engine(index_engine: Engine) -> Engine:
    ensure_issuer(index_engine, "uni", chain_address="0x" + "11" * 20)
    return index_engine


def test_the_writer_keeps_one_connection_while_busy_and_gives_it_back(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(intake_writer, "HOLD_SECONDS", 0.2)
    writer = IntakeWriter(engine, idle_seconds=5)
    for _ in range(3):
        writer.submit("uni", unique_items([(os.urandom(32).hex(), None)]), "t").result(10)
    assert engine.pool.checkedout() == 1  # type: ignore[attr-defined]  # QueuePool
    deadline = time.monotonic() + 10
    while engine.pool.checkedout():  # type: ignore[attr-defined]
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert writer._thread is not None  # the thread outlives the connection
    assert writer.counts.groups == 3
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:  # the one the writer held, back in the pool
            default = sqlite3.connect(":memory:").execute("PRAGMA cache_size").fetchone()[0]
            assert conn.exec_driver_sql("PRAGMA cache_size").scalar_one() == default
