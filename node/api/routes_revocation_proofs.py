"""`GET /v1/revocation-proofs/{digest}`: a digest's proof of membership or non-membership in
its issuer's revocation set, as of the last commitment on chain (public; docs/formats.md
"The revocation set")."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from mcledger.anchoring.bundle import format_time
from mcledger.anchoring.revocation_proof import PROOF_VERSION
from mcledger.node.api.deps import Context
from mcledger.node.api.problems import ProblemError, field_error, validation_problem
from mcledger.node.pipeline.submissions import digest_problem
from mcledger.node.revocation.revocation_proofs import ZeroDigestError, revocation_standing

router = APIRouter(tags=["proofs"])


class RevocationLeafView(BaseModel):
    digest: str = Field(description="64 hex: the entry the proof's path ends at")
    reason: int = Field(ge=0, le=5)
    revokedAt: int = Field(description="seconds since the epoch, as the commitment declared")


class RevocationProofJson(BaseModel):
    """mcledger-revocation-proof/1 (docs/formats.md)."""

    version: str = Field(examples=[PROOF_VERSION])
    depth: int = Field(ge=0, le=256)
    bitmap: str = Field(description="ceil(depth / 8) bytes, hex: which siblings are non-empty")
    siblings: list[str] = Field(description="the non-empty siblings, root first, 64 hex each")
    leaf: RevocationLeafView | None = Field(
        description="the entry the path ends at; null: an empty subtree (not revoked)"
    )


class RevocationMemberView(BaseModel):
    """The proof bundle's `revocation` member: the proof and the commitment it leads to."""

    root: str = Field(description="the issuer's committed root, 64 hex (zero: never committed)")
    size: int = Field(ge=0, description="entries in the set at that root")
    transactionHash: str | None = Field(description="the commitment's transaction")
    blockNumber: int | None
    proof: RevocationProofJson


class RevocationProofView(BaseModel):
    """Whether a digest is in its issuer's committed revocation set, with the proof a verifier
    checks against `revocationRootOf(issuer)` on chain."""

    digest: str
    issuer: str = Field(description="the issuer's chain address (the set is keyed by it)")
    revoked: bool
    reason: int | None = Field(description="when revoked: 0-5, as the contract numbers them")
    revokedAt: str | None = Field(description="when revoked: the commitment's time, UTC")
    chainId: int | None = Field(description="where the set is committed (null: never)")
    contract: str | None
    committedAt: str | None = Field(description="the commitment's block time, UTC")
    revocation: RevocationMemberView


_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"description": "the digest is not in the index"},
    422: {"description": "not a digest (64 lower-case hex), or the zero digest"},
}


@router.get(
    "/v1/revocation-proofs/{digest}",
    summary="A digest's proof of (non-)revocation against its issuer's committed root",
    response_model=RevocationProofView,
    responses=_RESPONSES,
)
async def revocation_proof(digest: str, context: Context) -> RevocationProofView:
    problem = digest_problem(digest)
    if problem is not None:
        raise validation_problem([field_error(("digest",), problem, "path")])
    # In the thread pool: a process's first proof of an issuer builds its set from the index.
    try:
        standing = await run_in_threadpool(revocation_standing, context.engine, digest)
    except ZeroDigestError as exc:
        raise validation_problem([field_error(("digest",), str(exc), "path")]) from None
    if standing is None:
        raise ProblemError(404, "not-found", f"digest {digest} is not in the index")
    head, leaf = standing.commitment, standing.proof.leaf
    record = leaf.record if standing.revoked and leaf is not None else None
    return RevocationProofView(
        digest=digest,
        issuer=standing.issuer_address,
        revoked=standing.revoked,
        reason=None if record is None else record.reason,
        revokedAt=None if record is None else _seconds(record.revoked_at),
        chainId=head.chain_id,
        contract=head.contract,
        committedAt=None if head.block_time is None else format_time(head.block_time),
        revocation=RevocationMemberView.model_validate(standing.member.to_json()),
    )


def _seconds(moment: int) -> str:
    return format_time(datetime.fromtimestamp(moment, UTC))
