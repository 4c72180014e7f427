"""Gas of EbsiTimestamp's `timestampHashes` beside MicroCredentialLedger's `anchor`, in one
run on one Anvil shaped like EBSI's network (Berlin, gas-free, legacy transactions).

Two forms, both only print (the figures inform the choice of anchoring target):

* ``python tests/benchmarks/bench_timestamp_gas.py``
* ``pytest tests/benchmarks/bench_timestamp_gas.py -m benchmark -s``

The timestampData is the node's (`anchoring.timestamp_data`): 12 bytes and the issuer's DID,
so its length, and the storage words it takes, grow with the DID.
"""

from __future__ import annotations

import secrets
import sys
from pathlib import Path

if __name__ == "__main__":  # run as a script from anywhere: import the project's packages
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import pytest
from eth_account import Account

from mcledger.anchoring.anvil import start_anvil
from mcledger.anchoring.chain import ChainClient
from mcledger.anchoring.fees import FeePolicy
from mcledger.anchoring.ledger import deploy_ledger
from mcledger.anchoring.timestamp import SHA2_256_ID, deploy_timestamp, encode_timestamp_data
from mcledger.contracts.toolchain import load_artifact

SHORT_DID = "did:ebsi:zobuuYAHkAbRFCcqdcJfTgR"  # an EBSI legal entity's DID: 32 bytes
LONG_DID = "did:pkh:eip155:31337:0x" + "ab" * 20  # the dev node's issuer DID: 63 bytes
TREE_SIZE = 1000


def measure(client: ChainClient) -> list[tuple[str, int, int]]:
    """(operation, gas, hashes) of each receipt, on fresh contracts."""
    admin, issuer = Account.create(), Account.create()  # gas-free: nothing to fund
    timestamps, deployed_ts = deploy_timestamp(client, admin, load_artifact("EbsiTimestamp"))
    ledger, deployed_ledger = deploy_ledger(client, admin, load_artifact())
    ledger.register_issuer(admin, issuer.address, SHORT_DID)
    rows = [
        ("deploy EbsiTimestamp", deployed_ts.gas_used, 0),
        ("deploy MicroCredentialLedger", deployed_ledger.gas_used, 0),
    ]

    def root() -> bytes:
        return secrets.token_bytes(32)

    receipt = ledger.anchor(issuer, root(), TREE_SIZE)
    rows.append(("anchor(root, size)  [ledger]", receipt.gas_used, 1))
    for did in (SHORT_DID, LONG_DID):
        receipt = timestamps.timestamp(issuer, root(), TREE_SIZE, did, SHA2_256_ID)
        size = len(encode_timestamp_data(TREE_SIZE, did))
        rows.append((f"timestampHashes 1 root, {size} B data", receipt.gas_used, 1))
    data = encode_timestamp_data(TREE_SIZE, SHORT_DID)
    receipt = timestamps.timestamp_hashes(
        issuer, [SHA2_256_ID] * 3, [root() for _ in range(3)], [data] * 3
    )
    rows.append((f"timestampHashes 3 roots, {len(data)} B data", receipt.gas_used, 3))
    receipt = timestamps.timestamp_hashes(issuer, [SHA2_256_ID], [root()], [b""])
    rows.append(("timestampHashes 1 root, no data", receipt.gas_used, 1))
    return rows


def table(rows: list[tuple[str, int, int]]) -> str:
    anchor = next(gas for name, gas, _ in rows if name.startswith("anchor"))
    head = f"{'operation':<40}{'gas':>10}{'per root':>10}{'x anchor':>10}"
    lines = [head, "-" * len(head)]
    for name, gas, hashes in rows:
        per = f"{gas // hashes:,}" if hashes else ""
        ratio = f"{gas / hashes / anchor:.2f}" if hashes else ""
        lines.append(f"{name:<40}{gas:>10,}{per:>10}{ratio:>10}")
    lines.append("Anvil --hardfork berlin --gas-price 0; legacy transactions, gasPrice 0")
    return "\n".join(lines)


def run() -> str:
    with start_anvil(hardfork="berlin", gas_price=0) as anvil:
        return table(measure(ChainClient(anvil.rpc_url, fees=FeePolicy(gas_price=0))))


@pytest.mark.benchmark
@pytest.mark.chain
def test_timestamp_gas_table() -> None:
    print()
    print(run())


if __name__ == "__main__":
    print(run())
