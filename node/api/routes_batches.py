"""`GET /v1/batches[/{id}]` (public) and `POST /v1/batches` (admin: seal and anchor now)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from mcledger.anchoring.bundle import format_time
from mcledger.node.api.body import documented_body, parse_body, read_body
from mcledger.node.api.deps import Context, require_scope
from mcledger.node.api.problems import ProblemError
from mcledger.node.api.schemas import (
    MAX_INDEX_ID,
    AnchorNowResult,
    AnchorRequest,
    AnchorView,
    BatchPage,
    BatchView,
)
from mcledger.node.index.models import BatchState, batch_t
from mcledger.node.issuing.tokens import TokenInfo

router = APIRouter(tags=["batches"])

MAX_PAGE = 500

_BATCH = select(batch_t).where(batch_t.c.root.is_not(None))


def _view(row: Any) -> BatchView:
    anchor = None
    if row.state == BatchState.CONFIRMED:
        anchor = AnchorView(
            chainId=row.chain_id,
            contract=row.contract.lower(),
            transactionHash=row.transaction_hash,
            blockNumber=row.block_number,
            blockHash=row.block_hash,
            anchoredAt=format_time(row.block_time),
        )
    return BatchView(
        id=row.id,
        issuer=row.issuer_id,
        state=row.state,
        treeSize=row.tree_size,
        root=row.root,
        sealedAt=format_time(row.sealed_at),
        anchor=anchor,
    )


@router.get("/v1/batches", summary="Batches, newest first")
def list_batches(
    context: Context,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="batches per page")] = 50,
    after: Annotated[
        int | None,
        Query(ge=1, le=MAX_INDEX_ID, description="the `nextAfter` of the previous page"),
    ] = None,
    issuer: Annotated[str | None, Query(description="only this issuer's batches")] = None,
) -> BatchPage:
    """Newest first (by id); page on with `after` = the previous page's `nextAfter`."""
    query = _BATCH.order_by(batch_t.c.id.desc()).limit(limit + 1)
    if after is not None:
        query = query.where(batch_t.c.id < after)
    if issuer is not None:
        query = query.where(batch_t.c.issuer_id == issuer)
    with context.engine.connect() as conn:
        rows = conn.execute(query).all()
    views = [_view(row) for row in rows[:limit]]
    return BatchPage(batches=views, nextAfter=views[-1].id if len(rows) > limit else None)


@router.get("/v1/batches/{batch_id}", summary="One batch", responses={404: {}})
def get_batch(batch_id: Annotated[int, Path(ge=1, le=MAX_INDEX_ID)], context: Context) -> BatchView:
    with context.engine.connect() as conn:
        row = conn.execute(_BATCH.where(batch_t.c.id == batch_id)).first()
    if row is None:
        raise ProblemError(404, "not-found", f"no batch {batch_id}")
    return _view(row)


@router.post(
    "/v1/batches",
    status_code=202,
    summary="Seal the issuer's pending digests and anchor them now",
    description=(
        "Body `{}` (or empty). Needs a token with scope `admin`; acts for the token's "
        'issuer. 202 with the batch, or `{"state": "nothing-pending"}`.'
    ),
    openapi_extra=documented_body(AnchorRequest, required=False),
    responses={
        202: {"model": AnchorNowResult},
        409: {"description": "an anchoring run is in progress"},
        502: {"description": "the chain refused or failed the transaction"},
        503: {"description": "no anchoring service, or the chain is not reachable"},
    },
)
async def anchor_now(
    request: Request,
    context: Context,
    token: Annotated[TokenInfo, Depends(require_scope("admin"))],
) -> JSONResponse:
    raw = await read_body(request)
    if raw.strip():
        parse_body(AnchorRequest, raw)
    anchoring = context.anchoring
    if anchoring is None:
        raise ProblemError(
            503, "anchoring-unavailable", "this node runs without an anchoring service"
        )
    result = await run_in_threadpool(anchoring.anchor_now, token.issuer_id)
    return JSONResponse(result, status_code=202)
