"""MicroCredentialLedger on a real Anvil, through LedgerContract and ChainClient.

Every function, every refusal (custom error name and arguments), the events and their
arguments, the idempotency of revoke, and a view read by a hand-built raw `eth_call`.
"""

from __future__ import annotations

import json
import secrets
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address

from mcledger.anchoring.chain import ChainClient, Receipt
from mcledger.anchoring.errors import ContractRevertError
from mcledger.anchoring.ledger import ZERO_ADDRESS, AnchorRecord, LedgerContract

pytestmark = pytest.mark.chain

ZERO32 = bytes(32)
MAX_U64 = 2**64 - 1


def digest() -> bytes:
    return secrets.token_bytes(32)


def hex32(value: bytes) -> str:
    return "0x" + value.hex()


def did_of(account: LocalAccount) -> str:
    return f"did:pkh:eip155:31337:{account.address}"


@contextmanager
def refused(name: str, *args: Any) -> Iterator[None]:
    """The block must raise ContractRevertError naming `name` with exactly `args`."""
    with pytest.raises(ContractRevertError) as info:
        yield
    assert (info.value.error_name, info.value.error_args) == (name, args), str(info.value)


def timestamp(chain: ChainClient, receipt: Receipt) -> int:
    return int(chain.block(receipt.block_number)["timestamp"])


def advance_time(chain: ChainClient, seconds: int = 100) -> None:
    chain.w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]


def transfer_admin(ledger: LedgerContract, sender: LocalAccount, new_admin: str) -> Receipt:
    # LedgerContract has no wrapper for transferAdmin: encode it and send through the client.
    data = ledger.encode("transferAdmin", to_checksum_address(new_admin))
    return ledger.client.transact(sender, to=ledger.address, data=data, decoder=ledger.decoder)


def revocation_of(ledger: LedgerContract, issuer: str, d: bytes) -> tuple[int, int]:
    # No wrapper for revocationOf either: a plain contract call.
    at, reason = ledger.contract.functions.revocationOf(issuer, d).call()
    return int(at), int(reason)


# -- admin and issuers ------------------------------------------------------------------------


def test_deployer_is_admin_and_admin_transferred_is_emitted(deployed) -> None:
    ledger = deployed.ledger
    assert ledger.admin() == deployed.admin.address
    (event,) = ledger.events("AdminTransferred", deployed.deploy_block, deployed.deploy_block)
    assert event.args.previousAdmin == ZERO_ADDRESS
    assert event.args.newAdmin == deployed.admin.address


def test_register_issuer_activates_and_emits_the_did(deployed, funded_account) -> None:
    ledger, admin, newcomer = deployed.ledger, deployed.admin, funded_account()
    assert ledger.is_issuer(deployed.issuer.address)
    assert not ledger.is_issuer(newcomer.address)
    receipt = ledger.register_issuer(admin, newcomer.address, did_of(newcomer))
    assert receipt.success and ledger.is_issuer(newcomer.address)
    (event,) = ledger.events("IssuerRegistered", receipt.block_number, receipt.block_number)
    assert (event.args.issuer, event.args.did) == (newcomer.address, did_of(newcomer))
    # The fixture's registration is on record too, filtered by the indexed issuer.
    (first,) = ledger.events(
        "IssuerRegistered",
        deployed.deploy_block,
        receipt.block_number,
        issuer=deployed.issuer.address,
    )
    assert first.args.did == did_of(deployed.issuer)


def test_register_issuer_refusals(deployed, funded_account) -> None:
    ledger, admin, issuer, other = (
        deployed.ledger,
        deployed.admin,
        deployed.issuer,
        funded_account(),
    )
    with refused("NotAdmin", other.address):
        ledger.register_issuer(other, other.address, did_of(other))
    with refused("ZeroAddress"):
        ledger.register_issuer(admin, ZERO_ADDRESS, "did:example:nobody")
    with refused("EmptyDid"):
        ledger.register_issuer(admin, other.address, "")
    with refused("IssuerAlreadyRegistered", issuer.address):
        ledger.register_issuer(admin, issuer.address, did_of(issuer))
    assert not ledger.is_issuer(other.address)


def test_suspend_refuses_anchor_and_revoke_and_reregistering_reactivates(
    deployed, funded_account
) -> None:
    ledger, admin, issuer = deployed.ledger, deployed.admin, deployed.issuer
    before = digest()
    ledger.anchor(issuer, before, 3)
    receipt = ledger.suspend_issuer(admin, issuer.address)
    (event,) = ledger.events("IssuerSuspended", receipt.block_number, receipt.block_number)
    assert event.args.issuer == issuer.address
    assert not ledger.is_issuer(issuer.address)
    with refused("IssuerIsSuspended", issuer.address):
        ledger.anchor(issuer, digest(), 1)
    with refused("IssuerIsSuspended", issuer.address):
        ledger.revoke(issuer, [digest()], 0)
    with refused("IssuerIsSuspended", issuer.address):
        ledger.suspend_issuer(admin, issuer.address)
    # What it anchored before the suspension stays on record.
    assert ledger.anchor_of(before).issuer == issuer.address
    # Re-registering (here under a new DID) re-activates the issuer.
    receipt = ledger.register_issuer(admin, issuer.address, "did:web:issuer.example")
    (event,) = ledger.events("IssuerRegistered", receipt.block_number, receipt.block_number)
    assert event.args.did == "did:web:issuer.example"
    assert ledger.is_issuer(issuer.address)
    assert ledger.anchor(issuer, digest(), 1).success


def test_suspend_refusals(deployed, funded_account) -> None:
    ledger, admin, issuer, other = (
        deployed.ledger,
        deployed.admin,
        deployed.issuer,
        funded_account(),
    )
    with refused("IssuerNotRegistered", other.address):
        ledger.suspend_issuer(admin, other.address)
    with refused("NotAdmin", issuer.address):
        ledger.suspend_issuer(issuer, issuer.address)
    assert ledger.is_issuer(issuer.address)


def test_transfer_admin(deployed, funded_account) -> None:
    ledger, admin, successor = deployed.ledger, deployed.admin, funded_account()
    with refused("NotAdmin", successor.address):
        transfer_admin(ledger, successor, successor.address)
    with refused("ZeroAddress"):
        transfer_admin(ledger, admin, ZERO_ADDRESS)
    receipt = transfer_admin(ledger, admin, successor.address)
    assert ledger.admin() == successor.address
    (event,) = ledger.events("AdminTransferred", receipt.block_number, receipt.block_number)
    assert (event.args.previousAdmin, event.args.newAdmin) == (admin.address, successor.address)
    # The old admin has lost the role; the new one has it.
    with refused("NotAdmin", admin.address):
        ledger.register_issuer(admin, admin.address, did_of(admin))
    assert ledger.register_issuer(successor, admin.address, did_of(admin)).success


# -- anchors ----------------------------------------------------------------------------------


@pytest.mark.parametrize("tree_size", [1, 1_000_000, MAX_U64])
def test_anchor_records_issuer_size_and_block_time(chain, deployed, tree_size: int) -> None:
    ledger, issuer, root = deployed.ledger, deployed.issuer, digest()
    assert ledger.anchor_of(root) == AnchorRecord(ZERO_ADDRESS, 0, 0)
    assert not ledger.anchor_of(root).exists
    receipt = ledger.anchor(issuer, root, tree_size)
    record = ledger.anchor_of(root)
    assert record.exists
    assert (record.issuer, record.tree_size) == (issuer.address, tree_size)
    assert record.anchored_at == timestamp(chain, receipt)
    (event,) = ledger.events("RootAnchored", receipt.block_number, receipt.block_number)
    assert bytes(event.args.root) == root
    assert (event.args.issuer, event.args.treeSize) == (issuer.address, tree_size)
    # The state before the anchoring block did not have it.
    assert not ledger.anchor_of(root, block=receipt.block_number - 1).exists


def test_anchor_refusals(deployed, funded_account) -> None:
    ledger, admin, issuer, stranger = (
        deployed.ledger,
        deployed.admin,
        deployed.issuer,
        funded_account(),
    )
    with refused("IssuerNotRegistered", stranger.address):
        ledger.anchor(stranger, digest(), 1)
    with refused("ZeroRoot"):
        ledger.anchor(issuer, ZERO32, 1)
    with refused("EmptyTree"):
        ledger.anchor(issuer, digest(), 0)
    root = digest()
    ledger.anchor(issuer, root, 5)
    with refused("RootAlreadyAnchored", hex32(root), issuer.address):
        ledger.anchor(issuer, root, 5)
    ledger.register_issuer(admin, stranger.address, did_of(stranger))
    with refused("RootAlreadyAnchored", hex32(root), issuer.address):
        ledger.anchor(stranger, root, 7)
    assert ledger.anchor_of(root).tree_size == 5


def test_refusal_found_after_mining_is_named_by_replay(chain, deployed) -> None:
    ledger, issuer, root = deployed.ledger, deployed.issuer, digest()
    ledger.anchor(issuer, root, 2)
    data = ledger.anchor_calldata(root, 9)
    # An explicit gas limit skips the estimate, so the refusal happens on chain.
    sent = chain.send(issuer, to=ledger.address, data=data, gas=200_000)
    receipt = chain.wait_for_receipt(sent.transaction_hash, timeout=10)
    assert not receipt.success
    error = chain.revert_reason(
        issuer.address, ledger.address, data, receipt.block_number, ledger.decoder
    )
    assert (error.error_name, error.error_args) == (
        "RootAlreadyAnchored",
        (hex32(root), issuer.address),
    )
    assert ledger.anchor_of(root).tree_size == 2


# -- revocations ------------------------------------------------------------------------------


def test_revoke_is_idempotent_and_emits_once_per_new_digest(chain, deployed) -> None:
    ledger, issuer = deployed.ledger, deployed.issuer
    first, second, third = digest(), digest(), digest()
    receipt = ledger.revoke(issuer, [first, second, second], 2)  # a repeat within one call
    at = timestamp(chain, receipt)
    assert ledger.revoked_at(issuer.address, first) == at
    assert revocation_of(ledger, issuer.address, second) == (at, 2)
    events = ledger.events("CredentialRevoked", receipt.block_number, receipt.block_number)
    assert [(bytes(e.args.digest), e.args.issuer, e.args.reason) for e in events] == [
        (first, issuer.address, 2),
        (second, issuer.address, 2),
    ]
    advance_time(chain, 100)
    again = ledger.revoke(issuer, [first, third], 5)
    assert timestamp(chain, again) >= at + 100
    # The first time and reason stay; only the new digest gets an event.
    assert revocation_of(ledger, issuer.address, first) == (at, 2)
    assert revocation_of(ledger, issuer.address, third) == (timestamp(chain, again), 5)
    (event,) = ledger.events("CredentialRevoked", again.block_number, again.block_number)
    assert bytes(event.args.digest) == third and event.args.reason == 5
    # A call that revokes nothing new succeeds and emits nothing.
    none_new = ledger.revoke(issuer, [first, second, third], 0)
    assert none_new.success
    assert ledger.events("CredentialRevoked", none_new.block_number, none_new.block_number) == []
    assert ledger.revoked_at(issuer.address, digest()) == 0


def test_revoke_refusals_revert_the_whole_call(deployed, funded_account) -> None:
    ledger, issuer, stranger = deployed.ledger, deployed.issuer, funded_account()
    good = digest()
    with refused("IssuerNotRegistered", stranger.address):
        ledger.revoke(stranger, [good], 0)
    with refused("NoDigests"):
        ledger.revoke(issuer, [], 0)
    with refused("ZeroDigest", 1):
        ledger.revoke(issuer, [good, ZERO32, digest()], 1)
    with refused("InvalidReason", 6):
        ledger.revoke(issuer, [good], 6)
    assert ledger.revoked_at(issuer.address, good) == 0
    for reason in range(6):
        assert ledger.revoke(issuer, [digest()], reason).success


def test_revocations_are_keyed_by_issuer(chain, deployed, funded_account) -> None:
    ledger, admin, a, b = deployed.ledger, deployed.admin, deployed.issuer, funded_account()
    ledger.register_issuer(admin, b.address, did_of(b))
    shared = digest()
    by_a = ledger.revoke(a, [shared], 1)
    assert ledger.revoked_at(b.address, shared) == 0
    advance_time(chain, 100)
    by_b = ledger.revoke(b, [shared], 3)
    assert revocation_of(ledger, a.address, shared) == (timestamp(chain, by_a), 1)
    assert revocation_of(ledger, b.address, shared) == (timestamp(chain, by_b), 3)
    assert timestamp(chain, by_b) > timestamp(chain, by_a)
    # Each revocation emitted its own event, keyed by its issuer.
    (event,) = ledger.events("CredentialRevoked", by_b.block_number, by_b.block_number)
    assert event.args.issuer == b.address


# -- any Ethereum tool can read the views --------------------------------------------------------


def raw_eth_call(url: str, to: str, signature: str, *words: bytes) -> bytes:
    """`eth_call` by hand: selector = keccak(signature)[:4], arguments as 32-byte words,
    sent with the standard library, without web3 or the contract's ABI."""
    data = keccak(text=signature)[:4] + b"".join(w.rjust(32, b"\0") for w in words)
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "eth_call",
        "params": [{"to": to, "data": "0x" + data.hex()}, "latest"],
    }
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 (loopback)
        return bytes.fromhex(json.loads(response.read())["result"][2:])


def word(result: bytes, i: int) -> int:
    return int.from_bytes(result[32 * i : 32 * (i + 1)], "big")


def test_views_are_readable_with_a_hand_built_eth_call(chain, deployed) -> None:
    ledger, issuer, root, revoked = deployed.ledger, deployed.issuer, digest(), digest()
    anchored = ledger.anchor(issuer, root, 1234)
    revoking = ledger.revoke(issuer, [revoked], 4)
    url, at, address = chain.rpc_url, ledger.address, bytes.fromhex(issuer.address[2:])

    out = raw_eth_call(url, at, "anchorOf(bytes32)", root)
    assert len(out) == 96
    assert to_checksum_address(out[12:32]) == issuer.address
    assert word(out, 1) == 1234 and word(out, 2) == timestamp(chain, anchored)
    assert word(raw_eth_call(url, at, "anchorOf(bytes32)", digest()), 0) == 0

    out = raw_eth_call(url, at, "revokedAt(address,bytes32)", address, revoked)
    assert word(out, 0) == timestamp(chain, revoking)
    out = raw_eth_call(url, at, "revocationOf(address,bytes32)", address, revoked)
    assert (word(out, 0), word(out, 1)) == (timestamp(chain, revoking), 4)

    assert word(raw_eth_call(url, at, "isIssuer(address)", address), 0) == 1
    assert word(raw_eth_call(url, at, "isIssuer(address)", bytes(20)), 0) == 0
    admin = raw_eth_call(url, at, "admin()")
    assert to_checksum_address(admin[12:32]) == deployed.admin.address
