"""`GET /v1/proofs/{digest}` and `GET /v1/credentials/{id}/proof`: public proof bundles."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy import Connection

from mcledger.anchoring.bundle import format_time
from mcledger.node.api.deps import NodeContext
from mcledger.node.api.problems import ProblemError, field_error, validation_problem
from mcledger.node.api.schemas import PROOF_BUNDLE_EXAMPLE, ProofPending
from mcledger.node.pipeline.batches import ProofStatus, proof_status
from mcledger.node.pipeline.revocation_sets import committed_sets
from mcledger.node.pipeline.submissions import digest_problem
from mcledger.node.pipeline.tree_reads import with_proof_connection
from mcledger.node.revocation.revocation_proofs import with_revocation

router = APIRouter(tags=["proofs"])
# How old this process's look at the issuer's confirmed commitments may be for a bundle's
# revocation member: a query less a proof, and a member that leads to the root before a
# commitment confirmed in the last second at most (a verifier reads such a stale proof
# forward to the root on chain, docs/formats.md).
REVOCATIONS_CHECKED_WITHIN = 1.0

_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "the proof bundle (mcledger-proof/1): the digest is anchored",
        "content": {"application/json": {"example": PROOF_BUNDLE_EXAMPLE}},
    },
    202: {"model": ProofPending, "description": "known, not yet anchored and confirmed"},
    404: {"description": "not in the index"},
}


@router.get("/v1/proofs/{digest}", summary="The proof bundle of a digest", responses=_RESPONSES)
async def proof_by_digest(digest: str, request: Request) -> JSONResponse:
    context: NodeContext = request.app.state.node  # (a dependency costs every proof ~8 µs)
    problem = digest_problem(digest)
    if problem is not None:
        raise validation_problem([field_error(("digest",), problem, "path")])
    status = await _prove(context, digest=digest)
    if status is None:
        raise ProblemError(404, "not-found", f"digest {digest} is not in the index")
    return _proof_response(context, status)


@router.get(
    "/v1/credentials/{credential_id:path}/proof",
    summary="The proof bundle of a credential, by its id",
    responses=_RESPONSES,
)
async def proof_by_credential(credential_id: str, request: Request) -> JSONResponse:
    context: NodeContext = request.app.state.node
    status = await _prove(context, credential_id=credential_id)
    if status is None:
        raise ProblemError(404, "not-found", f"credential {credential_id} is not in the index")
    return _proof_response(context, status)


async def _prove(context: NodeContext, **key: str) -> ProofStatus | None:
    """The proof status of a digest or credential id, with the revocation member. On the
    event loop, on one connection: a few indexed rows and cached tiles, well under a
    millisecond, less than a hop to the thread pool and back costs. The revocation member
    goes to the pool only while this process has not built the issuer's revocation set
    (the first build reads every committed revocation)."""
    engine = context.engine

    def prove(conn: Connection) -> tuple[ProofStatus | None, bool]:
        status = proof_status(engine, conn=conn, **key)
        if status is None or status.bundle is None:
            return status, True
        issuer_id = status.issuer_id
        if issuer_id is None or not committed_sets(engine).is_built(issuer_id):
            return status, False
        bundle = with_revocation(
            engine,
            status.bundle,
            conn=conn,
            issuer_id=issuer_id,
            checked_within=REVOCATIONS_CHECKED_WITHIN,
        )
        return (status if bundle is status.bundle else replace(status, bundle=bundle)), True

    status, done = with_proof_connection(engine, prove)
    if done or status is None or status.bundle is None:
        return status
    bundle = await run_in_threadpool(
        with_revocation, engine, status.bundle, issuer_id=status.issuer_id
    )
    return replace(status, bundle=bundle)


def _proof_response(context: NodeContext, status: ProofStatus) -> JSONResponse:
    if status.bundle is not None:  # with its revocation proof, once the issuer committed
        return JSONResponse(status.bundle.to_json())
    next_run = context.anchoring.next_run_at() if context.anchoring is not None else None
    body = ProofPending(
        digest=status.digest,
        state=status.state,
        batchId=status.batch_id,
        nextAnchoringAt=format_time(next_run) if next_run is not None else None,
    )
    headers = {}
    if next_run is not None and status.state == "pending":
        wait = (next_run - datetime.now(UTC)).total_seconds()
        headers["Retry-After"] = str(max(1, math.ceil(wait)))
    return JSONResponse(body.model_dump(), status_code=202, headers=headers)
