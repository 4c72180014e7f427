"""The independent rebuild (tests/benchmarks/rebuild_revocation_root.py, none of the project's
code) against commitments made through the project's code on a real Anvil: it agrees with
`revocationRootOf` when the issuer committed honestly, and names the transaction when a flush's
event carries a digest that its root leaves out."""

from __future__ import annotations

import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from mcledger.anchoring.revocation_proof import RevocationRecord
from mcledger.anchoring.revocation_set import RevocationSet

pytestmark = pytest.mark.chain

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "rebuild_revocation_root.py"


def rebuild(rpc_url: str, contract: str, issuer: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, str(SCRIPT), "--rpc", rpc_url, "--contract", contract]
    return subprocess.run(
        [*argv, "--issuer", issuer], capture_output=True, text=True, timeout=60, check=False
    )


def test_rebuild_from_events_agrees_then_catches_a_digest_left_out(chain, deployed) -> None:
    ledger, issuer = deployed.ledger, deployed.issuer
    revoked = RevocationSet()
    at = int(chain.block("latest")["timestamp"])
    for reason, count in ((1, 3), (2, 40), (5, 1)):
        batch = [secrets.token_bytes(32) for _ in range(count)]
        previous = revoked.root
        revoked.insert_many([*batch, batch[0]], RevocationRecord(reason, at))  # a repeat too
        ledger.commit_revocations(
            issuer, previous, revoked.root, revoked.size, [*batch, batch[0]], reason, at
        )
    honest = rebuild(chain.rpc_url, ledger.address, issuer.address)
    assert honest.returncode == 0, honest.stdout + honest.stderr
    assert honest.stdout.count("\nok ") == 3
    assert "rebuilt root matches the chain" in honest.stdout

    # A flush whose event names two digests but whose root holds only the first.
    kept, dropped = secrets.token_bytes(32), secrets.token_bytes(32)
    previous = revoked.root
    revoked.insert_many([kept], RevocationRecord(0, at))
    tampered = ledger.commit_revocations(
        issuer, previous, revoked.root, revoked.size + 1, [kept, dropped], 0, at
    )
    caught = rebuild(chain.rpc_url, ledger.address, issuer.address)
    assert caught.returncode == 1, caught.stdout + caught.stderr
    (bad,) = [line for line in caught.stdout.splitlines() if line.startswith("BAD block")]
    assert tampered.transaction_hash in bad
    assert caught.stdout.count("\nok ") == 3


def test_rebuild_of_an_issuer_that_never_committed_is_the_empty_set(chain, deployed) -> None:
    empty = rebuild(chain.rpc_url, deployed.ledger.address, deployed.issuer.address)
    assert empty.returncode == 0, empty.stdout + empty.stderr
    assert f"= {'0' * 64}, size 0, block 0" in empty.stdout
