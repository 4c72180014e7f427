"""Gas used by MicroCredentialLedger on a real Anvil, against the design's targets.

Two forms:

* ``python tests/benchmarks/bench_gas.py`` starts its own Anvil, deploys, registers an
  issuer, prints the table and exits 1 if a target is missed;
* ``pytest tests/benchmarks/bench_gas.py -m benchmark -s`` does the same on the test
  fixtures' Anvil and only prints (benchmarks print figures; they assert no gas).

The file is named ``bench_*.py`` so the default test run does not collect it.
"""

from __future__ import annotations

import secrets
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

if __name__ == "__main__":  # run as a script from anywhere: import the project's packages
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from mcledger.anchoring.chain import ChainClient, Receipt
from mcledger.anchoring.ledger import LedgerContract, deploy_ledger

ANCHOR_TARGET = 50_000  # gas per anchor transaction
REVOKE_PER_DIGEST_TARGET = 26_000  # gas per digest, in a revoke of 1000 digests
ANCHOR_SIZES = (("1", 1), ("10^6", 10**6), ("2^64-1", 2**64 - 1))
REVOKE_COUNTS = (1, 100, 1000)


@dataclass(frozen=True)
class Row:
    operation: str
    gas: int
    per_digest: int | None = None
    target: int | None = None  # compared with per_digest when set, else with gas

    @property
    def measured(self) -> int:
        return self.per_digest if self.per_digest is not None else self.gas

    @property
    def passed(self) -> bool | None:
        return None if self.target is None else self.measured <= self.target


def _revoke(ledger: LedgerContract, issuer: LocalAccount, digests: list[bytes]) -> Receipt:
    """Revoke through the client with the estimate's margin capped at the block gas limit
    (1000 digests come close to Anvil's 30M: estimate x 1.25 would not fit in a block)."""
    client = ledger.client
    data = ledger.revoke_calldata(digests, 0)
    call = {"from": issuer.address, "to": ledger.address, "data": data}
    estimate = client.estimate_gas(call, ledger.decoder)
    limit = int(client.block("latest")["gasLimit"])
    gas = min(int(estimate * client.fees.gas_margin), limit)
    sent = client.send(issuer, to=ledger.address, data=data, decoder=ledger.decoder, gas=gas)
    receipt = client.wait_for_receipt(sent.transaction_hash, timeout=60)
    if not receipt.success:
        raise client.revert_reason(
            issuer.address, ledger.address, data, receipt.block_number, ledger.decoder
        )
    return receipt


def measure(
    client: ChainClient, artifact: dict, new_account: Callable[[], LocalAccount]
) -> list[Row]:
    """Deploy, register one issuer, anchor and revoke; the gas of each receipt."""
    admin, issuer = new_account(), new_account()
    ledger, deployment = deploy_ledger(client, admin, artifact)
    rows = [Row("deploy", deployment.gas_used)]
    registered = ledger.register_issuer(admin, issuer.address, f"did:web:{issuer.address}")
    rows.append(Row("registerIssuer", registered.gas_used))
    for label, size in ANCHOR_SIZES:
        receipt = ledger.anchor(issuer, secrets.token_bytes(32), size)
        rows.append(Row(f"anchor (tree size {label})", receipt.gas_used, target=ANCHOR_TARGET))
    for count in REVOKE_COUNTS:
        receipt = _revoke(ledger, issuer, [secrets.token_bytes(32) for _ in range(count)])
        target = REVOKE_PER_DIGEST_TARGET if count == 1000 else None
        rows.append(
            Row(
                f"revoke {count} digest{'s' * (count > 1)}",
                receipt.gas_used,
                receipt.gas_used // count,
                target,
            )
        )
    return rows


def table(rows: list[Row]) -> str:
    head = f"{'operation':<28}{'gas':>12}{'per digest':>12}{'target':>10}  result"
    lines = [head, "-" * len(head)]
    for row in rows:
        per = f"{row.per_digest:,}" if row.per_digest is not None else ""
        target = f"{row.target:,}" if row.target is not None else ""
        result = {None: "", True: "PASS", False: "FAIL"}[row.passed]
        lines.append(f"{row.operation:<28}{row.gas:>12,}{per:>12}{target:>10}  {result}".rstrip())
    lines.append(
        f"targets: anchor <= {ANCHOR_TARGET:,} gas; "
        f"revoke of 1000 <= {REVOKE_PER_DIGEST_TARGET:,} gas per digest"
    )
    return "\n".join(lines)


@pytest.mark.benchmark
@pytest.mark.chain
def test_gas_table(chain: ChainClient, artifact: dict, funded_account) -> None:
    print()
    print(table(measure(chain, artifact, funded_account)))


def main() -> int:
    from mcledger.anchoring.anvil import start_anvil
    from mcledger.contracts.toolchain import load_artifact

    with start_anvil() as anvil:
        client = ChainClient(anvil.rpc_url)

        def new_account() -> LocalAccount:
            account: LocalAccount = Account.create()
            client.dev_set_balance(account.address, 100 * 10**18)
            return account

        rows = measure(client, load_artifact(), new_account)
    print(table(rows))
    missed = [row.operation for row in rows if row.passed is False]
    if missed:
        print("missed: " + ", ".join(missed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
