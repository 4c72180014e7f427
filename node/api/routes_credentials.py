"""Micro-credentials: issue (`POST /v1/credentials`), the learner's copy
(`GET /v1/credentials/{id}`), and erasure of personal data (`POST /v1/credentials/{id}/erase`).

The learner's copy is the signed credential; once its batch is anchored it
carries the proof bundle as a top-level `anchorProof`, which the signature and
the digest leave out (so verifiers that do not know it: ask with
`?format=vc` for the bare credential).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials
from starlette.concurrency import run_in_threadpool

from mcledger.node.api.deps import Context, NodeContext, bearer, require_scope
from mcledger.node.api.problems import ProblemError, field_error, validation_problem
from mcledger.node.api.routes_achievements import json_body
from mcledger.node.credentials.annex import EXAMPLE_AWARD
from mcledger.node.credentials.dataintegrity import ANCHOR_PROPERTY, DataIntegrityError
from mcledger.node.credentials.loader import ContextCheckError, UnknownContextError
from mcledger.node.issuing.catalogue import (
    IncompleteProfileError,
    InvalidEntryError,
    UnknownAchievementError,
)
from mcledger.node.issuing.issuance import (
    CredentialAccessError,
    CredentialIssuer,
    InvalidCredentialRequest,
    UnknownCredentialError,
    erase_credential,
    get_credential,
    learner_key_matches,
)
from mcledger.node.issuing.tokens import AuthenticationError, TokenInfo, authenticate
from mcledger.node.pipeline.batches import proof_status
from mcledger.node.revocation.revocation_proofs import with_revocation

router = APIRouter(tags=["credentials"])


def _issuer(context: NodeContext) -> CredentialIssuer:
    if context.credentials is None:
        raise ProblemError(503, "issuing-unavailable", "this node has no signing key loaded")
    return context.credentials


@router.post(
    "/v1/credentials",
    status_code=201,
    summary="Issue a micro-credential",
    description=(
        "An award (achievement id, learner, awardedOn, place, optional grade and components) "
        "or a full unsigned credential. The node validates every Annex I element (a 422 names "
        "every missing or bad field), gives it a `urn:uuid:` id, signs it (Data Integrity, "
        "eddsa-rdfc-2022) and queues its digest for anchoring. Only the contexts shipped with "
        "the node are accepted; nothing is fetched. Needs a token with scope `issue`."
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"type": "object"}, "example": EXAMPLE_AWARD}
            },
        }
    },
    responses={401: {}, 403: {}, 404: {"description": "unknown achievement"}, 422: {}},
)
async def issue(
    request: Request,
    context: Context,
    token: Annotated[TokenInfo, Depends(require_scope("issue"))],
) -> JSONResponse:
    issuer = _issuer(context)
    if token.issuer_id != issuer.issuer_id:
        raise ProblemError(403, "another-issuers-record", "this node signs for another issuer")
    body = await json_body(request)
    actor = f"token:{token.id}"
    try:
        if isinstance(body, dict) and "@context" in body:
            issued = await run_in_threadpool(issuer.issue_unsigned, body, actor=actor)
        else:
            issued = await run_in_threadpool(issuer.issue_award, body, actor=actor)
    except (InvalidCredentialRequest, InvalidEntryError) as exc:
        errors = exc.errors
        if isinstance(exc, IncompleteProfileError):
            raise ProblemError(
                409, "incomplete-issuer-profile", f"complete the issuer profile first: {exc}"
            ) from None
        raise validation_problem([field_error(e.loc, e.message) for e in errors]) from None
    except UnknownContextError as exc:
        raise validation_problem([field_error(("@context",), str(exc))]) from None
    except ContextCheckError as exc:
        raise validation_problem([field_error((exc.field,), str(exc))]) from None
    except UnknownAchievementError as exc:
        raise ProblemError(404, "not-found", str(exc)) from None
    except CredentialAccessError as exc:
        raise ProblemError(403, "another-issuers-record", str(exc)) from None
    except DataIntegrityError as exc:
        raise ProblemError(422, "not-signable", str(exc)) from None
    return JSONResponse(
        {
            "credential": issued.credential,
            "digest": issued.digest,
            "learnerLink": issued.learner_link(context.settings.node_url),
        },
        status_code=201,
        headers={"Location": f"/v1/credentials/{issued.credential['id']}"},
    )


def _may_read(
    context: NodeContext,
    issuer_id: str,
    credential_id: str,
    key: str | None,
    credentials: HTTPAuthorizationCredentials | None,
) -> None:
    if key is not None and learner_key_matches(context.engine, credential_id, key):
        return
    if credentials is not None:
        try:
            token = authenticate(context.engine, credentials.credentials)
        except AuthenticationError as exc:
            raise ProblemError(401, "invalid-token", str(exc)) from None
        if token.issuer_id == issuer_id:
            return
        raise ProblemError(403, "another-issuers-record", "this credential is another issuer's")
    raise ProblemError(
        401,
        "unauthenticated",
        "use the learner's link (?key=…) or the issuer's token",
        headers={"WWW-Authenticate": 'Bearer realm="mcledger"'},
    )


@router.get(
    "/v1/credentials/{credential_id:path}",
    summary="The signed credential (the learner's copy), with its proof once anchored",
    responses={401: {}, 403: {}, 404: {}, 410: {"description": "erased, or never stored"}},
)
def learner_copy(
    credential_id: str,
    context: Context,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    key: Annotated[str | None, Query(description="the learner's secret from the link")] = None,
    format: Annotated[
        str, Query(pattern="^(copy|vc)$", description="`vc`: the bare signed credential")
    ] = "copy",
) -> JSONResponse:
    try:
        row = get_credential(context.engine, credential_id)
    except UnknownCredentialError as exc:
        raise ProblemError(404, "not-found", str(exc)) from None
    _may_read(context, row.issuer_id, credential_id, key, credentials)
    if row.body is None:
        raise ProblemError(
            410,
            "credential-not-stored",
            "the credential's body was erased or never kept; its digest and proof remain "
            f"(GET /v1/proofs/{row.digest})",
        )
    copy: dict[str, Any] = dict(row.body)
    if format == "copy":
        status = proof_status(context.engine, digest=row.digest)
        if status is not None and status.bundle is not None:
            copy[ANCHOR_PROPERTY] = with_revocation(context.engine, status.bundle).to_json()
    return JSONResponse(copy, media_type="application/json")


@router.post(
    "/v1/credentials/{credential_id:path}/erase",
    summary="Erase a credential's body and the learner's data; digest and proof stay",
    responses={401: {}, 403: {}, 404: {}},
)
def erase(
    credential_id: str,
    context: Context,
    token: Annotated[TokenInfo, Depends(require_scope("admin"))],
) -> JSONResponse:
    try:
        erase_credential(context.engine, credential_id, token.issuer_id, actor=f"token:{token.id}")
    except UnknownCredentialError as exc:
        raise ProblemError(404, "not-found", str(exc)) from None
    except CredentialAccessError as exc:
        raise ProblemError(403, "another-issuers-record", str(exc)) from None
    return JSONResponse({"id": credential_id, "erased": True})
