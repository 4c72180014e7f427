"""The committed contract artifact matches its source and carries the public interface."""

from __future__ import annotations

from typing import Any

import pytest

from mcledger.contracts.toolchain import (
    ARTIFACT_PATH,
    compile_artifact,
    load_artifact,
    pinned_versions,
    solc_available,
    source_hash,
)

# name -> (input types, output types, state mutability): DESIGN.md "The contract", plus the
# extras the contract adds (admin, revocationOf, transferAdmin).
FUNCTIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...], str]] = {
    "anchor": (("bytes32", "uint64"), (), "nonpayable"),
    "revoke": (("bytes32[]", "uint8"), (), "nonpayable"),
    "anchorOf": (("bytes32",), ("address", "uint64", "uint64"), "view"),
    "revokedAt": (("address", "bytes32"), ("uint64",), "view"),
    "registerIssuer": (("address", "string"), (), "nonpayable"),
    "suspendIssuer": (("address",), (), "nonpayable"),
    "isIssuer": (("address",), ("bool",), "view"),
    "admin": ((), ("address",), "view"),
    "revocationOf": (("address", "bytes32"), ("uint64", "uint8"), "view"),
    "transferAdmin": (("address",), (), "nonpayable"),
}

# name -> ((type, indexed), ...)
EVENTS: dict[str, tuple[tuple[str, bool], ...]] = {
    "RootAnchored": (("bytes32", True), ("address", True), ("uint64", False)),
    "CredentialRevoked": (("address", True), ("bytes32", True), ("uint8", False)),
    "IssuerRegistered": (("address", True), ("string", False)),
    "IssuerSuspended": (("address", True),),
    "AdminTransferred": (("address", True), ("address", True)),
}

ERRORS: dict[str, tuple[str, ...]] = {
    "NotAdmin": ("address",),
    "ZeroAddress": (),
    "EmptyDid": (),
    "IssuerAlreadyRegistered": ("address",),
    "IssuerNotRegistered": ("address",),
    "IssuerIsSuspended": ("address",),
    "ZeroRoot": (),
    "EmptyTree": (),
    "RootAlreadyAnchored": ("bytes32", "address"),
    "NoDigests": (),
    "ZeroDigest": ("uint256",),
    "InvalidReason": ("uint8",),
}

COMPARED = ("abi", "bytecode", "deployedBytecode", "sourceHash")


def _types(params: list[dict[str, Any]]) -> tuple[str, ...]:
    return tuple(p["type"] for p in params)


def _entries(artifact: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    entries = [e for e in artifact["abi"] if e["type"] == kind]
    by_name = {e["name"]: e for e in entries}
    assert len(by_name) == len(entries), f"overloaded {kind} names in the ABI"
    return by_name


@pytest.fixture(scope="module")
def artifact() -> dict[str, Any]:
    return load_artifact()


@pytest.fixture(scope="module")
def fresh() -> dict[str, Any]:
    if not solc_available():
        # `make test` installs it, so a missing compiler is a broken setup, not a reason to pass.
        pytest.fail("the pinned solc is not installed (run `make setup`)")
    return compile_artifact()


def test_committed_artifact_matches_a_fresh_compilation(
    artifact: dict[str, Any], fresh: dict[str, Any]
) -> None:
    stale = [key for key in COMPARED if artifact.get(key) != fresh[key]]
    assert not stale, (
        f"{ARTIFACT_PATH} is out of date ({', '.join(stale)} differ): "
        "run `node contracts/compile.mjs` and commit the artifact"
    )
    assert artifact["compiler"]["version"] == fresh["compiler"]["version"]
    assert artifact["compiler"]["settings"] == fresh["compiler"]["settings"]


def test_artifact_records_the_current_source_and_pinned_compiler(artifact: dict[str, Any]) -> None:
    assert artifact["contractName"] == "MicroCredentialLedger"
    assert artifact["sourcePath"] == "contracts/MicroCredentialLedger.sol"
    assert artifact["sourceHash"] == source_hash(), "the source changed since the last build"
    assert artifact["compiler"]["name"] == "solc"
    assert artifact["compiler"]["version"].startswith(pinned_versions()["solc"] + "+commit.")
    settings = artifact["compiler"]["settings"]
    assert settings["optimizer"]["enabled"] is True
    assert settings["optimizer"]["runs"] >= 200
    assert settings["evmVersion"] == "cancun"
    for key in ("bytecode", "deployedBytecode"):
        assert artifact[key].startswith("0x") and len(artifact[key]) > 2
        bytes.fromhex(artifact[key][2:])


def test_abi_has_every_function_with_its_exact_signature(artifact: dict[str, Any]) -> None:
    functions = _entries(artifact, "function")
    assert set(functions) == set(FUNCTIONS)
    for name, (inputs, outputs, mutability) in FUNCTIONS.items():
        entry = functions[name]
        assert _types(entry["inputs"]) == inputs, name
        assert _types(entry["outputs"]) == outputs, name
        assert entry["stateMutability"] == mutability, name


def test_abi_has_every_event_with_its_exact_signature(artifact: dict[str, Any]) -> None:
    events = _entries(artifact, "event")
    assert set(events) == set(EVENTS)
    for name, params in EVENTS.items():
        entry = events[name]
        assert tuple((p["type"], p["indexed"]) for p in entry["inputs"]) == params, name
        assert entry["anonymous"] is False, name


def test_abi_has_an_entry_for_every_custom_error(artifact: dict[str, Any]) -> None:
    errors = _entries(artifact, "error")
    assert set(errors) == set(ERRORS)
    for name, inputs in ERRORS.items():
        assert _types(errors[name]["inputs"]) == inputs, name


def test_contract_accepts_no_ether_and_has_no_fallback(artifact: dict[str, Any]) -> None:
    kinds = {e["type"] for e in artifact["abi"]}
    assert kinds <= {"function", "event", "error", "constructor"}
    payable = [e for e in artifact["abi"] if e.get("stateMutability") == "payable"]
    assert not payable, payable
