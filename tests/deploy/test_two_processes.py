"""Several processes: two `mcledger serve` (not in development mode) on one PostgreSQL schema,
one chain, one data directory (keystore and contract). Both serve; the one that anchors is
killed with SIGKILL after it broadcast the anchor and before it confirmed it; the survivor
confirms the batch once the chain lease expires, every digest gets a proof from it, and the
chain holds exactly one anchor of the root.

Each node runs in its own UTS namespace with its own host name (`node-a`, `node-b`), as on
two machines: the dead holder's name then names another place, so the survivor cannot take
the lease by seeing the pid gone (node/index/lease.py does that only for its own host and
pid namespace) and must wait for the lease to expire, as across machines. The test asserts
that wait: the batch is confirmed after the dead holder's lease expired, not before.

The setup is docker/compose.yaml's, without containers: the keystore passphrase and the
database password come from secret files (MCLEDGER_SECRETS_DIR), and the deploy step is the
compose file's own command, run twice (the second run must change nothing).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func, select

from mcledger.anchoring.anvil import AnvilProcess, free_loopback_port
from mcledger.anchoring.bundle import ProofBundle
from mcledger.anchoring.chain import ChainClient
from mcledger.anchoring.ledger import LedgerContract
from mcledger.anchoring.merkle import verify_inclusion
from mcledger.contracts.toolchain import load_artifact
from mcledger.node.index.db import open_index
from mcledger.node.index.models import anchor_attempt_t, batch_t, issuer_t, lease_t
from mcledger.node.issuing.keys import DEV_PASSPHRASE_FILE
from mcledger.node.issuing.tokens import create_token
from mcledger.node.pipeline.scheduler import FOLLOW_UP_SECONDS
from mcledger.node.verifier.bundle import verify_bundle
from tests.deploy.composefile import REPO, resolved_compose

DIGESTS = 3_000
CHUNK = 500
LEASE_SECONDS = 10.0  # above FOLLOW_UP_SECONDS, so a takeover before expiry would show
FAULT_POINT = "anchor.sent"  # signed, stored and broadcast; not yet confirmed
NAMES = ("node-a", "node-b")

# Runs in the new UTS namespace: take the host name, then become `mcledger ...` (same pid).
BOOT = (
    "import os, socket, sys; socket.sethostname(sys.argv[1]); "
    "os.execv(sys.executable, [sys.executable, '-m', 'mcledger.cli.main', *sys.argv[2:]])"
)


@pytest.fixture(scope="module")
def own_host_names() -> None:
    done = subprocess.run(["unshare", "--uts", "--", "true"], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot give a process its own host name (unshare --uts): {done.stderr}")


def _env(data_dir: Path, secrets: Path, rpc_url: str, database_url: str) -> dict[str, str]:
    """The compose file's settings, pointed at this machine's chain and database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCLEDGER_")}
    return env | {
        "MCLEDGER_DATA_DIR": str(data_dir),
        "MCLEDGER_SECRETS_DIR": str(secrets),
        "MCLEDGER_RPC_URL": rpc_url,
        "MCLEDGER_DATABASE_URL": database_url,
        "PYTHONPATH": str(REPO),
        "PATH": f"{Path(sys.executable).parent}:{env.get('PATH', '/usr/bin:/bin')}",
    }


def _deploy_step(deploy: dict[str, Any], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*deploy["entrypoint"], *deploy["command"]],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _finished(step: subprocess.Popen[str]) -> str:
    output, _ = step.communicate(timeout=180)
    assert step.returncode == 0, output
    return output


def _log_tail(path: Path) -> str:
    return path.read_text(errors="replace")[-4000:] if path.exists() else ""


class Node:
    """One `mcledger serve` process under its own host name."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], tmp: Path) -> None:
        self.name, self.port, self.log = name, free_loopback_port(), tmp / f"{name}.log"
        with self.log.open("w") as out:
            self.process = subprocess.Popen(
                ["unshare", "--uts", "--", sys.executable, "-c", BOOT, name, *command],
                env=env | {"MCLEDGER_PORT": str(self.port)},
                cwd=tmp,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=30)

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"{self.name} exited:\n{_log_tail(self.log)}"
            try:
                if self.http.get("/readyz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        pytest.fail(f"{self.name} not ready in {timeout} s:\n{_log_tail(self.log)}")

    def stop(self) -> None:
        self.http.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def nodes() -> Iterator[list[Node]]:
    started: list[Node] = []
    yield started
    for node in started:
        node.stop()


def _wait_for(what: str, check: Any, timeout: float, nodes: list[Node]) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    logs = "\n".join(f"--- {n.name}\n{_log_tail(n.log)}" for n in nodes)
    pytest.fail(f"{what} did not happen in {timeout} s\n{logs}")


def _anchor_now(node: Node, auth: dict[str, str]) -> None:
    """POST /v1/batches until the node takes the run (the other's follow-up job may hold the
    lease a moment: 500 today, from the lease's plain NodeError); with the fault point set,
    it dies before it answers."""
    for _ in range(50):
        try:
            answer = node.http.post("/v1/batches", json={}, headers=auth)
        except httpx.TransportError:
            return  # the connection died with the process
        assert answer.status_code in (409, 500, 503), (answer.status_code, answer.text)
        time.sleep(0.2)
    pytest.fail(f"{node.name} never took the anchoring run:\n{_log_tail(node.log)}")


def _batches(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(batch_t).order_by(batch_t.c.id)).all())


@pytest.mark.postgres
@pytest.mark.chain
def test_the_survivor_finishes_the_anchoring_of_a_killed_node(
    own_host_names: None,
    anvil: AnvilProcess,
    postgres_database_url: str,
    tmp_path: Path,
    nodes: list[Node],
    record_property: Any,
) -> None:
    compose = resolved_compose()["services"]
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "mcledger_key_password").write_text("two processes, one keystore\n")
    (secrets / "mcledger_database_password").write_text("only-checked-where-auth-is-on\n")
    data_dir = tmp_path / "data"
    env = _env(data_dir, secrets, anvil.rpc_url, postgres_database_url)

    # The compose file's deploy step, then the nodes; the step runs again while they start
    # (as `docker compose up` on a running stack does) and changes nothing.
    _finished(_deploy_step(compose["deploy"], env))
    deployment = (data_dir / "chain" / "deployment.json").read_text()
    assert not (data_dir / "keys" / DEV_PASSPHRASE_FILE).exists()  # a real keystore
    again = _deploy_step(compose["deploy"], env)

    node_env = env | {
        "MCLEDGER_LEASE_SECONDS": str(LEASE_SECONDS),
        "MCLEDGER_FAULT_POINT": FAULT_POINT,  # on both: whichever anchors dies there
    }
    nodes += [Node(name, compose["node"]["command"], node_env, tmp_path) for name in NAMES]
    for node in nodes:
        node.wait_ready()
    assert "already deployed" in _finished(again)
    assert (data_dir / "chain" / "deployment.json").read_text() == deployment

    engine = open_index(postgres_database_url)
    try:
        token = create_token(engine, "local", {"issue", "admin"}, label="two processes")
        auth = {"Authorization": f"Bearer {token}"}
        digests = [os.urandom(32).hex() for _ in range(DIGESTS)]
        for i in range(0, DIGESTS, CHUNK):  # half the requests to each node
            node = nodes[(i // CHUNK) % 2]
            body = {"digests": [{"digest": d} for d in digests[i : i + CHUNK]]}
            answer = node.http.post("/v1/digests", json=body, headers=auth)
            assert answer.is_success, (node.name, answer.status_code, answer.text)

        # Seal and send now on one of them (the anchoring run a schedule starts), which dies
        # there. MCLEDGER_BATCH_THRESHOLD would start it without a request, but its 15 s check
        # fires in step with the 5 s follow-up job and loses the run lock to it: no seal.
        _anchor_now(nodes[1], auth)
        dead = _wait_for(
            "a node dying at " + FAULT_POINT,
            lambda: next((n for n in nodes if n.process.poll() is not None), None),
            60,
            nodes,
        )
        killed_at, killed_wall = time.monotonic(), time.time()
        survivor = next(n for n in nodes if n is not dead)
        assert dead.process.returncode == -signal.SIGKILL, _log_tail(dead.log)
        assert survivor.process.poll() is None, _log_tail(survivor.log)

        # The dead process still holds the lease: its name and pid are in the lease table.
        with engine.connect() as conn:
            holder, expires_at = conn.execute(select(lease_t.c.holder, lease_t.c.expires_at)).one()
        place, pid, _ = holder.split(":")
        assert place.split("/")[0] == dead.name and int(pid) == dead.process.pid, holder
        [batch] = _batches(engine)
        assert (batch.state, batch.tree_size) == ("submitted", DIGESTS)

        confirmed = _wait_for(
            "the survivor's confirmation",
            lambda: [b for b in _batches(engine) if b.state == "confirmed"],
            LEASE_SECONDS + FOLLOW_UP_SECONDS + 60,
            nodes,
        )
        takeover = time.monotonic() - killed_at
        [batch] = confirmed
        confirmed_wall = batch.confirmed_at.replace(tzinfo=UTC).timestamp()
        record_property("takeover_seconds", round(takeover, 2))
        record_property("lease_left_at_kill_seconds", round(expires_at - killed_wall, 2))
        print(
            f"\nkill -> survivor's confirmed anchor: {takeover:.1f} s "
            f"(lease {LEASE_SECONDS:g} s, {expires_at - killed_wall:.1f} s of it left at the kill;"
            f" follow-up every {FOLLOW_UP_SECONDS} s)"
        )
        # Taken over by expiry, as across machines: not before the dead holder's lease ran out,
        # and within the lease time plus one follow-up run (and a margin for a loaded machine).
        assert confirmed_wall >= expires_at, (confirmed_wall, expires_at)
        assert takeover <= LEASE_SECONDS + FOLLOW_UP_SECONDS + 10, takeover
        assert survivor.process.poll() is None, _log_tail(survivor.log)

        # One transaction, one anchor on chain.
        client = ChainClient(anvil.rpc_url)
        record = json.loads(deployment)
        ledger = LedgerContract(client, record["contract"], load_artifact()["abi"])
        with engine.connect() as conn:
            issuer = conn.execute(select(issuer_t.c.chain_address)).scalar_one()
            attempts = conn.execute(select(func.count()).select_from(anchor_attempt_t)).scalar()
        anchored = ledger.events("RootAnchored", record["block_number"], client.block_number())
        assert [(e["args"]["root"].hex(), e["args"]["treeSize"]) for e in anchored] == [
            (batch.root, DIGESTS)
        ]
        assert attempts == 1
        assert client.w3.eth.get_transaction_count(issuer, "latest") == 1

        # Every digest has its proof from the survivor.
        root = bytes.fromhex(batch.root)

        def proof_of(digest: str) -> ProofBundle:
            answer = survivor.http.get(f"/v1/proofs/{digest}")
            assert answer.status_code == 200, (digest, answer.status_code, answer.text)
            bundle = ProofBundle.from_json(answer.json())
            verify_inclusion(bytes.fromhex(digest), bundle.proof, root=root, tree_size=DIGESTS)
            assert bundle.anchor.transaction_hash == batch.transaction_hash
            return bundle

        with ThreadPoolExecutor(4) as pool:
            bundles = list(pool.map(proof_of, digests))
        report = verify_bundle(bundles[-1], client, ledger)
        assert report.ok, report.failed
    finally:
        engine.dispose()
