"""`GET /metrics`: the Prometheus exposition (text format, or OpenMetrics when asked).

Public like `/healthz`: bind the node to a private address or let the reverse
proxy keep `/metrics` inside (see the README's "Operations").
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from mcledger.node.api.deps import Context
from mcledger.node.metrics import PipelineCollector, render
from mcledger.node.pipeline.health import read_pipeline_state

router = APIRouter(tags=["operations"])


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}},
)
def metrics(context: Context, request: Request) -> Response:
    """This process's counters (gas, fees, RPC errors, HTTP latency) and gauges read from
    the index now (digests waiting, batches by state, revocations waiting, last anchor)."""
    collector = PipelineCollector(lambda: read_pipeline_state(context.engine))
    body, media_type = render(collector, request.headers.get("accept"))
    return Response(body, media_type=media_type)
