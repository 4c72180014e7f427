"""Proof bundles built by hand from a real anchoring: a tree of the given leaves, its root
anchored by the issuer, the bundle of one leaf (shared by the CLI's verify tests)."""

from __future__ import annotations

from datetime import UTC, datetime

from eth_account.signers.local import LocalAccount

from mcledger.anchoring.bundle import AnchorInfo, ProofBundle
from mcledger.anchoring.ledger import LedgerContract
from mcledger.anchoring.tree import MerkleTree


def anchored_bundle(
    ledger: LedgerContract,
    issuer: LocalAccount,
    leaves: list[bytes],
    index: int,
    credential_id: str | None = None,
) -> ProofBundle:
    """Anchor the tree of ``leaves`` on ``ledger``'s chain; the bundle of leaf ``index``."""
    tree = MerkleTree.from_leaves(leaves)
    receipt = ledger.anchor(issuer, tree.root, len(leaves))
    block = ledger.client.block(receipt.block_number)
    return ProofBundle(
        digest=leaves[index],
        proof=tree.inclusion_proof(index),
        anchor=AnchorInfo(
            chain_id=ledger.client.chain_id,
            contract=ledger.address.lower(),
            transaction_hash=receipt.transaction_hash,
            block_number=receipt.block_number,
            block_hash="0x" + bytes(block["hash"]).hex(),
            anchored_at=datetime.fromtimestamp(int(block["timestamp"]), UTC),
            issuer=issuer.address.lower(),
        ),
        credential_id=credential_id,
    )
