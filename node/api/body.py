"""Request bodies: read with a size cap, parsed strictly into one pydantic model.

The body is read from the stream and refused once it passes the cap, so a
client cannot make the node buffer more by lying in (or leaving out)
Content-Length. Routes parse it themselves, after authentication, rather than
letting FastAPI read it first; the model still documents the body in OpenAPI
through ``documented_body`` (its schema is added to the components by the app).
"""

from __future__ import annotations

from email.message import Message
from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError

from mcledger.node.api.problems import ProblemError, pydantic_errors, validation_problem

MAX_BODY_BYTES = 4 * 1024 * 1024  # 10,000 items with 200-character credential ids fit

Model = TypeVar("Model", bound=BaseModel)


def _too_large(limit: int) -> ProblemError:
    return ProblemError(413, "body-too-large", f"the request body exceeds {limit} bytes")


def _check_media_type(request: Request) -> None:
    value = request.headers.get("content-type")
    if not value:
        return  # curl without -H; the body must still be JSON
    message = Message()
    message["content-type"] = value
    subtype = message.get_content_subtype()
    if message.get_content_maintype() != "application" or not (
        subtype == "json" or subtype.endswith("+json")
    ):
        raise ProblemError(
            415, "unsupported-media-type", f"send application/json, not {value.split(';')[0]}"
        )


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The raw body, or 413 as soon as it is longer than ``limit`` bytes."""
    _check_media_type(request)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def parse_body(model: type[Model], raw: bytes) -> Model:
    """The body as ``model``: 400 if it is not JSON, 422 naming every bad field."""
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        if any(e["type"] == "json_invalid" for e in errors):
            reason = errors[0].get("ctx", {}).get("error", "")
            raise ProblemError(
                400, "malformed-json", f"the request body is not valid JSON: {reason}".rstrip(": ")
            ) from None
        raise validation_problem(pydantic_errors(errors, located=False)) from None


def documented_body(model: type[BaseModel], *, required: bool = True) -> dict[str, Any]:
    """``openapi_extra`` declaring ``model`` as the JSON request body (``required``: False
    for a route that takes an empty body as well)."""
    schema = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {
        "requestBody": {"required": required, "content": {"application/json": {"schema": schema}}}
    }
