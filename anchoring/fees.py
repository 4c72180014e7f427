"""Which kind of transaction the node signs and what it offers per gas: decisions over what
the chain reports, with no I/O (the chain client fetches the figures and calls these).

Two kinds of transaction cover the chains an issuer meets:

- EIP-1559 (type 2) on chains with a base fee (Ethereum since London, its testnets, Anvil,
  Hardhat): max fee = base fee x multiplier + tip, never above the cap;
- legacy (type 0, with the chain id in the signature, EIP-155) on chains without one
  (Berlin and older, many consortium networks) and on gas-free networks (EBSI's Besu),
  whose latest block has a zero base fee: gasPrice from `eth_gasPrice`, never above the cap.

A fixed price (``gas_price``; 0 on a gas-free network) replaces what the chain suggests, for
either kind, and is never raised: a transaction that waits is broadcast again instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

GWEI = 10**9


class TxType(StrEnum):
    """``auto`` picks legacy where the latest block has no (or a zero) base fee."""

    AUTO = "auto"
    EIP1559 = "eip1559"
    LEGACY = "legacy"


@dataclass(frozen=True)
class FeePolicy:
    """How fees are chosen (see the module docstring). Prices in wei."""

    base_fee_multiplier: int = 2
    min_priority_fee: int = 1 * GWEI
    max_fee_cap: int = 500 * GWEI  # replacement never exceeds this
    gas_margin: float = 1.25
    tx_type: TxType = TxType.AUTO
    gas_price: int | None = None  # a fixed price per gas (0: gas-free); None: the chain's

    def __post_init__(self) -> None:
        if self.gas_price is not None and not 0 <= self.gas_price <= self.max_fee_cap:
            raise ValueError(
                f"the fixed gas price ({self.gas_price} wei) must lie between 0 and the fee "
                f"cap ({self.max_fee_cap} wei)"
            )

    @property
    def fixed_price(self) -> bool:
        """Whether the price per gas is set by configuration, not by the chain."""
        return self.gas_price is not None


def base_fee_of(block: Mapping[str, Any]) -> int | None:
    """The block's EIP-1559 base fee, or None for a block from before London."""
    value = block.get("baseFeePerGas")
    return None if value is None else int(value)


def sends_legacy(policy: FeePolicy, latest_block: Mapping[str, Any]) -> bool:
    """Whether to sign a legacy transaction on the chain whose latest block is given.

    A zero base fee counts as none: on Ethereum it never falls below 7 wei, so zero means a
    gas-free network, where legacy transactions are what every client accepts.
    """
    if policy.tx_type == TxType.LEGACY:
        return True
    if policy.tx_type == TxType.EIP1559:
        return False
    return not base_fee_of(latest_block)


def legacy_gas_price(policy: FeePolicy, node_price: int) -> int:
    """The gasPrice of a legacy transaction: the fixed price, else the node's, capped."""
    if policy.gas_price is not None:
        return policy.gas_price
    return min(node_price, policy.max_fee_cap)


def eip1559_fees(policy: FeePolicy, base_fee: int, node_tip: int) -> tuple[int, int]:
    """(max fee, priority fee) of an EIP-1559 transaction; a fixed price is both."""
    if policy.gas_price is not None:
        return policy.gas_price, policy.gas_price
    tip = max(policy.min_priority_fee, node_tip)
    max_fee = min(base_fee * policy.base_fee_multiplier + tip, policy.max_fee_cap)
    return max_fee, min(tip, max_fee)


def fee_fields(legacy: bool, max_fee_per_gas: int, max_priority_fee_per_gas: int) -> dict[str, int]:
    """The fee fields of the transaction to sign. A legacy transaction's gasPrice is its
    ``max_fee_per_gas``: what it pays at most per gas, as the attempts table records it."""
    if legacy:
        return {"gasPrice": max_fee_per_gas}
    return {
        "type": 2,
        "maxFeePerGas": max_fee_per_gas,
        "maxPriorityFeePerGas": max_priority_fee_per_gas,
    }
