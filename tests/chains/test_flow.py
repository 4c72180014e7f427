"""The whole flow on every chain variant (see conftest): a running `mcledger serve --dev`
against the chain (MCLEDGER_RPC_URL), digests anchored → proved → verified → revoked →
flushed by the node's schedule → verified as revoked → audited; and on chain, every
transaction of the node is of the variant's type, signed for its chain id (EIP-155),
and free on the gas-free chain."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account import Account
from eth_utils import to_checksum_address

from mcledger.anchoring.anvil import free_loopback_port
from mcledger.anchoring.bundle import ProofBundle
from mcledger.anchoring.chain import ChainClient
from mcledger.node.index.db import open_index
from mcledger.node.issuing.tokens import create_token
from mcledger.node.runtime.chain_setup import (
    DEPLOYMENT_FILE,
    DEV_FUNDING_WEI,
    Deployment,
    fee_policy,
)
from mcledger.node.settings import load_settings
from mcledger.node.verifier.credential import ChainReader
from mcledger.node.verifier.names import DIGEST_NOT_REVOKED
from tests.chains.variants import ChainVariant
from tests.test_end_to_end import RunningNode, _cli, _env, _submit, _wait_for_proofs


@pytest.fixture
def node(chain_variant: ChainVariant, tmp_path: Path) -> Iterator[RunningNode]:
    port = free_loopback_port()
    index = f"sqlite:///{tmp_path / 'index.sqlite3'}"
    env = _env(tmp_path / "data", chain_variant.rpc_url, index, port) | chain_variant.env
    running = RunningNode(env, port, tmp_path / "node.log")
    yield running
    running.stop()


def _token(node: RunningNode) -> str:
    """An API token, made in the node's index (the CLI's `token create` is tested elsewhere;
    each process started here costs seconds)."""
    engine = open_index(node.env["MCLEDGER_DATABASE_URL"])
    try:
        return create_token(engine, "local", {"issue", "revoke", "admin"})
    finally:
        engine.dispose()


def check_transaction(client: ChainClient, variant: ChainVariant, tx_hash: str) -> Any:
    """The node's transaction ``tx_hash`` is of the variant's type and fees; returns it."""
    tx = client.w3.eth.get_transaction(tx_hash)  # type: ignore[arg-type]
    assert tx["type"] == variant.tx_type, (variant.name, tx)
    if variant.tx_type == 0:
        # EIP-155: the signature commits to the chain id (v = 2 x chain id + 35 or 36).
        assert tx["v"] in (2 * client.chain_id + 35, 2 * client.chain_id + 36), tx
        price = tx["gasPrice"]
    else:
        price = tx["maxFeePerGas"]
    assert (price == 0) == variant.gas_free, (variant.name, tx)
    return tx


def _verify(node: RunningNode, bundle: Path, rpc_url: str) -> tuple[int, dict[str, Any]]:
    done = _cli(node.env, "verify", str(bundle), "--rpc", rpc_url, "--json")
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, json.loads(done.stdout)


def _wait_for_revocation_on_chain(node: RunningNode, digest: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        page = httpx.get(f"{node.url}/v1/revocations", timeout=10).json()
        found = [r for r in page["revocations"] if r["digest"] == digest]
        if found and found[0]["transactionHash"]:
            return dict(found[0])
        time.sleep(0.3)
    raise AssertionError(f"the revocation never reached the chain:\n{node.log.read_text()[-3000:]}")


def test_anchor_prove_verify_revoke_flush_audit(
    chain_variant: ChainVariant, node: RunningNode, tmp_path: Path
) -> None:
    client = ChainClient(chain_variant.rpc_url)
    token = _token(node)
    digests = _submit(node, token, 6)
    sealed = httpx.post(
        f"{node.url}/v1/batches", json={}, headers={"Authorization": f"Bearer {token}"}, timeout=60
    )
    assert sealed.status_code == 202, sealed.text
    _wait_for_proofs(node, digests)

    bundle = tmp_path / "bundle.json"
    proved = httpx.get(f"{node.url}/v1/proofs/{digests[2]}", timeout=10)
    assert proved.status_code == 200, proved.text
    bundle.write_text(proved.text)
    anchor_doc = proved.json()
    anchor = anchor_doc["anchor"]
    check_transaction(client, chain_variant, anchor["transactionHash"])
    # The verifier library here, the `mcledger verify` command (a slow start) once revoked.
    verified = ChainReader(chain_variant.rpc_url).verify_bundle(ProofBundle.from_json(anchor_doc))
    assert verified.ok, verified.to_json()

    revoked = httpx.post(
        f"{node.url}/v1/credentials/urn:uuid:{digests[2][:32]}/revoke",
        json={"reason": 2},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert revoked.status_code in (200, 201), revoked.text
    revocation = _wait_for_revocation_on_chain(node, digests[2])  # the scheduled flush
    check_transaction(client, chain_variant, revocation["transactionHash"])
    code, report = _verify(node, bundle, chain_variant.rpc_url)
    assert code == 1
    assert {c["name"] for c in report["checks"] if not c["passed"]} == {DIGEST_NOT_REVOKED}

    audited = _cli(node.env, "audit", "--json")
    assert audited.returncode == 0, audited.stdout + audited.stderr
    audit = json.loads(audited.stdout)
    assert audit["ok"] and audit["findings"] == [], audit

    if chain_variant.gas_free:
        # Deploying, registering, anchoring and revoking cost the funded keys nothing.
        deployment = Deployment.load(tmp_path / "data" / "chain" / DEPLOYMENT_FILE)
        assert deployment is not None
        for address in (deployment.admin, anchor["issuer"]):
            assert client.balance(to_checksum_address(address)) == DEV_FUNDING_WEI, address


def test_the_same_signed_bytes_sent_again_are_harmless(chain_variant: ChainVariant) -> None:
    """Every node words "I have it already" its own way; a rebroadcast must not fail."""
    client = ChainClient(
        chain_variant.rpc_url, fees=fee_policy(load_settings(**chain_variant.settings()))
    )
    sender = Account.create()
    client.dev_set_balance(sender.address, 10**18)
    client.request("evm_setAutomine", [False])
    try:
        signed = client.sign(sender, to=sender.address, data=b"")
        assert client.send_raw(signed.raw) == signed.transaction_hash
        assert client.send_raw(signed.raw) == signed.transaction_hash  # still waiting: known
    finally:
        client.request("evm_setAutomine", [True])
    client.dev_mine(1)
    assert client.wait_for_receipt(signed.transaction_hash, timeout=10).success
    check_transaction(client, chain_variant, signed.transaction_hash)
