"""End to end for micro-credentials: a real `mcledger serve --dev`, Anvil, the CLI.

An achievement and credentials over HTTP, more credentials from a CSV with `mcledger
issue` beside the running node (same data directory), anchoring on demand, each
learner's copy fetched through its link, and `mcledger verify` on the copies: every
check passes, a tampered copy fails `credential.signature`, a stack verifies as a tree.
A revoked credential fails `status.revocation` at once and, once the node's scheduled
flush has sent the revocation, `digest.notRevoked` too; `mcledger audit` then agrees.
On SQLite and PostgreSQL.
"""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
from test_end_to_end import (  # the running node and its helpers; fixtures by name
    RunningNode,
    _cli,
    _token,
    _wait_for_proofs,
    chain_state,  # noqa: F401
    node,  # noqa: F401
)
from typer.testing import CliRunner

from mcledger.cli.issue import credential_file_name, issue_command
from mcledger.node.credentials.annex import EXAMPLE_ACHIEVEMENT
from mcledger.node.credentials.dataintegrity import credential_digest
from mcledger.node.verifier.names import (
    CREDENTIAL_CHECK_NAMES,
    STATUS_COMMITTED,
    STATUS_REVOCATION,
    STATUS_SUSPENSION,
)


def _post(running: RunningNode, token: str, path: str, body: Any) -> httpx.Response:
    return httpx.post(
        f"{running.url}{path}", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=60
    )


def _award(achievement: str, name: str, **more: Any) -> dict[str, Any]:
    return {
        "achievement": achievement,
        "learner": {"name": name, "identifier": f"LU-{name}"},
        "awardedOn": "2026-11-20",
        "place": "Rīga",
        **more,
    }


def _anchor_now(running: RunningNode, token: str, digests: list[str]) -> None:
    sealed = _post(running, token, "/v1/batches", {})
    assert sealed.status_code == 202, sealed.text
    _wait_for_proofs(running, digests)


def _learner_copy(link: str, path: Path) -> Path:
    reply = httpx.get(link, timeout=30)
    assert reply.status_code == 200, reply.text
    assert "anchorProof" in reply.json()
    path.write_text(reply.text, encoding="utf-8")
    return path


def _verify(running: RunningNode, rpc_url: str, *args: str) -> tuple[int, dict[str, Any]]:
    done = _cli(running.env, "verify", *args, "--rpc", rpc_url, "--json")
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, json.loads(done.stdout)


def _verify_once_lists_are_committed(
    running: RunningNode, rpc_url: str, copy: Path
) -> tuple[int, dict[str, Any]]:
    """`mcledger verify` once the scheduled flush (every 2 s here) has committed the status
    lists as they are served now: until then status.committed says "not yet committed"."""
    deadline = time.monotonic() + 60
    while True:
        code, report = _verify(running, rpc_url, str(copy))
        pending = [c for c in report["checks"] if c["detail"].startswith("not yet committed")]
        if not pending or time.monotonic() > deadline:
            return code, report
        time.sleep(0.5)


def _issue_from_csv(
    running: RunningNode, achievement: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> list[dict[str, str]]:
    """`mcledger issue` in this process, on the running node's data directory and index."""
    for name, value in running.env.items():
        if name.startswith("MCLEDGER_"):
            monkeypatch.setenv(name, value)
    monkeypatch.setenv("MCLEDGER_DEV", "true")
    learners = tmp_path / "learners.csv"
    learners.write_text(
        "name,identifier,awardedOn,place,grade\n"
        "Līga Ozola,LU-2026-0100,2026-11-21,Liepāja,8/10\n"
        "Pēteris Liepa,LU-2026-0101,2026-11-21,Liepāja,\n",
        encoding="utf-8",
    )
    app = typer.Typer()
    app.command("issue")(issue_command)

    @app.callback()
    def _root() -> None:
        """Keeps `issue` a subcommand."""

    out = tmp_path / "issued"
    args = ["issue", "--achievement", achievement, "--learners", str(learners), "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    with (out / "learner-links.csv").open(newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def test_issue_anchor_fetch_and_verify_credentials(
    node: RunningNode,  # noqa: F811
    chain_state: Any,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    anvil, _ = chain_state
    token = _token(node)
    created = _post(node, token, "/v1/achievements", EXAMPLE_ACHIEVEMENT)
    assert created.status_code == 201, created.text
    achievement = created.json()["id"]

    issued = []
    for name in ("Anna", "Jānis"):
        reply = _post(node, token, "/v1/credentials", _award(achievement, name))
        assert reply.status_code == 201, reply.text
        issued.append(reply.json())
    from_csv = _issue_from_csv(node, achievement, tmp_path, monkeypatch)
    assert len(from_csv) == 2
    digests = [body["digest"] for body in issued]
    for row in from_csv:
        credential = json.loads((tmp_path / "issued" / credential_file_name(row["id"])).read_text())
        digests.append(credential_digest(credential).hex())
        queued = httpx.get(f"{node.url}/v1/proofs/{digests[-1]}", timeout=10)
        assert queued.status_code == 202, queued.text  # the serving node sees it queued
    _anchor_now(node, token, digests)

    links = [body["learnerLink"] for body in issued] + [row["link"] for row in from_csv]
    copies = [_learner_copy(link, tmp_path / f"copy-{i}.json") for i, link in enumerate(links)]
    for copy in copies:
        code, report = _verify_once_lists_are_committed(node, anvil.rpc_url, copy)
        assert code == 0, report
        names = [c["name"] for c in report["checks"]]
        assert names == [
            *CREDENTIAL_CHECK_NAMES,
            STATUS_REVOCATION,
            STATUS_SUSPENSION,
            STATUS_COMMITTED,  # each list, as the scheduled flush committed it
            STATUS_COMMITTED,
        ]
        assert all(c["passed"] for c in report["checks"])

    # One from the CSV (the HTTP ones make up the stack below).
    _revoke_and_see_it_everywhere(node, anvil.rpc_url, token, from_csv[0]["id"], copies[2])

    tampered = json.loads(copies[0].read_text(encoding="utf-8"))
    tampered["credentialSubject"]["name"] = "Mallory"
    forged = tmp_path / "tampered.json"
    forged.write_text(json.dumps(tampered), encoding="utf-8")
    code, report = _verify(node, anvil.rpc_url, str(forged))
    assert code == 1
    failed = {c["name"] for c in report["checks"] if not c["passed"]}
    assert "credential.signature" in failed and "credential.digest" in failed

    # A stack of the two HTTP credentials, anchored in a later batch.
    components = [{"id": b["credential"]["id"], "digest": b["digest"]} for b in issued]
    stack = _post(
        node, token, "/v1/credentials", _award(achievement, "Anna", components=components)
    )
    assert stack.status_code == 201, stack.text
    _anchor_now(node, token, [stack.json()["digest"]])
    stack_copy = _learner_copy(stack.json()["learnerLink"], tmp_path / "stack.json")
    _verify_once_lists_are_committed(node, anvil.rpc_url, stack_copy)
    code, tree = _verify(
        node,
        anvil.rpc_url,
        str(stack_copy),
        "--component",
        str(copies[0]),
        "--component",
        str(copies[1]),
    )
    assert code == 0, tree
    assert [child["id"] for child in tree["components"]] == [c["id"] for c in components]
    assert all(child["ok"] for child in tree["components"])
    code, tree = _verify(node, anvil.rpc_url, str(stack_copy), "--component", str(copies[0]))
    assert code == 1 and not tree["ok"]
    missing = tree["components"][1]
    assert not missing["ok"] and "component not provided" in missing["checks"][0]["detail"]


def _revoke_and_see_it_everywhere(
    running: RunningNode, rpc_url: str, token: str, credential_id: str, copy: Path
) -> None:
    revoked = _post(running, token, f"/v1/credentials/{credential_id}/revoke", {"reason": 2})
    assert revoked.status_code in (200, 201), revoked.text
    code, report = _verify(running, rpc_url, str(copy))
    failed = {c["name"]: c["detail"] for c in report["checks"] if not c["passed"]}
    assert code == 1 and STATUS_REVOCATION in failed  # the status list: at once

    # The scheduled flush (every 2 s here) sends it in a revoke transaction.
    deadline = time.monotonic() + 60
    while True:
        history = httpx.get(f"{running.url}/v1/revocations", timeout=10).json()
        [record] = [r for r in history["revocations"] if r["credentialId"] == credential_id]
        if record["transactionHash"] is not None or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert record["transactionHash"] is not None and record["blockNumber"] is not None, record
    code, report = _verify(running, rpc_url, str(copy))
    failed = {c["name"]: c["detail"] for c in report["checks"] if not c["passed"]}
    assert code == 1 and set(failed) >= {STATUS_REVOCATION, "digest.notRevoked"}, failed
    assert "fraud" in failed["digest.notRevoked"].lower(), failed

    audited = _cli(running.env, "audit", "--rpc", rpc_url, "--json")
    assert audited.returncode == 0, audited.stdout + audited.stderr
    audit = json.loads(audited.stdout)
    assert audit["ok"] and audit["revocationsChecked"] == 1, audit
