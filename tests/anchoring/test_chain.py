"""The chain client against a real Anvil: process control, raw transactions, confirmations."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from eth_account import Account

from mcledger.anchoring.anvil import start_anvil
from mcledger.anchoring.chain import ChainClient, ReceiptTimeoutError, ReorgedError
from mcledger.anchoring.errors import ChainError, ToolchainError


def test_anvil_starts_on_a_free_loopback_port_and_stops(tmp_path: Path) -> None:
    anvil = start_anvil()
    try:
        assert anvil.rpc_url.startswith("http://127.0.0.1:")
        assert ChainClient(anvil.rpc_url).chain_id == 31337
    finally:
        anvil.stop()
    assert not anvil.is_running()
    with pytest.raises(ChainError):
        ChainClient(anvil.rpc_url, request_timeout=1).block_number()


def test_anvil_on_a_taken_port_fails_clearly() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        with pytest.raises(ToolchainError, match="port"):
            start_anvil(port=sock.getsockname()[1], startup_timeout=5)


def test_state_survives_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    address = Account.create().address
    with start_anvil(state_path=state) as first:
        client = ChainClient(first.rpc_url)
        client.dev_set_balance(address, 12345)
        client.dev_mine(3)
        height = client.block_number()
    assert state.is_file()
    with start_anvil(state_path=state) as second:
        client = ChainClient(second.rpc_url)
        assert client.balance(address) == 12345
        assert client.block_number() == height


def test_raw_eip1559_transfer_signed_locally(chain: ChainClient, funded_account) -> None:
    sender, receiver = funded_account(), Account.create()
    sent = chain.send(sender, to=receiver.address, data=b"", value=10**15)
    assert sent.nonce == 0 and sent.sender == sender.address
    receipt = chain.wait_for_receipt(sent.transaction_hash, timeout=10)
    assert receipt.success and receipt.transaction_hash == sent.transaction_hash
    tx = chain.w3.eth.get_transaction(sent.transaction_hash)
    assert tx["type"] == 2 and tx["maxFeePerGas"] == sent.max_fee_per_gas
    assert chain.balance(receiver.address) == 10**15
    # The next nonce comes from the chain, not from a counter in this process.
    assert chain.send(sender, to=receiver.address, data=b"", value=1).nonce == 1


def test_confirmations_count_following_blocks(chain: ChainClient, funded_account) -> None:
    sender = funded_account()
    sent = chain.send(sender, to=Account.create().address, data=b"", value=1)
    receipt = chain.wait_for_receipt(sent.transaction_hash, timeout=10)
    assert chain.confirmations(receipt) == 1
    with pytest.raises(ReceiptTimeoutError, match="1 of 3 confirmations"):
        chain.wait_for_confirmations(receipt, 3, timeout=0.3)
    chain.dev_mine(2)
    assert chain.wait_for_confirmations(receipt, 3, timeout=5) == 3


def test_reorged_receipt_is_detected(chain: ChainClient, funded_account) -> None:
    sender = funded_account()
    snapshot = chain.w3.provider.make_request("evm_snapshot", [])["result"]
    sent = chain.send(sender, to=Account.create().address, data=b"", value=1)
    receipt = chain.wait_for_receipt(sent.transaction_hash, timeout=10)
    chain.w3.provider.make_request("evm_revert", [snapshot])
    chain.dev_mine(2)  # a different block now stands at the receipt's height
    with pytest.raises(ReorgedError, match="reorganised"):
        chain.confirmations(receipt)


def test_missing_receipt_times_out(chain: ChainClient) -> None:
    with pytest.raises(ReceiptTimeoutError):
        chain.wait_for_receipt("0x" + "ab" * 32, timeout=0.2)
