"""Revocations through the node, and the audit, on a real Anvil with a real SQLite index.

Builds 1,000 anchored batches (10,000 credentials, submitted by digest with their
ids), revokes all 10,000 through `node.revocation.revocations.revoke_credential`, sends them
with the revocation flush (transactions of 1,000 digests) and audits the whole
history with `node.revocation.audit.audit_index`. Prints:

* revocation gas per credential in each flush transaction of 1,000 (the receipt's
  gasUsed / 1,000) and the contract-alone figure measured in the same run;
* the time to record, flush and audit, with a reference from the same run: the
  bare `eth_getLogs` of the same block range, so the audit's own cost shows as a
  ratio (and web3's ABI decoding of the same events, which the audit avoids).

Two forms: ``python tests/benchmarks/bench_revocations.py`` (its own Anvil) and
``pytest tests/benchmarks/bench_revocations.py -m benchmark -s`` (the fixtures' Anvil).
"""

from __future__ import annotations

import secrets
import sys
import tempfile
import time
import uuid
from pathlib import Path

if __name__ == "__main__":  # run as a script from anywhere: import the project's packages
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from mcledger.anchoring.chain import ChainClient
from mcledger.anchoring.ledger import (
    CREDENTIAL_REVOKED_TOPIC,
    ROOT_ANCHORED_TOPIC,
    LedgerContract,
    deploy_ledger,
)
from mcledger.node.index.db import open_index
from mcledger.node.index.models import utcnow
from mcledger.node.index.sequence import insert_submissions
from mcledger.node.issuing.issuers import ensure_issuer
from mcledger.node.pipeline.anchorer import Anchorer
from mcledger.node.pipeline.batches import seal_batch
from mcledger.node.pipeline.revocation_flush import RevocationFlusher
from mcledger.node.pipeline.txmachine import AnchoringPolicy
from mcledger.node.revocation.audit import audit_index
from mcledger.node.revocation.revocations import revoke_credential
from mcledger.node.verifier.events import read_events

BATCHES = 1_000
CREDENTIALS = 10_000
# Flush transactions of 1,000 whichever the path (version 2 commits, version 1 revokes).
POLICY = AnchoringPolicy(
    wait_timeout=600, poll_interval=0.02, replace_after=3600, commitments_per_transaction=1_000
)


def _line(name: str, value: str, note: str = "") -> None:
    print(f"  {name:<44}{value:>16}  {note}".rstrip())


def run(client: ChainClient, artifact: dict, new_account) -> None:
    admin, issuer, other = new_account(), new_account(), new_account()
    ledger, deployment = deploy_ledger(client, admin, artifact)
    for account in (issuer, other):
        ledger.register_issuer(admin, account.address, f"did:web:{account.address}")
    start_block = deployment.block_number
    with tempfile.TemporaryDirectory() as tmp:
        engine = open_index(f"sqlite:///{tmp}/index.sqlite3")
        ensure_issuer(engine, "bench", chain_address=issuer.address)
        _measure(engine, ledger, issuer, other, start_block)
        engine.dispose()


def _measure(
    engine, ledger: LedgerContract, issuer: LocalAccount, other: LocalAccount, start_block: int
) -> None:
    client = ledger.client
    ids = [f"urn:uuid:{uuid.uuid4()}" for _ in range(CREDENTIALS)]
    with engine.begin() as conn:
        insert_submissions(
            conn,
            [
                {
                    "issuer_id": "bench",
                    "digest": secrets.token_hex(32),
                    "credential_id": credential_id,
                    "submitted_at": utcnow(),
                }
                for credential_id in ids
            ],
        )
    print(f"\nrevocations and audit: {CREDENTIALS:,} credentials in {BATCHES:,} batches")
    began = time.perf_counter()
    for _ in range(BATCHES):
        seal_batch(engine, "bench", max_size=CREDENTIALS // BATCHES)
    anchorer = Anchorer(engine, ledger, lambda _id: issuer, POLICY)
    anchorer.anchor_pending("bench", wait=False, seal=False)
    reports = anchorer.anchor_pending("bench", wait=True, seal=False)
    assert all(r.state == "confirmed" for r in reports), "not every batch was anchored"
    _line("setup: seal + anchor 1,000 batches", f"{time.perf_counter() - began:.1f} s")

    began = time.perf_counter()
    for credential_id in ids:
        revoke_credential(engine, "bench", credential_id, "fraud", actor="bench")
    took = time.perf_counter() - began
    _line("revoke 10,000 (index + status)", f"{took:.1f} s", f"{CREDENTIALS / took:,.0f}/s")

    began = time.perf_counter()
    flushed = RevocationFlusher(engine, ledger, lambda _id: issuer, POLICY).flush_pending("bench")
    took = time.perf_counter() - began
    assert all(r.state == "confirmed" for r in flushed), "not every revocation was sent"
    _line("flush 10,000 to the chain", f"{took:.1f} s", f"{len(flushed)} transactions")
    per_digest = []
    for report in flushed:
        receipt = client.receipt(str(report.transaction_hash))
        assert receipt is not None
        per_digest.append(receipt.gas_used / report.size)
    _line(
        "gas per credential, batches of 1,000",
        f"{min(per_digest):,.0f}-{max(per_digest):,.0f}",
        f"mean {sum(per_digest) / len(per_digest):,.0f}",
    )
    # Another issuer (not in this index: the audit counts its events as foreign).
    alone = ledger.revoke(other, [secrets.token_bytes(32) for _ in range(1_000)], 2)
    _line("reference: contract alone, 1,000 digests", f"{alone.gas_used / 1000:,.0f}")

    head = client.block_number()
    began = time.perf_counter()
    raw = ledger.raw_logs(start_block, head, [ROOT_ANCHORED_TOPIC, CREDENTIAL_REVOKED_TOPIC])
    reference = time.perf_counter() - began
    _line("reference: bare eth_getLogs of the range", f"{reference:.2f} s", f"{len(raw):,} logs")
    began = time.perf_counter()
    events = read_events(ledger, start_block, head)
    _line(
        "read + decode the events (read_events)",
        f"{time.perf_counter() - began:.2f} s",
        f"{len(events.anchors):,} anchors, {len(events.revocations):,} revocations",
    )
    began = time.perf_counter()
    for name in ("RootAnchored", "CredentialRevoked"):
        ledger.events(name, start_block, head)
    _line("for comparison: web3's ABI decoding", f"{time.perf_counter() - began:.2f} s")
    began = time.perf_counter()
    report = audit_index(engine, ledger, from_block=start_block, to_block=head)
    took = time.perf_counter() - began
    _line(
        "audit (1,000 batches, 10,000 revocations)",
        f"{took:.2f} s",
        f"{took / reference:.1f}x the bare eth_getLogs; "
        f"{report.batches_checked:,} trees rebuilt, {report.revocations_checked:,} checked "
        f"({report.foreign_revocations:,} foreign), {len(report.findings)} findings",
    )


@pytest.mark.benchmark
@pytest.mark.chain
def test_revocations_and_audit(chain: ChainClient, artifact: dict, funded_account) -> None:
    run(chain, artifact, funded_account)


def main() -> int:
    from mcledger.anchoring.anvil import start_anvil
    from mcledger.contracts.toolchain import load_artifact

    with start_anvil() as anvil:
        client = ChainClient(anvil.rpc_url)

        def new_account() -> LocalAccount:
            account: LocalAccount = Account.create()
            client.dev_set_balance(account.address, 100 * 10**18)
            return account

        run(client, load_artifact(), new_account)
    return 0


if __name__ == "__main__":
    sys.exit(main())
