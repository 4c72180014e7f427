"""The MicroCredentialLedger contract, spoken to through ChainClient.

Write methods send locally signed transactions and raise ContractRevertError
naming the contract's custom error when it refuses; read methods are calls.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from eth_abi import decode as abi_decode
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address
from web3.exceptions import ContractLogicError, Web3Exception

from mcledger.anchoring.chain import ChainClient, Receipt
from mcledger.anchoring.contract import (
    ZERO_ADDRESS,
    ContractBinding,
    deploy_artifact,
    event_topic,
)
from mcledger.anchoring.contract import bytes32 as _bytes32

ROOT_ANCHORED_TOPIC = event_topic("RootAnchored(bytes32,address,uint64)")
CREDENTIAL_REVOKED_TOPIC = event_topic("CredentialRevoked(address,bytes32,uint8)")
REVOCATIONS_COMMITTED_TOPIC = event_topic(
    "RevocationsCommitted(address,bytes32,bytes32,uint64,uint64,uint64,uint8,bytes32[])"
)
STATUS_LIST_COMMITTED_TOPIC = event_topic("StatusListCommitted(address,bytes32,bytes32)")
# The non-indexed fields of RevocationsCommitted, in the event's order.
_COMMITTED_DATA = ("bytes32", "uint64", "uint64", "uint64", "uint8", "bytes32[]")
COMMITMENT_VERSION = 2
"""The first contract version with revocation commitments (``version()`` returns it)."""


class RevocationReason(IntEnum):
    """Reasons as the contract and docs/formats.md number them."""

    UNSPECIFIED = 0
    ISSUED_IN_ERROR = 1
    FRAUD_OR_MISCONDUCT = 2
    SUPERSEDED = 3
    WITHDRAWN_BY_LEARNER = 4
    KEY_COMPROMISE = 5


@dataclass(frozen=True)
class AnchorRecord:
    """What `anchorOf(root)` returns; ``issuer`` is the zero address when not anchored."""

    issuer: str
    tree_size: int
    anchored_at: int

    @property
    def exists(self) -> bool:
        return self.issuer != ZERO_ADDRESS


@dataclass(frozen=True)
class RevocationCommitment:
    """What `revocationRootOf(issuer)` returns: the root and size of the issuer's revocation
    set, and the time and block of its last commitment (all zero: never committed, the
    empty set)."""

    root: bytes
    size: int
    updated_at: int
    updated_block: int


@dataclass(frozen=True)
class StatusListCommitment:
    """What `statusListHashOf(issuer, listId)` returns (zero hash: never committed)."""

    list_hash: bytes
    updated_at: int


@dataclass(frozen=True)
class RevocationsCommitted:
    """One `RevocationsCommitted` event: a flush, with where it sits on the chain."""

    issuer: str
    new_root: bytes
    previous_root: bytes
    new_size: int
    previous_block: int
    revoked_at: int
    reason: int
    digests: tuple[bytes, ...]
    block_number: int
    transaction_hash: str
    log_index: int


@dataclass(frozen=True)
class StatusListCommitted:
    """One `StatusListCommitted` event."""

    issuer: str
    list_id: bytes
    list_hash: bytes
    block_number: int
    transaction_hash: str
    log_index: int


def _topic_bytes(topic: str) -> bytes:
    return bytes.fromhex(topic.removeprefix("0x"))


def _address_topic(address: str) -> str:
    return "0x" + bytes.fromhex(to_checksum_address(address)[2:]).rjust(32, b"\0").hex()


def _position(log: Mapping[str, Any]) -> tuple[int, str, int]:
    return int(log["blockNumber"], 16), str(log["transactionHash"]), int(log["logIndex"], 16)


def decode_revocations_committed(log: Mapping[str, Any]) -> RevocationsCommitted:
    """A raw `RevocationsCommitted` log (as eth_getLogs returns it) decoded; ValueError if
    it is not one."""
    topics = log["topics"]
    if len(topics) != 3 or topics[0] != REVOCATIONS_COMMITTED_TOPIC:
        raise ValueError("not a RevocationsCommitted log")
    data = bytes.fromhex(str(log["data"]).removeprefix("0x"))
    previous, size, previous_block, at, reason, digests = abi_decode(_COMMITTED_DATA, data)
    return RevocationsCommitted(
        to_checksum_address(_topic_bytes(topics[1])[12:]),
        _topic_bytes(topics[2]),
        bytes(previous),
        int(size),
        int(previous_block),
        int(at),
        int(reason),
        tuple(bytes(d) for d in digests),
        *_position(log),
    )


def decode_status_list_committed(log: Mapping[str, Any]) -> StatusListCommitted:
    """A raw `StatusListCommitted` log decoded; ValueError if it is not one."""
    topics = log["topics"]
    if len(topics) != 3 or topics[0] != STATUS_LIST_COMMITTED_TOPIC:
        raise ValueError("not a StatusListCommitted log")
    data = bytes.fromhex(str(log["data"]).removeprefix("0x"))
    if len(data) != 32:
        raise ValueError("a StatusListCommitted log carries one 32-byte hash")
    return StatusListCommitted(
        to_checksum_address(_topic_bytes(topics[1])[12:]),
        _topic_bytes(topics[2]),
        data,
        *_position(log),
    )


class LedgerContract(ContractBinding):
    """One deployed MicroCredentialLedger at ``address`` on ``client``'s chain."""

    # -- encoding --------------------------------------------------------------------------
    def anchor_calldata(self, root: bytes, tree_size: int) -> bytes:
        return self.encode("anchor", _bytes32(root), tree_size)

    def revoke_calldata(self, digests: Sequence[bytes], reason: int) -> bytes:
        return self.encode("revoke", [_bytes32(d) for d in digests], int(reason))

    def commit_revocations_calldata(
        self,
        previous_root: bytes,
        new_root: bytes,
        new_size: int,
        digests: Sequence[bytes],
        reason: int,
        revoked_at: int,
        status_lists: Sequence[tuple[bytes, bytes]] = (),
    ) -> bytes:
        """Calldata of `commitRevocations`; ``status_lists`` are (list id, SHA-256) pairs."""
        return self.encode(
            "commitRevocations",
            _bytes32(previous_root),
            _bytes32(new_root),
            int(new_size),
            [_bytes32(d) for d in digests],
            int(reason),
            int(revoked_at),
            [(_bytes32(i), _bytes32(h)) for i, h in status_lists],
        )

    def commit_status_lists_calldata(self, status_lists: Sequence[tuple[bytes, bytes]]) -> bytes:
        """Calldata of `commitStatusLists`: (list id, SHA-256) pairs."""
        return self.encode(
            "commitStatusLists", [(_bytes32(i), _bytes32(h)) for i, h in status_lists]
        )

    # -- writes ----------------------------------------------------------------------------
    def anchor(
        self,
        account: LocalAccount,
        root: bytes,
        tree_size: int,
        *,
        confirmations: int = 1,
        timeout: float = 60.0,
    ) -> Receipt:
        return self._transact(
            account, self.anchor_calldata(root, tree_size), confirmations, timeout
        )

    def revoke(
        self,
        account: LocalAccount,
        digests: Sequence[bytes],
        reason: int,
        *,
        confirmations: int = 1,
        timeout: float = 60.0,
    ) -> Receipt:
        return self._transact(
            account, self.revoke_calldata(digests, reason), confirmations, timeout
        )

    def commit_revocations(
        self,
        account: LocalAccount,
        previous_root: bytes,
        new_root: bytes,
        new_size: int,
        digests: Sequence[bytes],
        reason: int,
        revoked_at: int,
        status_lists: Sequence[tuple[bytes, bytes]] = (),
        *,
        confirmations: int = 1,
        timeout: float = 60.0,
    ) -> Receipt:
        """Commit a flush: the caller's revocation root goes from ``previous_root`` to
        ``new_root`` (ContractRevertError StaleRevocationRoot if another flush came first)."""
        data = self.commit_revocations_calldata(
            previous_root, new_root, new_size, digests, reason, revoked_at, status_lists
        )
        return self._transact(account, data, confirmations, timeout)

    def commit_status_lists(
        self,
        account: LocalAccount,
        status_lists: Sequence[tuple[bytes, bytes]],
        *,
        confirmations: int = 1,
        timeout: float = 60.0,
    ) -> Receipt:
        """Commit the SHA-256 of status lists that changed without a revocation."""
        data = self.commit_status_lists_calldata(status_lists)
        return self._transact(account, data, confirmations, timeout)

    def register_issuer(
        self,
        admin: LocalAccount,
        issuer: str,
        did: str,
        *,
        confirmations: int = 1,
        timeout: float = 60.0,
    ) -> Receipt:
        data = self.encode("registerIssuer", to_checksum_address(issuer), did)
        return self._transact(admin, data, confirmations, timeout)

    def suspend_issuer(
        self, admin: LocalAccount, issuer: str, *, confirmations: int = 1, timeout: float = 60.0
    ) -> Receipt:
        data = self.encode("suspendIssuer", to_checksum_address(issuer))
        return self._transact(admin, data, confirmations, timeout)

    # -- reads -----------------------------------------------------------------------------
    def anchor_of(self, root: bytes, *, block: int | str = "latest") -> AnchorRecord:
        issuer, size, at = self._call("anchorOf", _bytes32(root), block=block)
        return AnchorRecord(to_checksum_address(issuer), int(size), int(at))

    def revoked_at(self, issuer: str, digest: bytes, *, block: int | str = "latest") -> int:
        return int(
            self._call("revokedAt", to_checksum_address(issuer), _bytes32(digest), block=block)
        )

    def is_issuer(self, issuer: str, *, block: int | str = "latest") -> bool:
        return bool(self._call("isIssuer", to_checksum_address(issuer), block=block))

    def version(self, *, block: int | str = "latest") -> int:
        """The contract's interface version: what `version()` returns, or 1 for the first
        version, which has no such function (the call reverts without data)."""
        function: Any = self.contract.functions.version
        try:
            return int(function().call(block_identifier=block))
        except ContractLogicError as exc:
            if exc.data in (None, "", "0x", b""):
                return 1
            raise self.client.failure("version", exc) from exc
        except (OSError, ValueError, Web3Exception) as exc:  # incl. no code at the address
            raise self.client.failure("version", exc) from exc

    def revocation_root_of(
        self, issuer: str, *, block: int | str = "latest"
    ) -> RevocationCommitment:
        root, size, at, number = self._call(
            "revocationRootOf", to_checksum_address(issuer), block=block
        )
        return RevocationCommitment(bytes(root), int(size), int(at), int(number))

    def status_list_hash_of(
        self, issuer: str, list_id: bytes, *, block: int | str = "latest"
    ) -> StatusListCommitment:
        list_hash, at = self._call(
            "statusListHashOf", to_checksum_address(issuer), _bytes32(list_id), block=block
        )
        return StatusListCommitment(bytes(list_hash), int(at))

    # -- events ----------------------------------------------------------------------------
    def revocation_commitments(
        self, from_block: int, to_block: int, issuer: str | None = None
    ) -> list[RevocationsCommitted]:
        """The `RevocationsCommitted` events in [from_block, to_block], in chain order
        (one issuer's when ``issuer`` is given)."""
        logs = self._logs(REVOCATIONS_COMMITTED_TOPIC, from_block, to_block, issuer)
        return [decode_revocations_committed(log) for log in logs]

    def status_list_commitments(
        self, from_block: int, to_block: int, issuer: str | None = None
    ) -> list[StatusListCommitted]:
        """The `StatusListCommitted` events in [from_block, to_block], in chain order."""
        logs = self._logs(STATUS_LIST_COMMITTED_TOPIC, from_block, to_block, issuer)
        return [decode_status_list_committed(log) for log in logs]

    def _logs(
        self, topic: str, from_block: int, to_block: int, issuer: str | None
    ) -> list[dict[str, Any]]:
        """Raw logs of one event whose first indexed field is the issuer (any, or ``issuer``)."""
        topics = [topic] if issuer is None else [topic, _address_topic(issuer)]
        params = {
            "address": self.address,
            "fromBlock": hex(from_block),
            "toBlock": hex(to_block),
            "topics": topics,
        }
        return list(self.client.request("eth_getLogs", [params]))


def deploy_ledger(
    client: ChainClient,
    deployer: LocalAccount,
    artifact: Mapping[str, Any],
    *,
    confirmations: int = 1,
    timeout: float = 60.0,
) -> tuple[LedgerContract, Receipt]:
    """Deploy the compiled contract; the deployer becomes its admin. Returns the
    contract and the deployment's receipt."""
    address, receipt = deploy_artifact(
        client, deployer, artifact, confirmations=confirmations, timeout=timeout
    )
    return LedgerContract(client, address, artifact["abi"]), receipt
