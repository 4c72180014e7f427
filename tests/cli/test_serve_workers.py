"""`mcledger serve --dev --workers 2` as a real process: two worker processes answer on one
port (each names itself in /metrics), a proof is the same whichever worker serves it and
verifies against the root, the anchoring scheduler runs once (in the supervisor), a worker
killed with SIGKILL is replaced, and SIGTERM stops them all."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from mcledger.anchoring.anvil import AnvilProcess, free_loopback_port
from mcledger.anchoring.bundle import ProofBundle
from mcledger.anchoring.merkle import verify_inclusion
from tests.cli.test_serve_operations import _wait

REPO = Path(__file__).resolve().parents[2]


def _answering_pid(url: str) -> int | None:
    """The process that answered a /metrics scrape on a new connection (None: no answer)."""
    try:
        text = httpx.get(f"{url}/metrics", timeout=2).text
    except httpx.HTTPError:
        return None
    found = re.search(r"^mcledger_process_id (\d+)", text, re.MULTILINE)
    return int(found.group(1)) if found else None


def _pids_seen(url: str, tries: int = 40) -> set[int]:
    seen = {_answering_pid(url) for _ in range(tries)}  # each on a connection of its own
    return {pid for pid in seen if pid is not None}


def _serve_two_workers(
    anvil: AnvilProcess, tmp_path: Path
) -> tuple[subprocess.Popen[bytes], str, Path]:
    """``serve --dev --workers 2`` on ``anvil``: the process, its URL and its log."""
    port = free_loopback_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCLEDGER_")} | {
        "MCLEDGER_DATA_DIR": str(tmp_path / "data"),
        "MCLEDGER_RPC_URL": anvil.rpc_url,
        "MCLEDGER_PORT": str(port),
        "PYTHONPATH": str(REPO),
    }
    log = tmp_path / "node.log"
    with log.open("w") as out:
        node = subprocess.Popen(
            [sys.executable, "-m", "mcledger.cli.main", "serve", "--dev", "--workers", "2"],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return node, f"http://127.0.0.1:{port}", log


def test_two_workers_serve_one_port_and_one_scheduler_runs(
    anvil: AnvilProcess, tmp_path: Path
) -> None:
    node, url, log = _serve_two_workers(anvil, tmp_path)
    try:
        _wait(lambda: len(_pids_seen(url, 6)) == 2, "two workers", 120, node)
        workers = _pids_seen(url)
        assert len(workers) == 2 and node.pid not in workers  # the supervisor serves nothing
        started = re.findall(r"anchoring scheduler started in process (\d+)", log.read_text())
        assert started == [str(node.pid)]  # one scheduler, in the supervisor

        [token] = re.findall(r"token to try: (mcl_[A-Za-z0-9_-]+)", log.read_text())
        auth = {"Authorization": f"Bearer {token}"}
        digests = [os.urandom(32).hex() for _ in range(3)]
        body = {"digests": [{"digest": d} for d in digests]}
        assert httpx.post(f"{url}/v1/digests", json=body, headers=auth).status_code == 202
        sent = httpx.post(f"{url}/v1/batches", json={}, headers=auth, timeout=30)
        assert sent.status_code == 202, sent.text  # sent by a worker; the scheduler confirms
        proof_url = f"{url}/v1/proofs/{digests[1]}"
        _wait(lambda: httpx.get(proof_url).status_code == 200, "the anchor", 60, node)
        answers = {httpx.get(proof_url).text for _ in range(10)}  # from both workers
        assert len(answers) == 1
        bundle = ProofBundle.from_json(httpx.get(proof_url).json())
        verify_inclusion(bytes.fromhex(digests[1]), bundle.proof, root=bundle.proof.root)
        assert bundle.proof.tree_size == 3

        killed = min(workers)
        os.kill(killed, signal.SIGKILL)
        _wait(lambda: len(_pids_seen(url, 6) - workers) == 1, "a new worker", 120, node)
        assert f"worker process {killed} stopped" in log.read_text()
        assert httpx.get(proof_url).status_code == 200
        workers |= _pids_seen(url)
    finally:
        node.terminate()
        status = node.wait(timeout=60)
    assert status == 0, log.read_text()[-3000:]
    assert not [pid for pid in workers if Path(f"/proc/{pid}").exists()]  # all stopped


def test_the_workers_stop_when_the_supervisor_is_killed(
    anvil: AnvilProcess, tmp_path: Path
) -> None:
    """SIGKILL gives the supervisor no chance to stop its workers: they stop by themselves
    (the kernel's parent-death signal) and free the port, rather than serve on unsupervised."""
    node, url, _log = _serve_two_workers(anvil, tmp_path)
    workers: set[int] = set()
    try:
        _wait(lambda: len(_pids_seen(url, 6)) == 2, "two workers", 120, node)
        workers = _pids_seen(url)
        node.kill()
        node.wait(timeout=30)
        deadline = time.monotonic() + 30
        while [pid for pid in workers if _running(pid)]:
            assert time.monotonic() < deadline, "the workers outlived their supervisor"
            time.sleep(0.2)
        assert _answering_pid(url) is None
    finally:
        if node.poll() is None:
            node.kill()
        for pid in workers:
            if _running(pid):
                os.kill(pid, signal.SIGKILL)


def _running(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie, ended but not yet reaped by init, does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
