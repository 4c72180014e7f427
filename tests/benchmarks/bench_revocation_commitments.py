"""Revocation gas side by side on one Anvil, in one run: the commitment path of
MicroCredentialLedger version 2, its per-digest `revoke`, and OpenAttestation's DocumentStore
`bulkRevoke` (the compiled contract as published in @govtechsg/document-store, installed in
tests/openattestation/ by `make bench`; never copied into the project).

For flushes of 1, 100, 1,000 and 10,000 digests it prints the gas of the transaction and the
gas per revoked credential for each path; a path whose flush does not fit under the block gas
limit says so (with the estimate's refusal) instead of failing. Then the cost of a status
list in a flush, the first commitment of an issuer, and an independent rebuild of the root
from the chain's events (tests/benchmarks/rebuild_revocation_root.py, none of the project's
code) compared with `revocationRootOf`.

Targets (issue 14): <= 2,000 gas per revoked credential in a flush of 1,000, and a flush of
10,000 in one transaction under 30 M gas.

Two forms: ``python tests/benchmarks/bench_revocation_commitments.py`` (its own Anvil; exits 1
if a target is missed) and ``pytest tests/benchmarks/bench_revocation_commitments.py -m
benchmark -s`` (the fixtures' Anvil; prints only).
"""

from __future__ import annotations

import json
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __name__ == "__main__":  # run as a script from anywhere: import the project's packages
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import pytest
from eth_abi import encode as abi_encode
from eth_account import Account
from eth_account.signers.local import LocalAccount

from mcledger.anchoring.chain import ChainClient, Receipt
from mcledger.anchoring.contract import ContractBinding, deploy_artifact
from mcledger.anchoring.errors import ChainError
from mcledger.anchoring.ledger import deploy_ledger
from mcledger.anchoring.revocation_proof import RevocationRecord
from mcledger.anchoring.revocation_set import RevocationSet

SIZES = (1, 100, 1_000, 10_000)
PER_CREDENTIAL_TARGET = 2_000  # gas per revoked credential, flush of 1,000
FLUSH_10K_TARGET = 30_000_000  # gas, one transaction
OSAKA_TX_CAP = 1 << 24  # EIP-7825: the per-transaction gas cap from Osaka on
HERE = Path(__file__).resolve().parent
OA_DIR = HERE.parent / "openattestation"
REBUILD = HERE / "rebuild_revocation_root.py"
REASON = 2

Row = dict[str, Any]  # path -> (gas, per credential) or a note


def load_document_store() -> dict[str, Any]:
    """OpenAttestation's DocumentStore (abi, bytecode) from the pinned npm package."""
    if not (OA_DIR / "node_modules" / "@govtechsg" / "document-store").is_dir():
        raise RuntimeError(
            f"OpenAttestation's DocumentStore is not installed in {OA_DIR}/node_modules: "
            "run `make bench` (or `cd tests/openattestation && npm ci`)"
        )
    out = subprocess.run(
        ["node", str(OA_DIR / "export_document_store.cjs")],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return dict(json.loads(out.stdout))


def deploy_document_store(
    client: ChainClient, owner: LocalAccount, artifact: dict[str, Any]
) -> ContractBinding:
    """Deploy DocumentStore(name, owner): the owner gets its issuer and revoker roles."""
    args = abi_encode(["string", "address"], ["mcledger benchmark", owner.address])
    built = {"abi": artifact["abi"], "bytecode": artifact["bytecode"] + args.hex()}
    address, _ = deploy_artifact(client, owner, built)
    return ContractBinding(client, address, artifact["abi"])


def calldata_floor(client: ChainClient, receipt: Receipt) -> int:
    """EIP-7623's floor for the transaction: 21,000 + 10 gas a token, a token for each zero
    byte of calldata and four for each other byte (what calldata alone costs from Prague)."""
    data = bytes(client.w3.eth.get_transaction(receipt.transaction_hash)["input"])  # type: ignore[arg-type]
    zeros = data.count(0)
    return 21_000 + 10 * (zeros + 4 * (len(data) - zeros))


def fits_or_why(client: ChainClient, sender: str, to: str, data: bytes) -> str | None:
    """None if the call fits in a block, else why not (the estimate's refusal)."""
    limit = int(client.block("latest")["gasLimit"])
    try:
        estimate = client.estimate_gas({"from": sender, "to": to, "data": data}, None)
    except ChainError as exc:
        said = re.search(r"gas required exceeds allowance[^'\"}]*", str(exc))
        return f"eth_estimateGas refuses it: {said.group(0) if said else exc}"
    return None if estimate <= limit else f"needs {estimate:,} gas > block limit {limit:,}"


def _digests(n: int) -> list[bytes]:
    return [secrets.token_bytes(32) for _ in range(n)]


def run(client: ChainClient, artifact: dict, new_account: Callable[[], LocalAccount]) -> bool:
    admin, issuer, oa_owner = new_account(), new_account(), new_account()
    ledger, deployment = deploy_ledger(client, admin, artifact)
    ledger.register_issuer(admin, issuer.address, f"did:web:{issuer.address}")
    store = deploy_document_store(client, oa_owner, oa := load_document_store())
    limit = int(client.block("latest")["gasLimit"])
    print(
        f"\nrevocation gas, one Anvil, one run (block gas limit {limit:,}); "
        f"OpenAttestation: {oa['package']} {oa['version']} DocumentStore"
    )
    revoked = RevocationSet()

    def commit(batch: list[bytes], lists: list[tuple[bytes, bytes]] | None = None) -> Receipt:
        record = RevocationRecord(REASON, int(client.block("latest")["timestamp"]))
        previous = revoked.root
        revoked.insert_many(batch, record)
        return ledger.commit_revocations(
            issuer, previous, revoked.root, revoked.size, batch, REASON, record.revoked_at,
            lists or [],
            timeout=300,
        )  # fmt: skip

    first = commit(_digests(1))  # the issuer's first commitment creates its two slots
    list_id = secrets.token_bytes(32)
    commit(_digests(1), [(list_id, secrets.token_bytes(32))])  # and a status list's
    rows: dict[int, Row] = {}
    for n in SIZES:
        row: Row = {}
        receipt = commit(batch := _digests(n))
        row["commit"] = (receipt.gas_used, calldata_floor(client, receipt))
        for name, binding, sender, data in (
            ("revoke", ledger, issuer, ledger.revoke_calldata(batch, REASON)),
            ("bulkRevoke", store, oa_owner, store.encode("bulkRevoke", batch)),
        ):
            why = fits_or_why(client, sender.address, binding.address, data)
            if why is not None:
                row[name] = why
                continue
            sent = client.transact(sender, to=binding.address, data=data, timeout=300)
            row[name] = (sent.gas_used, None)
        rows[n] = row
        assert ledger.revocation_root_of(issuer.address).root == revoked.root

    heads = ("commitRevocations", "revoke (v1)", "bulkRevoke (OA)")
    print(f"  {'digests':>8} | " + " | ".join(f"{h:>24}" for h in heads))
    print(f"  {'':>8} | " + " | ".join(f"{'gas':>12}{'per cred.':>12}" for _ in heads))
    for n, row in rows.items():
        cells = []
        for name in ("commit", "revoke", "bulkRevoke"):
            value = row[name]
            cells.append(
                f"{value[0]:>12,}{value[0] / n:>12,.0f}"
                if isinstance(value, tuple)
                else f"{'does not fit':>24}"
            )
        print(f"  {n:>8,} | " + " | ".join(cells))
    for n, row in rows.items():
        for name in ("revoke", "bulkRevoke"):
            rate = rows[1_000][name]
            if not isinstance(row[name], tuple) and isinstance(rate, tuple):
                print(
                    f"  {name} of {n:,} does not fit in a block: {row[name]} "
                    f"(about {rate[0] * n / 1_000 / 1e6:,.0f} M gas at its rate for 1,000)"
                )
    per_1k = rows[1_000]["commit"][0] / 1_000
    gas_10k, floor_10k = rows[10_000]["commit"]
    print(
        f"  commitRevocations is calldata-bound: its gas at 10,000 is {gas_10k / floor_10k:.3f}x "
        f"the EIP-7623 calldata floor ({floor_10k:,})"
    )
    for name in ("revoke", "bulkRevoke"):
        other = rows[1_000][name]
        if isinstance(other, tuple):
            print(f"  at 1,000: {name} costs {other[0] / 1_000 / per_1k:.1f}x commitRevocations")

    # A status list in a flush, measured on flushes of one digest: from about 100 digests
    # on, a flush is paid at the calldata floor, which hides a list's execution cost.
    base = commit(_digests(1)).gas_used
    with_list = commit(_digests(1), [(list_id, secrets.token_bytes(32))]).gas_used
    new_list = commit(_digests(1), [(secrets.token_bytes(32), secrets.token_bytes(32))]).gas_used
    print(
        f"  a status list in a flush: +{with_list - base:,} gas updated, "
        f"+{new_list - base:,} gas new (flushes of 1; digests differ, so ±~50)"
    )
    print(f"  the issuer's first commitment (1 digest, new slots): {first.gas_used:,} gas")

    began = time.perf_counter()
    rebuilt = subprocess.run(
        [sys.executable, str(REBUILD), "--rpc", client.rpc_url, "--contract", ledger.address,
         "--issuer", issuer.address],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    took = time.perf_counter() - began
    last = rebuilt.stdout.strip().splitlines()[-1] if rebuilt.stdout.strip() else rebuilt.stderr
    print(
        f"  independent rebuild from the events ({REBUILD.name}, {revoked.size:,} digests, "
        f"from block {deployment.block_number}): {last} (exit {rebuilt.returncode}, {took:.1f} s)"
    )

    passed = per_1k <= PER_CREDENTIAL_TARGET and gas_10k < FLUSH_10K_TARGET
    print(
        f"  targets: {per_1k:,.0f} <= {PER_CREDENTIAL_TARGET:,} gas per credential at 1,000; "
        f"{gas_10k:,} < {FLUSH_10K_TARGET:,} gas at 10,000 "
        f"({'under' if gas_10k < OSAKA_TX_CAP else 'OVER'} Osaka's per-transaction cap "
        f"{OSAKA_TX_CAP:,}): {'PASS' if passed else 'FAIL'}"
    )
    return passed and rebuilt.returncode == 0


@pytest.mark.benchmark
@pytest.mark.chain
def test_revocation_commitments_gas(chain: ChainClient, artifact: dict, funded_account) -> None:
    run(chain, artifact, funded_account)


def main() -> int:
    from mcledger.anchoring.anvil import start_anvil
    from mcledger.contracts.toolchain import load_artifact

    with start_anvil() as anvil:
        client = ChainClient(anvil.rpc_url)

        def new_account() -> LocalAccount:
            account: LocalAccount = Account.create()
            client.dev_set_balance(account.address, 10_000 * 10**18)
            return account

        return 0 if run(client, load_artifact(), new_account) else 1


if __name__ == "__main__":
    sys.exit(main())
