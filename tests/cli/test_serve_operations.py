"""`mcledger serve --dev` as an operator runs it: `MCLEDGER_LOG_FORMAT=json` makes every line
on stdout (the node's, uvicorn's) one JSON object carrying the request id the response
sent, with no secret in any of them; `/metrics` of the running process reads its index.
(How the metrics move through anchoring and revocation: tests/node/api/test_operations.py.)"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx

from mcledger.anchoring.anvil import AnvilProcess, free_loopback_port
from mcledger.node.issuing.keys import DEV_PASSPHRASE_FILE
from tests.node.api.scrape import scrape, value

REPO = Path(__file__).resolve().parents[2]


def _wait(condition, what: str, timeout: float, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, f"the node exited while waiting for {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_json_logs_and_metrics_of_a_running_node(anvil: AnvilProcess, tmp_path: Path) -> None:
    port, data = free_loopback_port(), tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCLEDGER_")} | {
        "MCLEDGER_DATA_DIR": str(data),
        "MCLEDGER_RPC_URL": anvil.rpc_url,
        "MCLEDGER_PORT": str(port),
        "MCLEDGER_LOG_FORMAT": "json",
        "MCLEDGER_ACCESS_LOG": "all",
        "PYTHONPATH": str(REPO),
    }
    stdout, stderr = tmp_path / "stdout", tmp_path / "stderr"
    url = f"http://127.0.0.1:{port}"
    with stdout.open("w") as out, stderr.open("w") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "mcledger.cli.main", "serve", "--dev"],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=err,
        )
    try:
        _wait(lambda: _answers(url), "the node", 90, process)
        [token] = re.findall(r"token to try: (mcl_[A-Za-z0-9_-]+)", stderr.read_text())
        auth = {"Authorization": f"Bearer {token}"}

        health = httpx.get(f"{url}/healthz", headers={"X-Request-ID": "ops-check-1"})
        assert health.headers["X-Request-ID"] == "ops-check-1"
        digests = [os.urandom(32).hex() for _ in range(2)]
        submitted = httpx.post(
            f"{url}/v1/digests", json={"digests": [{"digest": d} for d in digests]}, headers=auth
        )
        assert submitted.status_code == 202, submitted.text
        waiting = scrape(url)
        assert value(waiting, "mcledger_digests_pending", issuer="local") == 2
        assert value(waiting, "mcledger_transaction_gas_used_count", kind="anchor") == 0

    finally:
        process.terminate()
        process.wait(timeout=30)

    text = stdout.read_text()
    lines = [json.loads(line) for line in text.splitlines()]  # every line is JSON
    loggers = {line["logger"] for line in lines}
    assert {"uvicorn.error", "mcledger.http"} <= loggers  # uvicorn's lines too
    [checked] = [line for line in lines if line.get("requestId") == "ops-check-1"]
    assert (checked["route"], checked["status"]) == ("/healthz", 200)
    posted = [line for line in lines if line.get("route") == "/v1/digests"]
    assert posted and posted[0]["requestId"] == submitted.headers["X-Request-ID"]
    passphrase = (data / "keys" / DEV_PASSPHRASE_FILE).read_text().strip()
    assert token not in text and passphrase not in text
