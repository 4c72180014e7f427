"""Errors as JSON problem details (RFC 9457), each with a stable ``code``.

Every error the API sends has this shape and the media type
``application/problem+json``: ``type`` (a URI naming the code), ``title``,
``status``, ``detail``, ``code``, and for validation an ``errors`` list with one
entry per bad field (``path`` such as ``digests[3].digest``, a JSON Pointer,
and a ``detail``). Node and anchoring exceptions are mapped here, so routes
raise what went wrong and never build responses for errors themselves.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from mcledger.anchoring.errors import AnchoringError, ChainError
from mcledger.node.errors import ChainSetupError, NodeError
from mcledger.node.index.db import DatabaseError
from mcledger.node.issuing.issuers import UnknownIssuerError
from mcledger.node.issuing.tokens import AuthenticationError, InvalidScopeError
from mcledger.node.pipeline.submissions import DigestConflictError, InvalidSubmissionError

log = logging.getLogger("mcledger.api")

PROBLEM_TYPE_BASE = "https://w3id.org/mcledger/problems/"
PROBLEM_MEDIA_TYPE = "application/problem+json"
MAX_LISTED_ERRORS = 100  # a 10,000-item request can be wrong 10,000 times; list the first

TITLES = {
    "malformed-json": "The request body is not valid JSON",
    "validation-failed": "The request is not valid",
    "unauthenticated": "An API token is required",
    "invalid-token": "The API token is not valid",
    "insufficient-scope": "The API token lacks the scope this needs",
    "not-found": "Not found",
    "method-not-allowed": "Method not allowed",
    "digest-conflict": "The request contradicts the index",
    "body-too-large": "The request body is too large",
    "unsupported-media-type": "The request body must be JSON",
    "anchoring-unavailable": "Anchoring is not available on this node",
    "anchoring-busy": "An anchoring run is in progress",
    "anchoring-failed": "Anchoring failed",
    "chain-unavailable": "The chain is not reachable",
    "database-unavailable": "The index is not available",
    "not-ready": "The node is not ready",
    "unknown-issuer": "Unknown issuer",
    "internal-error": "Internal error",
}

# (exception class, HTTP status, code), most specific first.
_NODE_ERRORS: tuple[tuple[type[Exception], int, str], ...] = (
    (AuthenticationError, 401, "invalid-token"),
    (InvalidScopeError, 422, "validation-failed"),
    (UnknownIssuerError, 404, "unknown-issuer"),
    (DatabaseError, 503, "database-unavailable"),
    (ChainSetupError, 503, "chain-unavailable"),
    (ChainError, 502, "chain-unavailable"),
    (AnchoringError, 500, "anchoring-failed"),
)
# Errors of modules the API does not import (the anchoring service's), by class name.
_NODE_ERRORS_BY_NAME = {
    "AnchoringBusyError": (409, "anchoring-busy"),
    "LeaseHeldError": (409, "anchoring-busy"),
    "AnchorConflictError": (409, "anchoring-failed"),
}


class ProblemError(Exception):
    """Raised by routes and dependencies; the handler turns it into a problem response."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail
        self.headers = headers
        self.extra = extra


def problem_response(
    status: int,
    code: str,
    detail: str,
    *,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body = {
        "type": PROBLEM_TYPE_BASE + code,
        "title": TITLES.get(code, code.replace("-", " ").capitalize()),
        "status": status,
        "detail": detail,
        "code": code,
        **extra,
    }
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_MEDIA_TYPE)


def field_path(loc: Sequence[str | int]) -> str:
    """``("digests", 3, "digest")`` -> ``digests[3].digest``; the body itself is ``(body)``."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "(body)"


def field_error(loc: Sequence[str | int], detail: str, where: str = "body") -> dict[str, str]:
    entry = {"path": field_path(loc), "detail": detail}
    if where == "body":
        entry["pointer"] = "#/" + "/".join(str(p) for p in loc)
    else:
        entry["in"] = where
    return entry


def validation_problem(errors: list[dict[str, str]], summary: str | None = None) -> ProblemError:
    """A 422 listing (the first MAX_LISTED_ERRORS of) ``errors``."""
    count = len(errors)
    detail = summary or (
        f"{count} invalid field{'s' if count != 1 else ''}"
        + (f"; the first {MAX_LISTED_ERRORS} are listed" if count > MAX_LISTED_ERRORS else "")
        + "; nothing was stored"
    )
    return ProblemError(422, "validation-failed", detail, errors=errors[:MAX_LISTED_ERRORS])


_MESSAGES = {
    "extra_forbidden": "unknown field",
    "missing": "required field is missing",
}


def pydantic_errors(errors: Iterable[Any], *, located: bool) -> list[dict[str, str]]:
    """Field errors from pydantic's list. ``located``: FastAPI's locs start with
    body/query/path/header; a model validated by hand has bare locs."""
    result = []
    for error in errors:
        loc = tuple(error.get("loc", ()))
        where = "body"
        if located and loc and loc[0] in ("body", "query", "path", "header", "cookie"):
            where, loc = str(loc[0]), loc[1:]
        message = _MESSAGES.get(error.get("type", ""), error.get("msg", "invalid"))
        result.append(field_error(loc, message, where))
    return result


def _problem_for_node_error(exc: Exception) -> ProblemError:
    if isinstance(exc, DigestConflictError):
        conflicts = [
            {"digest": c.digest, "reason": c.reason, "detail": c.detail}
            for c in exc.conflicts[:MAX_LISTED_ERRORS]
        ]
        if any(c.reason == "another-issuer" for c in exc.conflicts):
            # Another issuer's record: the token may not touch it (403, as for a scope).
            return ProblemError(403, "another-issuers-record", str(exc), conflicts=conflicts)
        return ProblemError(409, "digest-conflict", str(exc), conflicts=conflicts)
    if isinstance(exc, InvalidSubmissionError):
        return validation_problem(
            [field_error(("digests", p.index, p.field), p.message) for p in exc.problems]
        )
    for cls, status, code in _NODE_ERRORS:
        if isinstance(exc, cls):
            return ProblemError(status, code, str(exc))
    for cls in type(exc).__mro__:
        if cls.__name__ in _NODE_ERRORS_BY_NAME:
            status, code = _NODE_ERRORS_BY_NAME[cls.__name__]
            return ProblemError(status, code, str(exc))
    log.error("unmapped node error: %r", exc)
    return ProblemError(500, "internal-error", str(exc))


def install_problem_handlers(app: FastAPI) -> None:
    """Send every error, FastAPI's and Starlette's included, as a problem document."""

    async def on_problem(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ProblemError)
        return problem_response(exc.status, exc.code, exc.detail, headers=exc.headers, **exc.extra)

    async def on_validation(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = list(exc.errors())
        if any(e.get("type") == "json_invalid" for e in errors):
            return problem_response(400, "malformed-json", "the request body is not valid JSON")
        return await on_problem(_request, validation_problem(pydantic_errors(errors, located=True)))

    async def on_http(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = {404: "not-found", 405: "method-not-allowed", 413: "body-too-large"}.get(
            exc.status_code, "http-error"
        )
        headers = dict(exc.headers) if exc.headers else None
        return problem_response(exc.status_code, code, str(exc.detail), headers=headers)

    async def on_domain(request: Request, exc: Exception) -> JSONResponse:
        return await on_problem(request, _problem_for_node_error(exc))

    async def on_unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error", exc_info=exc)
        return problem_response(500, "internal-error", "an unexpected error; see the node's log")

    app.add_exception_handler(ProblemError, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(NodeError, on_domain)
    app.add_exception_handler(AnchoringError, on_domain)
    app.add_exception_handler(Exception, on_unexpected)
