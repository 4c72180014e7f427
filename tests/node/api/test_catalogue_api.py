"""The offering catalogue and issuer profiles over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from mcledger.node.api import create_app
from mcledger.node.credentials.annex import ACHIEVEMENT_REQUIRED, EXAMPLE_ACHIEVEMENT, EXAMPLE_AWARD
from mcledger.node.credentials.annex_credential import validate_credential
from mcledger.node.credentials.build import build_credential
from mcledger.node.credentials.loader import MCLEDGER_CONTEXT_FILE
from mcledger.node.issuing.catalogue import (
    IncompleteProfileError,
    get_achievement,
    issuer_profile_for_credentials,
)
from mcledger.node.issuing.issuers import ensure_issuer
from mcledger.node.issuing.tokens import create_token
from mcledger.node.settings import Settings

PROBLEM = "application/problem+json"
PROFILE = {
    "legalName": "University of Latvia",
    "legalIdentifier": "LV90000076669",
    "country": "LV",
    "region": "Rīga",
    "qaRegister": "DEQAR",
    "qaIdentifier": "DEQARINST0123",
    "did": "did:web:uni.example.lv",
}


@dataclass
class Node:
    client: httpx.AsyncClient
    engine: Engine
    tokens: dict[str, str]

    def auth(self, name: str = "issue") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[name]}"}

    async def create(self, body: Any = None, token: str = "issue") -> httpx.Response:
        payload = EXAMPLE_ACHIEVEMENT if body is None else body
        return await self.client.post("/v1/achievements", json=payload, headers=self.auth(token))


@pytest.fixture
async def node(index_engine: Engine, tmp_path: Path) -> AsyncIterator[Node]:
    ensure_issuer(index_engine, "uni", chain_address="0x" + "1a" * 20)
    ensure_issuer(index_engine, "other", chain_address="0x" + "2b" * 20)
    tokens = {
        "issue": create_token(index_engine, "uni", {"issue"}),
        "revoke": create_token(index_engine, "uni", {"revoke"}),
        "admin": create_token(index_engine, "uni", {"admin"}),
        "other": create_token(index_engine, "other", {"issue", "admin"}),
    }
    app = create_app(Settings(data_dir=tmp_path), index_engine)
    transport = httpx.ASGITransport(app)
    async with httpx.AsyncClient(transport=transport, base_url="http://node") as client:
        yield Node(client, index_engine, tokens)


def problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["code"] == code
    return body


def error_paths(body: dict[str, Any]) -> list[str]:
    return [error["path"] for error in body["errors"]]


async def test_an_achievement_is_created_and_read_back(node: Node) -> None:
    response = await node.create()
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["id"].startswith("ach_") and created["version"] == 1
    assert created["issuer"] == "uni" and created["uri"].startswith("urn:uuid:")
    assert response.headers["location"] == f"/v1/achievements/{created['id']}?version=1"
    assert {k: created[k] for k in EXAMPLE_ACHIEVEMENT} == EXAMPLE_ACHIEVEMENT
    read = await node.client.get(f"/v1/achievements/{created['id']}")
    assert read.status_code == 200 and read.json() == created


async def test_a_bad_description_names_every_bad_field_and_stores_nothing(node: Node) -> None:
    body = problem(await node.create({"title": "", "colour": "blue"}), 422, "validation-failed")
    missing = [name for name in ACHIEVEMENT_REQUIRED if name != "title"]
    assert error_paths(body) == ["colour", *missing, "title"]
    assert body["errors"][0] == {"path": "colour", "pointer": "#/colour", "detail": "unknown field"}
    listed = await node.client.get("/v1/achievements")
    assert listed.json() == {"achievements": [], "nextAfter": None}


async def test_writing_needs_an_issue_token(node: Node) -> None:
    problem(
        await node.client.post("/v1/achievements", json=EXAMPLE_ACHIEVEMENT), 401, "unauthenticated"
    )
    problem(await node.create(token="revoke"), 403, "insufficient-scope")
    bad = await node.client.post(
        "/v1/achievements",
        content=b"{nope",
        headers={**node.auth(), "content-type": "application/json"},
    )
    problem(bad, 400, "malformed-json")


async def test_an_update_is_a_new_version_and_the_old_one_stays(node: Node) -> None:
    first = (await node.create()).json()
    changed = {**copy.deepcopy(EXAMPLE_ACHIEVEMENT), "workload": {"ects": 4}}
    url = f"/v1/achievements/{first['id']}/versions"
    second = await node.client.post(url, json=changed, headers=node.auth())
    assert second.status_code == 201, second.text
    assert second.json()["version"] == 2 and second.json()["workload"] == {"ects": 4}
    assert second.json()["uri"] != first["uri"]
    latest = (await node.client.get(f"/v1/achievements/{first['id']}")).json()
    assert latest["version"] == 2
    old = (await node.client.get(f"/v1/achievements/{first['id']}?version=1")).json()
    assert old == first
    problem(await node.client.get(f"/v1/achievements/{first['id']}?version=3"), 404, "not-found")
    problem(await node.client.get("/v1/achievements/ach_nothing"), 404, "not-found")
    other = await node.client.post(url, json=changed, headers=node.auth("other"))
    problem(other, 403, "another-issuers-record")
    unknown = "/v1/achievements/ach_nothing/versions"
    problem(await node.client.post(unknown, json=changed, headers=node.auth()), 404, "not-found")
    bad = await node.client.post(url, json={**changed, "level": {"eqf": 0}}, headers=node.auth())
    assert error_paths(problem(bad, 422, "validation-failed")) == ["level.eqf"]
    assert get_achievement(node.engine, first["id"]).version == 2


async def test_the_catalogue_lists_latest_versions_by_page_and_issuer(node: Node) -> None:
    ids = sorted([(await node.create()).json()["id"] for _ in range(5)])
    other = (await node.create(token="other")).json()["id"]
    await node.client.post(
        f"/v1/achievements/{ids[0]}/versions", json=EXAMPLE_ACHIEVEMENT, headers=node.auth()
    )
    seen: list[tuple[str, int]] = []
    after = None
    while True:
        params: dict[str, Any] = {"issuer": "uni", "limit": 2}
        if after:
            params["after"] = after
        page = (await node.client.get("/v1/achievements", params=params)).json()
        seen += [(a["id"], a["version"]) for a in page["achievements"]]
        after = page["nextAfter"]
        if after is None:
            break
    assert seen == [(ids[0], 2)] + [(i, 1) for i in ids[1:]]
    everything = (await node.client.get("/v1/achievements")).json()["achievements"]
    assert sorted(a["id"] for a in everything) == sorted([*ids, other])
    problem(await node.client.get("/v1/achievements?limit=0"), 422, "validation-failed")


async def test_the_issuer_profile_is_public_and_set_by_the_issuers_admin(node: Node) -> None:
    before = (await node.client.get("/v1/issuers/uni")).json()
    assert before["legalName"] is None and before["chainAddress"] == "0x" + "1a" * 20
    url = "/v1/issuers/uni"
    problem(
        await node.client.put(url, json=PROFILE, headers=node.auth("issue")),
        403,
        "insufficient-scope",
    )
    problem(
        await node.client.put(url, json=PROFILE, headers=node.auth("other")),
        403,
        "another-issuers-record",
    )
    bad = await node.client.put(
        url, json={"country": "XX", "did": "web"}, headers=node.auth("admin")
    )
    assert error_paths(problem(bad, 422, "validation-failed")) == ["country", "did"]
    response = await node.client.put(url, json=PROFILE, headers=node.auth("admin"))
    assert response.status_code == 200, response.text
    region = await node.client.put(url, json={"region": "Vidzeme"}, headers=node.auth("admin"))
    assert region.json() == {
        "id": "uni",
        "name": "University of Latvia",
        "did": "did:web:uni.example.lv",
        "didMethod": "web",
        "chainAddress": "0x" + "1a" * 20,
        "legalName": "University of Latvia",
        "legalIdentifier": "LV90000076669",
        "country": "LV",
        "region": "Vidzeme",
        "qualityAssurance": {"register": "DEQAR", "identifier": "DEQARINST0123"},
    }
    assert (await node.client.get(url)).json() == region.json()
    problem(await node.client.get("/v1/issuers/nobody"), 404, "unknown-issuer")


async def test_a_credential_is_built_from_the_stored_profile_and_achievement(node: Node) -> None:
    created = (await node.create()).json()
    with pytest.raises(IncompleteProfileError) as caught:
        issuer_profile_for_credentials(node.engine, "uni")
    assert [e.path for e in caught.value.errors] == [
        "legalName",
        "legalIdentifier",
        "country",
        "did",
    ]
    await node.client.put("/v1/issuers/uni", json=PROFILE, headers=node.auth("admin"))
    credential = build_credential(
        issuer_profile_for_credentials(node.engine, "uni"),
        get_achievement(node.engine, created["id"]),
        {**EXAMPLE_AWARD, "achievement": created["id"]},
        credential_id="urn:uuid:1b4e28ba-2fa1-4d3b-a3f5-ef19b5a7633b",
        issued_at=datetime(2026, 11, 24, tzinfo=UTC),
    )
    assert validate_credential(credential) == []
    assert credential["credentialSubject"]["achievement"]["id"] == created["uri"]
    assert credential["issuer"]["qualityAccreditation"]["register"] == "DEQAR"


async def test_the_mcledger_context_is_served(node: Node) -> None:
    response = await node.client.get("/contexts/v1")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/ld+json"
    assert response.json() == json.loads(MCLEDGER_CONTEXT_FILE.read_text())
    assert response.json()["@context"]["@protected"] is True
