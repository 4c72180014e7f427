"""End to end with real processes: `mcledger serve` over HTTP, Anvil, the CLI.

submit → anchor → prove → verify, on SQLite and PostgreSQL; then an RPC outage:
the chain stops mid-way, the node keeps accepting digests, and anchors them
once the chain is back.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mcledger.anchoring.anvil import AnvilProcess, free_loopback_port, start_anvil
from mcledger.anchoring.chain import ChainClient
from mcledger.anchoring.ledger import LedgerContract
from mcledger.contracts.toolchain import load_artifact

REPO = Path(__file__).resolve().parents[1]


def _env(data_dir: Path, rpc_url: str, database_url: str, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCLEDGER_")}
    env |= {
        "MCLEDGER_DATA_DIR": str(data_dir),
        "MCLEDGER_RPC_URL": rpc_url,
        "MCLEDGER_DATABASE_URL": database_url,
        "MCLEDGER_PORT": str(port),
        "MCLEDGER_NODE_URL": f"http://127.0.0.1:{port}",
        "MCLEDGER_REVOCATION_INTERVAL": "2",  # the scheduled flush, seconds apart
        "PYTHONPATH": str(REPO),
    }
    return env


def _cli(
    env: dict[str, str], *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mcledger.cli.main", *args],
        cwd=REPO,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


class RunningNode:
    def __init__(self, env: dict[str, str], port: int, log: Path) -> None:
        self.env, self.url, self.log = env, f"http://127.0.0.1:{port}", log
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mcledger.cli.main", "serve", "--dev"],
            cwd=REPO,
            env=env,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert self.process.poll() is None, log.read_text()
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"the node did not come up: {log.read_text()}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()


@pytest.fixture
def chain_state(tmp_path: Path) -> Iterator[tuple[AnvilProcess, Path]]:
    state = tmp_path / "anvil-state.json"
    anvil = start_anvil(state_path=state, state_interval=1)
    yield anvil, state
    anvil.stop()


@pytest.fixture
def node(chain_state, database_url: str, tmp_path: Path) -> Iterator[RunningNode]:
    anvil, _ = chain_state
    port = free_loopback_port()
    running = RunningNode(
        _env(tmp_path / "data", anvil.rpc_url, database_url, port), port, tmp_path / "node.log"
    )
    yield running
    running.stop()


def _token(node: RunningNode) -> str:
    created = _cli(
        node.env, "token", "create", "--issuer", "local", "--scope", "issue,revoke,admin"
    )
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert token.startswith("mcl_") and "\n" not in token
    return token


def _submit(node: RunningNode, token: str, count: int) -> list[str]:
    digests = [os.urandom(32).hex() for _ in range(count)]
    reply = httpx.post(
        f"{node.url}/v1/digests",
        json={"digests": [{"digest": d, "credentialId": f"urn:uuid:{d[:32]}"} for d in digests]},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert reply.status_code == 202, reply.text
    return digests


def _wait_for_proofs(node: RunningNode, digests: list[str], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    waiting = list(digests)
    while waiting and time.monotonic() < deadline:
        waiting = [
            d
            for d in waiting
            if httpx.get(f"{node.url}/v1/proofs/{d}", timeout=10).status_code != 200
        ]
        time.sleep(0.3)
    assert not waiting, (
        f"{len(waiting)} digests never anchored; log:\n{node.log.read_text()[-3000:]}"
    )


def _roots_anchored_once(rpc_url: str, node: RunningNode) -> None:
    batches = httpx.get(f"{node.url}/v1/batches", timeout=10).json()
    items = batches["batches"] if isinstance(batches, dict) else batches
    assert items and all(b["state"] == "confirmed" for b in items)
    client = ChainClient(rpc_url)
    ledger = LedgerContract(client, items[0]["anchor"]["contract"], load_artifact()["abi"])
    for batch in items:
        events = ledger.events("RootAnchored", 0, "latest", root=bytes.fromhex(batch["root"]))
        assert len(events) == 1, batch


def test_submit_anchor_prove_verify(node: RunningNode, chain_state, tmp_path: Path) -> None:
    anvil, _ = chain_state
    token = _token(node)
    digests = _submit(node, token, 20)
    pending = httpx.get(f"{node.url}/v1/proofs/{digests[0]}", timeout=10)
    assert pending.status_code == 202 and pending.json()["state"] == "pending"
    assert pending.json()["nextAnchoringAt"]
    now = httpx.post(
        f"{node.url}/v1/batches", json={}, headers={"Authorization": f"Bearer {token}"}, timeout=60
    )
    assert now.status_code == 202, now.text
    _wait_for_proofs(node, digests)

    bundle_path = tmp_path / "bundle.json"
    proved = _cli(node.env, "prove", digests[7], "-o", str(bundle_path))
    assert proved.returncode == 0, proved.stderr
    by_id = _cli(node.env, "prove", "--id", f"urn:uuid:{digests[7][:32]}")
    assert json.loads(by_id.stdout) == json.loads(bundle_path.read_text())

    verified = _cli(node.env, "verify", str(bundle_path), "--rpc", anvil.rpc_url, "--json")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    report = json.loads(verified.stdout)
    assert report["ok"] and all(check["passed"] for check in report["checks"])

    tampered = bundle_path.read_text().replace(digests[7], digests[8])
    refused = _cli(node.env, "verify", "-", "--rpc", anvil.rpc_url, "--json", stdin=tampered)
    assert refused.returncode == 1
    failed = {c["name"] for c in json.loads(refused.stdout)["checks"] if not c["passed"]}
    assert failed == {"merkle.inclusion"}
    _roots_anchored_once(anvil.rpc_url, node)


def test_rpc_outage_keeps_intake_and_anchors_when_back(
    node: RunningNode, chain_state, tmp_path: Path
) -> None:
    anvil, state = chain_state
    token = _token(node)
    before = _submit(node, token, 5)
    time.sleep(1.5)  # let Anvil write its state (deployment, registration) to disk
    anvil.stop()
    during = _submit(node, token, 5)  # the node keeps accepting while the chain is down
    outage = httpx.post(
        f"{node.url}/v1/batches", json={}, headers={"Authorization": f"Bearer {token}"}, timeout=60
    )
    assert outage.status_code in (202, 503), outage.text
    assert httpx.get(f"{node.url}/readyz", timeout=10).status_code == 503
    assert httpx.get(f"{node.url}/v1/proofs/{before[0]}", timeout=10).status_code == 202

    back = start_anvil(port=anvil.port, state_path=state, state_interval=1)
    try:
        after = _submit(node, token, 3)
        httpx.post(
            f"{node.url}/v1/batches",
            json={},
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
        )
        _wait_for_proofs(node, before + during + after, timeout=120)
        _roots_anchored_once(back.rpc_url, node)
    finally:
        back.stop()
