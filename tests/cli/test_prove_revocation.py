"""`mcledger prove --data-dir` and `mcledger verify` on a version-2 contract (a real Anvil, a
real index on SQLite and PostgreSQL): the bundle carries the digest's revocation proof once
its issuer committed, and `verify` reads it against the root on chain."""

from __future__ import annotations

import json
import os
from pathlib import Path

from typer.testing import CliRunner

from mcledger.anchoring.bundle import ProofBundle
from mcledger.cli.main import build_app
from mcledger.node.index.db import open_index
from mcledger.node.issuing.issuers import ensure_issuer
from mcledger.node.pipeline.anchorer import Anchorer
from mcledger.node.pipeline.revocation_flush import RevocationFlusher
from mcledger.node.pipeline.submissions import submit_digests
from mcledger.node.pipeline.txmachine import AnchoringPolicy
from tests.node.samples import revoke_digests

FAST = AnchoringPolicy(wait_timeout=20, poll_interval=0.05, replace_after=3600)


def _prove(digest: str, data_dir: Path) -> dict:
    done = CliRunner().invoke(build_app("prove"), ["prove", digest, "--data-dir", str(data_dir)])
    assert done.exit_code == 0, done.output
    return dict(json.loads(done.stdout))


def _verify(bundle: dict, folder: Path, rpc_url: str) -> dict:
    path = folder / "bundle.json"
    path.write_text(json.dumps(bundle))
    done = CliRunner().invoke(
        build_app("verify"), ["verify", str(path), "--rpc", rpc_url, "--json"]
    )
    assert done.exit_code in (0, 1), done.output
    report = json.loads(done.stdout)
    return {c["name"]: c for c in report["checks"]}


def test_prove_carries_the_revocation_proof_and_verify_reads_it(
    database_url: str, deployed, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("MCLEDGER_DATABASE_URL", database_url)
    engine = open_index(database_url)
    account = lambda _id: deployed.issuer  # noqa: E731
    try:
        ensure_issuer(engine, "uni", chain_address=deployed.issuer.address)
        digests = [os.urandom(32).hex() for _ in range(3)]
        submit_digests(engine, "uni", [(d, None) for d in digests], actor="test")
        [anchored] = Anchorer(engine, deployed.ledger, account, FAST).anchor_pending("uni")
        assert anchored.state == "confirmed"
        before = _prove(digests[0], tmp_path)
        assert "revocation" not in before  # nothing committed: the bundle as before

        revoke_digests(engine, "uni", digests[:1], 3)
        [flushed] = RevocationFlusher(engine, deployed.ledger, account, FAST).flush_pending("uni")
        assert flushed.state == "confirmed"
    finally:
        engine.dispose()

    rpc_url, me = deployed.ledger.client.rpc_url, deployed.issuer.address
    root = deployed.ledger.revocation_root_of(me).root.hex()
    revoked = _prove(digests[0], tmp_path)
    assert revoked["revocation"]["root"] == root and revoked["revocation"]["size"] == 1
    assert revoked["revocation"]["transactionHash"] == flushed.transaction_hash
    assert ProofBundle.from_json(revoked).revocation is not None
    check = _verify(revoked, tmp_path, rpc_url)["digest.notRevoked"]
    assert (
        not check["passed"]
        and "reason 3 (superseded) (in its revocation set, root" in check["detail"]
    )

    kept = _prove(digests[1], tmp_path)
    check = _verify(kept, tmp_path, rpc_url)["digest.notRevoked"]
    assert check["passed"] and check["detail"].startswith(f"not revoked by {me}: outside")
    # The bundle from before the flush: stale, the commitment since lists the digest.
    check = _verify(before, tmp_path, rpc_url)["digest.notRevoked"]
    assert not check["passed"] and f"(committed in block {flushed.block_number}" in check["detail"]
