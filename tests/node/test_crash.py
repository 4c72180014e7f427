"""Crash safety: `mcledger anchor` killed with SIGKILL at every step of the state machine.

Each run kills the real process at a named point (the test-only fault hook),
restarts it, and checks on the chain that every digest is anchored exactly once.
Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from anchoring.anvil import AnvilProcess, start_anvil
from node.batches import proof_status
from node.db import open_index
from node.faults import FAULT_POINTS
from node.models import batch_t, submission_t, utcnow
from node.service import open_node
from node.settings import load_settings

REPO = Path(__file__).resolve().parents[2]
POINTS = [p for p in FAULT_POINTS if p != "anchor.replacement-signed"]  # needs a stuck tx


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
        [sys.executable, "-m", "cli.main", "anchor", "--json"],
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
        conn.execute(
            insert(submission_t),
            [{"issuer_id": "local", "digest": d, "submitted_at": utcnow()} for d in digests],
        )

    crashed = _anchor(_env(data_dir, crash_chain.rpc_url, database_url, point))
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr

    # Digests submitted after the crash go into the next batch, also exactly once.
    later = [os.urandom(32).hex() for _ in range(4)]
    with engine.begin() as conn:
        conn.execute(
            insert(submission_t),
            [{"issuer_id": "local", "digest": d, "submitted_at": utcnow()} for d in later],
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
