"""Revocation and suspension (`POST /v1/credentials/{id}/revoke|suspend|unsuspend`, scope
revoke), the public revocation history (`GET /v1/revocations`) and the signed status lists
(`GET /v1/status-lists/{id}`).

A revocation flips the credential's bit in the next published list at once;
the chain fields of a record stay null until the revocation flush anchors it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr
from starlette.concurrency import run_in_threadpool

from mcledger.node.api.body import parse_body, read_body
from mcledger.node.api.deps import Context, NodeContext, require_scope
from mcledger.node.api.problems import ProblemError, field_error, validation_problem
from mcledger.node.api.schemas import MAX_INDEX_ID
from mcledger.node.issuing.status_lists import StatusListUnavailableError, UnknownStatusListError
from mcledger.node.issuing.status_publish import publish_status_list
from mcledger.node.issuing.tokens import TokenInfo
from mcledger.node.revocation.revocations import (
    MAX_NOTE_LENGTH,
    CredentialAccessError,
    InvalidRevocationError,
    UnknownCredentialError,
    list_revocations,
    revoke_credential,
)
from mcledger.node.revocation.suspensions import (
    NotSuspendedError,
    SuspensionRecord,
    lift_suspension,
    suspend_credential,
)

router = APIRouter(tags=["revocations"])

MAX_PAGE = 500

Note = Annotated[
    StrictStr | None,
    Field(
        max_length=MAX_NOTE_LENGTH,
        description="why, for the issuer's own record (not published)",
    ),
]


class RevokeRequest(BaseModel):
    """`POST /v1/credentials/{id}/revoke`."""

    model_config = ConfigDict(extra="forbid")

    reason: StrictInt = Field(
        ge=0,
        le=5,
        description="0 unspecified, 1 issued in error, 2 fraud or misconduct, 3 superseded, "
        "4 withdrawn at the learner's request, 5 issuer key compromise",
    )
    note: Note = None


class SuspensionRequest(BaseModel):
    """`POST /v1/credentials/{id}/suspend` and `…/unsuspend` (the body may be left out)."""

    model_config = ConfigDict(extra="forbid")

    note: Note = None


class RevocationView(BaseModel):
    id: int = Field(description="pass the last one as `after` to page on")
    issuer: str
    credentialId: str | None
    digest: str
    reason: int
    reasonName: str
    revokedAt: str
    transactionHash: str | None = Field(description="null until the revocation is on chain")
    blockNumber: int | None


class RevocationRecordView(RevocationView):
    """A revocation as its issuer sees it (the answer to a revoke)."""

    note: str | None = Field(description="the issuer's own note (never published)")
    revokedBy: int | None = Field(description="the id of the token that revoked it")
    created: bool = Field(description="false when it was already revoked")


class SuspensionView(BaseModel):
    """A suspension as its issuer sees it (the answer to a suspend or unsuspend)."""

    credentialId: str
    digest: str
    suspended: bool
    suspendedAt: str
    note: str | None
    liftedAt: str | None
    liftNote: str | None
    changed: bool = Field(description="false when the call changed nothing")


class RevocationPage(BaseModel):
    revocations: list[RevocationView] = Field(description="oldest first")
    nextAfter: int | None = Field(description="pass as `after` for the next page; null at the end")


def _body_schema(model: type[BaseModel], required: bool) -> dict[str, Any]:
    schema = model.model_json_schema()
    return {
        "requestBody": {"required": required, "content": {"application/json": {"schema": schema}}}
    }


def _refusal(exc: Exception) -> ProblemError:
    if isinstance(exc, UnknownCredentialError):
        return ProblemError(404, "not-found", str(exc))
    if isinstance(exc, CredentialAccessError):
        return ProblemError(403, "another-issuers-record", str(exc))
    if isinstance(exc, InvalidRevocationError):
        return validation_problem([field_error((exc.field,), exc.message)])
    if isinstance(exc, NotSuspendedError):
        return ProblemError(409, "not-suspended", str(exc))
    raise exc


_REFUSALS = (UnknownCredentialError, CredentialAccessError, InvalidRevocationError)
_WRITE_RESPONSES: dict[int | str, dict[str, Any]] = {401: {}, 403: {}, 404: {}, 422: {}}


@router.post(
    "/v1/credentials/{credential_id:path}/revoke",
    summary="Revoke a credential (final); a repeat returns the first revocation",
    description=(
        "Records who, when and why; the credential's bit in its revocation status list is "
        "set at once, and the revocation goes on chain in the next revocation flush. "
        "Revoking again changes nothing and returns the first record with `created: false`. "
        "Needs a token with scope `revoke` of the issuer that issued the credential."
    ),
    openapi_extra=_body_schema(RevokeRequest, True),
    responses={200: {"model": RevocationRecordView}, **_WRITE_RESPONSES},
)
async def revoke(
    credential_id: str,
    request: Request,
    context: Context,
    token: Annotated[TokenInfo, Depends(require_scope("revoke"))],
) -> JSONResponse:
    body = parse_body(RevokeRequest, await read_body(request))
    try:
        record = await run_in_threadpool(
            revoke_credential,
            context.engine,
            token.issuer_id,
            credential_id,
            body.reason,
            body.note,
            token.id,
        )
    except _REFUSALS as exc:
        raise _refusal(exc) from None
    return JSONResponse(record.to_json())


@router.post(
    "/v1/credentials/{credential_id:path}/suspend",
    summary="Suspend a credential until the suspension is lifted",
    description="Sets its bit in its suspension status list; a repeat changes nothing.",
    openapi_extra=_body_schema(SuspensionRequest, False),
    responses={200: {"model": SuspensionView}, **_WRITE_RESPONSES},
)
async def suspend(
    credential_id: str,
    request: Request,
    context: Context,
    token: Annotated[TokenInfo, Depends(require_scope("revoke"))],
) -> JSONResponse:
    return await _change_suspension(suspend_credential, credential_id, request, context, token)


@router.post(
    "/v1/credentials/{credential_id:path}/unsuspend",
    summary="Lift a credential's suspension",
    description="Clears its bit in its suspension status list; 409 if it was never suspended.",
    openapi_extra=_body_schema(SuspensionRequest, False),
    responses={
        200: {"model": SuspensionView},
        **_WRITE_RESPONSES,
        409: {"description": "never suspended"},
    },
)
async def unsuspend(
    credential_id: str,
    request: Request,
    context: Context,
    token: Annotated[TokenInfo, Depends(require_scope("revoke"))],
) -> JSONResponse:
    return await _change_suspension(lift_suspension, credential_id, request, context, token)


async def _change_suspension(
    change: Callable[..., SuspensionRecord],
    credential_id: str,
    request: Request,
    context: NodeContext,
    token: TokenInfo,
) -> JSONResponse:
    body = parse_body(SuspensionRequest, await read_body(request) or b"{}")
    try:
        record = await run_in_threadpool(
            change, context.engine, token.issuer_id, credential_id, body.note, token.id
        )
    except (*_REFUSALS, NotSuspendedError) as exc:
        raise _refusal(exc) from None
    return JSONResponse(record.to_json())


# RFC 3339 §5.6 date-time, the offset optional (none: UTC). Written out rather than left to
# pydantic's datetime, which also reads bare numbers as Unix times ("123": 1970).
RFC3339_PATTERN = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})?$"


def _query_time(name: str, value: str | None) -> datetime | None:
    """A ``since``/``until`` value that matched RFC3339_PATTERN, as a datetime; 422 for one
    that names no time (month 13, hour 24)."""
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError as exc:
        raise validation_problem(
            [field_error((name,), f"not a date-time: {exc}", "query")]
        ) from None


@router.get("/v1/revocations", summary="The revocation history, oldest first")
def revocations(
    context: Context,
    issuer: Annotated[str | None, Query(description="only this issuer's revocations")] = None,
    since: Annotated[
        str | None,
        Query(
            pattern=RFC3339_PATTERN,
            description="revoked at or after (RFC 3339 date-time; no offset: UTC)",
        ),
    ] = None,
    until: Annotated[
        str | None,
        Query(pattern=RFC3339_PATTERN, description="revoked before (RFC 3339 date-time)"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="records per page")] = 100,
    after: Annotated[
        int | None,
        Query(ge=0, le=MAX_INDEX_ID, description="the `nextAfter` of the previous page"),
    ] = None,
) -> RevocationPage:
    """Public: digest, credential id, time, reason, and the chain transaction once sent.
    The issuer's notes are not published."""
    page = list_revocations(
        context.engine,
        issuer,
        _query_time("since", since),
        _query_time("until", until),
        limit,
        after,
    )
    return RevocationPage(
        revocations=[RevocationView(**record.to_json(public=True)) for record in page.items],
        nextAfter=page.next_after,
    )


@router.get(
    "/v1/status-lists/{list_id}",
    summary="A signed Bitstring Status List credential",
    description=(
        "W3C Bitstring Status List v1.0: the list's bits as of now (a revocation or "
        "suspension shows at once), signed by the issuer (eddsa-rdfc-2022). The weak ETag "
        "changes whenever a bit may have; send it as If-None-Match to get 304 while it holds."
    ),
    responses={304: {}, 404: {}, 503: {"description": "this node does not sign that list"}},
)
async def status_list(list_id: str, request: Request, context: Context) -> Response:
    issuer = context.credentials
    if issuer is None:
        raise ProblemError(503, "issuing-unavailable", "this node has no signing key loaded")
    try:
        published = await run_in_threadpool(
            publish_status_list,
            context.engine,
            list_id,
            issuer.key,
            issuer.did,
            issuer.verification_method,
            context.settings.node_url,
            issuer_id=issuer.issuer_id,
        )
    except UnknownStatusListError as exc:
        raise ProblemError(404, "not-found", str(exc)) from None
    except StatusListUnavailableError as exc:
        raise ProblemError(503, "status-list-unavailable", str(exc)) from None
    # Weak: a list signed again (after a restart, say) has the same bits, other bytes.
    headers = {"ETag": f'W/"{published.version}"', "Cache-Control": "no-cache"}
    if published.version in _etags(request.headers.get("if-none-match", "")):
        return Response(status_code=304, headers=headers)
    return JSONResponse(published.credential, headers=headers)


def _etags(header: str) -> set[str]:
    """The opaque tags of an If-None-Match header (RFC 9110 13.1.2: weak comparison)."""
    return {tag.strip().removeprefix("W/").strip('"') for tag in header.split(",") if tag.strip()}
