"""The OpenAPI document says what the API sends: regression tests for what fuzzing the
running node found (tests/fuzz/), each response checked against the app's own document
with schemathesis's checks (status code, content type, body schema)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import Engine

from mcledger.node.api import create_app
from mcledger.node.api.problems import PROBLEM_MEDIA_TYPE
from mcledger.node.api.schemas import MAX_INDEX_ID
from mcledger.node.credentials.annex import EXAMPLE_ACHIEVEMENT
from mcledger.node.credentials.multikey import Ed25519SigningKey
from mcledger.node.issuing.issuance import CredentialIssuer, ensure_signing_identity
from mcledger.node.issuing.issuers import ensure_issuer
from mcledger.node.settings import Settings
from tests.node.api_node import ApiNode, open_api_node

TOKENS = {"issue": ("uni", {"issue"}), "admin": ("uni", {"admin"})}
CHECKS = [status_code_conformance, content_type_conformance, response_schema_conformance]


class Node(ApiNode):
    async def spec(self) -> dict[str, Any]:
        reply = await self.client.get("/openapi.json")
        assert reply.status_code == 200
        document: dict[str, Any] = reply.json()
        return document


async def conforms(node: Node, method: str, path: str, status: int, **params: Any) -> Any:
    """Send, check the status, and check the response against the document."""
    token = params.pop("token", None)
    content = params.pop("content", None)
    schema = schemathesis.openapi.from_dict(await node.spec())
    case = schema[path][method].Case(**params)
    headers = dict(case.headers or {}) | (node.auth(token) if token else {})
    reply = await node.client.request(
        method, case.formatted_path, params=case.query, headers=headers, content=content
    )
    assert reply.status_code == status, reply.text
    case.validate_response(reply, checks=CHECKS)
    return reply.json() if reply.content else None


@pytest.fixture
async def node(index_engine: Engine, tmp_path: Path) -> AsyncIterator[Node]:
    built = open_api_node(index_engine, tmp_path, TOKENS, Node)
    async with built.client:
        yield built


async def test_every_error_is_documented_as_a_problem_document(node: Node) -> None:
    """Finding: 422s (and every other error) were documented as FastAPI's
    HTTPValidationError in application/json, or with no content at all."""
    spec = await node.spec()
    problem = {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    errors = [
        (path, method, status, response.get("content"))
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
        for status, response in operation["responses"].items()
        if int(status) >= 400
    ]
    assert len(errors) > 50
    assert [e for e in errors if e[3] != problem] == []
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    assert {"errors", "conflicts", "code"} <= set(
        spec["components"]["schemas"]["Problem"]["properties"]
    )


async def test_a_refused_query_is_sent_as_documented(node: Node) -> None:
    body = await conforms(node, "GET", "/v1/batches", 422, query={"limit": 0})
    assert body["code"] == "validation-failed" and body["errors"][0]["in"] == "query"


@pytest.mark.parametrize(("token", "status"), [(None, 401), ("issue", 403)])
async def test_anchor_now_documents_its_token_refusals(
    node: Node, token: str | None, status: int
) -> None:
    """Finding: `POST /v1/batches` answered 401 and 403, documented 202, 409 and 503 only."""
    await conforms(node, "POST", "/v1/batches", status, token=token)


async def test_anchor_now_takes_no_body_as_documented(node: Node) -> None:
    """Finding: the body was documented as required; the route takes none as well."""
    spec = await node.spec()
    assert spec["paths"]["/v1/batches"]["post"]["requestBody"]["required"] is False
    body = await conforms(node, "POST", "/v1/batches", 503, token="admin")
    assert body["code"] == "anchoring-unavailable"  # this app runs without anchoring


@pytest.mark.parametrize(
    ("method", "path", "path_parameters"),
    [
        ("POST", "/v1/achievements", {}),
        ("POST", "/v1/credentials", {}),
        ("PUT", "/v1/issuers/{issuer_id}", {"issuer_id": "uni"}),
    ],
)
@pytest.mark.parametrize(
    ("content", "media_type", "status"),
    [(b"", "application/json", 400), (b"{", "application/json", 400), (b"{}", "text/plain", 415)],
)
async def test_bodies_that_are_not_json_are_refused_as_documented(
    node: Node,
    method: str,
    path: str,
    path_parameters: dict[str, str],
    content: bytes,
    media_type: str,
    status: int,
) -> None:
    """Finding: 400 undocumented on the routes that read their body as JSON; `PUT
    /v1/issuers/{id}` documented no body at all."""
    token = "issue" if method == "POST" else "admin"
    await conforms(
        node,
        method,
        path,
        status,
        token=token,
        path_parameters=path_parameters,
        headers={"Content-Type": media_type},
        content=content,
    )


async def test_the_issuer_profile_update_documents_its_body(node: Node) -> None:
    spec = await node.spec()
    body = spec["paths"]["/v1/issuers/{issuer_id}"]["put"]["requestBody"]
    schema = body["content"]["application/json"]["schema"]
    assert schema["additionalProperties"] is False and "legalName" in schema["properties"]
    profile = await conforms(
        node,
        "PUT",
        "/v1/issuers/{issuer_id}",
        200,
        token="admin",
        path_parameters={"issuer_id": "uni"},
        headers={"Content-Type": "application/json"},
        content=b'{"region": "Vidzeme"}',
    )
    assert profile["region"] == "Vidzeme"


async def test_did_documents_are_documented_as_did_json(
    index_engine: Engine, tmp_path: Path
) -> None:
    """Finding: sent as application/did+json, documented as application/json."""
    did = "did:web:credentials.uni.example.lv"
    ensure_issuer(index_engine, "uni", chain_address="0x" + "1a" * 20, did=did)
    ensure_signing_identity(index_engine, "uni", did, dev=True)
    issuer = CredentialIssuer(index_engine, "uni", Ed25519SigningKey.generate(), did=did)
    app = create_app(Settings(data_dir=tmp_path), index_engine, credentials=issuer)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://node")
    node = Node(client, index_engine, issuer.key, "", {})
    async with client:
        document = await conforms(node, "GET", "/.well-known/did.json", 200)
        assert document["id"] == did
        await conforms(
            node,
            "GET",
            "/v1/issuers/{issuer_id}/did.json",
            200,
            path_parameters={"issuer_id": "uni"},
        )
        await conforms(
            node, "GET", "/v1/issuers/{issuer_id}/did.json", 404, path_parameters={"issuer_id": "x"}
        )


@pytest.mark.parametrize("value", ["123", "0.5", "2026-11-20", "2026-13-01T00:00:00Z", "soon"])
async def test_revocation_times_that_are_not_rfc3339_are_refused(node: Node, value: str) -> None:
    """Finding: `until=123` was read as a Unix time (1970) and answered 200."""
    for name in ("since", "until"):
        body = await conforms(node, "GET", "/v1/revocations", 422, query={name: value})
        assert body["errors"][0]["path"] == name


@pytest.mark.parametrize(
    "value", ["2026-11-20T00:00:00Z", "2026-11-20 10:00:00", "2026-11-20T10:00:00.5+02:00"]
)
async def test_revocation_times_in_rfc3339_are_read(node: Node, value: str) -> None:
    body = await conforms(node, "GET", "/v1/revocations", 200, query={"since": value})
    assert body == {"revocations": [], "nextAfter": None}


HUGE = 60330832925816000358645760  # what the fuzzer sent: past SQLite's and PostgreSQL's ints


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v1/batches", {"query": {"after": HUGE}}),
        ("/v1/batches", {"query": {"after": MAX_INDEX_ID + 1}}),
        ("/v1/batches/{batch_id}", {"path_parameters": {"batch_id": HUGE}}),
        ("/v1/batches/{batch_id}", {"path_parameters": {"batch_id": -HUGE}}),
        (
            "/v1/achievements/{achievement_id}",
            {"path_parameters": {"achievement_id": "a"}, "query": {"version": HUGE}},
        ),
        ("/v1/revocations", {"query": {"after": MAX_INDEX_ID + 1}}),
    ],
)
async def test_numbers_past_the_index_are_refused_before_the_database(
    node: Node, path: str, params: dict[str, Any]
) -> None:
    """Finding: 500 (SQLite: int too large; PostgreSQL: integer out of range)."""
    body = await conforms(node, "GET", path, 422, **params)
    assert body["code"] == "validation-failed"


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        ("/v1/batches", {"query": {"after": MAX_INDEX_ID}}, 200),
        ("/v1/batches/{batch_id}", {"path_parameters": {"batch_id": MAX_INDEX_ID}}, 404),
        ("/v1/revocations", {"query": {"after": MAX_INDEX_ID}}, 200),
    ],
)
async def test_the_largest_index_number_is_read(
    node: Node, path: str, params: dict[str, Any], status: int
) -> None:
    await conforms(node, "GET", path, status, **params)


@pytest.mark.parametrize(
    ("method", "path", "path_parameters", "body"),
    [
        ("PUT", "/v1/issuers/{issuer_id}", {"issuer_id": "uni"}, b'{"country": {}}'),
        (
            "POST",
            "/v1/achievements",
            {},
            json.dumps(EXAMPLE_ACHIEVEMENT | {"level": {"eqf": 6, "qfEheaCycle": []}}).encode(),
        ),
    ],
)
async def test_unhashable_values_are_refused_not_failed(
    node: Node, method: str, path: str, path_parameters: dict[str, str], body: bytes
) -> None:
    """Finding: 500 (TypeError: unhashable type) where a country or cycle was an object."""
    problem = await conforms(
        node,
        method,
        path,
        422,
        token="admin" if method == "PUT" else "issue",
        path_parameters=path_parameters,
        headers={"Content-Type": "application/json"},
        content=body,
    )
    assert problem["code"] == "validation-failed"
