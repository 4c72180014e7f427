"""The MicroCredentialLedger contract: Solidity source, pinned toolchain, compiled artifact."""

from mcledger.contracts.toolchain import (
    ARTIFACT_PATH,
    ToolchainError,
    anvil_binary,
    compile_artifact,
    load_artifact,
    node_modules_dir,
    solc_available,
    source_hash,
)

__all__ = [
    "ARTIFACT_PATH",
    "ToolchainError",
    "anvil_binary",
    "compile_artifact",
    "load_artifact",
    "node_modules_dir",
    "solc_available",
    "source_hash",
]
