"""MicroCredentialLedger version 2 on a real Anvil: revocation commitments and status-list
hashes, through LedgerContract, with the roots computed by `anchoring.revocation_set`.

The compare-and-swap (a stale flush is refused, so the set never forks), every refusal by its
custom error (and that it changes nothing), the event that carries each flush's digests and
chains the commitments by block, proofs from the set checked against the root the contract
holds, the views read by a hand-built `eth_call`, and the old per-digest `revoke` beside it.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from eth_utils import keccak

from mcledger.anchoring.chain import ChainClient, Receipt
from mcledger.anchoring.errors import ChainError, ContractRevertError
from mcledger.anchoring.ledger import (
    REVOCATIONS_COMMITTED_TOPIC,
    LedgerContract,
    RevocationCommitment,
    StatusListCommitment,
    deploy_ledger,
)
from mcledger.anchoring.revocation_proof import EMPTY, RevocationRecord, verify
from mcledger.anchoring.revocation_set import RevocationSet
from mcledger.contracts.toolchain import load_artifact

pytestmark = pytest.mark.chain

ZERO32 = bytes(32)


def digests(n: int) -> list[bytes]:
    return [secrets.token_bytes(32) for _ in range(n)]


def hex32(value: bytes) -> str:
    return "0x" + value.hex()


def now(chain: ChainClient) -> int:
    return int(chain.block("latest")["timestamp"])


def block_time(chain: ChainClient, receipt: Receipt) -> int:
    return int(chain.block(receipt.block_number)["timestamp"])


@contextmanager
def refused(ledger: LedgerContract, issuer: str, name: str, *args: Any) -> Iterator[None]:
    """The block must raise ContractRevertError ``name(*args)`` (only the leading ``args``
    given are compared) and leave the issuer's commitment and the chain's height as they were."""
    chain = ledger.client
    before, height = ledger.revocation_root_of(issuer), chain.block_number()
    with pytest.raises(ContractRevertError) as info:
        yield
    error = info.value
    assert (error.error_name, error.error_args[: len(args)]) == (name, args), str(error)
    assert ledger.revocation_root_of(issuer) == before
    assert chain.block_number() == height


def flush(
    ledger: LedgerContract,
    issuer: LocalAccount,
    revoked: RevocationSet,
    batch: list[bytes],
    reason: int,
    status_lists: list[tuple[bytes, bytes]] | None = None,
) -> tuple[Receipt, RevocationRecord]:
    """What the node's flush will do: add the batch to the set, commit the new root on the old."""
    record = RevocationRecord(reason, now(ledger.client))
    previous = revoked.root
    revoked.insert_many(batch, record)
    receipt = ledger.commit_revocations(
        issuer,
        previous,
        revoked.root,
        revoked.size,
        batch,
        reason,
        record.revoked_at,
        status_lists or [],
    )
    return receipt, record


def test_version_is_2_and_a_contract_without_version_reads_as_1(chain, deployed) -> None:
    assert deployed.ledger.version() == 2
    # A contract without `version()` (here the EBSI-interface one, spoken to as a ledger)
    # reads as the first version, as the ledger deployed before this one does; an address
    # without code is an error, not a version.
    other, _ = deploy_ledger(chain, deployed.admin, load_artifact("EbsiTimestamp"))
    abi = load_artifact()["abi"]
    assert LedgerContract(chain, other.address, abi).version() == 1
    with pytest.raises(ChainError, match="version"):
        LedgerContract(chain, deployed.admin.address, abi).version()


def test_commitments_chain_and_proofs_check_against_the_committed_root(chain, deployed) -> None:
    ledger, issuer = deployed.ledger, deployed.issuer
    assert ledger.revocation_root_of(issuer.address) == RevocationCommitment(EMPTY, 0, 0, 0)
    revoked = RevocationSet()
    first_batch, second_batch = digests(3), digests(5)
    first, first_record = flush(ledger, issuer, revoked, first_batch, 2)
    assert ledger.revocation_root_of(issuer.address) == RevocationCommitment(
        revoked.root, 3, block_time(chain, first), first.block_number
    )
    # The second flush repeats a digest of the first: the set keeps its first record.
    second, second_record = flush(ledger, issuer, revoked, [*second_batch, first_batch[0]], 5)
    committed = ledger.revocation_root_of(issuer.address)
    assert (committed.root, committed.size) == (revoked.root, 8)
    assert committed.updated_block == second.block_number

    events = ledger.revocation_commitments(deployed.deploy_block, second.block_number)
    assert [e.transaction_hash for e in events] == [first.transaction_hash, second.transaction_hash]
    one, two = events
    assert (one.issuer, one.previous_root, one.previous_block) == (issuer.address, EMPTY, 0)
    assert (one.new_size, one.reason, one.revoked_at, one.digests) == (
        3,
        2,
        first_record.revoked_at,
        tuple(first_batch),
    )
    assert (two.previous_root, two.new_root, two.previous_block) == (
        one.new_root,
        committed.root,
        first.block_number,
    )
    assert two.digests == (*second_batch, first_batch[0])

    root = committed.root
    for d in first_batch:
        assert verify(root, d, revoked.prove(d)) == (True, first_record)
    for d in second_batch:
        assert verify(root, d, revoked.prove(d)) == (True, second_record)
    absent = secrets.token_bytes(32)
    assert verify(root, absent, revoked.prove(absent)) == (False, None)


def test_a_stale_flush_is_refused_so_the_set_cannot_fork(deployed) -> None:
    ledger, issuer = deployed.ledger, deployed.issuer
    revoked = RevocationSet()
    flush(ledger, issuer, revoked, digests(2), 1)
    base = revoked.root
    # Two flushes prepared on the same root: the first lands, the second is refused.
    fork_a, fork_b = RevocationSet(), RevocationSet()
    a, b = digests(1), digests(1)
    record = RevocationRecord(1, now(ledger.client))
    for fork, batch in ((fork_a, a), (fork_b, b)):
        fork.insert(revoked.entries())
        fork.insert_many(batch, record)
    ledger.commit_revocations(issuer, base, fork_a.root, 3, a, 1, record.revoked_at)
    with refused(ledger, issuer.address, "StaleRevocationRoot", hex32(fork_a.root), hex32(base)):
        ledger.commit_revocations(issuer, base, fork_b.root, 3, b, 1, record.revoked_at)
    assert ledger.revocation_root_of(issuer.address).root == fork_a.root


def test_commit_refusals_change_nothing(chain, deployed, funded_account) -> None:
    ledger, admin, issuer = deployed.ledger, deployed.admin, deployed.issuer
    stranger = funded_account()
    revoked = RevocationSet()
    flush(ledger, issuer, revoked, digests(2), 0)
    root, at = revoked.root, now(chain)
    good, grown = digests(1), RevocationSet.build(revoked.entries())
    grown.insert_many(good, RevocationRecord(0, at))
    me = issuer.address

    def commit(**change: Any) -> Receipt:
        args: dict[str, Any] = dict(
            previous_root=root,
            new_root=grown.root,
            new_size=3,
            digests=good,
            reason=0,
            revoked_at=at,
            status_lists=[],
        )
        args.update(change)
        sender = args.pop("sender", issuer)
        return ledger.commit_revocations(sender, **args)

    with refused(ledger, stranger.address, "IssuerNotRegistered", stranger.address):
        commit(sender=stranger, previous_root=EMPTY)
    with refused(ledger, me, "NoDigests"):
        commit(digests=[])
    with refused(ledger, me, "ZeroDigest", 1):
        commit(digests=[good[0], ZERO32], new_size=3)
    with refused(ledger, me, "InvalidReason", 6):
        commit(reason=6)
    with refused(ledger, me, "InvalidRevocationTime", 0):
        commit(revoked_at=0)
    with refused(ledger, me, "InvalidRevocationTime", at + 10**6):
        commit(revoked_at=at + 10**6)
    with refused(ledger, me, "ZeroRoot"):
        commit(new_root=ZERO32)
    for size in (1, 4):  # shrinks; grows by more than the digests given
        with refused(ledger, me, "InvalidRevocationSize", 2, size, 1):
            commit(new_size=size)
    with refused(ledger, me, "InconsistentRevocationRoot", hex32(root), 3):
        commit(new_root=root)  # grew, but the root did not change
    with refused(ledger, me, "InconsistentRevocationRoot", hex32(grown.root), 2):
        commit(new_size=2)  # did not grow, but the root changed
    list_id, list_hash = secrets.token_bytes(32), secrets.token_bytes(32)
    with refused(ledger, me, "ZeroStatusListId", 1):
        commit(status_lists=[(list_id, list_hash), (ZERO32, list_hash)])
    with refused(ledger, me, "ZeroStatusListHash", 0):
        commit(status_lists=[(list_id, ZERO32)])
    assert ledger.status_list_hash_of(me, list_id) == StatusListCommitment(ZERO32, 0)
    ledger.suspend_issuer(admin, me)
    with refused(ledger, me, "IssuerIsSuspended", me):
        commit()
    ledger.register_issuer(admin, me, "did:web:issuer.example")
    # The same flush, unchanged, is accepted once the issuer is active again.
    assert commit().success
    assert ledger.revocation_root_of(me).root == grown.root


def test_a_flush_of_digests_already_in_the_set_keeps_root_and_size(deployed) -> None:
    ledger, issuer = deployed.ledger, deployed.issuer
    revoked = RevocationSet()
    batch = digests(2)
    flush(ledger, issuer, revoked, batch, 3)
    before = ledger.revocation_root_of(issuer.address)
    receipt, _ = flush(ledger, issuer, revoked, batch[:1], 4)
    after = ledger.revocation_root_of(issuer.address)
    assert (after.root, after.size) == (before.root, 2)
    assert after.updated_block == receipt.block_number
    assert revoked.record_of(batch[0]) == RevocationRecord(
        3, revoked.record_of(batch[0]).revoked_at
    )


def test_status_list_hashes_are_committed_per_issuer_and_list(
    chain, deployed, funded_account
) -> None:
    ledger, admin, issuer, other = (
        deployed.ledger,
        deployed.admin,
        deployed.issuer,
        funded_account(),
    )
    ledger.register_issuer(admin, other.address, "did:web:other.example")
    lists = {name: hashlib.sha256(name.encode()).digest() for name in ("list-1", "list-2")}
    ids = {
        name: hashlib.sha256(f"https://issuer.example/{name}".encode()).digest() for name in lists
    }
    revoked = RevocationSet()
    receipt, _ = flush(
        ledger, issuer, revoked, digests(1), 2, [(ids[n], h) for n, h in lists.items()]
    )
    for name, list_hash in lists.items():
        assert ledger.status_list_hash_of(issuer.address, ids[name]) == StatusListCommitment(
            list_hash, block_time(chain, receipt)
        )
        assert ledger.status_list_hash_of(other.address, ids[name]).list_hash == ZERO32
    events = ledger.status_list_commitments(receipt.block_number, receipt.block_number)
    assert [(e.issuer, e.list_id, e.list_hash) for e in events] == [
        (issuer.address, ids[n], h) for n, h in lists.items()
    ]
    # A list that changed without a revocation (a suspension) is committed on its own.
    changed = hashlib.sha256(b"list-1 with a suspension").digest()
    again = ledger.commit_status_lists(issuer, [(ids["list-1"], changed)])
    assert ledger.status_list_hash_of(issuer.address, ids["list-1"]) == StatusListCommitment(
        changed, block_time(chain, again)
    )
    assert ledger.status_list_hash_of(issuer.address, ids["list-2"]).list_hash == lists["list-2"]
    assert ledger.revocation_root_of(issuer.address).root == revoked.root  # untouched
    with refused(ledger, issuer.address, "NoStatusLists"):
        ledger.commit_status_lists(issuer, [])
    with refused(ledger, other.address, "ZeroStatusListHash", 0):
        ledger.commit_status_lists(other, [(ids["list-1"], ZERO32)])


def test_the_per_digest_revoke_keeps_working_beside_the_commitments(chain, deployed) -> None:
    ledger, issuer = deployed.ledger, deployed.issuer
    old, new = digests(1), digests(1)
    receipt = ledger.revoke(issuer, old, 5)
    flush(ledger, issuer, RevocationSet(), new, 1)
    assert ledger.revoked_at(issuer.address, old[0]) == block_time(chain, receipt)
    assert ledger.revoked_at(issuer.address, new[0]) == 0  # committed, not stored one by one


def test_views_and_event_are_readable_without_the_projects_abi(chain, deployed) -> None:
    ledger, issuer = deployed.ledger, deployed.issuer
    revoked = RevocationSet()
    list_id, list_hash = secrets.token_bytes(32), secrets.token_bytes(32)
    receipt, _ = flush(ledger, issuer, revoked, digests(2), 4, [(list_id, list_hash)])
    address = bytes.fromhex(issuer.address[2:]).rjust(32, b"\0")

    def call(signature: str, *words: bytes) -> bytes:
        data = keccak(text=signature)[:4] + b"".join(words)
        params = [{"to": ledger.address, "data": "0x" + data.hex()}, "latest"]
        body = {"jsonrpc": "2.0", "id": 1, "method": "eth_call", "params": params}
        request = urllib.request.Request(
            chain.rpc_url, json.dumps(body).encode(), {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 (loopback)
            return bytes.fromhex(json.loads(response.read())["result"][2:])

    assert int.from_bytes(call("version()"), "big") == 2
    out = call("revocationRootOf(address)", address)
    assert out[:32] == revoked.root
    words = [int.from_bytes(out[i : i + 32], "big") for i in range(32, 128, 32)]
    assert words == [2, block_time(chain, receipt), receipt.block_number]
    out = call("statusListHashOf(address,bytes32)", address, list_id)
    assert out[:32] == list_hash and int.from_bytes(out[32:], "big") == block_time(chain, receipt)
    # The event's first topic is the keccak of its canonical signature, as any tool computes it.
    signature = "RevocationsCommitted(address,bytes32,bytes32,uint64,uint64,uint64,uint8,bytes32[])"
    assert keccak(text=signature) == bytes.fromhex(REVOCATIONS_COMMITTED_TOPIC[2:])
