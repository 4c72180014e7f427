"""`GET /healthz` (the process answers) and `GET /readyz` (the index and the chain answer)."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text

from mcledger.node.api.deps import Context
from mcledger.node.api.problems import ProblemError
from mcledger.node.api.schemas import Health, Readiness

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness")
async def healthz() -> Health:
    return Health(status="ok")


@router.get("/readyz", summary="Readiness: the index and the chain", responses={503: {}})
def readyz(context: Context) -> Readiness:
    """200 when the index answers `SELECT 1` and the chain probe passes; else 503 naming
    the failed part. A node without a chain probe reports the chain as `not-configured`."""
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
    failed = [name for name, result in checks.items() if result.startswith("failed")]
    if failed:
        raise ProblemError(503, "not-ready", f"not ready: {', '.join(failed)}", checks=checks)
    return Readiness(status="ready", checks=checks)
