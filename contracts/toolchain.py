"""The contracts' pinned toolchain and their committed artifacts.

The Solidity compiler (npm ``solc``, solcjs) and Anvil are pinned in
``contracts/package.json`` and installed under ``contracts/node_modules`` by
``make setup``. ``contracts/compile.mjs`` turns each ``contracts/<Name>.sol``
(``MicroCredentialLedger``, and ``EbsiTimestamp``: EBSI's Timestamp interface) into
``contracts/artifacts/<Name>.json``, which is committed: the node deploys from the
artifact and needs neither Node nor solc at run time. Nothing here touches the network.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

from mcledger.anchoring.errors import ToolchainError

CONTRACT_NAME = "MicroCredentialLedger"  # the default of every function below
TIMESTAMP_CONTRACT_NAME = "EbsiTimestamp"
CONTRACT_NAMES = (CONTRACT_NAME, TIMESTAMP_CONTRACT_NAME)  # as compile.mjs lists them
CONTRACTS_DIR = Path(__file__).resolve().parent
SOURCE_PATH = CONTRACTS_DIR / f"{CONTRACT_NAME}.sol"
ARTIFACT_PATH = CONTRACTS_DIR / "artifacts" / f"{CONTRACT_NAME}.json"
COMPILE_SCRIPT = CONTRACTS_DIR / "compile.mjs"
PACKAGE_JSON = CONTRACTS_DIR / "package.json"

_ANVIL_PACKAGE = "@foundry-rs/anvil-linux-amd64"
_SETUP_HINT = "run `make setup` to install the pinned chain toolchain (npm ci in contracts/)"


def _known(contract: str) -> str:
    if contract not in CONTRACT_NAMES:
        raise ToolchainError(
            f"no contract named {contract!r}; the contracts are {', '.join(CONTRACT_NAMES)}"
        )
    return contract


def source_path(contract: str = CONTRACT_NAME) -> Path:
    """``contracts/<contract>.sol``."""
    return CONTRACTS_DIR / f"{_known(contract)}.sol"


def artifact_path(contract: str = CONTRACT_NAME) -> Path:
    """``contracts/artifacts/<contract>.json``, the committed compiled contract."""
    return CONTRACTS_DIR / "artifacts" / f"{_known(contract)}.json"


def node_modules_dir() -> Path:
    """``contracts/node_modules``, where the pinned npm toolchain is installed."""
    path = CONTRACTS_DIR / "node_modules"
    if not path.is_dir():
        raise ToolchainError(f"the chain toolchain is not installed (no {path}); {_SETUP_HINT}")
    return path


def pinned_versions() -> dict[str, str]:
    """The npm packages and versions that ``contracts/package.json`` pins."""
    try:
        deps = json.loads(PACKAGE_JSON.read_text(encoding="utf-8"))["dependencies"]
    except (OSError, ValueError, KeyError) as exc:
        raise ToolchainError(f"cannot read the pinned versions from {PACKAGE_JSON}: {exc}") from exc
    return {str(name): str(version) for name, version in deps.items()}


def _installed_version(package: str) -> str | None:
    try:
        manifest = node_modules_dir() / package / "package.json"
        return str(json.loads(manifest.read_text(encoding="utf-8"))["version"])
    except (ToolchainError, OSError, ValueError, KeyError):
        return None


def anvil_binary() -> Path:
    """The pinned Anvil executable; ToolchainError if it is missing or not executable."""
    path = node_modules_dir() / _ANVIL_PACKAGE / "bin" / "anvil"
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise ToolchainError(f"Anvil is not installed (looked for {path}); {_SETUP_HINT}")
    return path


def _node_executable() -> str:
    node = shutil.which("node")
    if node is None:
        raise ToolchainError("Node.js (`node`) is not on PATH; it is needed to run solcjs")
    return node


def solc_available() -> bool:
    """Whether the contracts can be compiled here: Node on PATH and the pinned solc installed."""
    if shutil.which("node") is None:
        return False
    installed = _installed_version("solc")
    try:
        pinned = pinned_versions().get("solc")
    except ToolchainError:
        return False
    return installed is not None and installed == pinned


def source_hash(contract: str = CONTRACT_NAME) -> str:
    """SHA-256 (hex) of the contract's Solidity source bytes, as recorded in its artifact."""
    path = source_path(contract)
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        raise ToolchainError(f"cannot read the contract source {path}: {exc}") from exc


def _check_artifact(artifact: Any, origin: str) -> dict[str, Any]:
    if not isinstance(artifact, dict):
        raise ToolchainError(f"{origin} is not a JSON object")
    missing = [key for key in ("abi", "bytecode") if key not in artifact]
    if missing:
        raise ToolchainError(
            f"{origin} lacks {', '.join(missing)}; rebuild it with `node contracts/compile.mjs`"
        )
    if not isinstance(artifact["abi"], list):
        raise ToolchainError(f"{origin}: 'abi' is not a list")
    bytecode = artifact["bytecode"]
    if not (isinstance(bytecode, str) and bytecode.startswith("0x") and len(bytecode) > 2):
        raise ToolchainError(f"{origin}: 'bytecode' is not 0x-prefixed hex")
    try:
        bytes.fromhex(bytecode[2:])
    except ValueError as exc:
        raise ToolchainError(f"{origin}: 'bytecode' is not hex: {exc}") from exc
    return artifact


def load_artifact(contract: str = CONTRACT_NAME) -> dict[str, Any]:
    """The committed compiled ``contract`` (abi, bytecode, …), MicroCredentialLedger unless
    named; ToolchainError if unknown or unusable."""
    path = artifact_path(contract)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ToolchainError(
            f"the contract artifact {path} is missing; build it with `node contracts/compile.mjs`"
        ) from exc
    except OSError as exc:
        raise ToolchainError(f"cannot read the contract artifact {path}: {exc}") from exc
    try:
        artifact = json.loads(text)
    except ValueError as exc:
        raise ToolchainError(f"the contract artifact {path} is not valid JSON: {exc}") from exc
    return _check_artifact(artifact, f"the contract artifact {path}")


@cache
def _compile_cached(contract: str, digest: str) -> str:
    """Compiler output for ``contract`` whose source has SHA-256 ``digest`` (a cache key,
    not an argument)."""
    del digest
    if not solc_available():
        raise ToolchainError(f"the pinned solc is not available; {_SETUP_HINT}")
    try:
        done = subprocess.run(
            [_node_executable(), str(COMPILE_SCRIPT), "--stdout", contract],
            cwd=CONTRACTS_DIR.parent,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ToolchainError(f"running {COMPILE_SCRIPT} failed: {exc}") from exc
    if done.returncode != 0:
        raise ToolchainError(
            f"compiling {contract}.sol failed (exit {done.returncode}):\n{done.stderr.strip()}"
        )
    return done.stdout


def compile_artifact(contract: str = CONTRACT_NAME) -> dict[str, Any]:
    """Compile ``contract``'s source now with the pinned solc and return its artifact,
    writing nothing.

    The result has the same shape and formatting as the committed artifact, so the two
    compare equal exactly when the committed one is up to date.
    """
    text = _compile_cached(_known(contract), source_hash(contract))
    try:
        artifact = json.loads(text)
    except ValueError as exc:
        raise ToolchainError(f"{COMPILE_SCRIPT} printed something that is not JSON: {exc}") from exc
    return _check_artifact(artifact, "the freshly compiled artifact")
