"""`digest.notRevoked` and `status.committed` against a real Anvil: revocation-set proofs read
against `revocationRootOf` (one call), stale proofs walked back through the commitments since,
the per-digest path of both contract versions, and status-list hashes against
`statusListHashOf`. Commitments are made with the contract binding directly, their roots
computed with the revocation set (whose own tests hold it to the format's definition)."""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime
from typing import Any

from mcledger.anchoring.bundle import AnchorInfo, ProofBundle, RevocationMember
from mcledger.anchoring.merkle import InclusionProof
from mcledger.anchoring.revocation_proof import RevocationProof, RevocationRecord
from mcledger.anchoring.revocation_set import RevocationSet
from mcledger.anchoring.status_commitment import status_list_hash, status_list_key
from mcledger.node.verifier import revocation as revocation_checks
from mcledger.node.verifier.revocation import check_not_revoked
from mcledger.node.verifier.status_commitment import GRACE, committed_checks

AT = 1_767_225_600  # 2026-01-01T00:00:00Z


class Flusher:
    """Commits flushes of one issuer with the binding, keeping the set they describe."""

    def __init__(self, deployed: Any) -> None:
        self.deployed, self.set = deployed, RevocationSet()
        self.receipts: list[Any] = []

    def commit(self, digests: list[bytes], reason: int = 1, at: int = AT) -> RevocationMember:
        previous = self.set.root
        self.set.insert_many(digests, RevocationRecord(reason, at))
        receipt = self.deployed.ledger.commit_revocations(
            self.deployed.issuer, previous, self.set.root, self.set.size, digests, reason, at
        )
        self.receipts.append(receipt)
        return self.member_for(os.urandom(32))

    def member_for(self, digest: bytes) -> RevocationMember:
        receipt = self.receipts[-1] if self.receipts else None
        return RevocationMember(
            self.set.root,
            self.set.size,
            receipt.transaction_hash if receipt else None,
            receipt.block_number if receipt else None,
            self.set.prove(digest),
        )


def _bundle(digest: bytes, deployed: Any, member: RevocationMember | None) -> ProofBundle:
    anchor = AnchorInfo(
        chain_id=31337,
        contract=deployed.ledger.address.lower(),
        transaction_hash="0x" + "11" * 32,
        block_number=1,
        block_hash="0x" + "22" * 32,
        anchored_at=datetime(2026, 1, 1, tzinfo=UTC),
        issuer=deployed.issuer.address.lower(),
    )
    return ProofBundle(digest, InclusionProof(0, 1, (), digest), anchor, None, member)


def _check(deployed: Any, digest: bytes, member: RevocationMember | None):
    return check_not_revoked(
        _bundle(digest, deployed, member), deployed.ledger, deployed.issuer.address
    )


def _digests(n: int) -> list[bytes]:
    return [os.urandom(32) for _ in range(n)]


def test_a_current_proof_decides_with_one_root(deployed) -> None:
    flush, me = Flusher(deployed), deployed.issuer.address
    revoked, kept = _digests(3), os.urandom(32)
    flush.commit(revoked, reason=2)
    root = flush.set.root.hex()

    check = _check(deployed, revoked[1], flush.member_for(revoked[1]))
    assert not check.passed and check.detail == (
        f"revoked by {me} at 2026-01-01T00:00:00Z, reason 2 (fraud or misconduct)"
        f" (in its revocation set, root {root}, 3 entries)"
    )
    check = _check(deployed, kept, flush.member_for(kept))
    assert check.passed and check.detail.startswith(
        f"not revoked by {me}: outside its revocation set (root {root}, 3 entries, committed at "
    )


def test_a_stale_proof_reads_the_commitments_since(deployed) -> None:
    flush, me = Flusher(deployed), deployed.issuer.address
    flush.commit(_digests(2))
    later, kept = os.urandom(32), os.urandom(32)
    held_later, held_kept = flush.member_for(later), flush.member_for(kept)  # proofs then
    flush.commit(_digests(2), reason=3, at=AT + 60)
    flush.commit([later], reason=4, at=AT + 120)
    flush.commit(_digests(1), reason=1, at=AT + 180)
    now = f"root {flush.set.root.hex()}, 6 entries"

    check = _check(deployed, later, held_later)
    receipt = flush.receipts[2]
    assert not check.passed and check.detail == (
        f"revoked by {me} at 2026-01-01T00:02:00Z, reason 4 (withdrawn by learner)"
        f" (committed in block {receipt.block_number}, transaction {receipt.transaction_hash})"
    )
    check = _check(deployed, kept, held_kept)
    assert check.passed and check.detail == (
        f"not revoked by {me}: outside its revocation set at root {held_kept.root.hex()}"
        f" and in none of the 3 commitments since ({now})"
    )
    # Without a proof: the walk goes down to the empty set.
    check = _check(deployed, kept, None)
    assert check.passed and check.detail == (
        f"not revoked by {me}: in none of its 4 revocation commitments ({now})"
    )
    assert not _check(deployed, later, None).passed


def test_a_proof_too_old_or_not_of_this_chain_fails(deployed, monkeypatch) -> None:
    flush = Flusher(deployed)
    flush.commit(_digests(1))
    digest = os.urandom(32)
    held = flush.member_for(digest)
    for _ in range(3):
        flush.commit(_digests(1))
    monkeypatch.setattr(revocation_checks, "MAX_WALK", 2)
    check = _check(deployed, digest, held)
    assert not check.passed
    assert "more than 2 commitments were made since: get a fresh proof bundle" in check.detail
    monkeypatch.undo()

    # A root the issuer never committed, with a proof that leads to it.
    other = RevocationSet.build([(os.urandom(32), RevocationRecord(1, AT))] * 1)
    forged = RevocationMember(other.root, 1, "0x" + "44" * 32, 3, other.prove(digest))
    check = _check(deployed, digest, forged)
    assert (
        not check.passed
        and f"root {other.root.hex()} is not one of its commitments" in check.detail
    )


def test_a_bad_proof_or_size_fails(deployed) -> None:
    flush = Flusher(deployed)
    flush.commit(_digests(4))
    digest = os.urandom(32)
    member = flush.member_for(digest)
    proof = member.proof
    if proof.siblings:
        flipped = bytes([proof.siblings[0][0] ^ 1]) + proof.siblings[0][1:]
        bad = RevocationProof(proof.depth, proof.bitmap, (flipped, *proof.siblings[1:]), proof.leaf)
        check = _check(
            deployed,
            digest,
            RevocationMember(member.root, 4, member.transaction_hash, member.block_number, bad),
        )
        assert not check.passed and check.detail.startswith("the bundle's revocation proof: ")
    wrong = RevocationMember(member.root, 5, member.transaction_hash, member.block_number, proof)
    check = _check(deployed, digest, wrong)
    assert not check.passed and "has 5 entries, the contract 4" in check.detail


def test_the_per_digest_path_of_each_version(deployed, deployed_v1) -> None:
    digest = os.urandom(32)
    for ledger in (deployed, deployed_v1):
        ledger.ledger.revoke(ledger.issuer, [digest], 5)
        check = _check(ledger, digest, None)
        assert not check.passed and check.detail.endswith("reason 5 (key compromise)")
    # Version 2 with a proof that the digest is out of the set: revoke() still counts.
    check = _check(deployed, digest, Flusher(deployed).member_for(digest))
    assert not check.passed and "reason 5" in check.detail

    kept = os.urandom(32)
    check = _check(deployed_v1, kept, None)
    assert check.passed and check.detail == f"not revoked by {deployed_v1.issuer.address}"
    # A bundle that claims a revocation set on a contract that has none.
    check = _check(deployed_v1, kept, Flusher(deployed_v1).member_for(kept))
    assert not check.passed and check.detail.startswith("cannot read revocationRootOf")
    check = _check(deployed, kept, None)
    assert check.passed and check.detail.endswith("it has committed no revocation")


# -- status.committed --------------------------------------------------------------------------


def _list(
    url: str,
    valid_from: str,
    bits: str = "uH4sIAAAAAAAAA-3BMQEAAADCoPVPbQwfoAAAAAAAAAAAAAAAAAAAAIC3AYbSVKsAQAAA",
) -> dict:
    return {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "id": url,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": "did:key:z6Mk",
        "validFrom": valid_from,
        "credentialSubject": {
            "id": f"{url}#list",
            "type": "BitstringStatusList",
            "encodedList": bits,
        },
    }


def test_status_lists_against_their_commitments(deployed) -> None:
    me, ledger = deployed.issuer.address, deployed.ledger
    base = f"https://node.example/{os.urandom(4).hex()}/v1/status-lists/"
    committed, newer, older, never = (base + name for name in ("a", "b", "c", "d"))
    served = {
        committed: _list(committed, "2026-01-01T00:00:00Z"),
        newer: _list(newer, "2099-01-01T00:00:00Z"),
        older: _list(older, "2026-01-01T00:00:00Z"),
        never: _list(never, "2026-01-01T00:00:00Z"),
    }
    other = _list(older, "2025-12-01T00:00:00Z")  # what the issuer committed for `older`
    receipt = ledger.commit_status_lists(
        deployed.issuer,
        [
            (status_list_key(committed), status_list_hash(served[committed])),
            (status_list_key(newer), status_list_hash(_list(newer, "2026-01-01T00:00:00Z"))),
            (status_list_key(older), status_list_hash(other)),
        ],
    )
    block_time = int(ledger.client.block(receipt.block_number)["timestamp"])
    assert block_time - GRACE > datetime(2026, 1, 1, tzinfo=UTC).timestamp()

    def fetch(url: str) -> Any:
        if url not in served:
            raise OSError(f"GET {url}: 404")
        return served[url]

    checks = committed_checks([committed, newer, older, never, base + "gone"], fetch, ledger, me)
    assert [c.passed for c in checks] == [True, False, False, False, False]
    assert checks[0].detail.startswith(f"the list at {committed} is the one {me} committed at ")
    assert checks[0].detail.endswith(f"(SHA-256 {status_list_hash(served[committed]).hex()})")
    assert checks[1].detail.startswith(f"not yet committed: the list at {newer} changed after ")
    assert checks[2].detail.startswith(f"the list served at {older} is not the one {me} committed")
    assert "a split view" in checks[2].detail
    assert checks[3].detail.startswith(f"not yet committed: {me} has committed no hash of the list")
    assert checks[4].detail == f"cannot fetch the list at {base}gone: GET {base}gone: 404"
    hashed = hashlib.sha256(served[committed]["id"].encode()).digest()
    assert hashed == status_list_key(committed)
    assert committed_checks([never], fetch, ledger, me)[0].passed is False
    assert not any(
        c.passed for c in committed_checks([committed], fetch, ledger, "0x" + "00" * 19 + "01")
    )
