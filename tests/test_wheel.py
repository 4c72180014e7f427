"""The package outside the repository: the wheel `python -m build` gives, installed into a
fresh virtual environment with no repository on the path and no npm, runs the whole flow.

The wheel installs one top-level name, `mcledger`; the installed `mcledger serve --dev`
(against a test Anvil and a fresh PostgreSQL database) issues a credential, anchors it,
proves it, and the installed `mcledger verify` passes every check of the learner's copy.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import httpx
import pytest

from mcledger.anchoring.anvil import AnvilProcess, free_loopback_port
from mcledger.node.credentials.annex import EXAMPLE_ACHIEVEMENT

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(REPO)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (built,) = out.glob("mcledger-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with the wheel and the locked dependencies, nothing else."""
    where = tmp_path_factory.mktemp("venv") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True, timeout=120)
    done = subprocess.run(
        [
            str(where / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "-q",
            "--no-compile",
            "--disable-pip-version-check",
            "-c",
            str(REPO / "requirements.lock"),
            str(wheel),
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return where


def _clean_env(venv: Path, **more: str) -> dict[str, str]:
    """No MCLEDGER_ settings of the test run, no PYTHONPATH, a PATH with only the venv (so
    neither npm nor node nor the repository can be reached)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MCLEDGER_", "PYTHON")) and k != "PATH"
    }
    return env | {"PATH": str(venv / "bin")} | more


def test_the_wheel_installs_only_the_mcledger_namespace(wheel: Path, venv: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        top = {name.split("/")[0] for name in archive.namelist()}
        names = archive.namelist()
    assert top == {
        "mcledger",
        wheel.name.split("-")[0] + "-" + wheel.name.split("-")[1] + ".dist-info",
    }
    # what the node reads at run time ships inside it
    assert "mcledger/contracts/artifacts/MicroCredentialLedger.json" in names
    assert "mcledger/node/credentials/contexts/standard/index.json" in names
    assert "mcledger/node/credentials/contexts/mcledger-v1.jsonld" in names
    assert any(n.startswith("mcledger/node/index/migrations/versions/0001") for n in names)
    site = next((venv / "lib").glob("python3*/site-packages"))
    ours = {"mcledger", "node", "cli", "anchoring", "contracts"} & {p.name for p in site.iterdir()}
    assert ours == {"mcledger"}


@pytest.mark.postgres
def test_the_installed_node_issues_anchors_proves_and_verifies(
    venv: Path, anvil: AnvilProcess, postgres_database_url: str, tmp_path: Path
) -> None:
    port = free_loopback_port()
    work = tmp_path / "elsewhere"  # not the repository: nothing of it can be imported
    work.mkdir()
    env = _clean_env(
        venv,
        MCLEDGER_DATA_DIR=str(work / "data"),
        MCLEDGER_RPC_URL=anvil.rpc_url,
        MCLEDGER_DATABASE_URL=postgres_database_url,
        MCLEDGER_PORT=str(port),
    )
    mcledger = str(venv / "bin" / "mcledger")
    log = tmp_path / "node.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [mcledger, "serve", "--dev"], cwd=work, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        _serve_flow(mcledger, env, work, port, server, log, anvil.rpc_url)
    finally:
        server.terminate()
        server.wait(timeout=30)


def _serve_flow(
    mcledger: str,
    env: dict[str, str],
    work: Path,
    port: int,
    server: subprocess.Popen[bytes],
    log: Path,
    rpc_url: str,
) -> None:
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        assert server.poll() is None, log.read_text()
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.3)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [mcledger, *args], cwd=work, env=env, capture_output=True, text=True, timeout=180
        )

    created = cli("token", "create", "--issuer", "local", "--scope", "issue,revoke,admin")
    assert created.returncode == 0, created.stderr
    headers = {"Authorization": f"Bearer {created.stdout.strip()}"}
    achievement = httpx.post(f"{url}/v1/achievements", json=EXAMPLE_ACHIEVEMENT, headers=headers)
    assert achievement.status_code == 201, achievement.text
    award = {
        "achievement": achievement.json()["id"],
        "learner": {"name": "Anna Bērziņa", "identifier": "LU-2026-0042"},
        "awardedOn": "2026-11-20",
        "place": "Rīga",
    }
    issued = httpx.post(f"{url}/v1/credentials", json=award, headers=headers, timeout=60)
    assert issued.status_code == 201, issued.text  # contexts and signing from the package
    digest = issued.json()["digest"]

    anchored = cli("anchor", "--json")
    assert anchored.returncode == 0, anchored.stdout + anchored.stderr
    proof = httpx.get(f"{url}/v1/proofs/{digest}", timeout=30)
    assert proof.status_code == 200, proof.text
    bundle = work / "bundle.json"
    proved = cli("prove", digest, "-o", str(bundle))
    assert proved.returncode == 0, proved.stderr
    assert json.loads(bundle.read_text())["digest"] == digest

    copy = httpx.get(issued.json()["learnerLink"], timeout=30)
    assert copy.status_code == 200 and "anchorProof" in copy.json(), copy.text
    (work / "copy.json").write_text(copy.text, encoding="utf-8")
    verified = cli("verify", str(work / "copy.json"), "--rpc", rpc_url, "--json")
    report = json.loads(verified.stdout)
    assert verified.returncode == 0, report
    assert report["ok"] and all(check["passed"] for check in report["checks"])
    assert "Traceback" not in log.read_text()
