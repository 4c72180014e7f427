"""`mcledger chain up | status | deploy` as real processes, the way `make run` uses them.

The development-chain run happens inside a network namespace that has only a
loopback interface when the machine allows it (root, `unshare`): that shows
the node, its chain and the compiler reach nothing beyond loopback.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

MCLEDGER = [sys.executable, "-m", "mcledger.cli.main"]
REPO = Path(__file__).resolve().parents[2]


def _loopback_only_prefix() -> list[str]:
    """A command prefix that runs in a fresh network namespace with only `lo` up."""
    unshare, ip = shutil.which("unshare"), shutil.which("ip")
    if not (unshare and ip and os.geteuid() == 0):
        return []
    probe = subprocess.run([unshare, "--net", ip, "link", "set", "lo", "up"], capture_output=True)
    if probe.returncode != 0:
        return []
    return [unshare, "--net", "sh", "-c", f'{ip} link set lo up && exec "$@"', "sh"]


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCLEDGER_")}
    env["MCLEDGER_DATA_DIR"] = str(data_dir)
    env["PYTHONPATH"] = str(REPO)
    return env


def _run(args: list[str], data_dir: Path, prefix: list[str] | None = None, timeout: float = 120):
    return subprocess.run(
        [*(prefix or []), *MCLEDGER, *args],
        cwd=REPO,
        env=_env(data_dir),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _chain_up(data_dir: Path, prefix: list[str]) -> tuple[subprocess.Popen[str], dict]:
    process = subprocess.Popen(
        [*prefix, *MCLEDGER, "chain", "up", "--json"],
        cwd=REPO,
        env=_env(data_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith("}"):
            return process, json.loads("".join(lines))
    process.kill()
    raise AssertionError(f"chain up printed no status: {''.join(lines)} {process.stderr.read()}")


def _stop(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGINT)
    process.wait(timeout=30)


def test_chain_up_deploys_once_and_keeps_state(tmp_path: Path) -> None:
    prefix = _loopback_only_prefix()
    data_dir = tmp_path / "data"
    process, first = _chain_up(data_dir, prefix)
    try:
        assert first["chainId"] == 31337
        assert first["issuerRegistered"] is True
        assert first["contract"].startswith("0x")
        assert first["contractVersion"] == 2  # recorded in deployment.json when deployed
        deployment = json.loads((data_dir / "chain" / "deployment.json").read_text())
        assert deployment["ledger_version"] == 2
        # Another command finds the running chain through the data directory.
        if not prefix:  # a second namespace would not see this one's loopback
            status = _run(["chain", "status", "--json"], data_dir)
            assert status.returncode == 0, status.stderr
            assert json.loads(status.stdout)["contract"] == first["contract"]
            again = _run(["chain", "deploy"], data_dir)
            assert again.returncode == 0 and "already deployed" in again.stdout
    finally:
        _stop(process)
    assert process.returncode == 0, process.stderr.read() if process.stderr else ""
    keyfiles = sorted(p.name for p in (data_dir / "keys").glob("*.json"))
    assert keyfiles == ["admin.json", "issuer-local.json"]
    for keyfile in keyfiles:  # encrypted at rest: no plaintext private key in the file
        assert "crypto" in json.loads((data_dir / "keys" / keyfile).read_text())

    process, second = _chain_up(data_dir, prefix)
    try:
        assert second["contract"] == first["contract"]
        assert second["issuerAddress"] == first["issuerAddress"]
        assert second["blockNumber"] >= first["blockNumber"]
    finally:
        _stop(process)


def test_status_without_a_chain_says_what_to_do(tmp_path: Path) -> None:
    result = _run(["chain", "status"], tmp_path)
    assert result.returncode == 2
    assert "mcledger chain up" in result.stderr and "Traceback" not in result.stderr


def test_help_lists_the_commands(tmp_path: Path) -> None:
    result = _run(["--help"], tmp_path)
    assert result.returncode == 0
    for command in ("chain", "merkle"):
        assert command in result.stdout
    chain_help = _run(["chain", "--help"], tmp_path)
    for command in ("up", "deploy", "status"):
        assert command in chain_help.stdout


@pytest.mark.skipif(not _loopback_only_prefix(), reason="needs root and unshare for a netns")
def test_loopback_only_namespace_has_no_route_out() -> None:
    """The namespace the chain test uses really is cut off (so that test means something)."""
    prefix = _loopback_only_prefix()
    probe = subprocess.run(
        [
            *prefix,
            sys.executable,
            "-c",
            "import socket; socket.create_connection(('1.1.1.1', 443), 3)",
        ],
        capture_output=True,
        text=True,
    )
    assert probe.returncode != 0 and "unreachable" in probe.stderr.lower()
