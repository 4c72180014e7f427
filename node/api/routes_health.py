"""`GET /healthz` (the process answers) and `GET /readyz` (the index and the chain answer,
and the pipeline is not stuck)."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text

from mcledger.node.api.deps import Context
from mcledger.node.api.problems import ProblemError
from mcledger.node.api.schemas import Health, Readiness
from mcledger.node.pipeline.health import ANCHORING, TRANSACTIONS, read_pipeline_state, stalls
from mcledger.node.pipeline.scheduler import cron_trigger

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness")
async def healthz() -> Health:
    return Health(status="ok")


@router.get("/readyz", summary="Readiness: the index, the chain, the pipeline", responses={503: {}})
def readyz(context: Context) -> Readiness:
    """200 when the index answers `SELECT 1`, the chain probe passes and the pipeline is
    not stuck (node.pipeline.health.stalls); else 503 naming each failed part and why.
    A node without a chain probe reports the chain as `not-configured`."""
    checks: dict[str, str] = {}
    try:
        with context.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # any failure means not ready; say which kind
        checks["database"] = f"failed: {type(exc).__name__}"
    if context.chain_ready is None:
        checks["chain"] = "not-configured"
    else:
        try:
            checks["chain"] = "ok" if context.chain_ready() else "failed: not ready"
        except Exception as exc:
            checks["chain"] = f"failed: {type(exc).__name__}"
    pipeline = dict.fromkeys((ANCHORING, TRANSACTIONS), "unknown: the index did not answer")
    if checks["database"] == "ok":
        settings = context.settings
        try:
            pipeline = stalls(
                read_pipeline_state(context.engine, count_pending=False),
                cron_trigger(settings),
                grace=settings.anchor_grace,
                unconfirmed_limit=settings.unconfirmed_limit,
            )
        except Exception as exc:
            pipeline = dict.fromkeys(pipeline, f"failed: {type(exc).__name__}")
    failed = [name for name, result in (checks | pipeline).items() if result.startswith("failed")]
    if failed:
        raise ProblemError(
            503, "not-ready", f"not ready: {', '.join(failed)}", checks=checks, pipeline=pipeline
        )
    return Readiness(status="ready", checks=checks, pipeline=pipeline)
