"""The issuers' revocation sets are built when the node starts serving (the app's lifespan,
a daemon thread), not by the first proof request: on a real Anvil (a version-2 contract), a
real SQLite index and uvicorn, a process that has never touched the set holds it, built and
at the committed root, without any request."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import uvicorn

from mcledger.anchoring.anvil import free_loopback_port
from mcledger.node.api import create_app
from mcledger.node.index.db import open_index
from mcledger.node.issuing.issuers import ensure_issuer
from mcledger.node.pipeline.revocation_flush import RevocationFlusher
from mcledger.node.pipeline.revocation_sets import committed_sets
from mcledger.node.pipeline.txmachine import AnchoringPolicy
from mcledger.node.settings import Settings
from tests.node.samples import revoke_digests

FAST = AnchoringPolicy(wait_timeout=20, poll_interval=0.05, replace_after=3600)


def test_the_sets_are_built_as_serving_starts(tmp_path: Path, deployed: Any) -> None:
    url = f"sqlite:///{tmp_path / 'index.sqlite3'}"
    flushing = open_index(url)
    ensure_issuer(flushing, "uni", chain_address=deployed.issuer.address)
    revoke_digests(flushing, "uni", [f"{i:064x}" for i in range(1, 301)], 1)
    flusher = RevocationFlusher(flushing, deployed.ledger, lambda _id: deployed.issuer, FAST)
    [report] = flusher.flush_pending("uni")
    assert report.state == "confirmed", report
    flushing.dispose()

    engine = open_index(url)  # another process's engine: nothing of it in memory yet
    sets = committed_sets(engine)
    assert not sets.is_built("uni")
    config = uvicorn.Config(
        create_app(Settings(data_dir=tmp_path), engine),
        host="127.0.0.1",
        port=free_loopback_port(),
        log_config=None,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not (server.started and sets.is_built("uni")):
            assert thread.is_alive() and time.monotonic() < deadline, "no warm-up"
            time.sleep(0.02)
        onchain = deployed.ledger.revocation_root_of(deployed.issuer.address)
        head = sets.head("uni")
        assert (head.root, head.size) == (onchain.root, onchain.size) and head.size == 300
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        engine.dispose()


def test_a_warm_up_with_nothing_committed_builds_nothing(tmp_path: Path) -> None:
    engine = open_index(f"sqlite:///{tmp_path / 'index.sqlite3'}")
    try:
        sets = committed_sets(engine)
        sets.warm_up().join(timeout=10)
        assert not sets.is_built("uni")
    finally:
        engine.dispose()
