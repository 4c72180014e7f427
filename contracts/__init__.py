"""The contracts (MicroCredentialLedger, EbsiTimestamp): Solidity sources, pinned toolchain,
compiled artifacts."""

from mcledger.contracts.toolchain import (
    ARTIFACT_PATH,
    CONTRACT_NAMES,
    TIMESTAMP_CONTRACT_NAME,
    ToolchainError,
    anvil_binary,
    artifact_path,
    compile_artifact,
    load_artifact,
    node_modules_dir,
    solc_available,
    source_hash,
)

__all__ = [
    "ARTIFACT_PATH",
    "CONTRACT_NAMES",
    "TIMESTAMP_CONTRACT_NAME",
    "ToolchainError",
    "anvil_binary",
    "artifact_path",
    "compile_artifact",
    "load_artifact",
    "node_modules_dir",
    "solc_available",
    "source_hash",
]
