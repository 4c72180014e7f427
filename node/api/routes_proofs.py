"""`GET /v1/proofs/{digest}` and `GET /v1/credentials/{id}/proof`: public proof bundles."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from mcledger.anchoring.bundle import format_time
from mcledger.node.api.deps import Context, NodeContext
from mcledger.node.api.problems import ProblemError, field_error, validation_problem
from mcledger.node.api.schemas import PROOF_BUNDLE_EXAMPLE, ProofPending
from mcledger.node.pipeline.batches import ProofStatus, proof_status
from mcledger.node.pipeline.submissions import digest_problem
from mcledger.node.revocation.revocation_proofs import with_revocation

router = APIRouter(tags=["proofs"])

_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "the proof bundle (mcledger-proof/1): the digest is anchored",
        "content": {"application/json": {"example": PROOF_BUNDLE_EXAMPLE}},
    },
    202: {"model": ProofPending, "description": "known, not yet anchored and confirmed"},
    404: {"description": "not in the index"},
}


@router.get("/v1/proofs/{digest}", summary="The proof bundle of a digest", responses=_RESPONSES)
async def proof_by_digest(digest: str, context: Context) -> JSONResponse:
    # async on purpose: the lookup reads a few indexed rows and cached tiles (well under a
    # millisecond), less than a hop to the thread pool and back costs.
    problem = digest_problem(digest)
    if problem is not None:
        raise validation_problem([field_error(("digest",), problem, "path")])
    status = proof_status(context.engine, digest=digest)
    if status is None:
        raise ProblemError(404, "not-found", f"digest {digest} is not in the index")
    return await _proof_response(context, status)


@router.get(
    "/v1/credentials/{credential_id:path}/proof",
    summary="The proof bundle of a credential, by its id",
    responses=_RESPONSES,
)
async def proof_by_credential(credential_id: str, context: Context) -> JSONResponse:
    status = proof_status(context.engine, credential_id=credential_id)
    if status is None:
        raise ProblemError(404, "not-found", f"credential {credential_id} is not in the index")
    return await _proof_response(context, status)


async def _proof_response(context: NodeContext, status: ProofStatus) -> JSONResponse:
    if status.bundle is not None:  # with its revocation proof, once the issuer committed
        bundle = await run_in_threadpool(with_revocation, context.engine, status.bundle)
        return JSONResponse(bundle.to_json())
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
