"""The HTTP API on a real index (SQLite and PostgreSQL): auth, intake, proofs, batches."""

from __future__ import annotations

import json
import os
import urllib.parse
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pymerkle
import pytest
from sqlalchemy import Engine, create_engine, func, select, update

from mcledger.anchoring.bundle import ProofBundle
from mcledger.anchoring.merkle import verify_inclusion
from mcledger.node.api import create_app
from mcledger.node.api.body import MAX_BODY_BYTES
from mcledger.node.index.models import BatchState, api_token_t, batch_t, submission_t
from mcledger.node.issuing.issuers import ensure_issuer
from mcledger.node.issuing.tokens import create_token, revoke_token
from mcledger.node.pipeline.batches import seal_batch
from mcledger.node.settings import Settings

ISSUER_ADDRESS = "0x" + "1a" * 20
PROBLEM = "application/problem+json"
NEXT_RUN = datetime(2031, 1, 2, 2, 0, tzinfo=UTC)


@dataclass
class FakeAnchoring:
    """The AnchoringControl the API is given; records what it was asked."""

    engine: Engine
    calls: list[str] = field(default_factory=list)

    def next_run_at(self) -> datetime | None:
        return NEXT_RUN

    def anchor_now(self, issuer_id: str) -> dict[str, Any]:
        self.calls.append(issuer_id)
        batch = seal_batch(self.engine, issuer_id)
        if batch is None:
            return {"state": "nothing-pending"}
        return {"batchId": batch.id, "state": "sealed", "treeSize": batch.tree_size}


@dataclass
class Node:
    client: httpx.AsyncClient
    engine: Engine
    anchoring: FakeAnchoring
    tokens: dict[str, str]
    chain: dict[str, Any]

    def auth(self, name: str = "issue") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[name]}"}

    async def submit(self, items: list[dict[str, Any]], token: str = "issue") -> Any:
        payload = {"digests": items}
        return await self.client.post("/v1/digests", json=payload, headers=self.auth(token))

    def rows(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(submission_t)).scalar_one()


@pytest.fixture
async def node(index_engine: Engine, tmp_path: Path) -> AsyncIterator[Node]:
    ensure_issuer(index_engine, "uni", chain_address=ISSUER_ADDRESS)
    ensure_issuer(index_engine, "other", chain_address="0x" + "2b" * 20)
    tokens = {
        "issue": create_token(index_engine, "uni", {"issue"}),
        "revoke": create_token(index_engine, "uni", {"revoke"}),
        "admin": create_token(index_engine, "uni", {"admin"}),
        "other": create_token(index_engine, "other", {"issue"}),
    }
    chain: dict[str, Any] = {"ready": True}

    def chain_ready() -> bool:
        if isinstance(chain["ready"], Exception):
            raise chain["ready"]
        return bool(chain["ready"])

    anchoring = FakeAnchoring(index_engine)
    app = create_app(Settings(data_dir=tmp_path), index_engine, anchoring, chain_ready=chain_ready)
    async with client_for(app) as client:
        yield Node(client, index_engine, anchoring, tokens, chain)


def client_for(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://node")


def item(digest: str | None = None, credential_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"digest": digest or os.urandom(32).hex()}
    if credential_id is not None:
        body["credentialId"] = credential_id
    return body


def urn() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == status and body["code"] == code
    assert body["type"].endswith("/" + code) and body["title"] and body["detail"]
    return body


# --- health ---------------------------------------------------------------------------------


async def test_healthz_and_readyz(node: Node) -> None:
    assert (await node.client.get("/healthz")).json() == {"status": "ok"}
    ready = await node.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "chain": "ok"}
    node.chain["ready"] = False
    body = assert_problem(await node.client.get("/readyz"), 503, "not-ready")
    assert body["checks"] == {"database": "ok", "chain": "failed: not ready"}
    node.chain["ready"] = ConnectionError("rpc down")
    body = assert_problem(await node.client.get("/readyz"), 503, "not-ready")
    assert body["checks"]["chain"] == "failed: ConnectionError"


async def test_readyz_names_a_dead_database(tmp_path: Path) -> None:
    dead = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2")
    app = create_app(Settings(data_dir=tmp_path), dead)
    async with client_for(app) as client:
        body = assert_problem(await client.get("/readyz"), 503, "not-ready")
        assert body["checks"] == {"database": "failed: OperationalError", "chain": "not-configured"}
        assert (await client.get("/healthz")).status_code == 200


async def test_openapi_documents_the_request_bodies(node: Node) -> None:
    spec = (await node.client.get("/openapi.json")).json()
    body = spec["paths"]["/v1/digests"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"] == {"$ref": "#/components/schemas/DigestSubmission"}
    schemas = spec["components"]["schemas"]
    assert schemas["DigestSubmission"]["properties"]["digests"]["maxItems"] == 10_000
    assert set(schemas["DigestItem"]["properties"]) == {"digest", "credentialId"}
    assert schemas["DigestItem"]["additionalProperties"] is False
    assert "AnchorRequest" in schemas
    assert (await node.client.get("/docs")).status_code == 200


async def test_unknown_routes_are_problems_too(node: Node) -> None:
    assert_problem(await node.client.get("/v1/nothing"), 404, "not-found")
    assert_problem(await node.client.delete("/v1/digests"), 405, "method-not-allowed")


# --- authentication ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "unauthenticated"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "unauthenticated"),
        ({"Authorization": "Bearer mcl_not-a-real-token"}, "invalid-token"),
        ({"Authorization": "Bearer something-else"}, "invalid-token"),
    ],
)
async def test_without_a_valid_token_401(node: Node, headers: dict[str, str], code: str) -> None:
    response = await node.client.post("/v1/digests", json={"digests": [item()]}, headers=headers)
    assert_problem(response, 401, code)
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert node.rows() == 0


async def test_a_revoked_token_401(node: Node) -> None:
    assert (await node.submit([item()])).status_code == 202
    with node.engine.connect() as conn:
        first = conn.execute(select(func.min(api_token_t.c.id))).scalar_one()  # "issue"
    revoke_token(node.engine, first)
    assert_problem(await node.submit([item()]), 401, "invalid-token")
    assert node.rows() == 1


@pytest.mark.parametrize("token", ["revoke", "admin"])
async def test_the_wrong_scope_403(node: Node, token: str) -> None:
    response = await node.submit([item()], token=token)
    body = assert_problem(response, 403, "insufficient-scope")
    assert "issue" in body["detail"]
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]
    assert node.rows() == 0


# --- POST /v1/digests -------------------------------------------------------------------------


async def test_digests_are_accepted_and_resubmission_changes_nothing(node: Node) -> None:
    items = [item(credential_id=urn()), item(), item(credential_id="https://uni.example/c/7")]
    response = await node.submit(items)
    assert response.status_code == 202 and response.headers["content-type"] == "application/json"
    receipts = response.json()["digests"]
    assert [(r["digest"], r.get("credentialId")) for r in receipts] == [
        (i["digest"], i.get("credentialId")) for i in items
    ]
    for r in receipts:
        assert (r["state"], r["batchId"], r["created"]) == ("pending", None, True)
        assert datetime.strptime(r["submittedAt"], "%Y-%m-%dT%H:%M:%SZ")
    again = (await node.submit(items + [items[0]])).json()["digests"]
    assert [r["created"] for r in again] == [False, False, False]
    assert [r["submittedAt"] for r in again] == [r["submittedAt"] for r in receipts]
    assert node.rows() == 3


async def test_ten_thousand_digests_in_one_request(node: Node) -> None:
    items = [item(credential_id=urn()) for _ in range(10_000)]
    response = await node.submit(items)
    assert response.status_code == 202
    assert len(response.json()["digests"]) == 10_000
    assert node.rows() == 10_000


GOOD = "ab" * 32
BAD_BODIES: list[tuple[str, Any, int, str, list[str]]] = [
    # (name, body, status, code, bad paths)
    ("hex", {"digests": [item(GOOD), item("zz" * 32)]}, 422, "validation-failed",
     ["digests[1].digest"]),
    ("short", {"digests": [item("ab" * 31)]}, 422, "validation-failed", ["digests[0].digest"]),
    ("long", {"digests": [item("ab" * 33)]}, 422, "validation-failed", ["digests[0].digest"]),
    ("upper", {"digests": [item("AB" * 32)]}, 422, "validation-failed", ["digests[0].digest"]),
    ("0x", {"digests": [item("0x" + "ab" * 31)]}, 422, "validation-failed",
     ["digests[0].digest"]),
    ("number", {"digests": [{"digest": 5}]}, 422, "validation-failed", ["digests[0].digest"]),
    ("missing", {"digests": [{"credentialId": urn()}]}, 422, "validation-failed",
     ["digests[0].digest"]),
    ("none", {"digests": []}, 422, "validation-failed", ["digests"]),
    ("too many", {"digests": [item() for _ in range(10_001)]}, 422, "validation-failed",
     ["digests"]),
    ("not a list", {"digests": {"digest": GOOD}}, 422, "validation-failed", ["digests"]),
    ("not an object", {"digests": [GOOD]}, 422, "validation-failed", ["digests[0]"]),
    ("top-level field", {"digests": [item()], "extra": 1}, 422, "validation-failed", ["extra"]),
    ("item field", {"digests": [item(), {"digest": GOOD, "credential_id": urn()}]}, 422,
     "validation-failed", ["digests[1].credential_id"]),
    ("credential id", {"digests": [item(credential_id="not a uri")]}, 422,
     "validation-failed", ["digests[0].credentialId"]),
    ("many at once", {"digests": [item(), item("x"), item(), {"digest": GOOD, "y": 1}]}, 422,
     "validation-failed", ["digests[1].digest", "digests[3].y"]),
    ("same digest, two ids", {"digests": [item(GOOD, urn()), item(GOOD, urn())]}, 422,
     "validation-failed", ["digests[1].credentialId"]),
    ("array", [item()], 422, "validation-failed", ["(body)"]),
    ("no body", None, 400, "malformed-json", []),
]  # fmt: skip


@pytest.mark.parametrize(
    ("body", "status", "code", "paths"),
    [case[1:] for case in BAD_BODIES],
    ids=[case[0] for case in BAD_BODIES],
)
async def test_bad_bodies_store_nothing(
    node: Node, body: Any, status: int, code: str, paths: list[str]
) -> None:
    content = b"" if body is None else json.dumps(body).encode()
    response = await node.client.post("/v1/digests", content=content, headers=node.auth())
    problem = assert_problem(response, status, code)
    assert [e["path"] for e in problem.get("errors", [])] == paths
    for error in problem.get("errors", []):
        assert error["detail"]
    assert node.rows() == 0


@pytest.mark.parametrize(
    "content", [b'{"digests": [', b"{'digests': []}", b"\xff\xfe", b"digests=1"]
)
async def test_malformed_json_is_400(node: Node, content: bytes) -> None:
    response = await node.client.post("/v1/digests", content=content, headers=node.auth())
    assert_problem(response, 400, "malformed-json")
    assert node.rows() == 0


async def test_upper_case_is_refused_with_a_reason(node: Node) -> None:
    problem = assert_problem(await node.submit([item("AB" * 32)]), 422, "validation-failed")
    assert problem["errors"] == [
        {
            "path": "digests[0].digest",
            "pointer": "#/digests/0/digest",
            "detail": "hex must be lower case",
        }
    ]


async def test_a_large_error_list_is_capped(node: Node) -> None:
    problem = assert_problem(await node.submit([item("x")] * 500), 422, "validation-failed")
    assert len(problem["errors"]) == 100 and "500 invalid fields" in problem["detail"]


async def test_a_body_over_the_limit_is_413_even_without_content_length(node: Node) -> None:
    padding = " " * (MAX_BODY_BYTES + 1)
    content = json.dumps({"digests": [item()]}).encode() + padding.encode()
    declared = await node.client.post("/v1/digests", content=content, headers=node.auth())
    assert_problem(declared, 413, "body-too-large")

    async def chunks() -> AsyncIterator[bytes]:  # chunked: no Content-Length to trust
        for start in range(0, len(content), 65536):
            yield content[start : start + 65536]

    streamed = await node.client.post("/v1/digests", content=chunks(), headers=node.auth())
    assert "content-length" not in streamed.request.headers
    assert_problem(streamed, 413, "body-too-large")
    lying = await node.client.post(
        "/v1/digests", content=chunks(), headers={**node.auth(), "Content-Length": "100"}
    )
    assert lying.status_code in (400, 413)  # the server never reads past the cap
    assert node.rows() == 0


async def test_a_non_json_media_type_is_415(node: Node) -> None:
    response = await node.client.post(
        "/v1/digests",
        content=json.dumps({"digests": [item()]}),
        headers={**node.auth(), "Content-Type": "text/plain"},
    )
    assert_problem(response, 415, "unsupported-media-type")
    assert node.rows() == 0


async def test_another_issuers_digest_is_403_and_stores_nothing(node: Node) -> None:
    theirs = item()
    assert (await node.submit([theirs], token="other")).status_code == 202
    response = await node.submit([item(), item(), theirs])
    problem = assert_problem(response, 403, "another-issuers-record")
    assert problem["conflicts"] == [
        {
            "digest": theirs["digest"],
            "reason": "another-issuer",
            "detail": problem["conflicts"][0]["detail"],
        }
    ]
    assert node.rows() == 1


async def test_another_credential_id_for_a_stored_digest_is_409(node: Node) -> None:
    first = item(credential_id=urn())
    await node.submit([first])
    response = await node.submit([item(), item(first["digest"], urn())])
    problem = assert_problem(response, 409, "digest-conflict")
    assert problem["conflicts"][0]["reason"] == "credential-id-differs"
    assert node.rows() == 1


# --- proofs ----------------------------------------------------------------------------------

CONTRACT = "0x" + "c0" * 20
TX_HASH = "0x" + "ee" * 32
BLOCK_HASH = "0x" + "bb" * 32
BLOCK_TIME = datetime(2026, 11, 24, 2, 0, 13, tzinfo=UTC)
ANCHOR = {  # as the API shows it once confirm() has run
    "chainId": 31337,
    "contract": CONTRACT,
    "transactionHash": TX_HASH,
    "blockNumber": 12,
    "blockHash": BLOCK_HASH,
    "anchoredAt": "2026-11-24T02:00:13Z",
}


def confirm(engine: Engine, batch_id: int, block: int = 12) -> None:
    """Mark a sealed batch confirmed as the anchorer would after its receipt."""
    with engine.begin() as conn:
        conn.execute(
            update(batch_t)
            .where(batch_t.c.id == batch_id)
            .values(
                state=BatchState.CONFIRMED,
                chain_id=31337,
                contract=CONTRACT,
                transaction_hash=TX_HASH,
                block_number=block,
                block_hash=BLOCK_HASH,
                block_time=BLOCK_TIME,
                confirmations=1,
                confirmed_at=BLOCK_TIME,
            )
        )


async def test_unknown_and_malformed_digests(node: Node) -> None:
    assert_problem(await node.client.get(f"/v1/proofs/{'ab' * 32}"), 404, "not-found")
    for bad in ["ab" * 31, "AB" * 32, "zz" * 32]:
        problem = assert_problem(
            await node.client.get(f"/v1/proofs/{bad}"), 422, "validation-failed"
        )
        assert problem["errors"][0]["path"] == "digest" and problem["errors"][0]["in"] == "path"
    assert_problem(await node.client.get("/v1/credentials/urn:uuid:nobody/proof"), 404, "not-found")


async def test_a_digest_waits_with_202_until_its_batch_is_confirmed(node: Node) -> None:
    cid = urn()
    entry = item(credential_id=cid)
    await node.submit([entry])
    pending = await node.client.get(f"/v1/proofs/{entry['digest']}")
    assert pending.status_code == 202
    assert pending.json() == {
        "digest": entry["digest"],
        "state": "pending",
        "batchId": None,
        "nextAnchoringAt": "2031-01-02T02:00:00Z",
    }
    assert int(pending.headers["retry-after"]) > 0
    batch = seal_batch(node.engine, "uni")
    assert batch is not None
    for path in (f"/v1/proofs/{entry['digest']}", f"/v1/credentials/{cid}/proof"):
        sealed = await node.client.get(path)
        assert sealed.status_code == 202
        assert (sealed.json()["state"], sealed.json()["batchId"]) == ("sealed", batch.id)


async def test_a_confirmed_digest_has_a_bundle_that_verifies_independently(node: Node) -> None:
    entries = [item(credential_id=urn()) for _ in range(7)]
    entries[3]["credentialId"] = "https://uni.example/credentials/3/of/7"  # slashes in the id
    await node.submit(entries)
    batch = seal_batch(node.engine, "uni")
    assert batch is not None
    confirm(node.engine, batch.id)
    with node.engine.connect() as conn:
        leaves = conn.execute(
            select(submission_t.c.digest).order_by(submission_t.c.seq)
        ).scalars().all()  # fmt: skip
    # pymerkle builds the same RFC 9162 tree on its own.
    theirs = pymerkle.InmemoryTree(algorithm="sha256")
    for leaf in leaves:
        theirs.append_entry(bytes.fromhex(leaf))
    for entry in entries:
        by_digest = await node.client.get(f"/v1/proofs/{entry['digest']}")
        by_id = await node.client.get(f"/v1/credentials/{entry['credentialId']}/proof")
        quoted = urllib.parse.quote(entry["credentialId"], safe="")  # as `mcledger prove` does
        by_quoted_id = await node.client.get(f"/v1/credentials/{quoted}/proof")
        assert by_digest.status_code == by_id.status_code == by_quoted_id.status_code == 200
        assert by_digest.json() == by_id.json() == by_quoted_id.json()
        body = by_digest.json()
        assert body["anchor"] == {**ANCHOR, "issuer": ISSUER_ADDRESS}
        assert (body["digest"], body["credentialId"]) == (entry["digest"], entry["credentialId"])
        index, size = body["leafIndex"], body["treeSize"]
        assert size == 7 and leaves[index] == entry["digest"]
        assert body["root"] == theirs.get_root().hex() == batch.root.hex()
        their_proof = theirs.prove_inclusion(index + 1)  # pymerkle counts from 1
        assert [h.hex() for h in their_proof.path[1:]] == body["auditPath"]
        leaf = theirs.hash_buff(bytes.fromhex(entry["digest"]))  # 0x00 ‖ digest, RFC 9162
        pymerkle.verify_inclusion(leaf, theirs.get_root(), their_proof)
        bundle = ProofBundle.from_json(body)  # the strict reader accepts what we serve
        verify_inclusion(bundle.digest, bundle.proof, root=batch.root, tree_size=7)


# --- batches ---------------------------------------------------------------------------------


async def test_batches_are_listed_newest_first_and_paged(node: Node) -> None:
    ids = []
    for size in (3, 1, 2):
        await node.submit([item() for _ in range(size)])
        batch = seal_batch(node.engine, "uni")
        assert batch is not None
        ids.append(batch.id)
    confirm(node.engine, ids[0])
    first = (await node.client.get("/v1/batches", params={"limit": 2})).json()
    assert [b["id"] for b in first["batches"]] == [ids[2], ids[1]]
    assert first["nextAfter"] == ids[1]
    second = (await node.client.get("/v1/batches", params={"limit": 2, "after": ids[1]})).json()
    assert [b["id"] for b in second["batches"]] == [ids[0]] and second["nextAfter"] is None
    oldest = second["batches"][0]
    assert oldest["issuer"] == "uni" and oldest["treeSize"] == 3 and len(oldest["root"]) == 64
    assert oldest["state"] == "confirmed"
    assert oldest["anchor"] == ANCHOR
    assert first["batches"][0]["anchor"] is None and first["batches"][0]["state"] == "sealed"
    one = await node.client.get(f"/v1/batches/{ids[0]}")
    assert one.json() == oldest
    assert (await node.client.get("/v1/batches", params={"issuer": "other"})).json() == {
        "batches": [],
        "nextAfter": None,
    }


async def test_batch_lookups_that_fail(node: Node) -> None:
    assert_problem(await node.client.get("/v1/batches/999"), 404, "not-found")
    problem = assert_problem(await node.client.get("/v1/batches/x"), 422, "validation-failed")
    assert problem["errors"][0]["path"] == "batch_id" and problem["errors"][0]["in"] == "path"
    problem = assert_problem(
        await node.client.get("/v1/batches", params={"limit": 0}), 422, "validation-failed"
    )
    assert problem["errors"][0] == {
        "path": "limit",
        "in": "query",
        "detail": problem["errors"][0]["detail"],
    }


async def test_anchor_now_needs_an_admin_token_and_an_empty_body(node: Node) -> None:
    await node.submit([item(), item()])
    refused = await node.client.post("/v1/batches", json={}, headers=node.auth("issue"))
    assert_problem(refused, 403, "insufficient-scope")
    assert_problem(await node.client.post("/v1/batches", json={}), 401, "unauthenticated")
    extra = await node.client.post("/v1/batches", json={"now": True}, headers=node.auth("admin"))
    assert [e["path"] for e in assert_problem(extra, 422, "validation-failed")["errors"]] == ["now"]
    assert node.anchoring.calls == []
    done = await node.client.post("/v1/batches", json={}, headers=node.auth("admin"))
    assert done.status_code == 202 and done.json()["treeSize"] == 2
    empty = await node.client.post("/v1/batches", headers=node.auth("admin"))  # no body at all
    assert empty.status_code == 202 and empty.json() == {"state": "nothing-pending"}
    assert node.anchoring.calls == ["uni", "uni"]


async def test_anchor_now_without_an_anchoring_service_is_503(
    index_engine: Engine, tmp_path: Path
) -> None:
    ensure_issuer(index_engine, "uni", chain_address=ISSUER_ADDRESS)
    admin = create_token(index_engine, "uni", {"admin"})
    async with client_for(create_app(Settings(data_dir=tmp_path), index_engine)) as client:
        response = await client.post(
            "/v1/batches", json={}, headers={"Authorization": f"Bearer {admin}"}
        )
        assert_problem(response, 503, "anchoring-unavailable")
        assert (await client.get(f"/v1/proofs/{'ab' * 32}")).status_code == 404
