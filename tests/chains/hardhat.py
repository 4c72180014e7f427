"""Hardhat Network, a second EVM node independent of Anvil, on a free loopback port.

The pinned `hardhat` package (tests/chains/package.json, installed by `make test`) runs
`hardhat node` with the minimal tests/chains/hardhat.config.js. Its executable is the
one `npx hardhat` resolves to, started directly so that the chain is the child process
itself and dies with the test run (no npx wrapper left to forward signals).
"""

from __future__ import annotations

import os
import subprocess
import time
import urllib.error
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from mcledger.anchoring.anvil import LOOPBACK, die_with_parent, free_loopback_port, rpc_call

CHAINS_DIR = Path(__file__).resolve().parent
HARDHAT = CHAINS_DIR / "node_modules" / ".bin" / "hardhat"
HARDHAT_CHAIN_ID = 31337  # hardhat.config.js


@dataclass(frozen=True)
class HardhatNode:
    port: int
    log: Path

    @property
    def rpc_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"


@contextmanager
def start_hardhat(log: Path, startup_timeout: float = 60.0) -> Iterator[HardhatNode]:
    """Run `hardhat node` until the block ends; its output (every RPC call) goes to ``log``."""
    if not HARDHAT.is_file():
        # `make test` installs it: a missing node is a broken setup, never a reason to pass.
        pytest.fail(f"Hardhat is not installed ({HARDHAT}); run `make test` or npm ci there")
    port = free_loopback_port()
    env = os.environ | {"HARDHAT_DISABLE_TELEMETRY_PROMPT": "true", "NO_COLOR": "1"}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(HARDHAT), "node", "--hostname", LOOPBACK, "--port", str(port)],
            cwd=CHAINS_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=die_with_parent,
        )
    node = HardhatNode(port, log)
    try:
        deadline = time.monotonic() + startup_timeout
        while True:
            if process.poll() is not None:
                pytest.fail(f"hardhat node exited with {process.returncode}:\n{log.read_text()}")
            try:
                if int(rpc_call(node.rpc_url, "eth_chainId", timeout=1.0), 16) == HARDHAT_CHAIN_ID:
                    break
            except (OSError, urllib.error.URLError, ValueError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"hardhat node did not answer within {startup_timeout}s")
            time.sleep(0.1)
        yield node
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
