"""Start and stop a local Anvil chain on a free loopback port.

The same code serves the test fixtures and `mcledger chain up`, so what the
tests exercise is what a developer runs. Anvil comes from the pinned npm
package `@foundry-rs/anvil-linux-amd64` (installed by `make setup`).
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from mcledger.anchoring.errors import ToolchainError
from mcledger.contracts.toolchain import anvil_binary

LOOPBACK = "127.0.0.1"
DEFAULT_CHAIN_ID = 31337


def die_with_parent() -> None:
    """Runs in the child before exec (``preexec_fn``): Linux sends SIGTERM to the child
    (Anvil, or any local chain) if its parent dies, so a node killed with SIGKILL does not
    leave an orphaned chain holding the port."""
    try:
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
    except OSError:  # not Linux/glibc: the chain then outlives a killed parent
        pass


def free_loopback_port() -> int:
    """Ask the kernel for a free TCP port on loopback."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def rpc_call(
    url: str,
    method: str,
    params: list[object] | None = None,
    timeout: float = 5.0,
    *,
    token: str | None = None,
):
    """One JSON-RPC call with the standard library (used before web3 is wired up); with
    ``token``, as ``Authorization: Bearer`` (the token never appears in an error)."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []})
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=body.encode(), headers=headers)
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (loopback)
        reply = json.loads(response.read())
    if "error" in reply:
        raise ToolchainError(f"{method} failed: {reply['error']}")
    return reply["result"]


@dataclass
class AnvilProcess:
    """A running Anvil; stop() (or the context manager) ends it and dumps its state."""

    port: int
    chain_id: int
    state_path: Path | None
    process: subprocess.Popen[bytes]
    log_path: Path | None = None
    _stopped: bool = field(default=False, repr=False)

    @property
    def rpc_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def is_running(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM and wait, so that Anvil writes its state file; SIGKILL if it hangs."""
        if self._stopped:
            return
        self._stopped = True
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        """Stop at once without saving state (an outage, as tests simulate it)."""
        self._stopped = True
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> AnvilProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_anvil(
    *,
    port: int | None = None,
    chain_id: int = DEFAULT_CHAIN_ID,
    state_path: Path | None = None,
    state_interval: int = 5,
    block_time: float | None = None,
    log_path: Path | None = None,
    startup_timeout: float = 20.0,
    binary: Path | None = None,
    hardfork: str | None = None,
    base_fee: int | None = None,
    gas_price: int | None = None,
) -> AnvilProcess:
    """Start Anvil on loopback and wait until it answers `eth_chainId`.

    With ``state_path`` the chain is loaded from that file if it exists and
    dumped to it every ``state_interval`` seconds and on exit, so a development
    chain survives restarts of the node. ``hardfork`` (e.g. "berlin": no base fee, no
    EIP-1559 transactions), ``base_fee`` and ``gas_price`` (wei; 0 and 0 make a gas-free
    chain) shape the chain like an older or consortium network.
    """
    exe = binary or anvil_binary()
    chosen_port = port or free_loopback_port()
    args = [
        str(exe),
        "--host",
        LOOPBACK,
        "--port",
        str(chosen_port),
        "--chain-id",
        str(chain_id),
    ]
    if state_path is not None:
        state_path.parent.mkdir(parents=True, exist_ok=True)
        args += ["--state", str(state_path), "--state-interval", str(state_interval)]
        # Keep old states so that reorg and history queries work after a reload.
        args += ["--preserve-historical-states"]
    if block_time is not None:
        args += ["--block-time", str(block_time)]
    if hardfork is not None:
        args += ["--hardfork", hardfork]
    if base_fee is not None:
        args += ["--base-fee", str(base_fee)]
    if gas_price is not None:
        args += ["--gas-price", str(gas_price)]
    if gas_price == 0:
        # Else Anvil adds its minimum tip (1 gwei) to what eth_gasPrice answers; a gas-free
        # network (EBSI's Besu) answers 0.
        args += ["--disable-min-priority-fee"]
    if log_path is None:
        args.append("--silent")
        out = subprocess.DEVNULL
    else:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        out = log_path.open("ab")  # type: ignore[assignment]
    process = subprocess.Popen(
        args,
        stdout=out,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        preexec_fn=die_with_parent,
    )
    anvil = AnvilProcess(chosen_port, chain_id, state_path, process, log_path)
    deadline = time.monotonic() + startup_timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ToolchainError(
                f"Anvil exited with code {process.returncode} at start"
                + (f"; see {log_path}" if log_path else "")
                + (" (is the port taken?)" if port else "")
            )
        try:
            if int(rpc_call(anvil.rpc_url, "eth_chainId", timeout=1.0), 16) == chain_id:
                return anvil
        except (OSError, urllib.error.URLError, ValueError):
            pass
        time.sleep(0.05)
    anvil.kill()
    raise ToolchainError(f"Anvil did not answer on {anvil.rpc_url} within {startup_timeout}s")
