"""`mcledger verify`, driven through Typer's runner against a real Anvil."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from mcledger.anchoring.bundle import ProofBundle
from mcledger.anchoring.chain import ChainClient
from mcledger.cli.verify import verify_command
from mcledger.node.verifier.names import CHECK_NAMES
from tests.cli.bundles import anchored_bundle

runner = CliRunner()
app = typer.Typer()
app.command("verify")(verify_command)


@app.callback()
def _root() -> None:
    """Keeps `verify` a subcommand, as under `mcledger`."""


@pytest.fixture
def bundle(deployed: Any) -> ProofBundle:
    """Leaf 2 of a freshly anchored tree of 5, built by hand from the receipt."""
    rng = random.Random(5)
    leaves = [rng.randbytes(32) for _ in range(5)]
    return anchored_bundle(deployed.ledger, deployed.issuer, leaves, 2)


@pytest.fixture
def bundle_file(tmp_path: Path, bundle: ProofBundle) -> Path:
    path = tmp_path / "proof.json"
    path.write_text(bundle.dumps())
    return path


@pytest.fixture(autouse=True)
def no_configured_rpc(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Only what a test sets reaches the settings; no development chain in the data dir."""
    for name in (
        "MCLEDGER_RPC_URL",
        "MCLEDGER_CHAIN_ID",
        "MCLEDGER_CHAINS_FILE",
        "MCLEDGER_CONFIG_FILE",
        "MCLEDGER_SECRETS_DIR",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MCLEDGER_DATA_DIR", str(tmp_path / "data"))


def verify(*args: str, **kwargs: Any) -> Any:
    return runner.invoke(app, ["verify", *args], **kwargs)


def test_a_good_bundle_passes_with_exit_0(bundle_file: Path, chain: ChainClient) -> None:
    result = verify(str(bundle_file), "--rpc", chain.rpc_url)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    for name in CHECK_NAMES:
        assert any(line.startswith("PASS") and f" {name} " in line for line in lines), name
    assert "verified: all 9 checks passed" in result.stdout


def test_a_failed_check_exits_1_and_names_it(
    bundle_file: Path, bundle: ProofBundle, chain: ChainClient, deployed: Any
) -> None:
    deployed.ledger.revoke(deployed.issuer, [bundle.digest], 4)
    result = verify(str(bundle_file), "--rpc", chain.rpc_url)
    assert result.exit_code == 1, result.output
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    assert " digest.notRevoked " in line and "withdrawn by learner" in line
    assert "NOT verified: 1 of 9 checks failed (digest.notRevoked)" in result.stdout


def test_json_output(bundle_file: Path, chain: ChainClient, deployed: Any) -> None:
    result = verify(str(bundle_file), "--rpc", chain.rpc_url, "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert set(body) == {"ok", "checks"} and body["ok"] is True
    assert [c["name"] for c in body["checks"]] == list(CHECK_NAMES)
    assert all(set(c) == {"name", "passed", "detail"} and c["passed"] for c in body["checks"])
    deployed.ledger.suspend_issuer(deployed.admin, deployed.issuer.address)
    result = verify(str(bundle_file), "--rpc", chain.rpc_url, "--json")
    assert result.exit_code == 1
    body = json.loads(result.stdout)
    assert body["ok"] is False
    assert [c["name"] for c in body["checks"] if not c["passed"]] == ["issuer.registered"]


def test_reads_stdin(bundle: ProofBundle, chain: ChainClient) -> None:
    result = verify("-", "--rpc", chain.rpc_url, "--json", input=bundle.dumps())
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["ok"] is True


def test_rpc_url_from_the_settings(
    bundle_file: Path, chain: ChainClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MCLEDGER_RPC_URL", chain.rpc_url)
    result = verify(str(bundle_file))
    assert result.exit_code == 0, result.output


def test_usage_errors_exit_2(bundle_file: Path, tmp_path: Path, chain: ChainClient) -> None:
    result = verify(str(tmp_path / "missing.json"), "--rpc", chain.rpc_url)
    assert result.exit_code == 2 and "cannot read" in result.stderr
    result = verify(str(bundle_file))
    assert result.exit_code == 2 and "no RPC URL for chain id 31337" in result.stderr
    credential = tmp_path / "credential.json"
    credential.write_text(json.dumps({"@context": [], "type": ["VerifiableCredential"]}))
    result = verify(str(credential), "--rpc", chain.rpc_url)
    # A credential is verified (and this unsigned one fails), not refused as usage.
    assert result.exit_code == 1 and "FAIL  credential.signature" in result.stdout


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "not UTF-8 JSON"),
        (b"\xff\xfe{}", "not UTF-8 JSON"),
        (b"[]", "expected a JSON object"),
        (b'{"version": "mcledger-proof/2"}', "missing"),
    ],
)
def test_an_unparsable_bundle_fails_bundle_format(
    tmp_path: Path, chain: ChainClient, content: bytes, message: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    result = verify(str(path), "--rpc", chain.rpc_url, "--json")
    assert result.exit_code == 1, result.output
    checks = json.loads(result.stdout)["checks"]
    assert checks[0]["name"] == "bundle.format" and not checks[0]["passed"]
    assert message in checks[0]["detail"]
    assert all(c["detail"] == "skipped: the bundle did not parse" for c in checks[1:])


def test_bad_proof_inside_the_bundle_is_a_format_failure(
    bundle: ProofBundle, chain: ChainClient
) -> None:
    body = bundle.to_json()
    body["auditPath"][0] = "00"
    result = verify("-", "--rpc", chain.rpc_url, "--json", input=json.dumps(body))
    assert result.exit_code == 1
    assert "auditPath[0]" in json.loads(result.stdout)["checks"][0]["detail"]


def test_an_unreachable_rpc_fails_checks_without_a_traceback(bundle_file: Path) -> None:
    result = verify(str(bundle_file), "--rpc", "http://127.0.0.1:9")
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert any(
        line.startswith("FAIL") and " chain.id " in line for line in result.stdout.splitlines()
    )


def test_tampered_bytes_through_the_cli(bundle: ProofBundle, chain: ChainClient) -> None:
    """A sample of tampered bytes through the whole command, which reads the contract the
    bundle names (the all-positions test in tests/anchoring/test_verify.py fixes it):
    every character of anchor.contract and every 23rd byte elsewhere."""
    text = bundle.dumps()
    start = text.index(bundle.anchor.contract)
    positions = set(range(start, start + len(bundle.anchor.contract))) | set(
        range(0, len(text), 23)
    )
    for position in sorted(positions):
        char = text[position]
        replacement = "0123456789abcdef"[("0123456789abcdef".find(char) + 1) % 16]
        if not char.isalnum():
            replacement = "#"
        tampered = text[:position] + replacement + text[position + 1 :]
        result = verify("-", "--rpc", chain.rpc_url, "--json", input=tampered)
        assert result.exit_code == 1, (position, result.output)
        assert json.loads(result.stdout)["ok"] is False
