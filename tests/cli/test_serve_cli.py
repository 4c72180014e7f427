"""`mcledger serve` at the edge: a real node refuses development defaults, naming the setting
to change, before it opens anything; the public base URL follows the listen address."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from mcledger.node.issuing.keys import DEV_PASSPHRASE_FILE
from mcledger.node.settings import load_settings

REPO = Path(__file__).resolve().parents[2]


def _serve(data_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MCLEDGER_")}
    return subprocess.run(
        [sys.executable, "-m", "mcledger.cli.main", "serve"],
        cwd=REPO,
        env=clean | {"MCLEDGER_DATA_DIR": str(data_dir), "PYTHONPATH": str(REPO)} | env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_serve_without_dev_refuses_a_missing_key_password(tmp_path: Path) -> None:
    done = _serve(tmp_path / "data", MCLEDGER_RPC_URL="http://127.0.0.1:9")
    assert done.returncode == 2
    assert "MCLEDGER_KEY_PASSWORD" in done.stdout + done.stderr
    assert not (tmp_path / "data").exists()  # refused before anything was created


def test_serve_without_dev_refuses_a_development_keystore(tmp_path: Path) -> None:
    keys = tmp_path / "data" / "keys"
    keys.mkdir(parents=True)
    (keys / DEV_PASSPHRASE_FILE).write_text("not a secret")
    done = _serve(tmp_path / "data", MCLEDGER_KEY_PASSWORD="a real one")
    assert done.returncode == 2
    output = done.stdout + done.stderr
    assert "development mode" in output and "MCLEDGER_DATA_DIR" in output
    assert "MCLEDGER_KEY_PASSWORD" in output


def test_the_public_base_url_follows_the_listen_address() -> None:
    assert load_settings(port=9123).node_url == "http://127.0.0.1:9123"
    assert load_settings(host="0.0.0.0", port=8443).node_url == "http://127.0.0.1:8443"
    assert load_settings(host="::", port=8000).node_url == "http://[::1]:8000"
    assert load_settings(port=9123, node_url="https://credentials.example.eu/").node_url == (
        "https://credentials.example.eu"
    )
