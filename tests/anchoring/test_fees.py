"""Transaction type and fees (anchoring.fees, pure) and the settings that choose them."""

from __future__ import annotations

import pytest
from eth_account import Account

from mcledger.anchoring.fees import (
    GWEI,
    FeePolicy,
    TxType,
    eip1559_fees,
    fee_fields,
    legacy_gas_price,
    sends_legacy,
)
from mcledger.node.errors import ChainSetupError
from mcledger.node.runtime.chain_setup import fee_policy
from mcledger.node.settings import load_settings

LONDON = {"baseFeePerGas": 7 * GWEI}
BERLIN: dict[str, int] = {}  # a block from before London has no base fee
ZERO_BASE_FEE = {"baseFeePerGas": 0}  # Besu's zeroBaseFee, Anvil --base-fee 0


@pytest.mark.parametrize(
    ("tx_type", "block", "legacy"),
    [
        (TxType.AUTO, LONDON, False),
        (TxType.AUTO, BERLIN, True),
        (TxType.AUTO, ZERO_BASE_FEE, True),
        (TxType.LEGACY, LONDON, True),
        (TxType.EIP1559, BERLIN, False),
    ],
)
def test_auto_sends_legacy_where_blocks_have_no_base_fee(
    tx_type: TxType, block: dict[str, int], legacy: bool
) -> None:
    assert sends_legacy(FeePolicy(tx_type=tx_type), block) is legacy


def test_prices_come_from_the_chain_capped_unless_fixed() -> None:
    policy = FeePolicy(max_fee_cap=100 * GWEI)
    assert legacy_gas_price(policy, 3 * GWEI) == 3 * GWEI
    assert legacy_gas_price(policy, 900 * GWEI) == 100 * GWEI
    assert eip1559_fees(policy, 7 * GWEI, 0) == (15 * GWEI, 1 * GWEI)  # 2 x base + min tip
    assert eip1559_fees(policy, 90 * GWEI, 2 * GWEI) == (100 * GWEI, 2 * GWEI)
    gas_free = FeePolicy(gas_price=0)
    assert gas_free.fixed_price and not policy.fixed_price
    assert legacy_gas_price(gas_free, 5 * GWEI) == 0
    assert eip1559_fees(gas_free, 7 * GWEI, 2 * GWEI) == (0, 0)


def test_a_legacy_transaction_signs_with_the_chain_id_and_one_price() -> None:
    assert fee_fields(True, 5, 1) == {"gasPrice": 5}
    assert fee_fields(False, 5, 1) == {"type": 2, "maxFeePerGas": 5, "maxPriorityFeePerGas": 1}
    account = Account.create()
    tx = {"to": account.address, "value": 0, "gas": 21_000, "nonce": 0, "chainId": 31337}
    signed = account.sign_transaction(tx | fee_fields(True, 0, 0))
    assert signed.raw_transaction[0] >= 0xC0  # an RLP list: a legacy (type 0) transaction
    assert signed.v in (2 * 31337 + 35, 2 * 31337 + 36)  # EIP-155


def test_the_settings_choose_type_and_price_and_refuse_a_price_above_the_cap() -> None:
    policy = fee_policy(load_settings(tx_type="legacy", gas_price_gwei=0.5, max_fee_gwei=20))
    assert policy == FeePolicy(max_fee_cap=20 * GWEI, tx_type=TxType.LEGACY, gas_price=GWEI // 2)
    assert fee_policy(load_settings()).gas_price is None
    with pytest.raises(ChainSetupError, match="MCLEDGER_GAS_PRICE_GWEI .* MCLEDGER_MAX_FEE_GWEI"):
        fee_policy(load_settings(gas_price_gwei=600))
    with pytest.raises(ValueError, match="tx_type"):
        load_settings(tx_type="eip4844")
    with pytest.raises(ValueError, match="gas_price_gwei"):
        load_settings(gas_price_gwei=-1)
