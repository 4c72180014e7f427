"""Operations over real HTTP (uvicorn on a loopback port), a real Anvil and a real index
(SQLite and PostgreSQL): `/metrics` follows the pipeline, `/readyz` fails while it is stuck.

The gauges are read from the index at each scrape; the counters (gas, fees, RPC errors,
HTTP latency) belong to this process, so the tests compare them before and after.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, update

from mcledger.anchoring.anvil import free_loopback_port
from mcledger.anchoring.chain import ChainClient
from mcledger.anchoring.errors import ChainError, ContractRevertError
from mcledger.node.api import create_app
from mcledger.node.index.models import batch_t, submission_t, utcnow
from mcledger.node.issuing.issuers import ensure_issuer
from mcledger.node.issuing.tokens import create_token
from mcledger.node.metrics import count_rpc_errors
from mcledger.node.pipeline.anchorer import Anchorer
from mcledger.node.pipeline.revocation_flush import RevocationFlusher
from mcledger.node.pipeline.txmachine import AnchoringPolicy
from mcledger.node.settings import Settings
from tests.node.api.scrape import Samples, labels_of, scrape, serving, value
from tests.node.samples import insert_revocations

FAST = AnchoringPolicy(wait_timeout=20, poll_interval=0.05, replace_after=3600)
GAS = "mcledger_transaction_gas_used"


@dataclass
class Served:
    url: str
    engine: Engine
    anchorer: Anchorer
    flusher: RevocationFlusher
    token: str

    def submit(self, count: int) -> list[str]:
        digests = [os.urandom(32).hex() for _ in range(count)]
        reply = httpx.post(
            f"{self.url}/v1/digests",
            json={"digests": [{"digest": d} for d in digests]},
            headers={"Authorization": f"Bearer {self.token}"},
        )
        assert reply.status_code == 202, reply.text
        return digests

    def ready(self) -> tuple[int, dict[str, Any]]:
        reply = httpx.get(f"{self.url}/readyz", timeout=10)
        return reply.status_code, reply.json()


def _serve(engine: Engine, deployed: Any, settings: Settings) -> Iterator[Served]:
    ensure_issuer(engine, "uni", chain_address=deployed.issuer.address)
    token = create_token(engine, "uni", {"issue"})
    app = create_app(settings, engine, chain_ready=deployed.ledger.client.is_reachable)
    account = lambda _id: deployed.issuer  # noqa: E731
    anchorer = Anchorer(engine, deployed.ledger, account, FAST)
    flusher = RevocationFlusher(engine, deployed.ledger, account, FAST)
    with serving(app) as url:
        yield Served(url, engine, anchorer, flusher, token)


@pytest.fixture
def served(index_engine: Engine, deployed: Any, tmp_path: Path) -> Iterator[Served]:
    yield from _serve(index_engine, deployed, Settings(data_dir=tmp_path))


@pytest.fixture
def strict(index_engine: Engine, deployed: Any, tmp_path: Path) -> Iterator[Served]:
    """A node whose transactions may stay unconfirmed for one second only."""
    yield from _serve(index_engine, deployed, Settings(data_dir=tmp_path, unconfirmed_limit=1))


def _batches(samples: Samples, kind: str, state: str) -> float | None:
    return value(samples, "mcledger_batches", kind=kind, state=state)


def _pending(samples: Samples) -> float:
    return value(samples, "mcledger_digests_pending", issuer="uni") or 0


# --- /metrics -------------------------------------------------------------------------------


def test_metrics_follow_digests_anchors_and_revocations(served: Served, deployed: Any) -> None:
    start = scrape(served.url)
    assert value(start, "mcledger_index_up") == 1
    assert _pending(start) == 0 and _batches(start, "anchor", "confirmed") == 0
    assert value(start, "mcledger_last_anchor_age_seconds") is None  # nothing anchored yet
    gas_before = value(start, f"{GAS}_sum", kind="anchor") or 0
    count_before = value(start, f"{GAS}_count", kind="anchor") or 0
    fee_before = value(start, "mcledger_transaction_fee_wei_total", kind="anchor") or 0

    served.submit(3)
    assert _pending(scrape(served.url)) == 3

    [report] = served.anchorer.anchor_pending("uni")
    anchored = scrape(served.url)
    assert report.state == "confirmed"
    assert _pending(anchored) == 0
    assert _batches(anchored, "anchor", "confirmed") == 1
    assert 0 <= value(anchored, "mcledger_last_anchor_age_seconds") < 30
    assert value(anchored, f"{GAS}_count", kind="anchor") == count_before + 1
    gas = value(anchored, f"{GAS}_sum", kind="anchor") - gas_before
    assert 21_000 < gas < 200_000  # one anchor(root, size) call
    fee = value(anchored, "mcledger_transaction_fee_wei_total", kind="anchor") - fee_before
    assert fee >= gas  # at least 1 wei a gas

    # RPC errors by method and kind: the contract refuses a second anchor of the root; a
    # dead endpoint refuses the connection.
    errors = "mcledger_rpc_errors_total"
    refused = {"method": "eth_estimateGas", "kind": "revert"}
    down = {"method": "eth_blockNumber", "kind": "connection"}
    with pytest.raises(ContractRevertError, match="RootAlreadyAnchored"):
        deployed.ledger.anchor(deployed.issuer, bytes.fromhex(report.root), report.tree_size)
    dead = ChainClient(f"http://127.0.0.1:{free_loopback_port()}", request_timeout=2)
    count_rpc_errors(dead.w3)
    count_rpc_errors(dead.w3)  # installed once: one error counts once
    with pytest.raises(ChainError):
        dead.block_number()
    failed = scrape(served.url)
    assert value(failed, errors, **refused) == (value(anchored, errors, **refused) or 0) + 1
    assert value(failed, errors, **down) == (value(anchored, errors, **down) or 0) + 1

    # The age is the index's: an older confirmation shows at once, a new anchor resets it.
    with served.engine.begin() as conn:
        conn.execute(update(batch_t).values(confirmed_at=utcnow() - timedelta(hours=1)))
    assert value(scrape(served.url), "mcledger_last_anchor_age_seconds") >= 3600
    served.submit(1)
    served.anchorer.anchor_pending("uni")
    again = scrape(served.url)
    assert value(again, "mcledger_last_anchor_age_seconds") < 30
    assert _batches(again, "anchor", "confirmed") == 2

    revocation_gas = value(again, f"{GAS}_sum", kind="revocation") or 0
    insert_revocations(served.engine, "uni", 2)
    waiting = scrape(served.url)
    assert value(waiting, "mcledger_revocations_waiting", issuer="uni") == 2
    served.flusher.flush_pending("uni")
    flushed = scrape(served.url)
    assert (value(flushed, "mcledger_revocations_waiting", issuer="uni") or 0) == 0
    assert _batches(flushed, "revocation", "confirmed") == 1
    assert value(flushed, f"{GAS}_sum", kind="revocation") > revocation_gas


def test_http_latency_is_labelled_by_route_template_and_status_class(served: Served) -> None:
    [digest] = served.submit(1)
    name = "mcledger_http_request_duration_seconds_count"
    proof = {"method": "GET", "route": "/v1/proofs/{digest}", "status": "2xx"}
    before = scrape(served.url)
    assert httpx.get(f"{served.url}/v1/proofs/{digest}").status_code == 202  # pending
    assert httpx.get(f"{served.url}/no/such/{digest}").status_code == 404
    after = scrape(served.url)
    assert value(after, name, **proof) == (value(before, name, **proof) or 0) + 1
    unmatched = {"method": "GET", "route": "unmatched", "status": "4xx"}
    assert value(after, name, **unmatched) == (value(before, name, **unmatched) or 0) + 1
    # No raw path (and so no digest) ever becomes a label value.
    routes = {labels["route"] for labels in labels_of(after, name)}
    assert "/v1/digests" in routes and not any(digest in route for route in routes)


def test_metrics_still_serve_the_process_counters_when_the_index_is_down(
    tmp_path: Path,
) -> None:
    from sqlalchemy import create_engine

    dead = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2")
    with serving(create_app(Settings(data_dir=tmp_path), dead)) as url:
        samples = scrape(url)
    assert value(samples, "mcledger_index_up") == 0
    assert value(samples, f"{GAS}_count", kind="anchor") is not None
    assert value(samples, "mcledger_digests_pending", issuer="uni") is None


# --- /readyz --------------------------------------------------------------------------------


def test_readyz_fails_while_the_pipeline_is_stuck_and_recovers(strict: Served, chain: Any) -> None:
    status, body = strict.ready()
    assert status == 200, body
    assert body["pipeline"] == {"anchoring": "ok", "transactions": "ok"}

    # Digests that were waiting at a scheduled run (02:00 UTC) more than the grace time ago.
    strict.submit(2)
    with strict.engine.begin() as conn:
        conn.execute(update(submission_t).values(submitted_at=utcnow() - timedelta(days=2)))
    status, body = strict.ready()
    assert status == 503 and body["code"] == "not-ready"
    assert body["checks"] == {"database": "ok", "chain": "ok"}
    anchoring = body["pipeline"]["anchoring"]
    assert anchoring.startswith("failed: digests of uni pending since")
    assert "missed the anchoring scheduled at" in anchoring and "grace 3600 s" in anchoring
    assert body["pipeline"]["transactions"] == "ok" and "anchoring" in body["detail"]

    # Sealed and broadcast, but nothing is mined: unconfirmed past the one-second limit.
    chain.w3.provider.make_request("evm_setAutomine", [False])
    try:
        [report] = strict.anchorer.anchor_pending("uni", wait=False)
        assert report.state == "submitted"
        time.sleep(1.2)
        status, body = strict.ready()
    finally:
        chain.w3.provider.make_request("evm_setAutomine", [True])
    assert status == 503, body
    assert body["pipeline"]["anchoring"] == "ok"  # sealed since the missed run
    transactions = body["pipeline"]["transactions"]
    assert transactions.startswith(f"failed: anchor batch {report.batch_id} unconfirmed ")
    assert "after its first broadcast" in transactions and "(limit 1 s)" in transactions

    chain.dev_mine(1)
    [report] = strict.anchorer.anchor_pending("uni", seal=False)
    assert report.state == "confirmed"
    status, body = strict.ready()
    assert status == 200, body
    assert body["pipeline"] == {"anchoring": "ok", "transactions": "ok"}
