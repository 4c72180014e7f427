"""Crash safety: `mcledger anchor` killed with SIGKILL at every step of the state machine.

Each run kills the real process at a named point (the test-only fault hook),
restarts it, and checks on the chain that every digest is anchored exactly once.
Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from mcledger.anchoring.anvil import AnvilProcess, start_anvil
from mcledger.anchoring.ledger import RevocationsCommitted
from mcledger.node.index.db import open_index
from mcledger.node.index.models import (
    batch_t,
    revocation_batch_t,
    revocation_t,
    utcnow,
)
from mcledger.node.index.sequence import insert_submissions
from mcledger.node.pipeline.batches import proof_status
from mcledger.node.pipeline.faults import FAULT_POINTS
from mcledger.node.runtime.service import open_node
from mcledger.node.settings import load_settings

REPO = Path(__file__).resolve().parents[3]
# The anchoring points; anchor.replacement-signed needs a stuck tx. The revocation points
# have their own test below (an anchor-only run never reaches them).
POINTS = [
    p
    for p in FAULT_POINTS
    if p == "batch.sealed" or (p.startswith("anchor.") and p != "anchor.replacement-signed")
]


@pytest.fixture(scope="module")
def crash_chain() -> Iterator[AnvilProcess]:
    anvil = start_anvil()
    yield anvil
    anvil.stop()


def _env(data_dir: Path, rpc_url: str, database_url: str, fault: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCLEDGER_")}
    env |= {
        "MCLEDGER_DATA_DIR": str(data_dir),
        "MCLEDGER_RPC_URL": rpc_url,
        "MCLEDGER_DATABASE_URL": database_url,
        "MCLEDGER_DEV": "true",
        "PYTHONPATH": str(REPO),
    }
    if fault:
        env["MCLEDGER_FAULT_POINT"] = fault
    return env


def _anchor(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mcledger.cli.main", "anchor", "--json"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


@pytest.mark.parametrize("point", POINTS)
def test_sigkill_at_each_step_loses_nothing_and_anchors_once(
    point: str, crash_chain: AnvilProcess, database_url: str, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    settings = load_settings(
        data_dir=data_dir, rpc_url=crash_chain.rpc_url, database_url=database_url, dev=True
    )
    node = open_node(settings)  # deploys the contract and registers the issuer, as serve does
    ledger, issuer, start_block = node.anchorer.ledger, node.chain.issuer_account(), 0
    node.close()

    engine = open_index(database_url)
    digests = [os.urandom(32).hex() for _ in range(9)]
    with engine.begin() as conn:
        insert_submissions(
            conn, [{"issuer_id": "local", "digest": d, "submitted_at": utcnow()} for d in digests]
        )

    crashed = _anchor(_env(data_dir, crash_chain.rpc_url, database_url, point))
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr

    # Digests submitted after the crash go into the next batch, also exactly once.
    later = [os.urandom(32).hex() for _ in range(4)]
    with engine.begin() as conn:
        insert_submissions(
            conn, [{"issuer_id": "local", "digest": d, "submitted_at": utcnow()} for d in later]
        )
    resumed = _anchor(_env(data_dir, crash_chain.rpc_url, database_url, None))
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr

    with engine.connect() as conn:
        batches = conn.execute(select(batch_t.c.root, batch_t.c.state, batch_t.c.tree_size)).all()
    assert all(state == "confirmed" for _, state, _ in batches)
    assert sum(size for _, _, size in batches) == len(digests) + len(later)
    for root, _, size in batches:
        events = ledger.events("RootAnchored", start_block, "latest", root=bytes.fromhex(root))
        assert len(events) == 1, f"root {root} anchored {len(events)} times"
        assert events[0]["args"]["issuer"] == issuer.address
        assert events[0]["args"]["treeSize"] == size
    for digest in digests + later:
        status = proof_status(engine, digest=digest)
        assert status is not None and status.bundle is not None, digest
    engine.dispose()


REVOCATION_POINTS = [
    p
    for p in FAULT_POINTS
    if p.startswith("revocation") and p != "revocation.replacement-signed"  # needs a stuck tx
]


def _revocations(issuer_id: str, reasons: list[int]) -> list[dict[str, object]]:
    return [
        {
            "issuer_id": issuer_id,
            "digest": os.urandom(32).hex(),
            "reason": reason,
            "note": "",
            "revoked_at": utcnow(),
        }
        for reason in reasons
    ]


@pytest.mark.parametrize("point", REVOCATION_POINTS)
def test_sigkill_at_each_revocation_step_loses_nothing_and_revokes_once(
    point: str, crash_chain: AnvilProcess, database_url: str, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    settings = load_settings(
        data_dir=data_dir, rpc_url=crash_chain.rpc_url, database_url=database_url, dev=True
    )
    node = open_node(settings)  # deploys the contract and registers the issuer (admin key)
    ledger, issuer = node.anchorer.ledger, node.chain.issuer_account()
    w3 = ledger.client.w3
    node.close()
    nonce_before = w3.eth.get_transaction_count(issuer.address, "latest")

    # Two reasons: two revocation batches in flight when the process dies.
    engine = open_index(database_url)
    first = _revocations("local", [1, 1, 1, 3, 3])
    with engine.begin() as conn:
        conn.execute(insert(revocation_t), first)

    crashed = _anchor(_env(data_dir, crash_chain.rpc_url, database_url, point))
    assert crashed.returncode == -signal.SIGKILL, crashed.stdout + crashed.stderr

    # Revocations recorded after the crash go out in the next flush, also exactly once.
    later = _revocations("local", [1, 4])
    with engine.begin() as conn:
        conn.execute(insert(revocation_t), later)
    resumed = _anchor(_env(data_dir, crash_chain.rpc_url, database_url, None))
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert all(b["state"] == "confirmed" for b in json.loads(resumed.stdout)["revocationBatches"])

    with engine.connect() as conn:
        batches = conn.execute(
            select(revocation_batch_t.c.id, revocation_batch_t.c.state, revocation_batch_t.c.size)
        ).all()
        rows = conn.execute(
            select(
                revocation_t.c.digest,
                revocation_t.c.reason,
                revocation_t.c.batch_id,
                revocation_t.c.transaction_hash,
                revocation_t.c.block_number,
            )
        ).all()
    engine.dispose()

    assert len(batches) == 4, batches  # reasons 1 and 3 before the crash, 1 and 4 after
    assert all(state == "confirmed" for _, state, _ in batches), batches
    assert sum(size for _, _, size in batches) == len(first) + len(later)
    assert {r.digest: r.reason for r in rows} == {
        str(r["digest"]): r["reason"] for r in first + later
    }
    # The contract (version 2) takes commitments: each digest in exactly one flush's event.
    committed: dict[str, RevocationsCommitted] = {}
    for event in ledger.revocation_commitments(0, w3.eth.block_number, issuer.address):
        for digest in event.digests:
            assert digest.hex() not in committed, f"{digest.hex()} committed twice on chain"
            committed[digest.hex()] = event
    assert ledger.revocation_root_of(issuer.address).size == len(first) + len(later)
    for row in rows:
        assert row.batch_id is not None, row.digest
        event = committed[row.digest]
        assert event.reason == row.reason
        assert (row.transaction_hash, row.block_number) == (
            event.transaction_hash,
            event.block_number,
        )

    # No transaction went out twice: one issuer transaction per revocation batch.
    nonce_after = w3.eth.get_transaction_count(issuer.address, "latest")
    assert nonce_after - nonce_before == len(batches)
