"""EbsiTimestamp, our contract with EBSI's Timestamp interface (v4), through ChainClient.

The node timestamps one root a call: the root as a SHA-256 hash value, and as its
timestampData the tree size and the issuer's DID (`anchoring.timestamp_data`). A hash is
found again by its value or by its id, ``sha256(value)``. Write methods send locally signed
transactions (legacy ones with gasPrice 0 on a gas-free Besu network, as `anchoring.fees`
decides) and raise ContractRevertError naming the contract's custom error when it refuses;
read methods are calls. docs/formats.md describes the contract and the encoding.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address

from mcledger.anchoring.chain import ChainClient, Receipt
from mcledger.anchoring.contract import (
    ZERO_ADDRESS,
    ContractBinding,
    bytes32,
    deploy_artifact,
    event_topic,
)
from mcledger.anchoring.timestamp_data import (
    TimestampData,
    decode_timestamp_data,
    encode_timestamp_data,
)

SHA2_256_ID = 1  # the id our contract's constructor registers SHA-256 ("sha2-256") under
MAX_HASHES_PER_CALL = 3
TIMESTAMPED_HASHES_TOPIC = event_topic("TimestampedHashes(bytes32[],uint256[],bytes[],bytes[])")


def timestamp_id(hash_value: bytes) -> bytes:
    """The id the contract gives a hash value: its SHA-256."""
    return hashlib.sha256(hash_value).digest()


@dataclass(frozen=True)
class TimestampRecord:
    """What `getTimestamp` and `getTimestampById` return; a hash never timestamped reads as
    zeros (``timestamped_by`` the zero address, empty value and data)."""

    hash_algorithm_id: int
    hash_value: bytes
    timestamped_by: str
    block_number: int
    data: bytes

    @property
    def exists(self) -> bool:
        return self.timestamped_by != ZERO_ADDRESS

    def timestamp_data(self) -> TimestampData:
        """``data`` read as the node's encoding; TimestampDataError if it is not that."""
        return decode_timestamp_data(self.data)


@dataclass(frozen=True)
class HashAlgorithm:
    """A hash algorithm in the contract's registry; ``output_length`` 0: not registered."""

    hash_algorithm_id: int
    output_length: int
    name: str

    @property
    def registered(self) -> bool:
        return self.output_length != 0


class TimestampContract(ContractBinding):
    """One deployed EbsiTimestamp at ``address`` on ``client``'s chain."""

    # -- encoding --------------------------------------------------------------------------
    def timestamp_hashes_calldata(
        self,
        hash_algorithm_ids: Sequence[int],
        hash_values: Sequence[bytes],
        timestamp_data: Sequence[bytes],
    ) -> bytes:
        """Calldata for `timestampHashes`, as given: the contract checks the counts, the
        algorithms and the lengths (a refusal surfaces at the gas estimate, before signing)."""
        return self.encode(
            "timestampHashes",
            [int(i) for i in hash_algorithm_ids],
            [bytes(v) for v in hash_values],
            [bytes(d) for d in timestamp_data],
        )

    def timestamp_calldata(
        self, root: bytes, tree_size: int, issuer_did: str, hash_algorithm_id: int
    ) -> bytes:
        """Calldata timestamping one root (32 bytes) with the node's timestampData."""
        data = encode_timestamp_data(tree_size, issuer_did)
        return self.timestamp_hashes_calldata([hash_algorithm_id], [bytes32(root)], [data])

    # -- writes ----------------------------------------------------------------------------
    def timestamp(
        self,
        account: LocalAccount,
        root: bytes,
        tree_size: int,
        issuer_did: str,
        hash_algorithm_id: int,
        *,
        confirmations: int = 1,
        timeout: float = 60.0,
    ) -> Receipt:
        """Timestamp ``root`` as ``account`` and wait for ``confirmations``."""
        data = self.timestamp_calldata(root, tree_size, issuer_did, hash_algorithm_id)
        return self._transact(account, data, confirmations, timeout)

    def timestamp_hashes(
        self,
        account: LocalAccount,
        hash_algorithm_ids: Sequence[int],
        hash_values: Sequence[bytes],
        timestamp_data: Sequence[bytes],
        *,
        confirmations: int = 1,
        timeout: float = 60.0,
    ) -> Receipt:
        """Timestamp up to three hashes in one transaction, with any timestampData."""
        data = self.timestamp_hashes_calldata(hash_algorithm_ids, hash_values, timestamp_data)
        return self._transact(account, data, confirmations, timeout)

    def add_hash_algorithm(
        self,
        admin: LocalAccount,
        hash_algorithm_id: int,
        output_length: int,
        name: str,
        *,
        confirmations: int = 1,
        timeout: float = 60.0,
    ) -> Receipt:
        """Register a hash algorithm (admin only; ids 1..65535, lengths 1..64 bytes)."""
        data = self.encode("addHashAlgorithm", hash_algorithm_id, output_length, name)
        return self._transact(admin, data, confirmations, timeout)

    # -- reads -----------------------------------------------------------------------------
    def _record(self, function: str, key: bytes, block: int | str) -> TimestampRecord:
        algorithm, value, by, number, data = self._call(function, key, block=block)
        return TimestampRecord(
            int(algorithm), bytes(value), to_checksum_address(by), int(number), bytes(data)
        )

    def get_timestamp(self, hash_value: bytes, *, block: int | str = "latest") -> TimestampRecord:
        """The record of ``hash_value`` (zeros if never timestamped)."""
        return self._record("getTimestamp", bytes(hash_value), block)

    def get_timestamp_by_id(
        self, timestamp_id: bytes, *, block: int | str = "latest"
    ) -> TimestampRecord:
        """The record of the hash whose SHA-256 is ``timestamp_id`` (zeros if none)."""
        return self._record("getTimestampById", bytes32(timestamp_id), block)

    def hash_algorithm(
        self, hash_algorithm_id: int, *, block: int | str = "latest"
    ) -> HashAlgorithm:
        """The registry's entry for ``hash_algorithm_id``."""
        length, name = self._call("getHashAlgorithm", hash_algorithm_id, block=block)
        return HashAlgorithm(hash_algorithm_id, int(length), str(name))

    def raw_logs(
        self,
        from_block: int,
        to_block: int,
        topics: Sequence[str] = (TIMESTAMPED_HASHES_TOPIC,),
    ) -> list[dict[str, Any]]:
        """The contract's raw logs (TimestampedHashes unless ``topics`` says otherwise)."""
        return super().raw_logs(from_block, to_block, topics)


def deploy_timestamp(
    client: ChainClient,
    deployer: LocalAccount,
    artifact: Mapping[str, Any],
    *,
    confirmations: int = 1,
    timeout: float = 60.0,
) -> tuple[TimestampContract, Receipt]:
    """Deploy the compiled EbsiTimestamp; the deployer becomes its admin, SHA-256 is hash
    algorithm 1. Returns the contract and the deployment's receipt."""
    address, receipt = deploy_artifact(
        client, deployer, artifact, confirmations=confirmations, timeout=timeout
    )
    return TimestampContract(client, address, artifact["abi"]), receipt
