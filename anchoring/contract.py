"""What every deployed contract needs from ChainClient: calldata from the ABI, transactions
that name the contract's custom error when it refuses, calls, logs, and deployment.

`anchoring.ledger` (MicroCredentialLedger) and `anchoring.timestamp` (EbsiTimestamp) build
their contract's own methods on `ContractBinding`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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


def bytes32(value: bytes | str) -> bytes:
    """32 bytes from bytes or (0x-)hex; ValueError otherwise."""
    raw = bytes.fromhex(value.removeprefix("0x")) if isinstance(value, str) else value
    if len(raw) != 32:
        raise ValueError(f"expected 32 bytes, got {len(raw)}")
    return raw


class ContractBinding:
    """One deployed contract at ``address`` on ``client``'s chain, spoken to through its ABI."""

    def __init__(self, client: ChainClient, address: str, abi: Sequence[Mapping[str, Any]]) -> None:
        self.client = client
        self.address = to_checksum_address(address)
        self.abi = list(abi)
        self.decoder = RevertDecoder(self.abi)
        self.contract = client.w3.eth.contract(address=self.address, abi=self.abi)

    def encode(self, function: str, *args: Any) -> bytes:
        """Calldata for ``function(*args)``."""
        encoded = self.contract.encode_abi(function, args=list(args))
        return bytes.fromhex(encoded.removeprefix("0x"))

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

    def _call(self, function: str, *args: Any, block: int | str = "latest") -> Any:
        try:
            return getattr(self.contract.functions, function)(*args).call(block_identifier=block)
        except (OSError, ValueError, Web3Exception) as exc:  # incl. no code at the address
            raise self.client.failure(function, exc) from exc

    def admin(self) -> str:
        """The contract's admin account."""
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


def deploy_artifact(
    client: ChainClient,
    deployer: LocalAccount,
    artifact: Mapping[str, Any],
    *,
    confirmations: int = 1,
    timeout: float = 60.0,
) -> tuple[str, Receipt]:
    """Deploy a compiled contract (an artifact of `contracts.toolchain`); returns its address
    and the deployment's receipt."""
    bytecode = bytes.fromhex(str(artifact["bytecode"]).removeprefix("0x"))
    receipt = client.transact(
        deployer,
        to=None,
        data=bytecode,
        decoder=RevertDecoder(artifact["abi"]),
        confirmations=confirmations,
        timeout=timeout,
    )
    if receipt.contract_address is None:
        raise ChainError(f"deployment {receipt.transaction_hash} created no contract")
    return receipt.contract_address, receipt
