"""The node anchoring through EBSI's Timestamp interface (MCLEDGER_ANCHOR_TARGET=
ebsi-timestamp) with real processes, on the Berlin, gas-free Anvil (``ebsi_chain``).

The whole flow: `mcledger serve --dev` deploys our EbsiTimestamp beside the ledger and
records both; digests over HTTP → `mcledger anchor` → `mcledger prove`: the bundle names
the target, and `getTimestamp` holds its root, sender, block, size and DID → `mcledger
verify` → a revocation still goes to the ledger → `mcledger audit` clean, and a finding once
the index is tampered with. And crash safety: `mcledger anchor` killed with SIGKILL at each
anchoring point in turn (each run resumes what the one before left and dies at the next),
then a clean run: every root timestamped once, no digest lost, one transaction a batch.
(``anchor.replacement-signed`` is not reached on a gas-free chain: a waiting transaction is
broadcast again there, never repriced.)
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, select, update

from mcledger.anchoring.anvil import free_loopback_port
from mcledger.anchoring.bundle import EBSI_TIMESTAMP_TARGET
from mcledger.anchoring.chain import ChainClient
from mcledger.anchoring.ledger import LedgerContract
from mcledger.anchoring.timestamp import SHA2_256_ID, TimestampContract
from mcledger.contracts.toolchain import load_artifact
from mcledger.node.index.db import open_index
from mcledger.node.index.models import batch_t, issuer_t, utcnow
from mcledger.node.index.sequence import insert_submissions
from mcledger.node.pipeline.batches import proof_status
from mcledger.node.runtime.chain_setup import DEPLOYMENT_FILE, DEV_FUNDING_WEI, Deployment
from mcledger.node.runtime.service import open_node
from mcledger.node.settings import load_settings
from tests.chains.test_flow import _token, _wait_for_revocation_on_chain, check_transaction
from tests.chains.variants import ChainVariant
from tests.node.pipeline.test_crash import _anchor
from tests.node.pipeline.test_crash import _env as _anchor_env
from tests.test_end_to_end import RunningNode, _cli, _env, _submit

pytestmark = pytest.mark.chain


@pytest.fixture
def node(ebsi_chain: ChainVariant, tmp_path: Path) -> Iterator[RunningNode]:
    """`mcledger serve --dev` anchoring through the Timestamp interface (as test_flow's)."""
    port = free_loopback_port()
    index = f"sqlite:///{tmp_path / 'index.sqlite3'}"
    env = _env(tmp_path / "data", ebsi_chain.rpc_url, index, port) | ebsi_chain.env
    running = RunningNode(env, port, tmp_path / "node.log")
    yield running
    running.stop()


def _contracts(client: ChainClient, data_dir: Path) -> tuple[LedgerContract, TimestampContract]:
    """The ledger and the Timestamp contract that deployment.json records."""
    deployment = Deployment.load(data_dir / "chain" / DEPLOYMENT_FILE)
    assert deployment is not None and deployment.timestamp_contract is not None
    ledger = LedgerContract(client, deployment.contract, load_artifact()["abi"])
    stamps = load_artifact("EbsiTimestamp")["abi"]
    return ledger, TimestampContract(client, deployment.timestamp_contract, stamps)


def _timestamps_of(timestamps: TimestampContract, root: bytes) -> int:
    """How many TimestampedHashes events carry ``root``'s id."""
    wanted = hashlib.sha256(root).digest()
    events = timestamps.events("TimestampedHashes", 0, timestamps.client.block_number())
    return sum(wanted in [bytes(i) for i in e["args"]["timestampIds"]] for e in events)


def _audit(node: RunningNode) -> tuple[int, dict]:
    done = _cli(node.env, "audit", "--json")
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, json.loads(done.stdout)


def test_issue_anchor_prove_verify_revoke_audit_through_the_timestamp_interface(
    ebsi_chain: ChainVariant, node: RunningNode, tmp_path: Path
) -> None:
    client = ChainClient(ebsi_chain.rpc_url)
    data_dir = tmp_path / "data"
    ledger, timestamps = _contracts(client, data_dir)
    token = _token(node)
    digests = _submit(node, token, 6)
    revoked = httpx.post(
        f"{node.url}/v1/credentials/urn:uuid:{digests[2][:32]}/revoke",
        json={"reason": 2},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert revoked.status_code in (200, 201), revoked.text

    anchored = _cli(node.env, "anchor", "--json")
    assert anchored.returncode == 0, anchored.stdout + anchored.stderr
    [batch] = json.loads(anchored.stdout)["batches"]
    assert batch["state"] == "confirmed" and batch["treeSize"] == 6

    bundle_path = tmp_path / "bundle.json"
    proved = _cli(node.env, "prove", digests[0], "-o", str(bundle_path))
    assert proved.returncode == 0, proved.stderr
    anchor = json.loads(bundle_path.read_text())["anchor"]
    assert anchor["target"] == EBSI_TIMESTAMP_TARGET
    assert anchor["contract"] == timestamps.address.lower()
    assert anchor["ledger"] == ledger.address.lower()
    assert anchor["hashAlgorithmId"] == SHA2_256_ID
    assert anchor["transactionHash"] == batch["transactionHash"]
    check_transaction(client, ebsi_chain, anchor["transactionHash"])  # legacy, gas price 0
    root = bytes.fromhex(batch["root"])
    record = timestamps.get_timestamp(root)  # the chain confirms what the bundle says
    assert record.timestamped_by.lower() == anchor["issuer"]
    assert record.block_number == anchor["blockNumber"]
    issuer = httpx.get(f"{node.url}/v1/issuers/local", timeout=10).json()
    data = record.timestamp_data()
    assert (data.tree_size, data.issuer_did) == (6, issuer["did"])
    assert not ledger.anchor_of(root).exists

    verified = _cli(node.env, "verify", str(bundle_path), "--rpc", ebsi_chain.rpc_url, "--json")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert json.loads(verified.stdout)["ok"]

    # Revocations stay on the ledger beside the Timestamp contract.
    revocation = _wait_for_revocation_on_chain(node, digests[2])
    sent = check_transaction(client, ebsi_chain, revocation["transactionHash"])
    assert sent["to"] == ledger.address
    [committed] = ledger.revocation_commitments(  # version 2: committed in the issuer's set
        revocation["blockNumber"], revocation["blockNumber"], record.timestamped_by
    )
    assert committed.digests == (bytes.fromhex(digests[2]),)

    code, audit = _audit(node)
    assert code == 0 and audit["ok"] and audit["findings"] == [], audit
    assert audit["timestampContract"] == timestamps.address
    assert audit["timestampsRead"] == 1 and audit["batchesChecked"] == 1

    engine = open_index(node.env["MCLEDGER_DATABASE_URL"])
    try:  # the index now says another size and DID than the timestamp's data
        with engine.begin() as conn:
            conn.execute(update(batch_t).values(tree_size=7, issuer_did="did:web:elsewhere.eu"))
    finally:
        engine.dispose()
    code, audit = _audit(node)
    assert code == 1
    found = {
        (f["kind"], f["field"], f["index"], f["chain"])
        for f in audit["findings"]
        if f["kind"] == "differs"
    }
    assert found == {
        ("differs", "treeSize", 7, 6),
        ("differs", "issuerDid", "did:web:elsewhere.eu", issuer["did"]),
    }
    # A batch's digests are its seq range: a longer range no longer hashes to the root.
    assert sorted(f["kind"] for f in audit["findings"]) == ["differs", "differs", "tree-mismatch"]

    deployment = Deployment.load(data_dir / "chain" / DEPLOYMENT_FILE)
    assert deployment is not None
    for address in (deployment.admin, anchor["issuer"]):  # gas-free: nothing was paid
        assert client.balance(client.w3.to_checksum_address(address)) == DEV_FUNDING_WEI


# Each run dies at the next point; see the module docstring.
CRASH_POINTS = ("batch.sealed", "anchor.signed", "anchor.sent", "anchor.mined", "anchor.confirmed")


def _insert(engine: Engine, count: int) -> list[str]:
    digests = [os.urandom(32).hex() for _ in range(count)]
    with engine.begin() as conn:
        insert_submissions(
            conn, [{"issuer_id": "local", "digest": d, "submitted_at": utcnow()} for d in digests]
        )
    return digests


def test_sigkill_at_each_anchoring_point_timestamps_every_root_once(
    ebsi_chain: ChainVariant, tmp_path: Path
) -> None:
    data_dir, index = tmp_path / "data", f"sqlite:///{tmp_path / 'index.sqlite3'}"
    settings = load_settings(
        data_dir=data_dir,
        rpc_url=ebsi_chain.rpc_url,
        database_url=index,
        dev=True,
        **ebsi_chain.settings(),
    )
    node = open_node(settings)  # deploys both contracts and registers the issuer, as serve
    issuer, client = node.chain.issuer_account(), node.chain.client
    node.close()
    _, timestamps = _contracts(client, data_dir)
    nonce_before = client.next_nonce(issuer.address)

    engine = open_index(index)
    digests: list[str] = []
    for point in (*CRASH_POINTS, None):
        digests += _insert(engine, 3)
        env = _anchor_env(data_dir, ebsi_chain.rpc_url, index, point) | ebsi_chain.env
        # On the data directory that development mode made, as beside `serve --dev`: the
        # contracts deployment.json records, and no admin key to decrypt on each start.
        env["MCLEDGER_DEV"] = "false"
        run = _anchor(env)
        expected = 0 if point is None else -signal.SIGKILL
        assert run.returncode == expected, (point, run.stdout + run.stderr)

    with engine.connect() as conn:
        batches = conn.execute(
            select(batch_t.c.root, batch_t.c.state, batch_t.c.tree_size, batch_t.c.target)
        ).all()
        did = conn.execute(select(issuer_t.c.did).where(issuer_t.c.id == "local")).scalar_one()
    # One batch a run (each seals what came since before it drives what was left).
    assert [(b.state, b.target) for b in batches] == [("confirmed", EBSI_TIMESTAMP_TARGET)] * 6
    assert sum(b.tree_size for b in batches) == len(digests)
    for b in batches:
        root = bytes.fromhex(b.root)
        assert _timestamps_of(timestamps, root) == 1, f"root {b.root}"
        record = timestamps.get_timestamp(root)
        assert record.timestamped_by == issuer.address
        assert record.timestamp_data().tree_size == b.tree_size
        assert record.timestamp_data().issuer_did == did
    for digest in digests:
        status = proof_status(engine, digest=digest)
        assert status is not None and status.bundle is not None, digest
        assert status.bundle.anchor.timestamped
    engine.dispose()
    # One transaction a batch: nothing was sent twice.
    assert client.next_nonce(issuer.address) - nonce_before == len(batches)
