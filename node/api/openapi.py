"""The OpenAPI document, made true to what the API sends.

FastAPI documents what it can see: the routes' parameters, their response models
and the statuses a route lists in ``responses=``. Three things it cannot see are
added here, once for every operation, so no route can leave them out:

* every error is a problem document (`Problem`, ``application/problem+json``,
  problems.py), never FastAPI's ``HTTPValidationError`` as ``application/json``;
* an operation that reads a bearer token (``security`` in the document) can answer
  401 (no token, an unknown or revoked one) and 403 (a token without the scope, or
  another issuer's record): ``deps.require_scope`` and the learner's copy;
* an operation with a request body can answer 400 (not JSON), 413 (over the cap),
  415 (not a JSON media type) and 422 (invalid fields): ``body.read_body`` and
  ``body.parse_body`` stand in front of every body.

Bodies the routes parse themselves (after authentication, with a size cap) are
added to the components, so /docs still shows them.
"""

from __future__ import annotations

from collections.abc import Iterable
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from mcledger.node.api.problems import PROBLEM_MEDIA_TYPE
from mcledger.node.api.schemas import Problem

_PROBLEM_REF = {"$ref": f"#/components/schemas/{Problem.__name__}"}
_FASTAPI_VALIDATION = ("HTTPValidationError", "ValidationError")

AUTH_STATUSES = {
    401: "no token, or an unknown or revoked one",
    403: "the token lacks the scope this needs, or the record is another issuer's",
}
BODY_STATUSES = {
    400: "the body is not JSON",
    413: "the body is larger than the limit",
    415: "the body is not sent as JSON",
    422: "invalid fields, each named by its path; nothing stored",
}


def install_openapi(app: FastAPI, request_models: Iterable[type[BaseModel]]) -> None:
    """Serve `build_openapi` as the app's document (built once, on first request)."""
    models = tuple(request_models)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app, models)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def build_openapi(app: FastAPI, request_models: Iterable[type[BaseModel]]) -> dict[str, Any]:
    """FastAPI's document with the problem responses, the token and body statuses, and the
    request models (see the module docstring)."""
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    models: tuple[type[BaseModel], ...] = (*request_models, Problem)
    for model in models:
        model_schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(model_schema.pop("$defs", {}))
        components[model.__name__] = model_schema
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            _document_errors(operation)
    for name in _FASTAPI_VALIDATION:
        components.pop(name, None)
    return schema


def _document_errors(operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    implied: dict[int, str] = {}
    if operation.get("security"):
        implied |= AUTH_STATUSES
    if "requestBody" in operation:
        implied |= BODY_STATUSES
    for code, description in implied.items():
        responses.setdefault(str(code), {"description": description})
    for status, response in responses.items():
        if status.isdigit() and int(status) >= 400:
            if not response.get("description") or response["description"] == "Validation Error":
                response["description"] = implied.get(int(status)) or HTTPStatus(int(status)).phrase
            response["content"] = {PROBLEM_MEDIA_TYPE: {"schema": _PROBLEM_REF}}
