"""The intake writer's group insert when a credentialId is already taken (SQLite and
PostgreSQL): the group's one statement fails on the credentialId index, and each request
is then recorded alone, the one that reused the id refused with nothing of it kept."""

from __future__ import annotations

import os
import time

import pytest
from sqlalchemy import Engine

from mcledger.node.issuing.issuers import ensure_issuer
from mcledger.node.pipeline import submission_rows
from mcledger.node.pipeline.intake_writer import IntakeWriter
from mcledger.node.pipeline.submissions import DigestConflictError, submit_digests, unique_items
from tests.node.pipeline.counter_hold import holding_counter
from tests.node.pipeline.test_intake_writer import stored, wait_until_queued


def digest() -> str:
    return os.urandom(32).hex()


@pytest.fixture
def engine(index_engine: Engine) -> Engine:
    ensure_issuer(index_engine, "uni", chain_address="0x" + "11" * 20)
    return index_engine


def test_a_taken_credential_id_is_refused_alone_in_its_group(engine: Engine) -> None:
    writer = IntakeWriter(engine, idle_seconds=0.5)
    known = digest()
    submit_digests(engine, "uni", [(known, "urn:x:taken")], actor="t")
    with holding_counter(engine, "uni") as release:
        first = writer.submit("uni", unique_items([(digest(), None)]), "t")
        time.sleep(0.1)
        good = writer.submit("uni", unique_items([(a := digest(), "urn:x:a")]), "t")
        bad = writer.submit("uni", unique_items([(b := digest(), "urn:x:taken")]), "t")
        also_good = writer.submit("uni", unique_items([(c := digest(), None)]), "t")
        wait_until_queued(writer, 3)
        release.set()

    first.result(10)
    assert good.result(10)[0].created
    with pytest.raises(DigestConflictError) as refused:
        bad.result(10)
    assert [c.digest for c in refused.value.conflicts] == [b]
    assert also_good.result(10)[0].created
    rows = stored(engine)
    assert b not in rows
    assert sorted(seq for _, seq in rows.values()) == list(range(4))  # no hole
    assert {rows[a][1], rows[c][1]} == {2, 3}
    assert writer.counts.alone == 0  # refused inside the group, not by failing it


def test_older_sqlite_inserts_with_values_statements_alike(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("the VALUES statements are SQLite's before 3.38 (no built-in JSON)")
    monkeypatch.setattr(submission_rows, "_SQLITE_JSON", False)
    writer = IntakeWriter(engine, idle_seconds=0.5)
    wanted = [(digest(), f"urn:x:{i}" if i % 2 else None) for i in range(450)]  # 3 statements
    states = writer.submit("uni", unique_items(wanted), "t").result(10)
    assert all(s.created for s in states)
    rows = stored(engine)
    assert sorted(rows[d][1] for d, _ in wanted) == list(range(450))
    assert [rows[d][1] for d in sorted(d for d, _ in wanted)] == list(range(450))  # sorted inside
