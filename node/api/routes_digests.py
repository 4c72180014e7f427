"""`POST /v1/digests`: issuers that sign elsewhere hand in bare digests."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from starlette.concurrency import run_in_threadpool

from mcledger.anchoring.bundle import format_time
from mcledger.node.api.body import documented_body, parse_body, read_body
from mcledger.node.api.deps import Context, NodeContext, require_scope
from mcledger.node.api.schemas import DigestReceipts, DigestSubmission
from mcledger.node.issuing.tokens import TokenInfo
from mcledger.node.pipeline.submissions import SubmissionState, submit_digests

router = APIRouter(tags=["digests"])


@router.post(
    "/v1/digests",
    status_code=202,
    response_model=DigestReceipts,
    summary="Submit digests for anchoring",
    description=(
        "1 to 10,000 digests (64 lower-case hex), each with an optional credentialId. "
        "All or nothing: any bad item, or a digest that contradicts the index (another "
        "issuer's, or recorded with another credentialId), and none is stored. A digest "
        "already in the index is accepted again without change (`created: false`). "
        "Needs a token with scope `issue`."
    ),
    openapi_extra=documented_body(DigestSubmission),
    responses={
        400: {"description": "the body is not JSON"},
        401: {"description": "no token, or an unknown or revoked one"},
        403: {"description": "the token lacks scope `issue`, or a digest is another issuer's"},
        409: {"description": "a digest contradicts the index; nothing stored"},
        413: {"description": "the body is larger than the limit"},
        422: {"description": "invalid items, each named by its path; nothing stored"},
    },
)
async def submit(
    request: Request,
    context: Context,
    token: Annotated[TokenInfo, Depends(require_scope("issue"))],
) -> Response:
    raw = await read_body(request)
    # Parsing 10,000 items and the database work stay off the event loop.
    body = await run_in_threadpool(_intake, context, token, raw)
    return Response(body, status_code=202, media_type="application/json")


def _intake(context: NodeContext, token: TokenInfo, raw: bytes) -> bytes:
    submission = parse_body(DigestSubmission, raw)
    states = submit_digests(
        context.engine,
        token.issuer_id,
        [(item.digest, item.credential_id) for item in submission.digests],
        actor=f"token:{token.id}",
    )
    return _receipts_json(states)


def _receipts_json(states: list[SubmissionState]) -> bytes:
    # Built by hand: a response model would cost more than the insert for 10,000 items.
    times: dict[datetime, str] = {}
    receipts = []
    for state in states:
        when = times.get(state.submitted_at)
        if when is None:
            when = times[state.submitted_at] = format_time(state.submitted_at)
        receipts.append(
            {
                "digest": state.digest,
                "credentialId": state.credential_id,
                "state": state.state,
                "batchId": state.batch_id,
                "submittedAt": when,
                "created": state.created,
            }
        )
    return json.dumps({"digests": receipts}, separators=(",", ":")).encode()
