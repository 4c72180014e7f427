"""The offering catalogue: `GET /v1/achievements[/{id}]` (public), `POST /v1/achievements`
and `POST /v1/achievements/{id}/versions` (issuer token, scope issue).

A change to an offering is a new version (`POST …/versions`), never an edit in
place: credentials already awarded name the version they were awarded for
(principle 3). `GET /v1/achievements/{id}` gives the latest version, `?version=N`
an older one. Bodies are validated field by field against Annex I; a 422 names
every missing or bad field at once.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from mcledger.anchoring.bundle import format_time
from mcledger.node.api.body import read_body
from mcledger.node.api.deps import Context, require_scope
from mcledger.node.api.problems import ProblemError, field_error, validation_problem
from mcledger.node.api.schemas import MAX_INDEX_ID
from mcledger.node.credentials.annex import EXAMPLE_ACHIEVEMENT
from mcledger.node.credentials.build import AchievementVersion
from mcledger.node.issuing.catalogue import (
    AnotherIssuersAchievementError,
    InvalidEntryError,
    UnknownAchievementError,
    add_achievement_version,
    create_achievement,
    get_achievement,
    list_achievements,
)
from mcledger.node.issuing.tokens import TokenInfo

router = APIRouter(tags=["achievements"])

MAX_PAGE = 500

_BODY_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {"type": "object", "description": "Annex I achievement description"},
                "example": EXAMPLE_ACHIEVEMENT,
            }
        },
    }
}
_WRITE_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {},
    403: {},
    422: {"description": "names every missing or bad field"},
}


def achievement_view(achievement: AchievementVersion) -> dict[str, Any]:
    """The catalogue entry as the API shows it: its names, then the description."""
    return {
        "id": achievement.id,
        "version": achievement.version,
        "issuer": achievement.issuer_id,
        "uri": achievement.uri,
        "createdAt": format_time(achievement.created_at),
        **achievement.body,
    }


async def json_body(request: Request) -> Any:
    """The request body parsed as JSON (size-capped), or 400 malformed-json."""
    raw = await read_body(request)
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ProblemError(
            400, "malformed-json", f"the request body is not valid JSON: {exc}"
        ) from None


def invalid_entry_problem(exc: InvalidEntryError) -> ProblemError:
    return validation_problem([field_error(e.loc, e.message) for e in exc.errors])


async def _store(request: Request, store: Callable[..., AchievementVersion]) -> JSONResponse:
    """Parse the body, run ``store(body)`` off the event loop, answer 201 with the entry."""
    body = await json_body(request)
    try:
        stored = await run_in_threadpool(store, body)
    except InvalidEntryError as exc:
        raise invalid_entry_problem(exc) from None
    except UnknownAchievementError as exc:
        raise ProblemError(404, "not-found", str(exc)) from None
    except AnotherIssuersAchievementError as exc:
        raise ProblemError(403, "another-issuers-record", str(exc)) from None
    return JSONResponse(
        achievement_view(stored),
        status_code=201,
        headers={"Location": f"/v1/achievements/{stored.id}?version={stored.version}"},
    )


@router.post(
    "/v1/achievements",
    status_code=201,
    summary="Add an achievement to the catalogue (version 1)",
    openapi_extra=_BODY_DOC,
    responses=_WRITE_RESPONSES,
)
async def post_achievement(
    request: Request,
    context: Context,
    token: Annotated[TokenInfo, Depends(require_scope("issue"))],
) -> JSONResponse:
    return await _store(
        request,
        partial(create_achievement, context.engine, token.issuer_id, actor=f"token:{token.id}"),
    )


@router.post(
    "/v1/achievements/{achievement_id}/versions",
    status_code=201,
    summary="Store a new version of one of the issuer's achievements",
    description="The whole new description; earlier versions and their awards stay as they are.",
    openapi_extra=_BODY_DOC,
    responses={**_WRITE_RESPONSES, 404: {}},
)
async def post_achievement_version(
    achievement_id: str,
    request: Request,
    context: Context,
    token: Annotated[TokenInfo, Depends(require_scope("issue"))],
) -> JSONResponse:
    return await _store(
        request,
        partial(
            add_achievement_version,
            context.engine,
            token.issuer_id,
            achievement_id,
            actor=f"token:{token.id}",
        ),
    )


@router.get("/v1/achievements", summary="The catalogue: each achievement's latest version")
def get_achievements(
    context: Context,
    issuer: Annotated[str | None, Query(description="only this issuer's achievements")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="achievements per page")] = 50,
    after: Annotated[
        str | None, Query(max_length=64, description="the `nextAfter` of the previous page")
    ] = None,
) -> dict[str, Any]:
    """Ordered by id; page on with `after` = the previous page's `nextAfter`."""
    page = list_achievements(context.engine, issuer_id=issuer, limit=limit, after=after)
    return {
        "achievements": [achievement_view(a) for a in page.achievements],
        "nextAfter": page.next_after,
    }


@router.get("/v1/achievements/{achievement_id}", summary="One achievement", responses={404: {}})
def get_one_achievement(
    achievement_id: str,
    context: Context,
    version: Annotated[
        int | None, Query(ge=1, le=MAX_INDEX_ID, description="this version, not the latest")
    ] = None,
) -> dict[str, Any]:
    try:
        return achievement_view(get_achievement(context.engine, achievement_id, version))
    except UnknownAchievementError as exc:
        raise ProblemError(404, "not-found", str(exc)) from None
