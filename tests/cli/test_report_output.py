"""Reports that survive a log file: outside a terminal the CLI keeps every identifier whole
on one line (cli/console.py), inside one it still shortens them to fit the window.

`mcledger audit` with findings and `mcledger verify` with a long detail run as real
processes with stdout in a pipe, as in a CI log."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from mcledger.cli.console import UNBOUNDED_WIDTH, LazyConsole
from mcledger.node.credentials.annex import EXAMPLE_AWARD
from mcledger.node.credentials.build import build_credential
from mcledger.node.credentials.dataintegrity import credential_digest, sign_credential
from mcledger.node.credentials.multikey import Ed25519SigningKey, did_key, verification_method
from mcledger.node.index.db import open_index
from mcledger.node.index.models import batch_t, revocation_t, utcnow
from mcledger.node.index.sequence import insert_submissions
from mcledger.node.issuing.issuers import ensure_issuer
from mcledger.node.pipeline.anchorer import Anchorer, AnchoringPolicy
from mcledger.node.pipeline.revocation_flush import RevocationFlusher
from mcledger.node.revocation.audit import audit_index
from mcledger.node.revocation.findings import KINDS, REVOCATION
from tests.node.samples import ISSUED_AT, academy_profile, achievement, insert_revocations

REPO = Path(__file__).resolve().parents[2]
FAST = AnchoringPolicy(wait_timeout=20, poll_interval=0.05, replace_after=3600)


def _mcledger(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The command as a process whose stdout is a pipe (what a CI log reads)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("MCLEDGER_")}
    return subprocess.run(
        [sys.executable, "-m", "mcledger.cli.main", *args],
        cwd=REPO,
        env={**base, "COLUMNS": "80", **(env or {})},
        capture_output=True,  # both are pipes
        text=True,
        timeout=120,
    )


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_console_is_unbounded_in_a_pipe_and_shortens_in_a_terminal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    digest = "ab" * 32
    console = LazyConsole()
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    assert console.get().width == UNBOUNDED_WIDTH and console.shorten(digest) == digest
    console.print(f"x {digest} " * 3)
    assert sys.stdout.getvalue().count("\n") == 1  # one line, not wrapped at 80
    monkeypatch.setattr(sys, "stdout", _Terminal())  # a new stream: a new console
    assert console.get().width < UNBOUNDED_WIDTH and console.get().file is sys.stdout
    assert console.shorten(digest) == digest[:16] + "…"
    assert console.shorten(digest, 18) == digest[:18] + "…" and console.shorten("-") == "-"


def _tamper(engine: Any, batches: list[Any], revoked: list[str]) -> None:
    """A changed root (chain-only, index-only, tree-mismatch), a changed tree size
    (differs) and a changed revoked digest (chain-only and index-only revocations)."""
    with engine.begin() as conn:
        conn.execute(
            update(batch_t).where(batch_t.c.id == batches[0].batch_id).values(root="cd" * 32)
        )
        conn.execute(update(batch_t).where(batch_t.c.id == batches[1].batch_id).values(tree_size=9))
        row = conn.execute(
            select(revocation_t.c.id).where(revocation_t.c.digest == revoked[0])
        ).scalar_one()
        conn.execute(update(revocation_t).where(revocation_t.c.id == row).values(digest="ef" * 32))


def test_audit_findings_in_a_pipe_keep_whole_identifiers_on_one_line(
    deployed: Any, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'index.sqlite3'}"
    engine = open_index(url)
    try:
        ensure_issuer(engine, "uni", chain_address=deployed.issuer.address)
        anchorer = Anchorer(engine, deployed.ledger, lambda _id: deployed.issuer, FAST)
        batches = []
        for size in (3, 2):
            with engine.begin() as conn:
                rows = [
                    {"issuer_id": "uni", "digest": os.urandom(32).hex(), "submitted_at": utcnow()}
                    for _ in range(size)
                ]
                insert_submissions(conn, rows)
            batches += anchorer.anchor_pending("uni")
        revoked = insert_revocations(engine, "uni", 2, 3)
        flusher = RevocationFlusher(engine, deployed.ledger, lambda _id: deployed.issuer, FAST)
        assert [r.state for r in flusher.flush_pending("uni")] == ["confirmed"]
        _tamper(engine, batches, revoked)
        findings = audit_index(engine, deployed.ledger, from_block=deployed.deploy_block).findings
    finally:
        engine.dispose()
    assert {f.kind for f in findings} == set(KINDS) and REVOCATION in {f.subject for f in findings}

    done = _mcledger(
        "audit",
        "--rpc",
        deployed.ledger.client.rpc_url,
        "--from-block",
        str(deployed.deploy_block),
        "--data-dir",
        str(tmp_path),
        env={"MCLEDGER_DATABASE_URL": url, "MCLEDGER_CONTRACT_ADDRESS": deployed.ledger.address},
    )
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    assert "…" not in done.stdout
    for kind in KINDS:
        assert any(f"findings: {kind} " in line for line in lines), kind
    for f in findings:
        assert any(
            f" {f.kind} " in line and f" {f.subject} " in line and f" {f.key} " in line
            for line in lines
        ), (f, done.stdout)


def test_verify_in_a_pipe_keeps_a_long_detail_on_one_line(tmp_path: Path) -> None:
    """A credential's report is a tree, whose long details rich would wrap at 80 columns;
    this one's digest check says "not anchored yet … (its digest is <64 hex>)"."""
    award = {k: v for k, v in EXAMPLE_AWARD.items() if k != "components"}
    key = Ed25519SigningKey.generate()
    did = did_key(key.public_key)
    unsigned = build_credential(
        academy_profile(did),
        achievement(),
        award,
        credential_id="urn:uuid:6c1e5f0c-8a5b-4d2f-9a57-0e3d1b6f7c21",
        issued_at=ISSUED_AT,
    )
    credential = sign_credential(unsigned, key, verification_method(did), ISSUED_AT)
    path = tmp_path / "credential.json"
    path.write_text(json.dumps(credential))
    digest = credential_digest(credential).hex()

    done = _mcledger("verify", str(path))
    assert done.returncode == 1, done.stderr  # not anchored: it fails
    lines = done.stdout.splitlines()
    [line] = [line for line in lines if "FAIL  credential.digest " in line]
    assert f"(its digest is {digest})" in line and len(line) > 80
    [line] = [line for line in lines if "PASS  credential.signature " in line]
    assert line.endswith(f" by {verification_method(did)}")  # a DID URL of 110 characters
    assert all(line.startswith(("NOT verified", "├── ", "└── ")) for line in lines)  # no wraps
