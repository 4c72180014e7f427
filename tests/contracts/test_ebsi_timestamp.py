"""EbsiTimestamp (EBSI's Timestamp interface, v4) on a real Anvil shaped like EBSI's network:
Berlin, gas-free, legacy transactions with gasPrice 0 from accounts that hold nothing.

Through TimestampContract: a root timestamped and read back by value and by id, the event
decoded from the ABI alone, up to three hashes a call, every refusal by its custom error
name (and that a refused call changes nothing), the hash-algorithm registry.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from web3 import Web3

from mcledger.anchoring.anvil import start_anvil
from mcledger.anchoring.chain import ChainClient, Receipt
from mcledger.anchoring.contract import ZERO_ADDRESS
from mcledger.anchoring.errors import ContractRevertError, TimestampDataError
from mcledger.anchoring.fees import FeePolicy
from mcledger.anchoring.timestamp import (
    SHA2_256_ID,
    TIMESTAMPED_HASHES_TOPIC,
    TimestampContract,
    TimestampRecord,
    deploy_timestamp,
    encode_timestamp_data,
)
from mcledger.anchoring.timestamp_data import TimestampData
from mcledger.contracts.toolchain import load_artifact

pytestmark = pytest.mark.chain

DID = "did:ebsi:zobuuYAHkAbRFCcqdcJfTgR"
EVENT_SIGNATURE = "TimestampedHashes(bytes32[],uint256[],bytes[],bytes[])"
SHA2_512_ID = 2  # registered by the module's fixture, to mix algorithms and lengths


@dataclass
class Deployed:
    url: str
    client: ChainClient
    contract: TimestampContract
    admin: LocalAccount
    deploy_block: int


@pytest.fixture(scope="module")
def deployed() -> Iterator[Deployed]:
    """One gas-free Berlin Anvil and one contract for the module (tests use fresh roots)."""
    with start_anvil(hardfork="berlin", gas_price=0) as anvil:
        client = ChainClient(anvil.rpc_url, fees=FeePolicy(gas_price=0))
        admin: LocalAccount = Account.create()  # holds nothing: the chain is gas-free
        contract, receipt = deploy_timestamp(client, admin, load_artifact("EbsiTimestamp"))
        contract.add_hash_algorithm(admin, SHA2_512_ID, 64, "sha2-512")
        yield Deployed(anvil.rpc_url, client, contract, admin, receipt.block_number)


def root() -> bytes:
    return secrets.token_bytes(32)


@contextmanager
def refused(deployed: Deployed, name: str, *args: Any) -> Iterator[None]:
    """The block must raise ContractRevertError naming ``name`` with exactly ``args``, and
    leave the chain as it was (nothing was sent)."""
    height = deployed.client.block_number()
    with pytest.raises(ContractRevertError) as info:
        yield
    assert (info.value.error_name, info.value.error_args) == (name, args), str(info.value)
    assert deployed.client.block_number() == height


def hex32(value: bytes) -> str:
    return "0x" + value.hex()


def raw_receipt(deployed: Deployed, receipt: Receipt) -> Any:
    return deployed.client.w3.eth.get_transaction_receipt(receipt.transaction_hash)  # type: ignore[arg-type]


# -- deployment and registry ------------------------------------------------------------------


def test_deployer_is_admin_and_sha256_is_algorithm_1(deployed: Deployed) -> None:
    contract = deployed.contract
    assert contract.admin() == deployed.admin.address
    sha256 = contract.hash_algorithm(SHA2_256_ID)
    assert (sha256.registered, sha256.output_length, sha256.name) == (True, 32, "sha2-256")
    assert not contract.hash_algorithm(3).registered
    block = deployed.deploy_block
    (event,) = contract.events("HashAlgorithmAdded", block, block)
    assert (event.args.hashAlgorithmId, event.args.outputLength, event.args.name) == (
        1,
        32,
        "sha2-256",
    )
    added = contract.events("HashAlgorithmAdded", block + 1, deployed.client.block_number())
    assert [(e.args.hashAlgorithmId, e.args.outputLength) for e in added] == [(2, 64)]


def test_adding_a_hash_algorithm_refusals(deployed: Deployed) -> None:
    contract, admin, other = deployed.contract, deployed.admin, Account.create()
    with refused(deployed, "NotAdmin", other.address):
        contract.add_hash_algorithm(other, 9, 32, "sha3-256")
    for bad_id in (0, 2**16):
        with refused(deployed, "InvalidHashAlgorithmId", bad_id):
            contract.add_hash_algorithm(admin, bad_id, 32, "sha3-256")
    for bad_length in (0, 65):
        with refused(deployed, "InvalidOutputLength", bad_length):
            contract.add_hash_algorithm(admin, 9, bad_length, "sha3-256")
    with refused(deployed, "EmptyHashAlgorithmName"):
        contract.add_hash_algorithm(admin, 9, 32, "")
    with refused(deployed, "HashAlgorithmAlreadyRegistered", SHA2_256_ID):
        contract.add_hash_algorithm(admin, SHA2_256_ID, 20, "other")
    assert not contract.hash_algorithm(9).registered
    assert contract.hash_algorithm(SHA2_256_ID).output_length == 32


# -- timestamping a root ----------------------------------------------------------------------


def test_a_root_is_timestamped_with_a_gas_free_legacy_transaction_and_read_back(
    deployed: Deployed,
) -> None:
    contract, client, issuer, value = deployed.contract, deployed.client, Account.create(), root()
    expected_id = hashlib.sha256(value).digest()
    assert contract.get_timestamp(value) == TimestampRecord(0, b"", ZERO_ADDRESS, 0, b"")
    assert not contract.get_timestamp_by_id(expected_id).exists

    calldata = contract.timestamp_calldata(value, 1234, DID, SHA2_256_ID)
    assert calldata[:4] == keccak(text="timestampHashes(uint256[],bytes[],bytes[])")[:4]
    # What the call returns: the ids, sha256 of each value.
    (returned,) = contract.contract.functions.timestampHashes(
        [SHA2_256_ID], [value], [encode_timestamp_data(1234, DID)]
    ).call({"from": issuer.address})
    assert bytes(returned) == expected_id

    receipt = contract.timestamp(issuer, value, 1234, DID, SHA2_256_ID)
    sent = client.w3.eth.get_transaction(receipt.transaction_hash)  # type: ignore[arg-type]
    assert (sent["type"], sent["gasPrice"]) == (0, 0)
    assert client.balance(issuer.address) == 0

    record = contract.get_timestamp(value)
    assert record == contract.get_timestamp_by_id(expected_id)
    assert record.exists
    assert (record.hash_algorithm_id, record.hash_value) == (SHA2_256_ID, value)
    assert (record.timestamped_by, record.block_number) == (issuer.address, receipt.block_number)
    assert record.data == b"mcl\x01" + (1234).to_bytes(8, "big") + DID.encode()
    assert record.timestamp_data() == TimestampData(1, 1234, DID)
    # The state before the block did not have it.
    assert not contract.get_timestamp(value, block=receipt.block_number - 1).exists


def test_the_event_decodes_with_web3_from_the_abi_alone(deployed: Deployed) -> None:
    contract, issuer, value = deployed.contract, Account.create(), root()
    receipt = contract.timestamp(issuer, value, 7, DID, SHA2_256_ID)
    (log,) = contract.raw_logs(receipt.block_number, receipt.block_number)
    assert log["topics"] == [hex32(keccak(text=EVENT_SIGNATURE))] == [TIMESTAMPED_HASHES_TOPIC]

    # A reader with nothing but the ABI (no address, no wrapper) decodes the receipt's log.
    reader = Web3().eth.contract(abi=load_artifact("EbsiTimestamp")["abi"])
    (event,) = reader.events.TimestampedHashes().process_receipt(raw_receipt(deployed, receipt))
    assert event.event == "TimestampedHashes" and event.address == contract.address
    assert [bytes(i) for i in event.args.timestampIds] == [hashlib.sha256(value).digest()]
    assert event.args.hashAlgorithmIds == [SHA2_256_ID]
    assert [bytes(v) for v in event.args.hashValues] == [value]
    assert [bytes(d) for d in event.args.timestampData] == [encode_timestamp_data(7, DID)]
    (same,) = contract.events("TimestampedHashes", receipt.block_number, receipt.block_number)
    assert same.args == event.args


def test_three_hashes_in_one_call_with_two_algorithms_and_data_of_any_length(
    deployed: Deployed,
) -> None:
    contract, issuer = deployed.contract, Account.create()
    values = [root(), secrets.token_bytes(64), root()]
    algorithms = [SHA2_256_ID, SHA2_512_ID, SHA2_256_ID]
    # Data on and off word boundaries (the contract stores whole words, zero-padded).
    data = [b"", secrets.token_bytes(32), b"\xff" * 33]
    receipt = contract.timestamp_hashes(issuer, algorithms, values, data)
    (event,) = contract.events("TimestampedHashes", receipt.block_number, receipt.block_number)
    ids = [hashlib.sha256(v).digest() for v in values]
    assert [bytes(i) for i in event.args.timestampIds] == ids
    for timestamp_id, value, algorithm, datum in zip(ids, values, algorithms, data, strict=True):
        record = contract.get_timestamp_by_id(timestamp_id)
        assert record == TimestampRecord(
            algorithm, value, issuer.address, receipt.block_number, datum
        )
        assert contract.get_timestamp(value) == record


# -- refusals ---------------------------------------------------------------------------------


def test_timestamp_hashes_refusals_name_their_error_and_change_nothing(
    deployed: Deployed,
) -> None:
    contract, issuer, value = deployed.contract, Account.create(), root()
    send = contract.timestamp_hashes
    with refused(deployed, "ArrayLengthsDiffer", 1, 2, 1):
        send(issuer, [SHA2_256_ID], [value, root()], [b""])
    with refused(deployed, "ArrayLengthsDiffer", 1, 1, 0):
        send(issuer, [SHA2_256_ID], [value], [])
    with refused(deployed, "InvalidHashCount", 0):
        send(issuer, [], [], [])
    with refused(deployed, "InvalidHashCount", 4):
        send(issuer, [SHA2_256_ID] * 4, [root() for _ in range(4)], [b""] * 4)
    with refused(deployed, "UnknownHashAlgorithm", 7):
        send(issuer, [7], [value], [b""])
    with refused(deployed, "UnknownHashAlgorithm", 0):
        send(issuer, [0], [value], [b""])
    with refused(deployed, "InvalidHashLength", 0, 32, 31):
        send(issuer, [SHA2_256_ID], [value[:31]], [b""])
    with refused(deployed, "InvalidHashLength", 1, 64, 32):
        send(issuer, [SHA2_256_ID, SHA2_512_ID], [value, root()], [b"", b""])
    # The same hash twice in one call: the second sees the first.
    with refused(deployed, "HashAlreadyTimestamped", hex32(hashlib.sha256(value).digest())):
        send(issuer, [SHA2_256_ID] * 2, [value, value], [b"", b""])
    assert not contract.get_timestamp(value).exists  # all or nothing


def test_a_hash_timestamped_by_another_account_is_refused(deployed: Deployed) -> None:
    contract, first, second, value = deployed.contract, Account.create(), Account.create(), root()
    contract.timestamp(first, value, 1, DID, SHA2_256_ID)
    timestamp_id = hex32(hashlib.sha256(value).digest())
    with refused(deployed, "HashAlreadyTimestamped", timestamp_id):
        contract.timestamp(second, value, 2, "did:web:other.example", SHA2_256_ID)
    # ... even as the only new hash beside one that would be fine.
    with refused(deployed, "HashAlreadyTimestamped", timestamp_id):
        contract.timestamp_hashes(second, [SHA2_256_ID] * 2, [root(), value], [b"", b""])
    with refused(deployed, "HashAlreadyTimestamped", timestamp_id):
        contract.timestamp(first, value, 1, DID, SHA2_256_ID)  # nor twice by the same one
    record = contract.get_timestamp(value)
    assert (record.timestamped_by, record.timestamp_data().tree_size) == (first.address, 1)


def test_bad_input_is_refused_before_anything_is_sent(deployed: Deployed) -> None:
    contract, issuer, value = deployed.contract, Account.create(), root()
    height = deployed.client.block_number()
    with pytest.raises(ValueError, match="expected 32 bytes, got 31"):
        contract.timestamp(issuer, value[:31], 1, DID, SHA2_256_ID)
    with pytest.raises(TimestampDataError, match="tree size"):
        contract.timestamp(issuer, value, 0, DID, SHA2_256_ID)
    with pytest.raises(TimestampDataError, match="NUL"):
        contract.timestamp(issuer, value, 1, "did:\x00", SHA2_256_ID)
    assert deployed.client.block_number() == height
    assert not contract.get_timestamp(value).exists
