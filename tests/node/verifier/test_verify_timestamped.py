"""A bundle whose root was timestamped through EBSI's Timestamp interface (our EbsiTimestamp
contract on a real Anvil), verified by `ChainReader.verify_bundle`: a genuine one passes
every check, with and without a MicroCredentialLedger beside it, and each tampering fails
the check named for it."""

from __future__ import annotations

import dataclasses
import random
from datetime import UTC, datetime
from typing import Any

import pytest

from mcledger.anchoring.bundle import AnchorInfo, ProofBundle
from mcledger.anchoring.chain import ChainClient
from mcledger.anchoring.timestamp import SHA2_256_ID, TimestampContract, deploy_timestamp
from mcledger.anchoring.tree import MerkleTree
from mcledger.contracts.toolchain import load_artifact
from mcledger.node.verifier.credential import ChainReader
from mcledger.node.verifier.names import CHECK_NAMES
from mcledger.node.verifier.timestamped import NO_ONCHAIN_REVOCATION

SIZE = 5
DID = "did:web:uni.example.lv"


@dataclasses.dataclass
class Timestamped:
    reader: ChainReader
    timestamps: TimestampContract
    deployed: Any
    bundle: ProofBundle  # leaf 2, with the ledger beside it
    digests: list[bytes]


def timestamp_a_tree(chain: ChainClient, deployed: Any, funded_account: Any) -> Timestamped:
    """A tree of five timestamped by the ledger's registered issuer, on a fresh
    EbsiTimestamp; the bundle of leaf 2 names the ledger beside it."""
    timestamps, _ = deploy_timestamp(chain, funded_account(), load_artifact("EbsiTimestamp"))
    digests = [random.Random(7).randbytes(32) for _ in range(SIZE)]
    digests = [bytes([i]) + d[1:] for i, d in enumerate(digests)]
    tree = MerkleTree.from_leaves(digests)
    receipt = timestamps.timestamp(deployed.issuer, tree.root, SIZE, DID, SHA2_256_ID)
    block = chain.block(receipt.block_number)
    bundle = ProofBundle(
        digest=digests[2],
        proof=tree.inclusion_proof(2),
        anchor=AnchorInfo(
            chain_id=chain.chain_id,
            contract=timestamps.address.lower(),
            transaction_hash=receipt.transaction_hash,
            block_number=receipt.block_number,
            block_hash="0x" + bytes(block["hash"]).hex(),
            anchored_at=datetime.fromtimestamp(int(block["timestamp"]), UTC),
            issuer=deployed.issuer.address.lower(),
            target="ebsi-timestamp",
            hash_algorithm_id=SHA2_256_ID,
            ledger=deployed.ledger.address.lower(),
        ),
    )
    return Timestamped(ChainReader(chain.rpc_url), timestamps, deployed, bundle, digests)


@pytest.fixture
def timestamped(chain: ChainClient, deployed: Any, funded_account: Any) -> Timestamped:
    return timestamp_a_tree(chain, deployed, funded_account)


def _anchor(bundle: ProofBundle, **changes: Any) -> ProofBundle:
    return dataclasses.replace(bundle, anchor=dataclasses.replace(bundle.anchor, **changes))


def _failed(bundle: ProofBundle, reader: ChainReader) -> dict[str, str]:
    report = reader.verify_bundle(bundle)
    assert [c.name for c in report.checks] == list(CHECK_NAMES)
    return {c.name: c.detail for c in report.checks if not c.passed}


def test_a_timestamped_bundle_passes_with_the_ledger_beside_it(timestamped: Timestamped) -> None:
    report = timestamped.reader.verify_bundle(timestamped.bundle)
    assert report.ok, report.to_json()
    details = {c.name: c.detail for c in report.checks}
    assert "EBSI Timestamp interface, hash algorithm 1" in details["anchor.root"]
    assert details["anchor.treeSize"] == f"{SIZE} leaves, as the timestamp's data says"
    assert details["anchor.block"].endswith("emitted TimestampedHashes")
    assert details["issuer.registered"].endswith("is an active issuer")
    assert details["digest.notRevoked"].startswith("not revoked by")
    # The registry binding of the credential-level check reads the ledger beside it.
    assert timestamped.reader.registered_did(timestamped.bundle) == (
        f"did:pkh:eip155:31337:{timestamped.deployed.issuer.address}"
    )


def test_without_a_ledger_the_report_says_what_is_not_established(
    timestamped: Timestamped,
) -> None:
    bundle = _anchor(timestamped.bundle, ledger=None)
    report = timestamped.reader.verify_bundle(bundle)
    assert report.ok, report.to_json()
    details = {c.name: c.detail for c in report.checks}
    assert details["issuer.registered"] == (
        "no issuer registry beside the ebsi-timestamp anchor: the timestamp's sender"
        f" {timestamped.deployed.issuer.address} declares {DID} in its data; EBSI's Trusted"
        " Issuers Registry is not consulted"
    )
    assert details["digest.notRevoked"] == NO_ONCHAIN_REVOCATION
    assert timestamped.reader.registered_did(bundle) == DID


def test_each_tampering_fails_its_check(timestamped: Timestamped, funded_account: Any) -> None:
    bundle, reader = timestamped.bundle, timestamped.reader
    assert set(_failed(_anchor(bundle, hash_algorithm_id=2), reader)) == {"anchor.root"}
    other = funded_account()
    failed = _failed(_anchor(bundle, issuer=other.address.lower()), reader)
    assert set(failed) == {"anchor.issuer", "issuer.registered"}, failed
    smaller = dataclasses.replace(
        bundle, proof=MerkleTree.from_leaves(timestamped.digests[:4]).inclusion_proof(2)
    )
    failed = _failed(smaller, reader)
    assert "anchor.root" in failed and "is not timestamped" in failed["anchor.root"]
    failed = _failed(_anchor(bundle, block_number=bundle.anchor.block_number - 1), reader)
    assert set(failed) == {"anchor.block"}
    assert "records the timestamp in block" in failed["anchor.block"]
    # A root timestamped by the issuer, but the bundle names another contract of this kind.
    elsewhere, _ = deploy_timestamp(reader.client, other, load_artifact("EbsiTimestamp"))
    failed = _failed(_anchor(bundle, contract=elsewhere.address.lower()), reader)
    assert "is not timestamped on" in failed["anchor.root"]


def test_a_digest_revoked_on_the_ledger_beside_it_fails(timestamped: Timestamped) -> None:
    deployed = timestamped.deployed
    deployed.ledger.revoke(deployed.issuer, [timestamped.bundle.digest], 2)
    failed = _failed(timestamped.bundle, timestamped.reader)
    assert set(failed) == {"digest.notRevoked"}
    assert "reason 2 (fraud or misconduct)" in failed["digest.notRevoked"]
