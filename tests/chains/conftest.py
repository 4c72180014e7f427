"""Chains unlike today's Ethereum, for the tests in tests/chains/.

Three variants, each one session-wide chain (tests deploy their own contract on it):

- ``berlin``: Anvil with ``--hardfork berlin``: no base fee, no EIP-1559 transactions,
  none of the opcodes since (PUSH0…); the node must send legacy transactions;
- ``gas-free``: Anvil with base fee 0 and gas price 0, as EBSI's Besu network runs;
  the node sends legacy transactions with gasPrice 0 (MCLEDGER_GAS_PRICE_GWEI=0);
- ``hardhat``: Hardhat Network, a second, independent EVM node; EIP-1559, and funding
  by ``hardhat_setBalance``.

``ebsi_chain`` is one more session-wide chain, shaped like EBSI's network (Berlin and
gas-free at once), for the tests of the ``ebsi-timestamp`` anchoring target.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mcledger.anchoring.anvil import start_anvil
from tests.chains.hardhat import start_hardhat
from tests.chains.variants import ChainVariant

VARIANTS = ("berlin", "gas-free", "hardhat")


@pytest.fixture(scope="session", params=VARIANTS)
def chain_variant(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ChainVariant]:
    if request.param == "berlin":
        with start_anvil(hardfork="berlin") as anvil:
            yield ChainVariant("berlin", anvil.rpc_url, tx_type=0, gas_free=False)
    elif request.param == "gas-free":
        with start_anvil(base_fee=0, gas_price=0) as anvil:
            env = {"MCLEDGER_GAS_PRICE_GWEI": "0"}
            yield ChainVariant("gas-free", anvil.rpc_url, tx_type=0, gas_free=True, env=env)
    else:
        log = tmp_path_factory.mktemp("hardhat") / "hardhat.log"
        with start_hardhat(log) as hardhat:
            yield ChainVariant("hardhat", hardhat.rpc_url, tx_type=2, gas_free=False)


@pytest.fixture(scope="session")
def ebsi_chain() -> Iterator[ChainVariant]:
    """Anvil with ``--hardfork berlin`` and gas price 0; the node anchors through EBSI's
    Timestamp interface there (MCLEDGER_ANCHOR_TARGET=ebsi-timestamp)."""
    with start_anvil(hardfork="berlin", gas_price=0) as anvil:
        env = {"MCLEDGER_GAS_PRICE_GWEI": "0", "MCLEDGER_ANCHOR_TARGET": "ebsi-timestamp"}
        yield ChainVariant("ebsi-timestamp", anvil.rpc_url, tx_type=0, gas_free=True, env=env)
