"""`GET /v1/issuers/{id}` (public profile), `PUT /v1/issuers/{id}` (the issuer's admin token)
and `GET /contexts/v1` (the mcledger JSON-LD context the credentials name)."""

from __future__ import annotations

import functools
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from mcledger.node.api.deps import Context, NodeContext, require_scope
from mcledger.node.api.problems import ProblemError
from mcledger.node.api.routes_achievements import invalid_entry_problem, json_body
from mcledger.node.credentials.loader import MCLEDGER_CONTEXT_FILE
from mcledger.node.issuing.catalogue import (
    InvalidEntryError,
    PublicProfile,
    get_issuer_profile,
    update_issuer_profile,
)
from mcledger.node.issuing.issuance import did_document
from mcledger.node.issuing.tokens import TokenInfo

router = APIRouter(tags=["issuers"])

JSON_LD = "application/ld+json"
DID_JSON = "application/did+json"

_PROFILE_TEXT = {"type": "string", "minLength": 1, "maxLength": 300}
_PROFILE_UPDATE_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "legalName": _PROFILE_TEXT,
                        "legalIdentifier": _PROFILE_TEXT,
                        "country": {
                            "type": "string",
                            "pattern": "^[A-Z]{2}$",
                            "description": "ISO 3166-1 alpha-2",
                        },
                        "region": _PROFILE_TEXT,
                        "qaRegister": _PROFILE_TEXT,
                        "qaIdentifier": _PROFILE_TEXT,
                        "did": {"type": "string", "pattern": "^did:"},
                    },
                },
                "example": {"legalName": "Latvijas Universitāte", "country": "LV"},
            }
        },
    }
}


class IssuerProfileView(BaseModel):
    """An issuer's public profile (`GET`/`PUT /v1/issuers/{id}`)."""

    id: str
    name: str | None
    did: str | None
    didMethod: str | None
    chainAddress: str | None
    legalName: str | None
    legalIdentifier: str | None
    country: str | None
    region: str | None
    qualityAssurance: dict[str, str | None] = Field(description="register and identifier")


class DidDocumentResponse(JSONResponse):
    """A DID document, with the media type DID Core §6.2 gives its JSON form."""

    media_type = DID_JSON


_DID_DOCUMENT = {
    "description": "the DID document (DID Core)",
    "content": {DID_JSON: {"schema": {"type": "object", "required": ["id"]}}},
}


def profile_view(profile: PublicProfile) -> dict[str, Any]:
    fields = profile.fields
    return {
        "id": profile.issuer_id,
        "name": profile.name,
        "did": profile.did or None,
        "didMethod": profile.did_method,
        "chainAddress": profile.chain_address,
        "legalName": fields["legalName"],
        "legalIdentifier": fields["legalIdentifier"],
        "country": fields["country"],
        "region": fields["region"],
        "qualityAssurance": {
            "register": fields["qaRegister"],
            "identifier": fields["qaIdentifier"],
        },
    }


@router.get(
    "/v1/issuers/{issuer_id}",
    summary="An issuer's public profile",
    response_model=IssuerProfileView,
    responses={404: {}},
)
def get_issuer(issuer_id: str, context: Context) -> dict[str, Any]:
    """Legal identity, country/region, quality assurance, DID and chain address."""
    return profile_view(get_issuer_profile(context.engine, issuer_id))


@router.put(
    "/v1/issuers/{issuer_id}",
    summary="Update the issuer's profile (its own admin token)",
    description=(
        "Any of legalName, legalIdentifier, country (ISO 3166-1 alpha-2), region, "
        "qaRegister, qaIdentifier, did; fields left out stay as they are."
    ),
    response_model=IssuerProfileView,
    openapi_extra=_PROFILE_UPDATE_DOC,
    responses={401: {}, 403: {}, 404: {}, 422: {}},
)
async def put_issuer(
    issuer_id: str,
    request: Request,
    context: Context,
    token: Annotated[TokenInfo, Depends(require_scope("admin"))],
) -> dict[str, Any]:
    if token.issuer_id != issuer_id:
        raise ProblemError(
            403, "another-issuers-record", f"this token belongs to issuer {token.issuer_id!r}"
        )
    body = await json_body(request)
    try:
        profile = await run_in_threadpool(
            update_issuer_profile, context.engine, issuer_id, body, actor=f"token:{token.id}"
        )
    except InvalidEntryError as exc:
        raise invalid_entry_problem(exc) from None
    return profile_view(profile)


@functools.cache
def _context_bytes() -> bytes:
    return MCLEDGER_CONTEXT_FILE.read_bytes()


@router.get(
    "/contexts/v1",
    summary="The mcledger JSON-LD context (https://w3id.org/mcledger/v1)",
    response_class=Response,
    responses={200: {"content": {JSON_LD: {}}}},
)
def get_context() -> Response:
    return Response(
        _context_bytes(),
        media_type=JSON_LD,
        headers={"Cache-Control": "public, max-age=86400", "Access-Control-Allow-Origin": "*"},
    )


def _did_document_response(context: NodeContext) -> JSONResponse:
    issuer = context.credentials
    if issuer is None or not issuer.did.startswith("did:web:"):
        raise ProblemError(404, "not-found", "this node's issuer has no did:web DID document")
    return DidDocumentResponse(did_document(issuer.did, issuer.key))


@router.get(
    "/.well-known/did.json",
    summary="The did:web DID document of this node's issuer",
    response_class=DidDocumentResponse,
    responses={200: _DID_DOCUMENT, 404: {"description": "the issuer's DID is not a did:web"}},
)
async def well_known_did(context: Context) -> JSONResponse:
    return _did_document_response(context)


@router.get(
    "/v1/issuers/{issuer_id}/did.json",
    summary="The issuer's DID document (did:web issuers)",
    response_class=DidDocumentResponse,
    responses={200: _DID_DOCUMENT, 404: {}},
)
async def issuer_did_document(issuer_id: str, context: Context) -> JSONResponse:
    if context.credentials is None or context.credentials.issuer_id != issuer_id:
        raise ProblemError(404, "not-found", f"this node does not sign for issuer {issuer_id!r}")
    return _did_document_response(context)
