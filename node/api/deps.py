"""What routes receive by injection: the node's parts, and the caller's token.

The app holds one ``NodeContext`` (settings, index, anchoring control, chain
probe); routes get it with ``Depends(node_context)`` and never reach for
globals. ``require_scope("issue")`` authenticates the bearer token and checks
its scope; its refusals carry ``WWW-Authenticate`` as RFC 6750 §3 asks.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Protocol

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from mcledger.node.api.problems import ProblemError
from mcledger.node.issuing.issuance import CredentialIssuer
from mcledger.node.issuing.tokens import (
    AuthenticationError,
    TokenInfo,
    authenticate,
    recently_authenticated,
)
from mcledger.node.settings import Settings


class AnchoringControl(Protocol):
    """The anchoring service as the API sees it (implemented by the node's scheduler)."""

    def next_run_at(self) -> datetime | None:
        """When pending digests are next sealed and anchored, if scheduled."""
        ...

    def anchor_now(self, issuer_id: str) -> dict[str, Any]:
        """Seal the issuer's pending digests and anchor them now; a JSON-able description
        of the batch, or ``{"state": "nothing-pending"}``."""
        ...


@dataclass(frozen=True)
class NodeContext:
    settings: Settings
    engine: Engine
    anchoring: AnchoringControl | None
    chain_ready: Callable[[], bool] | None
    credentials: CredentialIssuer | None = None


async def node_context(request: Request) -> NodeContext:  # async: no thread-pool hop
    context: NodeContext = request.app.state.node
    return context


Context = Annotated[NodeContext, Depends(node_context)]

bearer = HTTPBearer(
    auto_error=False,
    description="An API token from `mcledger token create` (Authorization: Bearer mcl_…).",
)
_REALM = 'Bearer realm="mcledger"'


def require_scope(scope: str) -> Callable[..., Awaitable[TokenInfo]]:
    """A dependency that returns the caller's token if it is valid and has ``scope``."""

    async def dependency(  # async: a token seen lately costs no hop to a worker thread
        context: Context,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> TokenInfo:
        if credentials is None:
            raise ProblemError(
                401,
                "unauthenticated",
                "send an API token as `Authorization: Bearer …`",
                headers={"WWW-Authenticate": _REALM},
            )
        try:
            token = recently_authenticated(context.engine, credentials.credentials)
            if token is None:
                token = await run_in_threadpool(
                    authenticate, context.engine, credentials.credentials
                )
        except AuthenticationError as exc:
            raise ProblemError(
                401,
                "invalid-token",
                str(exc),
                headers={"WWW-Authenticate": f'{_REALM}, error="invalid_token"'},
            ) from None
        if scope not in token.scopes:
            raise ProblemError(
                403,
                "insufficient-scope",
                f"this needs a token with scope {scope!r}; "
                f"this one has {', '.join(sorted(token.scopes))}",
                headers={
                    "WWW-Authenticate": f'{_REALM}, error="insufficient_scope", scope="{scope}"'
                },
            )
        return token

    dependency.__name__ = f"require_scope_{scope}"
    return dependency
