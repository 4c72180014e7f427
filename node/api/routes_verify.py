"""`GET /verify`: the verifier page, served by every node; `GET /verify/config.json`: its
public configuration (chain id → RPC URL, the next anchoring time).

The page's files are the package's committed build (``node/verifier/web/``, see
:mod:`mcledger.node.verifier.page`); the configuration goes into ``index.html`` as a JSON
data block, so the page needs no request to start. Every file goes out with a strict
Content-Security-Policy: the page's own script and style, nothing inline, no framing.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from mcledger.anchoring.bundle import format_time
from mcledger.node.api.deps import Context, NodeContext
from mcledger.node.api.problems import ProblemError
from mcledger.node.runtime.chain_setup import (
    DEPLOYMENT_FILE,
    Deployment,
    running_dev_endpoint,
)
from mcledger.node.settings import public_url_problem
from mcledger.node.verifier.page import (
    ASSETS,
    CONTENT_SECURITY_POLICY,
    asset_bytes,
    page_config,
    render_index,
)

router = APIRouter(tags=["verifier page"])

_PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def public_rpc_urls(context: NodeContext) -> dict[int, str]:
    """The RPC URL of each chain the page may read: the settings' ``verifier_rpc_urls``,
    and in development mode the node's own chain (a loopback Anvil: nothing secret)."""
    settings = context.settings
    urls = dict(settings.verifier_rpc_urls)
    if settings.dev:
        deployment = Deployment.load(settings.chain_dir / DEPLOYMENT_FILE)
        rpc_url = settings.rpc_url or running_dev_endpoint(settings)
        if deployment is not None and rpc_url and public_url_problem(rpc_url) is None:
            urls.setdefault(deployment.chain_id, rpc_url)
    return urls


def _config(context: NodeContext) -> dict[str, object]:
    next_run = context.anchoring.next_run_at() if context.anchoring is not None else None
    return page_config(public_rpc_urls(context), format_time(next_run) if next_run else None)


@router.get("/verify", include_in_schema=False)
async def verify_redirect(request: Request) -> RedirectResponse:
    # The page's files are relative to /verify/ (the same files work from any folder); a
    # relative Location keeps a path prefix a reverse proxy may add.
    query = request.url.query
    return RedirectResponse("verify/" + (f"?{query}" if query else ""), status_code=307)


@router.get(
    "/verify/",
    summary="The verifier page: check a micro-credential in the browser",
    response_class=Response,
    responses={200: {"content": {"text/html": {}}}},
)
def verifier_page(context: Context) -> Response:
    return Response(
        render_index(_config(context)),
        media_type="text/html; charset=utf-8",
        headers={**_PAGE_HEADERS, "Cache-Control": "no-cache"},
    )


@router.get(
    "/verify/config.json",
    summary="The verifier page's public configuration: chain id → RPC URL, next anchoring",
)
def verifier_config(context: Context) -> JSONResponse:
    return JSONResponse(_config(context), headers={"Cache-Control": "no-cache"})


@router.get("/verify/{name}", include_in_schema=False)
async def verifier_asset(name: str) -> Response:
    if name not in ASSETS:
        raise ProblemError(404, "not-found", f"the verifier page has no file {name!r}")
    return Response(
        asset_bytes(name),
        media_type=f"{ASSETS[name]}; charset=utf-8",
        headers={**_PAGE_HEADERS, "Cache-Control": "public, max-age=300"},
    )
