"""Revocation commitments through the node at 10^6, on a real Anvil with a real SQLite index.

One issuer anchors two credentials, then 1,000,000 revocations (one of the two among them)
are committed by the node's revocation flush in transactions of 10,000 digests
(`commitRevocations`, chained on the previous root): 100 transactions, all on chain, the
roots computed by the node. Prints:

* the flush: time to seal and send (10^5 first, then the other 9 x 10^5), gas of one
  commitment of 10,000;
* the set rebuilt from the index by a new process (its first proof): at 10^5 and at 10^6;
* for the revoked and the non-revoked credential: the proof bundle's `revocation` member
  (compact JSON size, proof depth and siblings), the proof's verification alone,
  `digest.notRevoked` against the chain (`revokedAt` + `revocationRootOf`: two `eth_call`s)
  and the whole bundle's checks in process, and `mcledger verify BUNDLE --json` end to end
  (a new interpreter: imports and RPC included).

Two forms: ``python tests/benchmarks/bench_revocation_proofs.py`` (its own Anvil) and
``pytest tests/benchmarks/bench_revocation_proofs.py -m benchmark -s`` (the fixtures' Anvil).
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __name__ == "__main__":  # run as a script from anywhere: import the project's packages
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from sqlalchemy import Engine, insert

from mcledger.anchoring.bundle import ProofBundle
from mcledger.anchoring.chain import ChainClient
from mcledger.anchoring.ledger import LedgerContract, deploy_ledger
from mcledger.anchoring.revocation_proof import verify
from mcledger.node.index.db import open_index
from mcledger.node.index.models import revocation_t, utcnow
from mcledger.node.issuing.issuers import ensure_issuer
from mcledger.node.pipeline.anchorer import Anchorer
from mcledger.node.pipeline.batches import proof_status
from mcledger.node.pipeline.revocation_flush import RevocationFlusher
from mcledger.node.pipeline.revocation_sets import CommittedSets
from mcledger.node.pipeline.submissions import submit_digests
from mcledger.node.pipeline.txmachine import AnchoringPolicy
from mcledger.node.revocation.revocation_proofs import with_revocation
from mcledger.node.verifier.bundle import verify_bundle
from mcledger.node.verifier.revocation import check_not_revoked

REPO = Path(__file__).resolve().parents[2]
SIZE = int(os.environ.get("BENCH_REVOCATIONS", 1_000_000))  # smaller for a quick try
FIRST, PER_FLUSH = SIZE // 10, 10_000
POLICY = AnchoringPolicy(
    wait_timeout=900, poll_interval=0.02, replace_after=3600, commitments_per_transaction=PER_FLUSH
)
SAMPLES = 50


def _line(name: str, value: str, note: str = "") -> None:
    print(f"  {name:<52}{value:>14}  {note}".rstrip())


def _median_seconds(fn: Callable[[], Any], times: int) -> float:
    taken = []
    for _ in range(times):
        began = time.perf_counter()
        fn()
        taken.append(time.perf_counter() - began)
    return statistics.median(taken)


def _revoke_random(engine: Engine, count: int, first: str | None = None) -> None:
    rows = [os.urandom(32).hex() for _ in range(count - (first is not None))]
    if first is not None:
        rows.insert(0, first)
    with engine.begin() as conn:
        for start in range(0, len(rows), 50_000):
            conn.execute(
                insert(revocation_t),
                [
                    {
                        "issuer_id": "bench",
                        "digest": d,
                        "reason": 2,
                        "note": "",
                        "revoked_at": utcnow(),
                    }
                    for d in rows[start : start + 50_000]
                ],
            )


def _flush(flusher: RevocationFlusher, label: str) -> list[Any]:
    began = time.perf_counter()
    reports = flusher.flush_pending("bench")
    took = time.perf_counter() - began
    assert reports and all(r.state == "confirmed" for r in reports), reports[-1:]
    _line(label, f"{took:.1f} s", f"{len(reports)} transactions")
    return reports


def _rebuild(engine: Engine, label: str) -> None:
    fresh = CommittedSets(engine)
    began = time.perf_counter()
    head = fresh.head("bench")
    _line(label, f"{time.perf_counter() - began:.1f} s", f"{head.size:,} entries")


def _bundle(engine: Engine, digest: str) -> ProofBundle:
    status = proof_status(engine, digest=digest)
    assert status is not None and status.bundle is not None
    return status.bundle


def _measure(
    name: str,
    bundle: ProofBundle,
    client: ChainClient,
    ledger: LedgerContract,
    issuer: str,
    folder: Path,
) -> None:
    """The revocation member's size, and the time to verify it three ways."""
    member = bundle.revocation
    assert member is not None
    proof, revoked = member.proof, name == "revoked"
    member_json = json.dumps(member.to_json(), separators=(",", ":"))
    _line(
        f"{name}: revocation member / proof (compact JSON)",
        f"{len(member_json):,} B",
        f"proof {len(proof.dumps()):,} B, depth {proof.depth}, {len(proof.siblings)} siblings",
    )
    pure = _median_seconds(lambda: verify(member.root, bundle.digest, proof), SAMPLES)
    check = check_not_revoked(bundle, ledger, issuer)
    assert check.passed is not revoked, check
    chained = _median_seconds(lambda: check_not_revoked(bundle, ledger, issuer), SAMPLES)
    whole = _median_seconds(lambda: verify_bundle(bundle, client, ledger), 10)
    _line(
        f"{name}: verify proof / digest.notRevoked / bundle",
        f"{pure * 1e6:.0f} µs",
        f"{chained * 1000:.1f} ms (2 eth_call) / {whole * 1000:.0f} ms (every check)",
    )
    path = folder / f"{name.replace(' ', '-')}.json"
    path.write_text(bundle.dumps())
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MCLEDGER_")}
    command = [sys.executable, "-m", "mcledger.cli.main", "verify", str(path)]
    command += ["--rpc", client.rpc_url, "--json"]
    taken = []
    for _ in range(3):
        began = time.perf_counter()
        done = subprocess.run(
            command, cwd=REPO, env=environment, capture_output=True, text=True, timeout=120
        )
        taken.append(time.perf_counter() - began)
        found = next(
            c for c in json.loads(done.stdout)["checks"] if c["name"] == "digest.notRevoked"
        )
        assert found["passed"] is not revoked, found
    _line(
        f"{name}: mcledger verify --json, end to end",
        f"{statistics.median(taken):.2f} s",
        found["detail"][:70] + "…",
    )


def run(client: ChainClient, artifact: dict[str, Any], fund: Callable[[], LocalAccount]) -> None:
    print(f"\nrevocation commitments through the node: {SIZE:,} revocations, {PER_FLUSH:,} a flush")
    admin, issuer = fund(), fund()
    ledger, _ = deploy_ledger(client, admin, artifact)
    ledger.register_issuer(admin, issuer.address, f"did:pkh:eip155:31337:{issuer.address}")
    with tempfile.TemporaryDirectory() as tmp:
        engine = open_index(f"sqlite:///{Path(tmp) / 'index.sqlite3'}")
        ensure_issuer(engine, "bench", chain_address=issuer.address)
        revoked, kept = os.urandom(32).hex(), os.urandom(32).hex()
        submit_digests(engine, "bench", [(revoked, None), (kept, None)], actor="bench")
        account = lambda _id: issuer  # noqa: E731
        assert Anchorer(engine, ledger, account, POLICY).anchor_pending("bench")[0].state == (
            "confirmed"
        )
        flusher = RevocationFlusher(engine, ledger, account, POLICY, sets=CommittedSets(engine))

        _revoke_random(engine, FIRST, first=revoked)
        _flush(flusher, f"flush {FIRST:,} (seal + send + confirm)")
        _rebuild(engine, f"rebuild the set from the index: {FIRST:,}")
        _revoke_random(engine, SIZE - FIRST)
        reports = _flush(flusher, f"flush {SIZE - FIRST:,} more")
        full = next(r for r in reports if r.size == PER_FLUSH)
        receipt = client.receipt(str(full.transaction_hash))
        assert receipt is not None
        _line(
            f"gas of one commitment of {PER_FLUSH:,}",
            f"{receipt.gas_used:,}",
            f"{receipt.gas_used / PER_FLUSH:,.0f} a credential",
        )
        onchain = ledger.revocation_root_of(issuer.address)
        assert onchain.size == SIZE
        _rebuild(engine, f"rebuild the set from the index: {SIZE:,}")

        sets = CommittedSets(engine)
        for name, digest in (("revoked", revoked), ("not revoked", kept)):
            bundle = with_revocation(engine, _bundle(engine, digest), sets=sets)
            assert bundle.revocation is not None and bundle.revocation.root == onchain.root
            _measure(name, bundle, client, ledger, issuer.address, Path(tmp))
        engine.dispose()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    _line("peak memory of the process (RSS)", f"{peak:,.0f} MiB")


@pytest.mark.benchmark
@pytest.mark.chain
def test_revocation_commitments_at_a_million(
    chain: ChainClient, artifact: dict, funded_account
) -> None:
    run(chain, artifact, funded_account)


if __name__ == "__main__":
    from mcledger.anchoring.anvil import start_anvil
    from mcledger.contracts.toolchain import load_artifact

    anvil = start_anvil()
    try:
        main = ChainClient(anvil.rpc_url)

        def funded() -> LocalAccount:
            account: LocalAccount = Account.create()
            main.dev_set_balance(account.address, 10**24)
            return account

        run(main, load_artifact(), funded)
    finally:
        anvil.stop()
