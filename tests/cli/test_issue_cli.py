"""`mcledger issue` (bulk, from a CSV), `mcledger erase`, and `mcledger verify` on what they
issue: a real index on SQLite and PostgreSQL, a node in development mode on Anvil."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer
from sqlalchemy import func, select
from typer.testing import CliRunner

from mcledger.anchoring.anvil import AnvilProcess
from mcledger.cli.issue import erase_command, issue_command
from mcledger.cli.verify import verify_command
from mcledger.node.credentials.annex import EXAMPLE_ACHIEVEMENT
from mcledger.node.credentials.dataintegrity import (
    ANCHOR_PROPERTY,
    credential_digest,
    verify_credential,
)
from mcledger.node.credentials.multikey import resolve_did_key
from mcledger.node.index.models_credentials import credential_t
from mcledger.node.index.models_status import status_entry_t
from mcledger.node.issuing.catalogue import create_achievement
from mcledger.node.issuing.issuance import get_credential
from mcledger.node.pipeline.batches import proof_status
from mcledger.node.runtime.service import open_engine, open_node
from mcledger.node.settings import Settings, load_settings
from mcledger.node.verifier.names import (
    CREDENTIAL_CHECK_NAMES,
    STATUS_COMMITTED,
    STATUS_REVOCATION,
    STATUS_SUSPENSION,
)

runner = CliRunner()
app = typer.Typer()
app.command("issue")(issue_command)
app.command("erase")(erase_command)
app.command("verify")(verify_command)

NODE_URL = "https://node.example.edu"
LEARNER_DID = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"


@app.callback()
def _root() -> None:
    """Keeps the commands subcommands, as under `mcledger`."""


@dataclass
class Issuing:
    settings: Settings
    achievement: str
    tmp: Path

    def issue(
        self,
        learners: Path,
        out: Path | None = None,
        achievement: str | None = None,
        *,
        workers: int | None = None,
    ) -> Any:
        return runner.invoke(
            app,
            [
                "issue",
                "--achievement",
                achievement or self.achievement,
                "--learners",
                str(learners),
                "--out",
                str(out or self.tmp / "out"),
                "--data-dir",
                str(self.settings.data_dir),
                *(["--workers", str(workers)] if workers is not None else []),
            ],
        )


@pytest.fixture
def issuing(
    anvil: AnvilProcess, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Issuing]:
    """A node's data directory (keys, contract, registered issuer) with one achievement; the
    environment points the CLI at its chain and index, as an operator's would."""
    for name in ("MCLEDGER_CONFIG_FILE", "MCLEDGER_DATA_DIR", "MCLEDGER_KEY_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MCLEDGER_RPC_URL", anvil.rpc_url)
    monkeypatch.setenv("MCLEDGER_DATABASE_URL", database_url)
    monkeypatch.setenv("MCLEDGER_DEV", "true")
    monkeypatch.setenv("MCLEDGER_NODE_URL", NODE_URL)
    settings = load_settings(data_dir=tmp_path / "data")
    node = open_node(settings)
    try:
        achievement = create_achievement(node.engine, "local", EXAMPLE_ACHIEVEMENT).id
    finally:
        node.close()
    yield Issuing(settings, achievement, tmp_path)


def _learners_csv(path: Path, count: int = 50) -> dict[int, list[str]]:
    """``count`` rows, 3 of them bad; a multi-line cell and a blank line on the way shift the
    line numbers. Returns the bad rows' lines and what must be said about each."""
    rows: list[list[str]] = []
    for i in range(count):
        rows.append(
            [
                f"Learner {i}",
                f"LU-2026-{i:04d}",
                LEARNER_DID if i % 10 == 0 else "",
                f"2026-11-{1 + i % 28:02d}",
                "Rīga\nCentrs" if i == 2 else "Rīga",
                f"{i % 10}/10" if i % 3 else "",
            ]
        )
    rows[7][0] = ""  # missing name
    rows[21][3] = "2026-13-45"  # bad date
    rows[38][2], rows[38][3] = "not-a-did", "yesterday"  # two bad fields at once
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["name", "identifier", "id", "awardedOn", "place", "grade"])
        for i, row in enumerate(rows):
            if i == 30:
                file.write("\r\n")  # a blank line is skipped, not refused
            writer.writerow(row)
    text = path.read_text(encoding="utf-8")

    def line_of(identifier: str) -> int:
        return text[: text.index(identifier)].count("\n") + 1

    return {
        line_of("LU-2026-0007"): ["name: required field is missing"],
        line_of("LU-2026-0021"): ["awardedOn: must be a date"],
        line_of("LU-2026-0038"): ["id: must be a DID", "awardedOn: must be a date"],
    }


def test_bulk_issue_writes_the_good_rows_and_names_the_bad_ones(issuing: Issuing) -> None:
    learners = issuing.tmp / "learners.csv"
    bad = _learners_csv(learners)
    assert sorted(bad)[0] > 9  # the multi-line cell moved the lines after it

    result = issuing.issue(learners)

    assert result.exit_code == 1, result.output
    out = issuing.tmp / "out"
    files = sorted(out.glob("*.json"))
    assert len(files) == 47
    reported = [line for line in result.stderr.splitlines() if line.startswith("line ")]
    assert len(reported) == 3, result.stderr
    for line, reasons in bad.items():
        message = next(r for r in reported if r.startswith(f"line {line}:"))
        assert all(reason in message for reason in reasons), message
    assert "issued 47 credentials" in result.stdout and "3 rows refused" in result.stdout

    with (out / "learner-links.csv").open(newline="", encoding="utf-8") as file:
        links = list(csv.DictReader(file))
    assert len(links) == 47
    engine = open_engine(issuing.settings)
    try:
        for link, path in zip(sorted(links, key=lambda r: r["id"]), files, strict=True):
            credential = json.loads(path.read_text(encoding="utf-8"))
            assert path.name == credential["id"].removeprefix("urn:uuid:") + ".json"
            assert link["id"] == credential["id"]
            assert (
                link["identifier"]
                == (credential["credentialSubject"]["identifier"][0]["identityHash"])
            )
            assert link["link"].startswith(f"{NODE_URL}/v1/credentials/urn%3Auuid%3A")
            assert "?key=" in link["link"]
            # The bulk signer's output is the full path's: the signature and the digest verify.
            assert verify_credential(credential, resolve_did_key).ok
            stored = get_credential(engine, credential["id"])
            assert stored.digest == credential_digest(credential).hex()
            assert stored.body == credential
    finally:
        engine.dispose()
    multi_line = next(json.loads(p.read_text()) for p in files if "LU-2026-0002" in p.read_text())
    assert multi_line["credentialSubject"]["awardingPlace"] == "Rīga\nCentrs"


def _random_by_design(credential: dict[str, Any]) -> dict[str, Any]:
    """The credential without what differs between two issuances of one row: its id, its
    random status-list slots, the moment of issue and so the proof's time and value."""
    kept = json.loads(json.dumps(credential))
    del kept["id"], kept["validFrom"], kept["proof"]["created"], kept["proof"]["proofValue"]
    kept["credentialStatus"] = [
        {"type": entry["type"], "statusPurpose": entry["statusPurpose"]}
        for entry in kept["credentialStatus"]
    ]
    return kept


def _learner_of(credential: dict[str, Any]) -> str:
    return str(credential["credentialSubject"]["identifier"][0]["identityHash"])


# The index's part is the same code with and without workers, and runs on both databases
# in tests/node/issuing/test_bulk_issuance.py: SQLite is enough here.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_workers_issue_what_one_process_issues(issuing: Issuing) -> None:
    """--workers 2 against --workers 1 on one file and one node: the same refusals and the
    same credentials, stored as one process stores them."""
    learners = issuing.tmp / "learners.csv"
    bad = _learners_csv(learners, 250)
    runs = {
        workers: issuing.issue(learners, issuing.tmp / f"out-{workers}", workers=workers)
        for workers in (1, 2)
    }
    issued: dict[int, dict[str, dict[str, Any]]] = {}
    for workers, result in runs.items():
        assert result.exit_code == 1, result.output
        assert "issued 247 credentials" in result.stdout and "3 rows refused" in result.stdout
        files = list((issuing.tmp / f"out-{workers}").glob("*.json"))
        texts = [path.read_text(encoding="utf-8") for path in files]
        credentials = [json.loads(text) for text in texts]
        # the file format of one process: indented JSON, UTF-8 as it is, a final newline
        assert texts == [json.dumps(c, indent=2, ensure_ascii=False) + "\n" for c in credentials]
        issued[workers] = {_learner_of(c): c for c in credentials}
    # The same refusals, each naming its line, in the same order.
    reports = [[r for r in runs[w].stderr.splitlines() if r.startswith("line ")] for w in (1, 2)]
    assert reports[0] == reports[1]
    assert [int(report.split(":")[0].removeprefix("line ")) for report in reports[0]] == sorted(bad)
    # The same credentials but for what is random by design.
    assert issued[1].keys() == issued[2].keys() and len(issued[1]) == 247
    for learner, credential in issued[1].items():
        assert _random_by_design(credential) == _random_by_design(issued[2][learner])
    # What the workers signed verifies and is what the index holds (a sample of it).
    engine = open_engine(issuing.settings)
    try:
        for credential in list(issued[2].values())[::25]:
            assert verify_credential(credential, resolve_did_key).ok
            stored = get_credential(engine, credential["id"])
            assert stored.body == credential
            assert stored.digest == credential_digest(credential).hex()
        with engine.connect() as conn:
            counts = [
                conn.execute(select(func.count()).select_from(t)).scalar_one()
                for t in (credential_t, status_entry_t)
            ]
        assert counts == [2 * 247, 2 * 2 * 247]  # a revocation and a suspension slot each
    finally:
        engine.dispose()


def test_the_issued_credentials_verify_on_the_chain_and_erase_keeps_the_proof(
    issuing: Issuing,
) -> None:
    learners = issuing.tmp / "learners.csv"
    learners.write_text(
        "\ufeffname,identifier,awardedOn,place\n"  # a spreadsheet's byte-order mark
        "Anna Bērziņa,LU-2026-0042,2026-11-20,Rīga\n"
        "Jānis Kalniņš,LU-2026-0043,2026-11-20,Rīga\n",
        encoding="utf-8",
    )
    result = issuing.issue(learners)
    assert result.exit_code == 0, result.output
    files = sorted((issuing.tmp / "out").glob("*.json"))
    assert len(files) == 2

    node = open_node(issuing.settings)
    try:
        node.anchorer.anchor_pending("local")
        copies = []
        for path in files:
            credential = json.loads(path.read_text(encoding="utf-8"))
            status = proof_status(node.engine, credential_id=credential["id"])
            assert status is not None and status.bundle is not None
            copy = issuing.tmp / f"copy-{path.name}"
            copy.write_text(json.dumps({**credential, ANCHOR_PROPERTY: status.bundle.to_json()}))
            copies.append(copy)
    finally:
        node.close()

    rpc = issuing.settings.rpc_url
    assert rpc is not None
    verified = runner.invoke(app, ["verify", str(copies[0]), "--rpc", rpc, "--json"])
    report = json.loads(verified.stdout)
    names = [c["name"] for c in report["checks"]]
    # One status.committed a list (the contract commits list hashes: version 2).
    assert names == [
        *CREDENTIAL_CHECK_NAMES,
        STATUS_REVOCATION,
        STATUS_SUSPENSION,
        STATUS_COMMITTED,
        STATUS_COMMITTED,
    ]
    assert report["components"] == []
    # Signature, digest and chain pass; the status lists live on NODE_URL, which no server
    # answers in this test, so the status checks fail (a check never passes unchecked).
    by_name = {c["name"]: c for c in report["checks"]}
    assert all(by_name[name]["passed"] for name in CREDENTIAL_CHECK_NAMES)
    for name in (STATUS_REVOCATION, STATUS_SUSPENSION):
        assert not by_name[name]["passed"] and "cannot fetch" in by_name[name]["detail"]
    assert not any(c["passed"] for c in report["checks"] if c["name"] == STATUS_COMMITTED)
    assert verified.exit_code == 1 and not report["ok"]

    shown = runner.invoke(app, ["verify", str(copies[1]), "--rpc", rpc])
    assert "PASS  credential.signature" in shown.stdout
    assert "FAIL  status.revocation" in shown.stdout

    credential_id = json.loads(copies[1].read_text())["id"]
    erased = runner.invoke(
        app, ["erase", credential_id, "--data-dir", str(issuing.settings.data_dir)]
    )
    assert erased.exit_code == 0, erased.output
    assert f"erased {credential_id}" in erased.stdout
    engine = open_engine(issuing.settings)
    try:
        row = get_credential(engine, credential_id)
        assert row.body is None and row.erased_at is not None
        status = proof_status(engine, credential_id=credential_id)
        assert status is not None and status.bundle is not None  # the proof stays
    finally:
        engine.dispose()
    again = runner.invoke(
        app, ["erase", credential_id, "--data-dir", str(issuing.settings.data_dir)]
    )
    assert again.exit_code == 0 and "already erased" in again.stdout
    # The learner's own copy still verifies after the node forgot the body.
    still = runner.invoke(app, ["verify", str(copies[1]), "--rpc", rpc, "--json"])
    after = {c["name"]: c["passed"] for c in json.loads(still.stdout)["checks"]}
    assert all(after[name] for name in CREDENTIAL_CHECK_NAMES), still.output

    unknown = runner.invoke(
        app,
        [
            "erase",
            "urn:uuid:00000000-0000-4000-8000-000000000000",
            "--data-dir",
            str(issuing.settings.data_dir),
        ],
    )
    assert unknown.exit_code == 1 and "no credential" in unknown.stderr


def test_usage_errors_exit_2_and_issue_nothing(issuing: Issuing) -> None:
    good = issuing.tmp / "good.csv"
    good.write_text("name,identifier,awardedOn,place\nAnna,LU-1,2026-11-20,Rīga\n")

    unknown = issuing.issue(good, achievement="ach_nosuchthing")
    assert unknown.exit_code == 2, unknown.output
    assert "ach_nosuchthing" in unknown.stderr

    header = issuing.tmp / "header.csv"
    header.write_text("name,identifier,awardedOn,place,email,phone\nA,B,2026-11-20,R,a@b,1\n")
    refused = issuing.issue(header)
    assert refused.exit_code == 2
    assert "'email', 'phone'" in refused.stderr and "unknown columns" in refused.stderr

    missing = issuing.tmp / "missing.csv"
    missing.write_text("name,identifier,place\nA,B,R\n")
    refused = issuing.issue(missing)
    assert refused.exit_code == 2 and "awardedOn" in refused.stderr

    refused = issuing.issue(good, workers=0)
    assert refused.exit_code == 2 and "--workers" in refused.stderr

    refused = issuing.issue(issuing.tmp / "nowhere.csv")
    assert refused.exit_code == 2 and "cannot read" in refused.stderr

    utf16 = issuing.tmp / "utf16.csv"
    utf16.write_bytes(
        "name,identifier,awardedOn,place\nJānis,LU-1,2026-11-20,Rīga\n".encode("utf-16")
    )
    refused = issuing.issue(utf16)
    assert refused.exit_code == 2 and "UTF-8" in refused.stderr

    assert not (issuing.tmp / "out").exists()
