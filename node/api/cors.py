"""CORS on the node's public reads, so a verifier page on another origin (an exported copy
on a university's site, a USB stick opened as ``file://``) can use them.

Only GET and HEAD of the public documents answer with ``Access-Control-Allow-Origin: *``:
status lists, the revocation history, DID documents, contexts, proofs, the learner's link
(whose secret is in the URL, so no cookie or token is involved) and the page's public
configuration. Writes and anything behind a token stay same-origin; no credentials are
ever allowed cross-origin. Requests the page sends carry no custom header, so no preflight.
"""

from __future__ import annotations

import re

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PUBLIC_READS = re.compile(
    r"^/(?:v1/status-lists/[^/]+|v1/revocations|\.well-known/did\.json"
    r"|v1/issuers/[^/]+/did\.json|contexts/.+|v1/proofs/[^/]+|v1/credentials/.+"
    r"|verify/config\.json)$"
)
"""The paths whose GET is public and may be read from any origin."""


def is_public_read(method: str, path: str) -> bool:
    return method in ("GET", "HEAD") and PUBLIC_READS.match(path) is not None


class PublicReadCors:
    """ASGI middleware adding ``Access-Control-Allow-Origin: *`` to public reads."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_public_read(scope["method"], scope["path"]):
            await self.app(scope, receive, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["Access-Control-Allow-Origin"] = "*"
                headers["Access-Control-Expose-Headers"] = "ETag, Retry-After"
            await send(message)

        await self.app(scope, receive, send_with_cors)
