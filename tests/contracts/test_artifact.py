"""The committed contract artifacts match their sources and carry the public interfaces."""

from __future__ import annotations

from typing import Any

import pytest

from mcledger.contracts.toolchain import (
    CONTRACT_NAMES,
    ToolchainError,
    artifact_path,
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
    # version 2: revocation commitments (docs/formats.md "The contract")
    "version": ((), ("uint16",), "pure"),
    "commitRevocations": (
        ("bytes32", "bytes32", "uint64", "bytes32[]", "uint8", "uint64", "tuple[]"),
        (),
        "nonpayable",
    ),
    "commitStatusLists": (("tuple[]",), (), "nonpayable"),
    "revocationRootOf": (("address",), ("bytes32", "uint64", "uint64", "uint64"), "view"),
    "statusListHashOf": (("address", "bytes32"), ("bytes32", "uint64"), "view"),
}

# name -> ((type, indexed), ...)
EVENTS: dict[str, tuple[tuple[str, bool], ...]] = {
    "RootAnchored": (("bytes32", True), ("address", True), ("uint64", False)),
    "CredentialRevoked": (("address", True), ("bytes32", True), ("uint8", False)),
    "IssuerRegistered": (("address", True), ("string", False)),
    "IssuerSuspended": (("address", True),),
    "AdminTransferred": (("address", True), ("address", True)),
    "RevocationsCommitted": (
        ("address", True),
        ("bytes32", True),
        ("bytes32", False),
        ("uint64", False),
        ("uint64", False),
        ("uint64", False),
        ("uint8", False),
        ("bytes32[]", False),
    ),
    "StatusListCommitted": (("address", True), ("bytes32", True), ("bytes32", False)),
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
    "StaleRevocationRoot": ("bytes32", "bytes32"),
    "InvalidRevocationSize": ("uint64", "uint64", "uint256"),
    "InconsistentRevocationRoot": ("bytes32", "uint64"),
    "InvalidRevocationTime": ("uint64", "uint256"),
    "ZeroStatusListId": ("uint256",),
    "ZeroStatusListHash": ("uint256",),
    "NoStatusLists": (),
}

# EbsiTimestamp: EBSI's Timestamp interface (v4) and the registry around it (docs/formats.md).
TIMESTAMP_FUNCTIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...], str]] = {
    "timestampHashes": (("uint256[]", "bytes[]", "bytes[]"), ("bytes32[]",), "nonpayable"),
    "getTimestamp": (("bytes",), ("uint256", "bytes", "address", "uint256", "bytes"), "view"),
    "getTimestampById": (
        ("bytes32",),
        ("uint256", "bytes", "address", "uint256", "bytes"),
        "view",
    ),
    "addHashAlgorithm": (("uint256", "uint256", "string"), (), "nonpayable"),
    "getHashAlgorithm": (("uint256",), ("uint256", "string"), "view"),
    "admin": ((), ("address",), "view"),
    "SHA2_256": ((), ("uint256",), "view"),
}
TIMESTAMP_EVENTS: dict[str, tuple[tuple[str, bool], ...]] = {
    "TimestampedHashes": (
        ("bytes32[]", False),
        ("uint256[]", False),
        ("bytes[]", False),
        ("bytes[]", False),
    ),
    "HashAlgorithmAdded": (("uint256", False), ("uint256", False), ("string", False)),
}
TIMESTAMP_ERRORS: dict[str, tuple[str, ...]] = {
    "NotAdmin": ("address",),
    "InvalidHashAlgorithmId": ("uint256",),
    "InvalidOutputLength": ("uint256",),
    "EmptyHashAlgorithmName": (),
    "HashAlgorithmAlreadyRegistered": ("uint256",),
    "ArrayLengthsDiffer": ("uint256", "uint256", "uint256"),
    "InvalidHashCount": ("uint256",),
    "UnknownHashAlgorithm": ("uint256",),
    "InvalidHashLength": ("uint256", "uint256", "uint256"),
    "HashAlreadyTimestamped": ("bytes32",),
}

Interface = tuple[
    dict[str, tuple[tuple[str, ...], tuple[str, ...], str]],
    dict[str, tuple[tuple[str, bool], ...]],
    dict[str, tuple[str, ...]],
]
INTERFACES: dict[str, Interface] = {
    "MicroCredentialLedger": (FUNCTIONS, EVENTS, ERRORS),
    "EbsiTimestamp": (TIMESTAMP_FUNCTIONS, TIMESTAMP_EVENTS, TIMESTAMP_ERRORS),
}

COMPARED = ("abi", "bytecode", "deployedBytecode", "sourceHash", "evmVersion")

# The hardforks in order, and the opcodes each one added (EIP numbers in the comments). A
# chain running fork F executes an opcode only if it was added in F or before.
FORKS = ("frontier", "homestead", "byzantium", "constantinople", "istanbul", "berlin", "london")
FORKS += ("paris", "shanghai", "cancun", "prague", "osaka")
OPCODE_FORK: dict[int, str] = {
    0xF4: "homestead",  # DELEGATECALL (EIP-7)
    0x3D: "byzantium",  # RETURNDATASIZE (EIP-211)
    0x3E: "byzantium",  # RETURNDATACOPY (EIP-211)
    0xFA: "byzantium",  # STATICCALL (EIP-214)
    0xFD: "byzantium",  # REVERT (EIP-140)
    0x1B: "constantinople",  # SHL (EIP-145)
    0x1C: "constantinople",  # SHR (EIP-145)
    0x1D: "constantinople",  # SAR (EIP-145)
    0x3F: "constantinople",  # EXTCODEHASH (EIP-1052)
    0xF5: "constantinople",  # CREATE2 (EIP-1014)
    0x46: "istanbul",  # CHAINID (EIP-1344)
    0x47: "istanbul",  # SELFBALANCE (EIP-1884)
    0x48: "london",  # BASEFEE (EIP-3198)
    0x5F: "shanghai",  # PUSH0 (EIP-3855)
    0x49: "cancun",  # BLOBHASH (EIP-4844)
    0x4A: "cancun",  # BLOBBASEFEE (EIP-7516)
    0x5C: "cancun",  # TLOAD (EIP-1153)
    0x5D: "cancun",  # TSTORE (EIP-1153)
    0x5E: "cancun",  # MCOPY (EIP-5656)
    0x1E: "osaka",  # CLZ (EIP-7939)
}
PUSH1, PUSH32 = 0x60, 0x7F


def _types(params: list[dict[str, Any]]) -> tuple[str, ...]:
    return tuple(p["type"] for p in params)


def _entries(artifact: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    entries = [e for e in artifact["abi"] if e["type"] == kind]
    by_name = {e["name"]: e for e in entries}
    assert len(by_name) == len(entries), f"overloaded {kind} names in the ABI"
    return by_name


@pytest.fixture(scope="module", params=CONTRACT_NAMES)
def contract(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def artifact(contract: str) -> dict[str, Any]:
    return load_artifact(contract)


@pytest.fixture(scope="module")
def fresh(contract: str) -> dict[str, Any]:
    if not solc_available():
        # `make test` installs it, so a missing compiler is a broken setup, not a reason to pass.
        pytest.fail("the pinned solc is not installed (run `make setup`)")
    return compile_artifact(contract)


def test_every_contract_is_known_and_the_default_is_the_ledger() -> None:
    assert set(INTERFACES) == set(CONTRACT_NAMES)
    assert load_artifact()["contractName"] == "MicroCredentialLedger"
    with pytest.raises(ToolchainError, match="no contract named 'Nope'"):
        load_artifact("Nope")


def test_committed_artifact_matches_a_fresh_compilation(
    contract: str, artifact: dict[str, Any], fresh: dict[str, Any]
) -> None:
    stale = [key for key in COMPARED if artifact.get(key) != fresh[key]]
    assert not stale, (
        f"{artifact_path(contract)} is out of date ({', '.join(stale)} differ): "
        "run `node contracts/compile.mjs` and commit the artifact"
    )
    assert artifact["compiler"]["version"] == fresh["compiler"]["version"]
    assert artifact["compiler"]["settings"] == fresh["compiler"]["settings"]


def test_artifact_records_the_current_source_and_pinned_compiler(
    contract: str, artifact: dict[str, Any]
) -> None:
    assert artifact["contractName"] == contract
    assert artifact["sourcePath"] == f"contracts/{contract}.sol"
    assert artifact["sourceHash"] == source_hash(contract), "the source changed since the build"
    assert artifact["compiler"]["name"] == "solc"
    assert artifact["compiler"]["version"].startswith(pinned_versions()["solc"] + "+commit.")
    settings = artifact["compiler"]["settings"]
    assert settings["optimizer"]["enabled"] is True
    assert settings["optimizer"]["runs"] >= 200
    # The recorded target is the one the compiler was given, and one that consortium
    # networks (EBSI's Besu) and older chains run: nothing after London.
    assert artifact["evmVersion"] == settings["evmVersion"]
    assert FORKS.index(artifact["evmVersion"]) <= FORKS.index("london")
    for key in ("bytecode", "deployedBytecode"):
        assert artifact[key].startswith("0x") and len(artifact[key]) > 2
        bytes.fromhex(artifact[key][2:])


def test_abi_has_every_function_with_its_exact_signature(
    contract: str, artifact: dict[str, Any]
) -> None:
    expected = INTERFACES[contract][0]
    functions = _entries(artifact, "function")
    assert set(functions) == set(expected)
    for name, (inputs, outputs, mutability) in expected.items():
        entry = functions[name]
        assert _types(entry["inputs"]) == inputs, name
        assert _types(entry["outputs"]) == outputs, name
        assert entry["stateMutability"] == mutability, name


def test_abi_has_every_event_with_its_exact_signature(
    contract: str, artifact: dict[str, Any]
) -> None:
    expected = INTERFACES[contract][1]
    events = _entries(artifact, "event")
    assert set(events) == set(expected)
    for name, params in expected.items():
        entry = events[name]
        assert tuple((p["type"], p["indexed"]) for p in entry["inputs"]) == params, name
        assert entry["anonymous"] is False, name


def test_abi_has_an_entry_for_every_custom_error(contract: str, artifact: dict[str, Any]) -> None:
    expected = INTERFACES[contract][2]
    errors = _entries(artifact, "error")
    assert set(errors) == set(expected)
    for name, inputs in expected.items():
        assert _types(errors[name]["inputs"]) == inputs, name


def test_contract_accepts_no_ether_and_has_no_fallback(artifact: dict[str, Any]) -> None:
    kinds = {e["type"] for e in artifact["abi"]}
    assert kinds <= {"function", "event", "error", "constructor"}
    payable = [e for e in artifact["abi"] if e.get("stateMutability") == "payable"]
    assert not payable, payable


def _code_without_metadata(code: bytes) -> bytes:
    """The code before solc's CBOR metadata, whose length is its last two bytes."""
    length = int.from_bytes(code[-2:], "big")
    assert 0 < length < len(code) and code[-length - 2] in range(0xA0, 0xB8), "no CBOR tail"
    return code[: -length - 2]


def opcodes_newer_than(code: bytes, target: str) -> list[tuple[int, int, str]]:
    """(offset, opcode, fork) of every instruction in ``code`` that ``target`` lacks; the
    data of PUSH1..PUSH32 is skipped, as the EVM skips it."""
    newer, pc, limit = [], 0, FORKS.index(target)
    while pc < len(code):
        op = code[pc]
        fork = OPCODE_FORK.get(op)
        if fork is not None and FORKS.index(fork) > limit:
            newer.append((pc, op, fork))
        pc += 1 + (op - PUSH1 + 1 if PUSH1 <= op <= PUSH32 else 0)
    return newer


def test_deployed_code_has_no_opcode_newer_than_the_recorded_target(
    artifact: dict[str, Any],
) -> None:
    code = _code_without_metadata(bytes.fromhex(artifact["deployedBytecode"][2:]))
    assert len(code) > 1000
    assert opcodes_newer_than(code, artifact["evmVersion"]) == []


def test_the_opcode_walk_finds_new_opcodes_and_skips_push_data() -> None:
    # PUSH1 0x5f (data, not PUSH0); PUSH0; PUSH2 0x5c5d (data); TLOAD; STOP
    code = bytes([0x60, 0x5F, 0x5F, 0x61, 0x5C, 0x5D, 0x5C, 0x00])
    assert opcodes_newer_than(code, "berlin") == [(2, 0x5F, "shanghai"), (6, 0x5C, "cancun")]
    assert opcodes_newer_than(code, "shanghai") == [(6, 0x5C, "cancun")]
    assert opcodes_newer_than(code, "cancun") == []
    # The same contract compiled for Cancun uses PUSH0 throughout: the walk sees it.
    assert opcodes_newer_than(bytes.fromhex("6080604052348015600e575f5ffd5b50"), "berlin") == [
        (11, 0x5F, "shanghai"),
        (12, 0x5F, "shanghai"),
    ]


def test_status_lists_are_given_as_id_and_hash_pairs() -> None:
    functions = _entries(load_artifact(), "function")
    for name, position in (("commitRevocations", 6), ("commitStatusLists", 0)):
        param = functions[name]["inputs"][position]
        assert param["name"] == "statusLists", name
        components = [(c["name"], c["type"]) for c in param["components"]]
        assert components == [("listId", "bytes32"), ("listHash", "bytes32")], name
