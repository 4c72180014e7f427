"""verify_bundle on a real Anvil: a genuine bundle passes every check, and every kind of
tampering fails the check named for it."""

from __future__ import annotations

import dataclasses
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mcledger.anchoring.bundle import AnchorInfo, ProofBundle
from mcledger.anchoring.chain import ChainClient, Receipt
from mcledger.anchoring.errors import MerkleError
from mcledger.anchoring.ledger import LedgerContract, deploy_ledger
from mcledger.anchoring.tree import MerkleTree
from mcledger.node.verifier.bundle import verify_bundle
from mcledger.node.verifier.names import (
    ANCHOR_BLOCK,
    ANCHOR_ISSUER,
    ANCHOR_ROOT,
    ANCHOR_TREE_SIZE,
    BUNDLE_FORMAT,
    CHAIN_ID,
    CHECK_NAMES,
    DIGEST_NOT_REVOKED,
    ISSUER_REGISTERED,
    MERKLE_INCLUSION,
)
from mcledger.node.verifier.report import VerificationReport, unparsable_bundle_report

HEX = "0123456789abcdef"


class MemoClient(ChainClient):
    """A ChainClient that remembers blocks and receipts: the chain does not change while a
    test replays thousands of tampered bundles, so each distinct question is asked once."""

    def __init__(self, rpc_url: str) -> None:
        super().__init__(rpc_url)
        self.memo: dict[Any, Any] = {}

    def _once(self, key: Any, read: Any) -> Any:
        if key not in self.memo:
            self.memo[key] = read()  # errors are not remembered: they are asked again
        return self.memo[key]

    def block(self, number: int | str) -> Any:
        return self._once(("block", number), lambda: super(MemoClient, self).block(number))

    def receipt(self, tx_hash: str) -> Receipt | None:
        return self._once(("receipt", tx_hash), lambda: super(MemoClient, self).receipt(tx_hash))


class MemoLedger(LedgerContract):
    """A LedgerContract whose views are remembered, for the same reason as MemoClient."""

    memo: dict[Any, Any]

    def _call(self, function: str, *args: Any, block: int | str = "latest") -> Any:
        memo = self.__dict__.setdefault("memo", {})
        key = (function, args, block)
        if key not in memo:
            memo[key] = super()._call(function, *args, block=block)
        return memo[key]


def memoized(chain: ChainClient, ledger: LedgerContract) -> tuple[MemoClient, MemoLedger]:
    client = MemoClient(chain.rpc_url)
    return client, MemoLedger(client, ledger.address, ledger.abi)


@dataclasses.dataclass
class Anchored:
    tree: MerkleTree
    digests: list[bytes]
    receipt: Receipt
    issuer: str

    def bundle(self, client: ChainClient, ledger: LedgerContract, index: int) -> ProofBundle:
        """The bundle of leaf ``index``, built by hand from the receipt and its block."""
        block = client.block(self.receipt.block_number)
        return ProofBundle(
            digest=self.digests[index],
            proof=self.tree.inclusion_proof(index),
            anchor=AnchorInfo(
                chain_id=client.chain_id,
                contract=ledger.address.lower(),
                transaction_hash=self.receipt.transaction_hash,
                block_number=self.receipt.block_number,
                block_hash="0x" + bytes(block["hash"]).hex(),
                anchored_at=datetime.fromtimestamp(int(block["timestamp"]), UTC),
                issuer=self.issuer.lower(),
            ),
            credential_id=f"urn:uuid:{uuid.UUID(bytes=self.digests[index][:16], version=4)}",
        )


def anchor_tree(ledger: LedgerContract, account: Any, size: int, seed: int) -> Anchored:
    rng = random.Random(seed)
    digests = [rng.randbytes(32) for _ in range(size)]
    tree = MerkleTree.from_leaves(digests)
    receipt = ledger.anchor(account, tree.root, size)
    return Anchored(tree, digests, receipt, account.address)


@pytest.fixture
def anchored(deployed: Any) -> Anchored:
    return anchor_tree(deployed.ledger, deployed.issuer, 7, seed=1)


def failures(report: VerificationReport) -> set[str]:
    """The checks that failed for a reason of their own (not merely skipped)."""
    return {c.name for c in report.checks if not c.passed and not c.detail.startswith("skipped")}


def with_proof(bundle: ProofBundle, **changes: Any) -> ProofBundle:
    return dataclasses.replace(bundle, proof=dataclasses.replace(bundle.proof, **changes))


def with_anchor(bundle: ProofBundle, **changes: Any) -> ProofBundle:
    return dataclasses.replace(bundle, anchor=dataclasses.replace(bundle.anchor, **changes))


def other_hex(text: str, position: int) -> str:
    """``text`` with the hex character at ``position`` replaced by a different one."""
    replacement = HEX[(HEX.index(text[position]) + 1) % 16]
    return text[:position] + replacement + text[position + 1 :]


def test_a_genuine_bundle_passes_every_check(chain: ChainClient, deployed: Any, anchored) -> None:
    for index in range(7):
        bundle = anchored.bundle(chain, deployed.ledger, index)
        report = verify_bundle(ProofBundle.loads(bundle.dumps()), chain, deployed.ledger)
        assert report.ok, report.to_json()
        assert tuple(c.name for c in report.checks) == CHECK_NAMES
    assert "checked only with the credential" in report.check(BUNDLE_FORMAT).detail
    assert report.to_json()["ok"] is True


def test_every_hex_character_of_digest_path_and_root(chain: ChainClient, deployed: Any, anchored):
    client, ledger = memoized(chain, deployed.ledger)
    bundle = anchored.bundle(client, ledger, 3)
    assert len(bundle.proof.audit_path) == 3
    for position in range(64):
        digest = bytes.fromhex(other_hex(bundle.digest.hex(), position))
        report = verify_bundle(dataclasses.replace(bundle, digest=digest), client, ledger)
        assert failures(report) == {MERKLE_INCLUSION}, (position, report.to_json())
        for k, element in enumerate(bundle.proof.audit_path):
            path = list(bundle.proof.audit_path)
            path[k] = bytes.fromhex(other_hex(element.hex(), position))
            report = verify_bundle(with_proof(bundle, audit_path=tuple(path)), client, ledger)
            assert failures(report) == {MERKLE_INCLUSION}, (k, position, report.to_json())
        root = bytes.fromhex(other_hex(bundle.proof.root.hex(), position))
        report = verify_bundle(with_proof(bundle, root=root), client, ledger)
        # An unanchored root also leaves the transaction without its event.
        assert failures(report) == {MERKLE_INCLUSION, ANCHOR_ROOT, ANCHOR_BLOCK}
        assert report.check(ANCHOR_ISSUER).detail == "skipped: the root is not anchored"


def test_every_other_index_and_size_fails(chain: ChainClient, deployed: Any, anchored) -> None:
    client, ledger = memoized(chain, deployed.ledger)
    for leaf in range(7):
        bundle = anchored.bundle(client, ledger, leaf)
        for size in range(1, 20):
            for index in range(size):
                if (index, size) == (leaf, 7):
                    continue
                tampered = with_proof(bundle, leaf_index=index, tree_size=size)
                found = failures(verify_bundle(tampered, client, ledger))
                assert found and found <= {MERKLE_INCLUSION, ANCHOR_TREE_SIZE}, (leaf, index, size)
                if size != 7:
                    assert ANCHOR_TREE_SIZE in found


def test_a_path_that_verifies_under_another_size_is_caught_by_the_anchor(
    chain: ChainClient, deployed: Any
) -> None:
    """RFC 9162's path does not bind the size: leaf 0 of 4 has the same path shape in a tree
    of 3 leaves (and leaf 3 of 7 in one of 8), so only the anchored size tells them apart."""
    for size, index, claimed in ((4, 0, 3), (7, 3, 8)):
        tree_run = anchor_tree(deployed.ledger, deployed.issuer, size, seed=10 + size)
        bundle = tree_run.bundle(chain, deployed.ledger, index)
        tampered = with_proof(bundle, tree_size=claimed)
        report = verify_bundle(tampered, chain, deployed.ledger)
        assert report.check(MERKLE_INCLUSION).passed, report.to_json()
        assert failures(report) == {ANCHOR_TREE_SIZE}
        assert f"{size} leaves, the bundle says {claimed}" in report.check(ANCHOR_TREE_SIZE).detail


def test_a_root_anchored_by_another_issuer(
    chain: ChainClient, deployed: Any, funded_account
) -> None:
    other = funded_account()
    deployed.ledger.register_issuer(deployed.admin, other.address, "did:example:other")
    theirs = anchor_tree(deployed.ledger, other, 5, seed=2)
    claimed = with_anchor(
        theirs.bundle(chain, deployed.ledger, 1), issuer=deployed.issuer.address.lower()
    )
    report = verify_bundle(claimed, chain, deployed.ledger)
    assert failures(report) == {ANCHOR_ISSUER}
    assert other.address in report.check(ANCHOR_ISSUER).detail


def test_a_suspended_issuer(chain: ChainClient, deployed: Any, anchored) -> None:
    deployed.ledger.suspend_issuer(deployed.admin, deployed.issuer.address)
    report = verify_bundle(anchored.bundle(chain, deployed.ledger, 0), chain, deployed.ledger)
    assert failures(report) == {ISSUER_REGISTERED}


def test_a_revoked_digest_names_time_and_reason(
    chain: ChainClient, deployed: Any, anchored
) -> None:
    receipt = deployed.ledger.revoke(deployed.issuer, [anchored.digests[2]], 2)
    when = datetime.fromtimestamp(int(chain.block(receipt.block_number)["timestamp"]), UTC)
    report = verify_bundle(anchored.bundle(chain, deployed.ledger, 2), chain, deployed.ledger)
    assert failures(report) == {DIGEST_NOT_REVOKED}
    detail = report.check(DIGEST_NOT_REVOKED).detail
    assert when.strftime("%Y-%m-%dT%H:%M:%SZ") in detail
    assert "reason 2 (fraud or misconduct)" in detail
    assert verify_bundle(anchored.bundle(chain, deployed.ledger, 3), chain, deployed.ledger).ok


def test_wrong_block_transaction_time_or_chain(chain: ChainClient, deployed: Any, anchored):
    bundle = anchored.bundle(chain, deployed.ledger, 4)
    anchor, n = bundle.anchor, bundle.anchor.block_number
    other_block = "0x" + bytes(chain.block(n - 1)["hash"]).hex()
    register_tx = deployed.ledger.events("IssuerRegistered", deployed.deploy_block, n)[0]
    cases = [
        with_anchor(bundle, block_hash=other_block),
        with_anchor(bundle, block_hash="0x" + other_hex(anchor.block_hash[2:], 63)),
        with_anchor(bundle, block_number=n - 1),
        with_anchor(bundle, block_number=n + 10**6),
        with_anchor(bundle, transaction_hash="0x" + bytes(register_tx.transactionHash).hex()),
        with_anchor(bundle, transaction_hash="0x" + other_hex(anchor.transaction_hash[2:], 0)),
        with_anchor(bundle, anchored_at=anchor.anchored_at + timedelta(seconds=1)),
    ]
    for tampered in cases:
        report = verify_bundle(tampered, chain, deployed.ledger)
        assert failures(report) == {ANCHOR_BLOCK}, report.to_json()
    report = verify_bundle(
        with_anchor(bundle, chain_id=anchor.chain_id + 1), chain, deployed.ledger
    )
    assert failures(report) == {CHAIN_ID}
    assert "not 31338" in report.check(CHAIN_ID).detail


def test_another_contract_is_not_read(
    chain: ChainClient, deployed: Any, anchored, artifact
) -> None:
    bundle = anchored.bundle(chain, deployed.ledger, 0)
    elsewhere, _ = deploy_ledger(chain, deployed.admin, artifact)
    report = verify_bundle(bundle, chain, elsewhere)
    assert not report.ok
    for name in (ANCHOR_ROOT, ANCHOR_BLOCK, ISSUER_REGISTERED, DIGEST_NOT_REVOKED):
        assert f"names contract {deployed.ledger.address}," in report.check(name).detail
    # The bundle pointing at an address without code fails cleanly, never raises.
    nowhere = "0x" + "12" * 20
    report = verify_bundle(
        with_anchor(bundle, contract=nowhere),
        chain,
        LedgerContract(chain, nowhere, artifact["abi"]),
    )
    assert failures(report) >= {ANCHOR_ROOT, ISSUER_REGISTERED, DIGEST_NOT_REVOKED}


def test_an_unreachable_rpc_fails_the_chain_checks_without_raising(deployed, anchored, chain):
    bundle = anchored.bundle(chain, deployed.ledger, 0)
    down = ChainClient("http://127.0.0.1:9", request_timeout=2)
    report = verify_bundle(bundle, down, LedgerContract(down, bundle.anchor.contract, []))
    assert report.check(MERKLE_INCLUSION).passed
    assert set(report.failed) == set(CHECK_NAMES) - {BUNDLE_FORMAT, MERKLE_INCLUSION}
    assert "127.0.0.1:9" in report.check(CHAIN_ID).detail


def test_an_unparsable_bundle_report() -> None:
    report = unparsable_bundle_report("proof bundle field 'digest': expected 64 lower-case hex")
    assert not report.ok and tuple(c.name for c in report.checks) == CHECK_NAMES
    assert report.checks[0].detail.startswith("proof bundle field 'digest'")
    assert all(c.detail == "skipped: the bundle did not parse" for c in report.checks[1:])
    assert not VerificationReport(()).ok


def replacements(char: str) -> str:
    """Other characters a tampered byte might plausibly hold: digits for digits, hex for
    hex, and for anything else characters that are neither it nor JSON whitespace."""
    if char.isdigit():
        return "".join(str((int(char) + k) % 10) for k in (1, 5))
    if char in HEX:
        return HEX[(HEX.index(char) + 1) % 16] + "0"
    return "x#" if char not in "x#" else "y!"


def test_every_byte_of_the_serialized_bundle(chain: ChainClient, deployed: Any, anchored):
    """Every byte of the JSON, replaced by two plausible others, stops the bundle verifying.

    All of it runs through verify_bundle on the real chain; the Memo* wrappers ask each
    distinct question once (the chain does not change here), so ~2,000 tampered bundles
    cost a few hundred RPC calls. The contract address is fixed, as a verifier that
    trusts one contract would fix it; the CLI's own path (contract from the bundle) is
    sampled in tests/cli/test_verify_cli.py. The credentialId's value is left out:
    nothing in a bundle covers it (only the credential does, and verify says so).
    """
    client, ledger = memoized(chain, deployed.ledger)
    bundle = anchored.bundle(client, ledger, 3)
    text = bundle.dumps()
    id_start = text.index(bundle.credential_id or "")
    unbound = range(id_start, id_start + len(bundle.credential_id or ""))
    assert verify_bundle(ProofBundle.loads(text), client, ledger).ok
    tried = 0
    for position, char in enumerate(text):
        if position in unbound:
            continue
        for replacement in replacements(char):
            tampered = text[:position] + replacement + text[position + 1 :]
            try:
                parsed = ProofBundle.loads(tampered)
            except MerkleError:
                continue
            tried += 1
            report = verify_bundle(parsed, client, ledger)
            assert not report.ok, (position, char, replacement, tampered)
    assert tried > 300  # the hashes, numbers and addresses reached the chain checks
