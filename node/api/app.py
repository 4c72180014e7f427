"""The FastAPI application: routes, problem handlers and the OpenAPI document."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel
from sqlalchemy import Engine
from starlette.types import ASGIApp

from mcledger.node.api import (
    routes_achievements,
    routes_batches,
    routes_credentials,
    routes_digests,
    routes_health,
    routes_issuers,
    routes_metrics,
    routes_proofs,
    routes_revocation_proofs,
    routes_revocations,
    routes_verify,
)
from mcledger.node.api.cors import PublicReadCors
from mcledger.node.api.deps import AnchoringControl, NodeContext
from mcledger.node.api.observe import RequestObserver
from mcledger.node.api.openapi import install_openapi
from mcledger.node.api.problems import install_problem_handlers
from mcledger.node.api.schemas import AnchorRequest, DigestSubmission
from mcledger.node.issuing.issuance import CredentialIssuer
from mcledger.node.pipeline.revocation_sets import committed_sets
from mcledger.node.settings import Settings

# Bodies the routes parse themselves (after authentication, with a size cap); their
# schemas are added to the OpenAPI components so /docs still shows them.
_REQUEST_MODELS: tuple[type[BaseModel], ...] = (DigestSubmission, AnchorRequest)


def _version() -> str:
    try:
        return version("mcledger")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0.0.0"


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    # The issuers' revocation sets are built in the background as serving starts (each
    # process its own), not by the first proof request, which would wait seconds for it.
    context: NodeContext = app.state.node
    committed_sets(context.engine).warm_up()
    yield


# FastAPI's own OpenTelemetry spans and metrics, off: the node keeps its metrics itself
# (/metrics), and asking whether a provider is configured cost every request about 10 µs.
_NO_TELEMETRY: dict[str, Any] = (
    {"telemetry": {"tracing": False, "metrics": False, "logs": False}}
    if "telemetry" in inspect.signature(FastAPI.__init__).parameters
    else {}  # a FastAPI before its telemetry
)


class NodeApp(FastAPI):
    """FastAPI with `RequestObserver` outside every other layer, Starlette's error
    middleware included: a 500 is timed, logged with its request id and carries it
    (every request is logged with `MCLEDGER_ACCESS_LOG=all`)."""

    def build_middleware_stack(self) -> ASGIApp:
        context: NodeContext = self.state.node
        return RequestObserver(
            super().build_middleware_stack(),
            log_every_request=context.settings.access_log == "all",
        )


def create_app(
    settings: Settings,
    engine: Engine,
    anchoring: AnchoringControl | None = None,
    *,
    chain_ready: Callable[[], bool] | None = None,
    credentials: CredentialIssuer | None = None,
) -> FastAPI:
    """The node's HTTP API over an open index; ``anchoring`` serves `POST /v1/batches`
    and the next run time, ``chain_ready`` the chain part of `/readyz`."""
    app = NodeApp(
        title="mcledger",
        version=_version(),
        description=(
            "A ledger node for European micro-credentials: digests go into RFC 6962 "
            "batches whose roots are anchored on an EVM chain; anyone may fetch proofs. "
            "Errors are RFC 9457 problem documents with a stable `code`."
        ),
        lifespan=_lifespan,
        **_NO_TELEMETRY,
    )
    app.state.node = NodeContext(settings, engine, anchoring, chain_ready, credentials)
    install_problem_handlers(app)
    app.add_middleware(PublicReadCors)  # public reads usable from an exported verifier page
    for module in (
        routes_digests,
        routes_proofs,
        routes_revocation_proofs,
        routes_revocations,
        routes_credentials,  # after routes_proofs: its {id:path} would swallow …/proof
        routes_batches,
        routes_achievements,
        routes_issuers,
        routes_health,
        routes_metrics,
        routes_verify,
    ):
        app.include_router(module.router)
    install_openapi(app, _REQUEST_MODELS)
    return app
