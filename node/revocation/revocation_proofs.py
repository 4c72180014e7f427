"""Chain-only revocation proofs: a digest's proof of membership or non-membership in its
issuer's revocation set as of the last confirmed commitment (docs/formats.md "The
revocation set", "The proof bundle"), for `GET /v1/revocation-proofs/{digest}` and the
proof bundle's ``revocation`` member.

A verifier checks the proof against `revocationRootOf(issuer)` on chain, so it trusts the
node for nothing: a node that served a wrong proof would be caught by the root.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace

from sqlalchemy import Connection, Engine, bindparam, func, select

from mcledger.anchoring.bundle import ProofBundle, RevocationMember
from mcledger.anchoring.revocation_proof import RevocationProof
from mcledger.node.errors import NodeError
from mcledger.node.index.models import issuer_t, revocation_t, submission_t
from mcledger.node.pipeline.revocation_sets import Commitment, CommittedSets, committed_sets

ZERO_DIGEST = "00" * 32
_ISSUER_BY_ADDRESS = select(issuer_t.c.id).where(
    func.lower(issuer_t.c.chain_address) == bindparam("address")
)


class ZeroDigestError(NodeError):
    """The zero digest: no credential has it, no revocation set holds it (the contract
    refuses it), and there is no proof to make of it."""


@dataclass(frozen=True)
class RevocationStanding:
    """A digest's place in its issuer's committed set: the member a bundle carries, what it
    proves, and the commitment it was made against."""

    digest: bytes
    issuer_id: str
    issuer_address: str
    member: RevocationMember
    commitment: Commitment

    @property
    def proof(self) -> RevocationProof:
        return self.member.proof

    @property
    def revoked(self) -> bool:
        leaf = self.proof.leaf
        return leaf is not None and leaf.digest == self.digest


def issuer_of_digest(engine: Engine, digest: str) -> str | None:
    """The issuer whose digest this is (submitted, or revoked), or None if unknown."""
    with engine.connect() as conn:
        found = conn.execute(
            select(submission_t.c.issuer_id).where(submission_t.c.digest == digest).limit(1)
        ).scalar_one_or_none()
        if found is None:
            found = conn.execute(
                select(revocation_t.c.issuer_id).where(revocation_t.c.digest == digest).limit(1)
            ).scalar_one_or_none()
    return None if found is None else str(found)


def _address_of(engine: Engine, issuer_id: str) -> str:
    with engine.connect() as conn:
        return str(
            conn.execute(
                select(issuer_t.c.chain_address).where(issuer_t.c.id == issuer_id)
            ).scalar_one()
        )


def revocation_standing(
    engine: Engine, digest: str, *, sets: CommittedSets | None = None
) -> RevocationStanding | None:
    """The digest's proof against its issuer's last confirmed commitment (the empty set's
    when the issuer never committed); None when the index does not know the digest;
    ZeroDigestError for the zero digest."""
    if digest == ZERO_DIGEST:
        raise ZeroDigestError("the zero digest is no credential's: no revocation set holds it")
    issuer_id = issuer_of_digest(engine, digest)
    if issuer_id is None:
        return None
    proof, head = (sets or committed_sets(engine)).prove(issuer_id, bytes.fromhex(digest))
    member = RevocationMember(head.root, head.size, head.transaction_hash, head.block_number, proof)
    return RevocationStanding(
        bytes.fromhex(digest), issuer_id, _address_of(engine, issuer_id), member, head
    )


def with_revocation(
    engine: Engine,
    bundle: ProofBundle,
    *,
    sets: CommittedSets | None = None,
    conn: Connection | None = None,
    issuer_id: str | None = None,
    checked_within: float = 0.0,
) -> ProofBundle:
    """``bundle`` with its ``revocation`` member once its issuer has committed a revocation
    set on the bundle's ledger (until then the bundle is written as before: the verifier
    reads the issuer's root, zero, itself). Reads on ``conn`` when given (a proof's one
    connection), else on a connection of ``engine``; ``issuer_id``: the bundle's issuer,
    when the caller knows it (else found by the bundle's issuer address); ``checked_within``:
    see `CommittedSets.prove`."""
    if bundle.digest.hex() == ZERO_DIGEST:  # no set holds it: nothing to prove
        return bundle
    sets = sets or committed_sets(engine)
    with contextlib.nullcontext(conn) if conn is not None else engine.connect() as reading:
        if issuer_id is None:
            issuer_id = reading.execute(
                _ISSUER_BY_ADDRESS, {"address": bundle.anchor.issuer.lower()}
            ).scalar_one_or_none()
        if issuer_id is None:
            return bundle
        proof, head = sets.prove(
            issuer_id, bundle.digest, conn=reading, checked_within=checked_within
        )
    ledger = (bundle.anchor.ledger or bundle.anchor.contract).lower()
    if head.batch_id is None or str(head.contract or "").lower() != ledger:
        return bundle
    member = RevocationMember(head.root, head.size, head.transaction_hash, head.block_number, proof)
    return replace(bundle, revocation=member)
