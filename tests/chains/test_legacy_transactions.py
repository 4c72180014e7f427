"""The transaction machine with legacy transactions, in-process on Anvil: a Berlin chain
(no base fee: gasPrice from eth_gasPrice) and a gas-free one (gasPrice 0).

A stuck legacy transaction is replaced with a higher gasPrice; on a gas-free chain there
is nothing to bump, so it is broadcast again byte for byte instead (and comes back after
the node dropped it); a reorged legacy anchor is sent again; a root already on chain is
adopted with its gasPrice recorded."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from sqlalchemy import Engine, select

from mcledger.anchoring.anvil import start_anvil
from mcledger.anchoring.chain import ChainClient
from mcledger.anchoring.fees import FeePolicy
from mcledger.anchoring.ledger import LedgerContract, deploy_ledger
from mcledger.contracts.toolchain import load_artifact
from mcledger.node.index.db import open_index
from mcledger.node.index.models import anchor_attempt_t, batch_t, operation_t
from mcledger.node.issuing.issuers import ensure_issuer
from mcledger.node.pipeline.anchorer import Anchorer, AnchoringPolicy
from mcledger.node.pipeline.txmachine import Fault
from tests.node.pipeline.test_anchorer import _mining_in_background, _raise_at, _submit

STUCK = AnchoringPolicy(wait_timeout=2, poll_interval=0.05, replace_after=0.2)
FAST = AnchoringPolicy(wait_timeout=20, poll_interval=0.05, replace_after=3600)


@dataclass
class Setup:
    client: ChainClient
    ledger: LedgerContract
    issuer: LocalAccount
    engine: Engine

    def anchorer(self, policy: AnchoringPolicy, fault: Fault | None = None) -> Anchorer:
        return Anchorer(self.engine, self.ledger, lambda _id: self.issuer, policy, fault=fault)

    def automine(self, on: bool) -> None:
        self.client.request("evm_setAutomine", [on])

    def attempts(self) -> list[tuple[str, int, int]]:
        """(hash, nonce, gasPrice) of every attempt, oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(
                    anchor_attempt_t.c.transaction_hash,
                    anchor_attempt_t.c.nonce,
                    anchor_attempt_t.c.max_fee_per_gas,
                ).order_by(anchor_attempt_t.c.id)
            ).all()
        return [(str(h), int(n), int(p)) for h, n, p in rows]


@contextmanager
def _setup(client: ChainClient, tmp_path: Path) -> Iterator[Setup]:
    """A contract deployed on ``client``'s chain, its issuer registered, and an index."""
    admin, issuer = Account.create(), Account.create()
    for account in (admin, issuer):
        client.dev_set_balance(account.address, 10**20)
    ledger, _ = deploy_ledger(client, admin, load_artifact())
    ledger.register_issuer(admin, issuer.address, f"did:pkh:eip155:31337:{issuer.address}")
    engine = open_index(f"sqlite:///{tmp_path / 'index.sqlite3'}")
    ensure_issuer(engine, "uni", chain_address=issuer.address)
    try:
        yield Setup(client, ledger, issuer, engine)
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def berlin_url() -> Iterator[str]:
    with start_anvil(hardfork="berlin") as anvil:
        yield anvil.rpc_url


@pytest.fixture(scope="module")
def gas_free_url() -> Iterator[str]:
    with start_anvil(base_fee=0, gas_price=0) as anvil:
        yield anvil.rpc_url


@pytest.fixture
def berlin(berlin_url: str, tmp_path: Path) -> Iterator[Setup]:
    with _setup(ChainClient(berlin_url), tmp_path) as setup:
        yield setup


def _tx(setup: Setup, tx_hash: str) -> Any:
    return setup.client.w3.eth.get_transaction(tx_hash)  # type: ignore[arg-type]


def test_a_stuck_legacy_transaction_is_replaced_with_a_higher_gas_price(berlin: Setup) -> None:
    _submit(berlin.engine, "uni", 3)
    berlin.automine(False)
    try:
        [report] = berlin.anchorer(STUCK).anchor_pending("uni")
        assert report.state == "submitted"
        attempts = berlin.attempts()
        pending = _tx(berlin, attempts[-1][0])  # the newest waits in the node's pool
    finally:
        berlin.automine(True)
    assert len(attempts) >= 2 and len({nonce for _, nonce, _ in attempts}) == 1
    prices = [price for _, _, price in attempts]
    assert prices[0] > 0 and all(b > a for a, b in zip(prices, prices[1:], strict=False))
    assert pending["type"] == 0 and pending["gasPrice"] == prices[-1]

    berlin.client.dev_mine(1)
    [report] = berlin.anchorer(FAST).anchor_pending("uni")
    assert report.state == "confirmed" and report.transaction_hash == attempts[-1][0]
    assert _tx(berlin, attempts[-1][0])["type"] == 0


@pytest.mark.parametrize("fixed", [True, False], ids=["fixed-price-0", "eth_gasPrice-0"])
def test_on_a_gas_free_chain_a_waiting_transaction_is_sent_again_not_repriced(
    fixed: bool, gas_free_url: str, tmp_path: Path
) -> None:
    client = ChainClient(gas_free_url, fees=FeePolicy(gas_price=0 if fixed else None))
    with _setup(client, tmp_path) as setup:
        balance = client.balance(setup.issuer.address)
        _submit(setup.engine, "uni", 3)
        setup.automine(False)
        try:
            [report] = setup.anchorer(STUCK).anchor_pending("uni")
            assert report.state == "submitted"
            [(tx_hash, _, price)] = setup.attempts()  # waited past replace_after: not replaced
            assert price == 0 and _tx(setup, tx_hash)["gasPrice"] == 0
            # A node that dropped it gets the same bytes again from the next check.
            client.request("anvil_dropTransaction", [tx_hash])
            assert client.request("eth_getTransactionByHash", [tx_hash]) is None
            setup.anchorer(STUCK).anchor_pending("uni")
            assert client.request("eth_getTransactionByHash", [tx_hash]) is not None
        finally:
            setup.automine(True)
        client.dev_mine(1)
        [report] = setup.anchorer(FAST).anchor_pending("uni")
        assert report.state == "confirmed" and report.transaction_hash == tx_hash
        assert [h for h, _, _ in setup.attempts()] == [tx_hash]
        assert client.balance(setup.issuer.address) == balance  # gas-free: nothing paid
        with setup.engine.connect() as conn:
            actions = set(conn.execute(select(operation_t.c.action)).scalars())
        assert "anchor.replaced" not in actions


def test_a_reorged_legacy_anchor_is_sent_again(berlin: Setup) -> None:
    _submit(berlin.engine, "uni", 2)
    snapshot = berlin.client.request("evm_snapshot", [])
    policy = AnchoringPolicy(confirmations=3, wait_timeout=0.5, poll_interval=0.05)
    [report] = berlin.anchorer(policy).anchor_pending("uni")  # mined, 1 of 3 confirmations
    assert report.state == "submitted"
    berlin.client.request("evm_revert", [snapshot])
    berlin.client.dev_mine(3)  # other blocks now stand at that height
    policy = AnchoringPolicy(confirmations=3, wait_timeout=20, poll_interval=0.05)
    with _mining_in_background(berlin.client):
        [report] = berlin.anchorer(policy).anchor_pending("uni")
    assert report.state == "confirmed"
    [(tx_hash, _, _)] = berlin.attempts()  # the same signed legacy transaction, sent again
    assert report.transaction_hash == tx_hash and _tx(berlin, tx_hash)["type"] == 0
    with berlin.engine.connect() as conn:
        block_hash = conn.execute(select(batch_t.c.block_hash)).scalar_one()
    canonical = berlin.client.block(report.block_number)
    assert "0x" + bytes(canonical["hash"]).hex() == block_hash


def test_a_legacy_anchor_already_on_chain_is_adopted_with_its_gas_price(berlin: Setup) -> None:
    _submit(berlin.engine, "uni", 3)
    with pytest.raises(RuntimeError):  # a crash between sealing and signing
        berlin.anchorer(FAST, fault=_raise_at("batch.sealed")).anchor_pending("uni")
    with berlin.engine.connect() as conn:
        root = conn.execute(select(batch_t.c.root)).scalar_one()
    receipt = berlin.ledger.anchor(berlin.issuer, bytes.fromhex(root), 3)  # as if sent then
    [report] = berlin.anchorer(FAST).anchor_pending("uni")
    assert report.state == "confirmed" and report.transaction_hash == receipt.transaction_hash
    [(tx_hash, _, price)] = berlin.attempts()
    assert tx_hash == receipt.transaction_hash
    assert price == _tx(berlin, tx_hash)["gasPrice"] > 0
