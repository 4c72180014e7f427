"""`mcledger merkle root | prove | verify`, driven through Typer's runner."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mcledger.anchoring.merkle import InclusionProof
from mcledger.anchoring.tree import MerkleTree
from mcledger.cli.merkle import merkle_app

runner = CliRunner()


def sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


@pytest.fixture
def digests() -> list[bytes]:
    return [random.Random(7).randbytes(32)] + [bytes([i]) * 32 for i in range(4)]


@pytest.fixture
def digests_file(tmp_path: Path, digests: list[bytes]) -> Path:
    lines = [d.hex() for d in digests]
    lines[1] = "  " + lines[1].upper() + " "  # either case, spaces around are fine
    lines.insert(2, "")  # blank lines are skipped
    path = tmp_path / "digests.txt"
    path.write_text("\n".join(lines) + "\n\n")
    return path


def test_root(digests_file: Path, digests: list[bytes]) -> None:
    result = runner.invoke(merkle_app, ["root", str(digests_file)])
    assert result.exit_code == 0, result.output
    l0, l1, l2, l3, l4 = (sha(b"\x00" + d) for d in digests)
    n01, n23 = sha(b"\x01" + l0 + l1), sha(b"\x01" + l2 + l3)
    expected = sha(b"\x01" + sha(b"\x01" + n01 + n23) + l4)
    assert result.stdout.strip() == expected.hex()
    result = runner.invoke(merkle_app, ["root", str(digests_file), "--json"])
    assert json.loads(result.stdout) == {"root": expected.hex(), "treeSize": 5}


def test_root_of_an_empty_file(tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_text("\n")
    result = runner.invoke(merkle_app, ["root", str(tmp_path / "empty.txt"), "--json"])
    assert json.loads(result.stdout) == {"root": sha(b"").hex(), "treeSize": 0}


def test_prove_then_verify(digests_file: Path, digests: list[bytes], tmp_path: Path) -> None:
    result = runner.invoke(merkle_app, ["prove", str(digests_file), "3"])
    assert result.exit_code == 0, result.output
    proof = json.loads(result.stdout)
    assert set(proof) == {"leafIndex", "treeSize", "auditPath", "root"}
    assert InclusionProof.from_json(proof) == MerkleTree.from_leaves(digests).inclusion_proof(3)
    proof_file = tmp_path / "proof.json"
    proof_file.write_text(result.stdout)

    valid = runner.invoke(merkle_app, ["verify", str(proof_file), digests[3].hex()])
    assert valid.exit_code == 0
    assert valid.stdout.startswith("VALID: ") and "leaf 3 of 5" in valid.stdout

    invalid = runner.invoke(merkle_app, ["verify", str(proof_file), digests[2].hex()])
    assert invalid.exit_code == 1
    assert invalid.stdout.startswith("INVALID: ") and "computed" in invalid.stdout


def test_malformed_line_names_its_number(tmp_path: Path) -> None:
    path = tmp_path / "bad.txt"
    path.write_text("aa" * 32 + "\n\n" + "ab" * 31 + "zz\n")
    result = runner.invoke(merkle_app, ["root", str(path)])
    assert result.exit_code == 2
    assert "line 3: not a 64-hex digest" in result.stderr
    assert "Traceback" not in result.output
    path.write_text("aa" * 33 + "\n")
    result = runner.invoke(merkle_app, ["prove", str(path), "0"])
    assert result.exit_code == 2 and "line 1" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["prove", "{digests}", "5"], "out of range: {digests} has 5 digests"),
        (["root", "{missing}"], "cannot read"),
        (["verify", "{digests}", "aa" * 32], "is not JSON"),
        (["verify", "{proof}", "a" * 63], "DIGEST must be 64 hex"),
        (["verify", "{bad_proof}", "aa" * 32], "auditPath[0] must be 64 hex"),
    ],
)
def test_bad_input_exits_2_without_traceback(
    args: list[str], message: str, digests_file: Path, tmp_path: Path
) -> None:
    proof = MerkleTree.from_leaves([bytes(32)]).inclusion_proof(0).to_json()
    (tmp_path / "proof.json").write_text(json.dumps(proof))
    (tmp_path / "bad.json").write_text(json.dumps(proof | {"auditPath": ["00"]}))
    names = {
        "digests": str(digests_file),
        "missing": str(tmp_path / "missing.txt"),
        "proof": str(tmp_path / "proof.json"),
        "bad_proof": str(tmp_path / "bad.json"),
    }
    result = runner.invoke(merkle_app, [a.format(**names) for a in args])
    assert result.exit_code == 2, result.output
    assert message.format(**names) in " ".join(result.stderr.split())
    assert "Traceback" not in result.output


def test_stdin_and_help(digests: list[bytes]) -> None:
    text = "\n".join(d.hex() for d in digests)
    result = runner.invoke(merkle_app, ["root", "-"], input=text)
    assert result.stdout.strip() == MerkleTree.from_leaves(digests).root.hex()
    for command in ("root", "prove", "verify"):
        help_text = runner.invoke(merkle_app, [command, "--help"]).stdout
        assert "64-hex" in help_text or "64 hex" in help_text
