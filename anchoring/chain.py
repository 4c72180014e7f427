"""The chain client: raw EIP-1559 transactions signed locally, receipts, confirmations.

The EBSI pattern: build the transaction here, sign it with the node's own
secp256k1 key (eth-account), send the raw bytes over JSON-RPC. Nothing is
signed by the RPC node, so the same code works on Anvil, a public testnet or
a consortium Besu network.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi import decode as abi_decode
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address
from web3 import HTTPProvider, Web3
from web3.exceptions import ContractLogicError, TransactionNotFound, Web3RPCError

from mcledger.anchoring.errors import ChainError, ContractRevertError

_ERROR_STRING = bytes.fromhex("08c379a0")  # Error(string)
_PANIC = bytes.fromhex("4e487b71")  # Panic(uint256)


class ReorgedError(ChainError):
    """A receipt's block is no longer on the canonical chain: the transaction must be resent."""


class ReceiptTimeoutError(ChainError):
    """No receipt (or not enough confirmations) before the deadline; the transaction may
    still be pending: keep its hash and nonce, and replace it with a higher fee if needed."""


def _canonical_type(param: Mapping[str, Any]) -> str:
    if param["type"].startswith("tuple"):
        inner = ",".join(_canonical_type(c) for c in param["components"])
        return f"({inner}){param['type'][5:]}"
    return str(param["type"])


class RevertDecoder:
    """Turns revert data into the contract's custom error name and arguments."""

    def __init__(self, abi: Sequence[Mapping[str, Any]]) -> None:
        self._errors: dict[bytes, tuple[str, list[str]]] = {}
        for entry in abi:
            if entry.get("type") != "error":
                continue
            types = [_canonical_type(p) for p in entry.get("inputs", [])]
            selector = keccak(text=f"{entry['name']}({','.join(types)})")[:4]
            self._errors[selector] = (entry["name"], types)

    def decode(
        self, data: bytes | str | Mapping[str, Any] | None, message: str = ""
    ) -> ContractRevertError:
        raw = _revert_bytes(data)
        if raw is None or len(raw) < 4:
            return ContractRevertError("UnknownRevert", (), message or "no revert data")
        selector, body = raw[:4], raw[4:]
        if selector in self._errors:
            name, types = self._errors[selector]
            try:
                return ContractRevertError(name, tuple(_plain(v) for v in abi_decode(types, body)))
            except Exception:  # malformed arguments: still name the error
                return ContractRevertError(name, (), "undecodable arguments")
        if selector == _ERROR_STRING:
            return ContractRevertError("Error", (abi_decode(["string"], body)[0],))
        if selector == _PANIC:
            return ContractRevertError("Panic", (hex(abi_decode(["uint256"], body)[0]),))
        return ContractRevertError("UnknownRevert", (), f"data 0x{raw.hex()}")


def _revert_bytes(data: bytes | str | Mapping[str, Any] | None) -> bytes | None:
    if data is None:
        return None
    if isinstance(data, Mapping):
        return _revert_bytes(data.get("data"))
    if isinstance(data, bytes):
        return data
    text = data.strip()
    if text.startswith("Reverted "):
        text = text.split(" ", 1)[1]
    if text.startswith("0x"):
        try:
            return bytes.fromhex(text[2:])
        except ValueError:
            return None
    return None


def _plain(value: Any) -> Any:
    """ABI values as printable Python values: bytes as 0x-hex, addresses checksummed."""
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, str) and value.startswith("0x") and len(value) == 42:
        return to_checksum_address(value)
    return value


@dataclass(frozen=True)
class SentTransaction:
    """A signed transaction: what must be persisted before sending, to find, resend or
    replace it later."""

    transaction_hash: str
    sender: str
    nonce: int
    max_fee_per_gas: int
    max_priority_fee_per_gas: int
    gas: int
    raw: bytes = b""


@dataclass(frozen=True)
class Receipt:
    transaction_hash: str
    block_number: int
    block_hash: str
    gas_used: int
    success: bool
    contract_address: str | None
    logs: tuple[Any, ...]


@dataclass(frozen=True)
class FeePolicy:
    """EIP-1559 fees: max fee = base fee x multiplier + tip, never above the cap."""

    base_fee_multiplier: int = 2
    min_priority_fee: int = 1_000_000_000  # 1 gwei
    max_fee_cap: int = 500 * 10**9  # 500 gwei; replacement never exceeds this
    gas_margin: float = 1.25


class ChainClient:
    """A thin JSON-RPC client for one chain; signing stays local."""

    def __init__(
        self,
        rpc_url: str,
        *,
        request_timeout: float = 10.0,
        fees: FeePolicy | None = None,
        poll_interval: float = 0.05,
    ) -> None:
        self.rpc_url = rpc_url
        self.w3 = Web3(HTTPProvider(rpc_url, request_kwargs={"timeout": request_timeout}))
        self.fees = fees or FeePolicy()
        self.poll_interval = poll_interval
        self._chain_id: int | None = None

    # -- reading ---------------------------------------------------------------------------
    def _rpc(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (ContractLogicError, TransactionNotFound):
            raise
        except (OSError, Web3RPCError, ValueError) as exc:
            raise ChainError(f"{what} failed on {self.rpc_url}: {exc}") from exc

    @property
    def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = int(self._rpc("eth_chainId", lambda: self.w3.eth.chain_id))
        return self._chain_id

    def block_number(self) -> int:
        return int(self._rpc("eth_blockNumber", lambda: self.w3.eth.block_number))

    def block(self, number: int | str) -> Any:
        return self._rpc("eth_getBlockByNumber", self.w3.eth.get_block, number)

    def balance(self, address: str) -> int:
        return int(self._rpc("eth_getBalance", self.w3.eth.get_balance, address))

    def code_at(self, address: str) -> bytes:
        return bytes(self._rpc("eth_getCode", self.w3.eth.get_code, address))

    def is_reachable(self) -> bool:
        try:
            return self.w3.is_connected()
        except Exception:
            return False

    # -- writing ---------------------------------------------------------------------------
    def estimate_gas(self, tx: dict[str, Any], decoder: RevertDecoder | None) -> int:
        try:
            return int(self.w3.eth.estimate_gas(tx))  # type: ignore[arg-type]
        except ContractLogicError as exc:
            raise (decoder or RevertDecoder([])).decode(exc.data, exc.message or "") from None
        except (OSError, Web3RPCError) as exc:
            raise ChainError(f"eth_estimateGas failed on {self.rpc_url}: {exc}") from exc

    def current_fees(self) -> tuple[int, int]:
        """(max fee, priority fee) from the latest block's base fee and the node's tip."""
        latest = self.block("latest")
        base_fee = int(latest.get("baseFeePerGas", 0))
        tip = max(
            self.fees.min_priority_fee, int(self._rpc("tip", lambda: self.w3.eth.max_priority_fee))
        )
        max_fee = min(base_fee * self.fees.base_fee_multiplier + tip, self.fees.max_fee_cap)
        return max_fee, min(tip, max_fee)

    def sign(
        self,
        account: LocalAccount,
        *,
        to: str | None,
        data: bytes,
        decoder: RevertDecoder | None = None,
        nonce: int | None = None,
        max_fee_per_gas: int | None = None,
        max_priority_fee_per_gas: int | None = None,
        gas: int | None = None,
        value: int = 0,
    ) -> SentTransaction:
        """Build and sign one EIP-1559 transaction locally, without sending it.

        The gas estimate runs first, so a call the contract would refuse raises
        ContractRevertError with the custom error's name before anything is signed.
        The result carries the raw bytes and the hash: a caller can persist both
        before `send_raw`, so a crash in between never loses track of a transaction.
        """
        call: dict[str, Any] = {"from": account.address, "data": data, "value": value}
        if to is not None:
            call["to"] = to_checksum_address(to)
        if gas is None:
            estimate = self.estimate_gas(call, decoder)
            # The margin must not push a large call past the block's gas limit.
            block_limit = int(self.block("latest")["gasLimit"])
            gas = max(estimate, min(int(estimate * self.fees.gas_margin), block_limit))
        if nonce is None:
            nonce = self.next_nonce(account.address)
        if max_fee_per_gas is None or max_priority_fee_per_gas is None:
            max_fee_per_gas, max_priority_fee_per_gas = self.current_fees()
        tx = {
            **call,
            "type": 2,
            "chainId": self.chain_id,
            "nonce": nonce,
            "gas": gas,
            "maxFeePerGas": max_fee_per_gas,
            "maxPriorityFeePerGas": max_priority_fee_per_gas,
        }
        signed = account.sign_transaction(tx)
        return SentTransaction(
            transaction_hash="0x" + bytes(signed.hash).hex(),
            sender=account.address,
            nonce=nonce,
            max_fee_per_gas=max_fee_per_gas,
            max_priority_fee_per_gas=max_priority_fee_per_gas,
            gas=gas,
            raw=bytes(signed.raw_transaction),
        )

    def next_nonce(self, address: str) -> int:
        """The sender's next nonce as the chain sees it, pending transactions included."""
        return int(
            self._rpc(
                "eth_getTransactionCount", self.w3.eth.get_transaction_count, address, "pending"
            )
        )

    def send_raw(self, raw: bytes) -> str:
        """Broadcast signed bytes; sending the same bytes again is harmless ("already known")."""
        try:
            tx_hash = self.w3.eth.send_raw_transaction(raw)
        except Web3RPCError as exc:
            text = str(exc).lower()
            if "already known" in text or "already imported" in text:
                return "0x" + bytes(keccak(raw)).hex()
            raise ChainError(f"eth_sendRawTransaction failed on {self.rpc_url}: {exc}") from exc
        except (OSError, ValueError) as exc:
            raise ChainError(f"eth_sendRawTransaction failed on {self.rpc_url}: {exc}") from exc
        return "0x" + bytes(tx_hash).hex()

    def send(self, account: LocalAccount, **kwargs: Any) -> SentTransaction:
        """Sign (see `sign`) and broadcast one transaction."""
        signed = self.sign(account, **kwargs)
        self.send_raw(signed.raw)
        return signed

    def receipt(self, tx_hash: str) -> Receipt | None:
        """The receipt if the transaction is mined, else None."""
        try:
            raw = self.w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
        except TransactionNotFound:
            return None
        except (OSError, Web3RPCError) as exc:
            raise ChainError(f"eth_getTransactionReceipt failed on {self.rpc_url}: {exc}") from exc
        address = raw.get("contractAddress")
        return Receipt(
            transaction_hash="0x" + bytes(raw["transactionHash"]).hex(),
            block_number=int(raw["blockNumber"]),
            block_hash="0x" + bytes(raw["blockHash"]).hex(),
            gas_used=int(raw["gasUsed"]),
            success=int(raw["status"]) == 1,
            contract_address=to_checksum_address(address) if address else None,
            logs=tuple(raw["logs"]),
        )

    def wait_for_receipt(self, tx_hash: str, timeout: float = 60.0) -> Receipt:
        deadline = time.monotonic() + timeout
        while True:
            found = self.receipt(tx_hash)
            if found is not None:
                return found
            if time.monotonic() >= deadline:
                raise ReceiptTimeoutError(f"no receipt for {tx_hash} after {timeout:.0f}s")
            time.sleep(self.poll_interval)

    def confirmations(self, receipt: Receipt) -> int:
        """How many blocks include and follow the receipt's block; raises ReorgedError
        if that block is no longer canonical."""
        canonical = self.block(receipt.block_number)
        if canonical is None or "0x" + bytes(canonical["hash"]).hex() != receipt.block_hash:
            raise ReorgedError(
                f"block {receipt.block_number} of {receipt.transaction_hash} was reorganised away"
            )
        return self.block_number() - receipt.block_number + 1

    def wait_for_confirmations(self, receipt: Receipt, confirmations: int, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while True:
            seen = self.confirmations(receipt)
            if seen >= confirmations:
                return seen
            if time.monotonic() >= deadline:
                raise ReceiptTimeoutError(
                    f"{receipt.transaction_hash} has {seen} of {confirmations} confirmations "
                    f"after {timeout:.0f}s"
                )
            time.sleep(self.poll_interval)

    def transact(
        self,
        account: LocalAccount,
        *,
        to: str | None,
        data: bytes,
        decoder: RevertDecoder | None = None,
        confirmations: int = 1,
        timeout: float = 60.0,
    ) -> Receipt:
        """Send, wait for the receipt and the confirmations; a failed receipt raises the
        contract's custom error, recovered by replaying the call at that block."""
        sent = self.send(account, to=to, data=data, decoder=decoder)
        receipt = self.wait_for_receipt(sent.transaction_hash, timeout)
        if not receipt.success:
            raise self.revert_reason(account.address, to, data, receipt.block_number, decoder)
        self.wait_for_confirmations(receipt, confirmations, timeout)
        return receipt

    def revert_reason(
        self,
        sender: str,
        to: str | None,
        data: bytes,
        block_number: int,
        decoder: RevertDecoder | None,
    ) -> ContractRevertError:
        """Replay a failed call against the state before its block to name the error."""
        call: dict[str, Any] = {"from": sender, "data": data}
        if to is not None:
            call["to"] = to_checksum_address(to)
        try:
            self.w3.eth.call(call, max(block_number - 1, 0))  # type: ignore[arg-type]
        except ContractLogicError as exc:
            return (decoder or RevertDecoder([])).decode(exc.data, exc.message or "")
        except (OSError, Web3RPCError) as exc:
            return ContractRevertError("UnknownRevert", (), f"replay failed: {exc}")
        return ContractRevertError("UnknownRevert", (), "the call succeeds when replayed")

    # -- development chains ----------------------------------------------------------------
    def dev_set_balance(self, address: str, wei: int) -> None:
        """Fund an address on Anvil (`anvil_setBalance`); development chains only."""
        self._rpc(
            "anvil_setBalance",
            self.w3.provider.make_request,
            "anvil_setBalance",
            [to_checksum_address(address), hex(wei)],
        )

    def dev_mine(self, blocks: int = 1) -> None:
        self._rpc("anvil_mine", self.w3.provider.make_request, "anvil_mine", [hex(blocks)])

    def is_dev_chain(self) -> bool:
        """True when the RPC answers Anvil's own methods (so funding by setBalance works)."""
        try:
            reply = self.w3.provider.make_request("anvil_nodeInfo", [])  # type: ignore[arg-type]
        except Exception:
            return False
        return "result" in reply
