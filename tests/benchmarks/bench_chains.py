"""Gas and time of the node's transactions on each chain variant of tests/chains/.

For Anvil as `make run` starts it (the reference), Anvil with ``--hardfork berlin``,
a gas-free Anvil (base fee 0, gas price 0; the node sends gasPrice 0) and Hardhat
Network: the node (`open_node` in development mode, a SQLite index) anchors one batch
of 1,000 digests and flushes 100 revocations (one revoke transaction). Prints, per
variant, the transaction type, each transaction's gas and fee, and the time from the
call to the confirmed state (sealing or batching, signing, sending, the receipt).

Two forms: ``python tests/benchmarks/bench_chains.py`` prints the table;
``pytest tests/benchmarks/bench_chains.py -m benchmark -s`` does the same.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __name__ == "__main__":  # run as a script from anywhere: import the project's packages
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import pytest
from sqlalchemy import insert

from mcledger.anchoring.anvil import start_anvil
from mcledger.anchoring.chain import ChainClient
from mcledger.node.index.models import revocation_t, utcnow
from mcledger.node.index.sequence import insert_submissions
from mcledger.node.pipeline.revocation_flush import flush_all
from mcledger.node.runtime.service import Node, open_node
from mcledger.node.settings import load_settings
from tests.chains.hardhat import start_hardhat

DIGESTS = 1_000
REVOCATIONS = 100


@dataclass(frozen=True)
class Measured:
    gas: int
    fee_wei: int
    seconds: float
    tx_type: int


@contextmanager
def _anvil(**flags: Any) -> Iterator[str]:
    with start_anvil(**flags) as anvil:
        yield anvil.rpc_url


@contextmanager
def _hardhat() -> Iterator[str]:
    with tempfile.TemporaryDirectory() as tmp, start_hardhat(Path(tmp) / "hardhat.log") as node:
        yield node.rpc_url


# name -> (start the chain, the node's settings there)
VARIANTS: dict[str, tuple[Callable[[], AbstractContextManager[str]], dict[str, Any]]] = {
    "anvil (reference)": (lambda: _anvil(), {}),
    "anvil --hardfork berlin": (lambda: _anvil(hardfork="berlin"), {}),
    "anvil gas-free": (lambda: _anvil(base_fee=0, gas_price=0), {"gas_price_gwei": 0}),
    "hardhat network": (_hardhat, {}),
}


def _measure(client: ChainClient, tx_hash: str | None, seconds: float) -> Measured:
    assert tx_hash is not None, "the transaction was not confirmed"
    receipt = client.w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
    tx = client.w3.eth.get_transaction(tx_hash)  # type: ignore[arg-type]
    gas = int(receipt["gasUsed"])
    return Measured(gas, gas * int(receipt["effectiveGasPrice"]), seconds, int(tx["type"]))


def _anchor_and_flush(node: Node) -> tuple[Measured, Measured]:
    client = node.anchorer.ledger.client
    with node.engine.begin() as conn:
        insert_submissions(
            conn,
            [
                {"issuer_id": "local", "digest": os.urandom(32).hex(), "submitted_at": utcnow()}
                for _ in range(DIGESTS)
            ],
        )
    began = time.perf_counter()
    [batch] = node.anchorer.anchor_pending("local")
    anchor = _measure(client, batch.transaction_hash, time.perf_counter() - began)

    now = utcnow()
    with node.engine.begin() as conn:
        conn.execute(
            insert(revocation_t),
            [
                {
                    "issuer_id": "local",
                    "digest": os.urandom(32).hex(),
                    "reason": 1,
                    "note": "",
                    "revoked_at": now,
                }
                for _ in range(REVOCATIONS)
            ],
        )
    began = time.perf_counter()
    [flush] = flush_all(node.flusher)
    return anchor, _measure(client, flush.transaction_hash, time.perf_counter() - began)


def run() -> list[tuple[str, Measured, Measured]]:
    rows = []
    for name, (start, settings) in VARIANTS.items():
        with start() as rpc_url, tempfile.TemporaryDirectory() as tmp:
            node = open_node(
                load_settings(
                    data_dir=Path(tmp) / "data",
                    rpc_url=rpc_url,
                    database_url=f"sqlite:///{Path(tmp) / 'index.sqlite3'}",
                    dev=True,
                    **settings,
                )
            )
            try:
                anchor, flush = _anchor_and_flush(node)
            finally:
                node.close()
        rows.append((name, anchor, flush))
    _print(rows)
    return rows


def _print(rows: list[tuple[str, Measured, Measured]]) -> None:
    print()
    print(
        f"{'chain':<24} {'type':>4} {'anchor gas':>10} {'fee (gwei)':>12} {'time':>7}"
        f"   {'flush of ' + str(REVOCATIONS):>12} {'per digest':>10} {'fee (gwei)':>14} {'time':>7}"
    )
    print("-" * 110)
    for name, anchor, flush in rows:
        print(
            f"{name:<24} {anchor.tx_type:>4} {anchor.gas:>10,} {anchor.fee_wei / 1e9:>12,.0f}"
            f" {anchor.seconds:>6.2f}s   {flush.gas:>12,} {flush.gas // REVOCATIONS:>10,}"
            f" {flush.fee_wei / 1e9:>14,.0f} {flush.seconds:>6.2f}s"
        )
    print(
        f"anchor: one batch of {DIGESTS:,} digests (seal + sign + send + confirm); flush: "
        f"{REVOCATIONS} revocations in one revoke transaction; type 0 = legacy, 2 = EIP-1559"
    )


@pytest.mark.benchmark
@pytest.mark.chain
def test_chain_variants() -> None:
    run()


if __name__ == "__main__":
    run()
