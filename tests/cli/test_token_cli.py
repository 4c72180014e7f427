"""`mcledger token create` on a real index (SQLite and PostgreSQL)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from mcledger.cli.token import token_app
from mcledger.node.index.db import default_database_url, open_index
from mcledger.node.index.models import api_token_t
from mcledger.node.issuing.issuers import UnknownIssuerError, ensure_issuer
from mcledger.node.issuing.tokens import InvalidScopeError, authenticate

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def index_url(database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The index the CLI opens (MCLEDGER_DATABASE_URL), with the issuer `uni` in it."""
    engine = open_index(database_url)
    ensure_issuer(engine, "uni", chain_address="0x" + "1a" * 20)
    engine.dispose()
    monkeypatch.setenv("MCLEDGER_DATABASE_URL", database_url)
    return database_url


def token_count(url: str) -> int:
    engine = open_index(url)
    with engine.connect() as conn:
        count = conn.execute(select(func.count()).select_from(api_token_t)).scalar_one()
    engine.dispose()
    return count


def test_create_prints_the_token_alone(index_url: str, tmp_path: Path) -> None:
    args = ["create", "--issuer", "uni", "--scope", "issue,revoke", "--label", "registrar"]
    result = runner.invoke(token_app, [*args, "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    assert result.stdout == token + "\n" and token.startswith("mcl_")
    assert "shown once" in result.stderr
    engine = open_index(index_url)
    info = authenticate(engine, token)
    engine.dispose()
    assert (info.issuer_id, info.scopes) == ("uni", {"issue", "revoke"})


@pytest.mark.parametrize("scope", ["issue,root", "", "ISSUE"])
def test_unknown_scopes_are_refused(index_url: str, tmp_path: Path, scope: str) -> None:
    result = runner.invoke(token_app, ["create", "--issuer", "uni", "--scope", scope])
    assert result.exit_code != 0 and isinstance(result.exception, InvalidScopeError)
    assert result.stdout == ""
    assert token_count(index_url) == 0


def test_a_missing_issuer_is_named(index_url: str) -> None:
    result = runner.invoke(token_app, ["create", "--issuer", "nobody", "--scope", "issue"])
    assert isinstance(result.exception, UnknownIssuerError)
    assert "nobody" in str(result.exception) and result.stdout == ""
    local = runner.invoke(token_app, ["create", "--issuer", "local", "--scope", "issue"])
    assert isinstance(local.exception, UnknownIssuerError)
    assert "mcledger serve --dev" in str(local.exception)
    assert token_count(index_url) == 0


def test_the_default_index_under_the_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MCLEDGER_DATABASE_URL", raising=False)
    engine = open_index(default_database_url(tmp_path))
    ensure_issuer(engine, "local", chain_address="0x" + "1a" * 20)
    engine.dispose()
    # A real process, so that nothing else (migration logs, warnings) reaches stdout.
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCLEDGER_")}
    process = subprocess.run(
        [
            sys.executable,
            "-c",
            "from cli.token import token_app; token_app()",
            "create",
            "--issuer",
            "local",
            "--scope",
            "issue,revoke",
            "--data-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=60,
        check=False,
    )
    assert process.returncode == 0, process.stderr
    assert process.stdout.count("\n") == 1 and process.stdout.startswith("mcl_")
    assert token_count(default_database_url(tmp_path)) == 1
