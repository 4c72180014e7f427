"""Settings from secret files (MCLEDGER_SECRETS_DIR, as docker/compose.yaml mounts them under
/run/secrets), the database password put into the URL, and the lease time reaching the
transaction machine. A bad secrets setup fails with one line naming the setting, never the
secret."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from mcledger.node.index.db import open_index
from mcledger.node.runtime.service import anchoring_policy
from mcledger.node.settings import ConfigurationError, Settings, load_settings

REPO = Path(__file__).resolve().parents[2]
PASSPHRASE = "correct horse battery staple"
DB_PASSWORD = "p@ss:w/rd%?#&= "  # every character a URL gives a meaning


@pytest.fixture
def secrets_dir(tmp_path: Path) -> Path:
    path = tmp_path / "secrets"
    path.mkdir()
    (path / "mcledger_key_password").write_text(PASSPHRASE + "\n")  # as `echo` writes it
    (path / "MCLEDGER_DATABASE_PASSWORD").write_text(DB_PASSWORD)  # names in any case
    (path / "postgres_password").write_text("not a setting: ignored")
    return path


def _settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    for key in [k for k in os.environ if k.startswith("MCLEDGER_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return load_settings()


def test_secret_files_give_settings_and_never_print(monkeypatch, secrets_dir) -> None:
    settings = _settings(
        monkeypatch,
        MCLEDGER_SECRETS_DIR=str(secrets_dir),
        MCLEDGER_DATABASE_URL="postgresql://mcledger@db:5432/mcledger?sslmode=prefer",
    )
    assert settings.key_password is not None
    assert settings.key_password.get_secret_value() == PASSPHRASE
    url = make_url(settings.database_url or "")
    assert (url.username, url.password, url.host, url.database) == (
        "mcledger",
        DB_PASSWORD.strip(),  # a secret file's content is stripped, like the passphrase's
        "db",
        "mcledger",
    )
    assert url.query == {"sslmode": "prefer"}
    shown = repr(settings) + str(settings)
    assert PASSPHRASE not in shown and "p@ss" not in shown and "p%40ss" not in shown


def test_the_environment_wins_over_a_secret_file(monkeypatch, secrets_dir) -> None:
    (secrets_dir / "MCLEDGER_DATABASE_PASSWORD").unlink()
    settings = _settings(
        monkeypatch, MCLEDGER_SECRETS_DIR=str(secrets_dir), MCLEDGER_KEY_PASSWORD="from the env"
    )
    assert settings.key_password is not None
    assert settings.key_password.get_secret_value() == "from the env"


def test_the_database_password_reaches_postgresql(
    monkeypatch, secrets_dir, postgres_database_url
) -> None:
    """The merged URL (schema option kept) opens and migrates the real index; the test
    server trusts local connections, so this shows the URL works, not that it authenticates."""
    settings = _settings(
        monkeypatch,
        MCLEDGER_SECRETS_DIR=str(secrets_dir),
        MCLEDGER_DATABASE_URL=postgres_database_url,
    )
    engine = open_index(settings.database_url or "")
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM lease")).scalar_one() == 0
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        (None, "MCLEDGER_DATABASE_URL is not"),
        ("sqlite:////tmp/index.sqlite3", "not a PostgreSQL URL"),
        ("postgresql://db:5432/mcledger", "names no user"),
        ("postgresql://mcledger:other@db/mcledger", "give it in one place"),
    ],
)
def test_a_database_password_with_nowhere_to_go_is_refused(
    monkeypatch, secrets_dir, url, complaint
) -> None:
    env = {"MCLEDGER_SECRETS_DIR": str(secrets_dir)}
    if url:
        env["MCLEDGER_DATABASE_URL"] = url
    with pytest.raises(ConfigurationError, match=complaint) as caught:
        _settings(monkeypatch, **env)
    assert "p@ss" not in str(caught.value) and "other" not in str(caught.value)


def _cli(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MCLEDGER_")}
    return subprocess.run(
        [sys.executable, "-m", "mcledger.cli.main", "chain", "status"],
        cwd=REPO,
        env=clean | {"PYTHONPATH": str(REPO)} | env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_missing_secrets_dir_is_refused(monkeypatch, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="MCLEDGER_SECRETS_DIR .* does not exist"):
        _settings(monkeypatch, MCLEDGER_SECRETS_DIR=str(tmp_path / "nowhere"))
    (tmp_path / "file").write_text("")
    with pytest.raises(ConfigurationError, match="is not a directory"):
        _settings(monkeypatch, MCLEDGER_SECRETS_DIR=str(tmp_path / "file"))


def test_an_unreadable_secret_is_one_clear_line(secrets_dir: Path) -> None:
    (secrets_dir / "mcledger_key_password").write_bytes(b"\xff\xfe" + PASSPHRASE.encode())
    garbled = _cli({"MCLEDGER_SECRETS_DIR": str(secrets_dir)})
    assert garbled.returncode == 2
    assert "MCLEDGER_KEY_PASSWORD" in garbled.stderr and "not UTF-8" in garbled.stderr
    assert PASSPHRASE not in garbled.stdout + garbled.stderr
    assert "Traceback" not in garbled.stderr


def test_the_lease_time_reaches_the_transaction_machine(monkeypatch) -> None:
    assert anchoring_policy(_settings(monkeypatch)).lease_ttl == 120.0
    settings = _settings(monkeypatch, MCLEDGER_LEASE_SECONDS="7.5")
    assert anchoring_policy(settings).lease_ttl == 7.5
    with pytest.raises(ValueError, match="lease_seconds"):
        _settings(monkeypatch, MCLEDGER_LEASE_SECONDS="0")
