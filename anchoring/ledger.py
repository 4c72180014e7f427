"""The MicroCredentialLedger contract, spoken to through ChainClient.

Write methods send locally signed transactions and raise ContractRevertError
naming the contract's custom error when it refuses; read methods are calls.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address
from web3.exceptions import Web3Exception

from mcledger.anchoring.chain import ChainClient, Receipt, RevertDecoder
from mcledger.anchoring.errors import ChainError

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"


def event_topic(signature: str) -> str:
    """The first topic of an event: keccak-256 of its canonical signature, 0x hex."""
    return "0x" + keccak(text=signature).hex()


ROOT_ANCHORED_TOPIC = event_topic("RootAnchored(bytes32,address,uint64)")
CREDENTIAL_REVOKED_TOPIC = event_topic("CredentialRevoked(address,bytes32,uint8)")


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


def _bytes32(value: bytes | str) -> bytes:
    raw = bytes.fromhex(value.removeprefix("0x")) if isinstance(value, str) else value
    if len(raw) != 32:
        raise ValueError(f"expected 32 bytes, got {len(raw)}")
    return raw


class LedgerContract:
    """One deployed MicroCredentialLedger at ``address`` on ``client``'s chain."""

    def __init__(self, client: ChainClient, address: str, abi: Sequence[Mapping[str, Any]]) -> None:
        self.client = client
        self.address = to_checksum_address(address)
        self.abi = list(abi)
        self.decoder = RevertDecoder(self.abi)
        self.contract = client.w3.eth.contract(address=self.address, abi=self.abi)

    # -- encoding --------------------------------------------------------------------------
    def encode(self, function: str, *args: Any) -> bytes:
        encoded = self.contract.encode_abi(function, args=list(args))
        return bytes.fromhex(encoded.removeprefix("0x"))

    def anchor_calldata(self, root: bytes, tree_size: int) -> bytes:
        return self.encode("anchor", _bytes32(root), tree_size)

    def revoke_calldata(self, digests: Sequence[bytes], reason: int) -> bytes:
        return self.encode("revoke", [_bytes32(d) for d in digests], int(reason))

    # -- writes ----------------------------------------------------------------------------
    def _transact(
        self, account: LocalAccount, data: bytes, confirmations: int, timeout: float
    ) -> Receipt:
        return self.client.transact(
            account,
            to=self.address,
            data=data,
            decoder=self.decoder,
            confirmations=confirmations,
            timeout=timeout,
        )

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
    def _call(self, function: str, *args: Any, block: int | str = "latest") -> Any:
        try:
            return getattr(self.contract.functions, function)(*args).call(block_identifier=block)
        except (OSError, ValueError, Web3Exception) as exc:  # incl. no code at the address
            raise self.client.failure(function, exc) from exc

    def anchor_of(self, root: bytes, *, block: int | str = "latest") -> AnchorRecord:
        issuer, size, at = self._call("anchorOf", _bytes32(root), block=block)
        return AnchorRecord(to_checksum_address(issuer), int(size), int(at))

    def revoked_at(self, issuer: str, digest: bytes, *, block: int | str = "latest") -> int:
        return int(
            self._call("revokedAt", to_checksum_address(issuer), _bytes32(digest), block=block)
        )

    def is_issuer(self, issuer: str, *, block: int | str = "latest") -> bool:
        return bool(self._call("isIssuer", to_checksum_address(issuer), block=block))

    def admin(self) -> str:
        return to_checksum_address(self._call("admin"))

    def raw_logs(
        self, from_block: int, to_block: int, topics: Sequence[str]
    ) -> list[dict[str, Any]]:
        """The contract's logs in [from_block, to_block] whose first topic is one of
        ``topics`` (0x hex), as the node returns them (hex strings, no ABI decoding: the
        fast path for reading thousands of events)."""
        params = {
            "address": self.address,
            "fromBlock": hex(from_block),
            "toBlock": hex(to_block),
            "topics": [list(topics)],
        }
        return list(self.client.request("eth_getLogs", [params]))

    def events(self, name: str, from_block: int, to_block: int, **filters: Any) -> list[Any]:
        """Decoded logs of one event type in [from_block, to_block]."""
        event = getattr(self.contract.events, name)
        try:
            return list(
                event.get_logs(
                    from_block=from_block, to_block=to_block, argument_filters=filters or None
                )
            )
        except (OSError, ValueError, Web3Exception) as exc:
            raise self.client.failure(f"eth_getLogs for {name}", exc) from exc


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
    bytecode = bytes.fromhex(str(artifact["bytecode"]).removeprefix("0x"))
    decoder = RevertDecoder(artifact["abi"])
    receipt = client.transact(
        deployer,
        to=None,
        data=bytecode,
        decoder=decoder,
        confirmations=confirmations,
        timeout=timeout,
    )
    if receipt.contract_address is None:
        raise ChainError(f"deployment {receipt.transaction_hash} created no contract")
    return LedgerContract(client, receipt.contract_address, artifact["abi"]), receipt
