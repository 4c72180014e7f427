"""The chain client: transactions signed locally, receipts, confirmations.

The EBSI pattern: build the transaction here, sign it with the node's own
secp256k1 key (eth-account), send the raw bytes over JSON-RPC. Nothing is
signed by the RPC node, so the same code works on Anvil, Hardhat, a public
testnet or a consortium Besu network: EIP-1559 transactions where the chain has
a base fee, legacy ones (EIP-155) where it has none or is gas-free (see
`anchoring.fees`). An endpoint that wants ``Authorization: Bearer …`` gets the
token on every request; it never appears in an error.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address
from web3 import HTTPProvider, Web3
from web3.exceptions import (
    ContractLogicError,
    TransactionNotFound,
    Web3Exception,
    Web3RPCError,
)
from web3.types import RPCEndpoint

from mcledger.anchoring.errors import ChainError, ContractRevertError
from mcledger.anchoring.fees import (
    FeePolicy,
    eip1559_fees,
    fee_fields,
    legacy_gas_price,
    sends_legacy,
)
from mcledger.anchoring.revert import RevertDecoder

# How nodes say they hold these bytes already: geth; Anvil; Hardhat and Besu.
_ALREADY_KNOWN = ("already known", "already imported", "known transaction")


class ReorgedError(ChainError):
    """A receipt's block is no longer on the canonical chain: the transaction must be resent."""


class ReceiptTimeoutError(ChainError):
    """No receipt (or not enough confirmations) before the deadline; the transaction may
    still be pending: keep its hash and nonce, and replace it with a higher fee if needed."""


@dataclass(frozen=True)
class SentTransaction:
    """A signed transaction: what must be persisted before sending, to find, resend or
    replace it later. A legacy transaction (``tx_type`` 0) has its gasPrice in both fee
    fields."""

    transaction_hash: str
    sender: str
    nonce: int
    max_fee_per_gas: int
    max_priority_fee_per_gas: int
    gas: int
    raw: bytes = b""
    tx_type: int = 2


@dataclass(frozen=True)
class Receipt:
    transaction_hash: str
    block_number: int
    block_hash: str
    gas_used: int
    success: bool
    contract_address: str | None
    logs: tuple[Any, ...]
    effective_gas_price: int = 0  # wei per gas actually paid (the fee is gas_used x this)


class ChainClient:
    """A thin JSON-RPC client for one chain; signing stays local."""

    def __init__(
        self,
        rpc_url: str,
        *,
        request_timeout: float = 10.0,
        fees: FeePolicy | None = None,
        poll_interval: float = 0.05,
        token: str | None = None,
    ) -> None:
        self.rpc_url = rpc_url
        self._token = token or None
        request: dict[str, Any] = {"timeout": request_timeout}
        if self._token is not None:
            # web3 sends its default headers only when none are given: keep them.
            headers = HTTPProvider.get_request_headers()
            request["headers"] = headers | {"Authorization": f"Bearer {self._token}"}
        self.w3 = Web3(HTTPProvider(rpc_url, request_kwargs=request))
        self.fees = fees or FeePolicy()
        self.poll_interval = poll_interval
        self._chain_id: int | None = None
        self._dev_kind: str | None = None

    def failure(self, what: str, exc: BaseException | str) -> ChainError:
        """The ChainError for a failed request: says which endpoint, explains a refused
        authorisation, and never carries the bearer token."""
        text = str(exc)
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status in (401, 403):
            text = f"HTTP {status}: the endpoint refused the request; " + (
                "the bearer token was not accepted"
                if self._token
                else "it may want a bearer token (MCLEDGER_RPC_TOKEN)"
            )
        if self._token:
            text = text.replace(self._token, "[token]")
        return ChainError(f"{what} failed on {self.rpc_url}: {text}")

    # -- reading ---------------------------------------------------------------------------
    def _rpc(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (ContractLogicError, TransactionNotFound):
            raise
        except (OSError, Web3RPCError, ValueError) as exc:
            raise self.failure(what, exc) from exc

    def request(self, method: str, params: list[Any]) -> Any:
        """One raw JSON-RPC call through the client's provider (token included); an error
        reply raises ChainError."""
        try:
            reply = self.w3.provider.make_request(RPCEndpoint(method), params)
        except (OSError, ValueError, Web3Exception) as exc:
            raise self.failure(method, exc) from exc
        if "error" in reply:
            raise self.failure(method, str(reply["error"]))
        return reply["result"]

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
            raise self.failure("eth_estimateGas", exc) from exc

    def current_fees(self, latest: Any = None) -> tuple[int, int]:
        """(max fee, priority fee) for a transaction now (see `anchoring.fees`); a legacy
        transaction's gasPrice is both."""
        latest = latest if latest is not None else self.block("latest")
        if sends_legacy(self.fees, latest):
            node_price = 0
            if not self.fees.fixed_price:
                node_price = int(self._rpc("eth_gasPrice", lambda: self.w3.eth.gas_price))
            price = legacy_gas_price(self.fees, node_price)
            return price, price
        node_tip = 0
        if not self.fees.fixed_price:
            node_tip = int(self._rpc("tip", lambda: self.w3.eth.max_priority_fee))
        return eip1559_fees(self.fees, int(latest.get("baseFeePerGas", 0)), node_tip)

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
        """Build and sign one transaction locally, without sending it: EIP-1559, or legacy
        with the chain id (EIP-155) where `anchoring.fees` says so, when it gets its
        gasPrice from ``max_fee_per_gas``.

        The gas estimate runs first, so a call the contract would refuse raises
        ContractRevertError with the custom error's name before anything is signed.
        The result carries the raw bytes and the hash: a caller can persist both
        before `send_raw`, so a crash in between never loses track of a transaction.
        """
        call: dict[str, Any] = {"from": account.address, "data": data, "value": value}
        if to is not None:
            call["to"] = to_checksum_address(to)
        latest = self.block("latest")
        if gas is None:
            estimate = self.estimate_gas(call, decoder)
            # The margin must not push a large call past the block's gas limit.
            block_limit = int(latest["gasLimit"])
            gas = max(estimate, min(int(estimate * self.fees.gas_margin), block_limit))
        if nonce is None:
            nonce = self.next_nonce(account.address)
        if max_fee_per_gas is None or max_priority_fee_per_gas is None:
            max_fee_per_gas, max_priority_fee_per_gas = self.current_fees(latest)
        legacy = sends_legacy(self.fees, latest)
        if legacy:
            max_priority_fee_per_gas = max_fee_per_gas
        fees = fee_fields(legacy, max_fee_per_gas, max_priority_fee_per_gas)
        tx: dict[str, Any] = {**call, "chainId": self.chain_id, "nonce": nonce, "gas": gas}
        tx |= fees
        signed = account.sign_transaction(tx)
        return SentTransaction(
            transaction_hash="0x" + bytes(signed.hash).hex(),
            sender=account.address,
            nonce=nonce,
            max_fee_per_gas=max_fee_per_gas,
            max_priority_fee_per_gas=max_priority_fee_per_gas,
            gas=gas,
            raw=bytes(signed.raw_transaction),
            tx_type=0 if legacy else 2,
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
            if any(known in text for known in _ALREADY_KNOWN):
                return "0x" + bytes(keccak(raw)).hex()
            raise self.failure("eth_sendRawTransaction", exc) from exc
        except (OSError, ValueError) as exc:
            raise self.failure("eth_sendRawTransaction", exc) from exc
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
            raise self.failure("eth_getTransactionReceipt", exc) from exc
        address = raw.get("contractAddress")
        return Receipt(
            transaction_hash="0x" + bytes(raw["transactionHash"]).hex(),
            block_number=int(raw["blockNumber"]),
            block_hash="0x" + bytes(raw["blockHash"]).hex(),
            gas_used=int(raw["gasUsed"]),
            success=int(raw["status"]) == 1,
            contract_address=to_checksum_address(address) if address else None,
            logs=tuple(raw["logs"]),
            effective_gas_price=int(raw.get("effectiveGasPrice", 0)),
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
    def dev_chain_kind(self) -> str | None:
        """ "anvil" or "hardhat" when the RPC answers that development node's own methods
        (so that funding by setBalance works), else None."""
        if self._dev_kind is None:
            for kind, probe in (("anvil", "anvil_nodeInfo"), ("hardhat", "hardhat_metadata")):
                try:
                    reply = self.w3.provider.make_request(RPCEndpoint(probe), [])
                except Exception:  # down, refused, or not JSON: not a development chain now
                    return None
                if "result" in reply:
                    self._dev_kind = kind
                    break
        return self._dev_kind

    def is_dev_chain(self) -> bool:
        """True on Anvil or Hardhat Network, whose balances the node may set."""
        return self.dev_chain_kind() is not None

    def dev_set_balance(self, address: str, wei: int) -> None:
        """Fund an address (`anvil_setBalance`, `hardhat_setBalance`); development chains only."""
        kind = self.dev_chain_kind()
        if kind is None:
            raise ChainError(f"{self.rpc_url} is not a development chain: cannot set a balance")
        self.request(f"{kind}_setBalance", [to_checksum_address(address), hex(wei)])

    def dev_mine(self, blocks: int = 1) -> None:
        """Mine ``blocks`` blocks now (`anvil_mine`, `hardhat_mine`)."""
        self.request(f"{self.dev_chain_kind() or 'anvil'}_mine", [hex(blocks)])
