"""Revocation and suspension over HTTP, the revocation history, and the signed status lists
(SQLite and PostgreSQL). The lists are decoded by hand here and by an independent Node.js
decoder (tests/interop/decode_status_list.mjs), not only by node.credentials.statuslist."""

from __future__ import annotations

import base64
import copy
import json
import shutil
import subprocess
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import pytest
from api_node import ApiNode, open_api_node
from sqlalchemy import Engine, func, select

from mcledger.node.api import create_app
from mcledger.node.credentials.dataintegrity import credential_digest, verify_credential
from mcledger.node.credentials.loader import LocalContextLoader
from mcledger.node.credentials.multikey import resolve_did_key
from mcledger.node.credentials.statuslist import (
    MIN_LIST_BITS,
    StatusListCredential,
    StatusListFormatError,
)
from mcledger.node.index.models import operation_t, revocation_t
from mcledger.node.index.models_status import suspension_t
from mcledger.node.issuing.status_lists import reserve
from mcledger.node.settings import Settings

INTEROP_DIR = Path(__file__).resolve().parents[2] / "interop"


def set_bits_by_hand(encoded: str) -> tuple[int, list[int]]:
    """Decode an encodedList with the standard library alone: (bits, indexes set)."""
    assert encoded.startswith("u")
    body = encoded[1:]
    raw = zlib.decompress(base64.b64decode(body + "=" * (-len(body) % 4), altchars=b"-_"), 31)
    return len(raw) * 8, [
        byte * 8 + bit for byte, value in enumerate(raw) for bit in range(8) if value << bit & 0x80
    ]


class Node(ApiNode):
    default_token = "revoke"

    async def issue(self) -> tuple[str, dict[str, dict[str, str]]]:
        """A credential issued over HTTP and its status entries by purpose."""
        response = await self.client.post(
            "/v1/credentials", json=self.award(), headers=self.auth("issue")
        )
        assert response.status_code == 201, response.text
        credential = response.json()["credential"]
        # Issuance names the slots once it reserves them; reserving again returns the same.
        entries = credential.get("credentialStatus") or reserve(
            self.engine, "uni", credential["id"]
        ).entries(Settings().node_url)
        return credential["id"], {entry["statusPurpose"]: entry for entry in entries}

    async def post(
        self, credential_id: str, action: str, body: Any = None, token: str = "revoke"
    ) -> httpx.Response:
        path = f"/v1/credentials/{quote(credential_id, safe=':')}/{action}"
        kwargs: dict[str, Any] = {"json": body} if body is not None else {}
        return await self.client.post(path, headers=self.auth(token), **kwargs)

    async def status_list(self, entry: dict[str, str]) -> httpx.Response:
        response = await self.client.get(urlsplit(entry["statusListCredential"]).path)
        assert response.status_code == 200, response.text
        return response

    async def bit(self, entry: dict[str, str]) -> bool:
        listed = (await self.status_list(entry)).json()
        _, on = set_bits_by_hand(listed["credentialSubject"]["encodedList"])
        return int(entry["statusListIndex"]) in on

    def counts(self) -> tuple[int, ...]:
        with self.engine.connect() as conn:
            return tuple(
                conn.execute(select(func.count()).select_from(table)).scalar_one()
                for table in (revocation_t, suspension_t, operation_t)
            )


TOKENS = {
    "revoke": ("uni", {"revoke"}),
    "issue": ("uni", {"issue"}),
    "other": ("other", {"issue", "revoke", "admin"}),
}


@pytest.fixture
async def node(index_engine: Engine, tmp_path: Path) -> AsyncIterator[Node]:
    built = open_api_node(index_engine, tmp_path, TOKENS, Node)
    async with built.client:
        yield built


def _problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code, body
    return body


async def test_a_revocation_flips_the_bit_in_the_signed_list_at_once(node: Node) -> None:
    revoked, entries = await node.issue()
    kept, kept_entries = await node.issue()
    entry = entries["revocation"]
    assert not await node.bit(entry)
    response = await node.post(revoked, "revoke", {"reason": 2, "note": "plagiarism"})
    assert response.status_code == 200, response.text
    record = response.json()
    assert record["created"] is True and record["reason"] == 2 and record["note"] == "plagiarism"
    assert record["reasonName"] == "fraud-or-misconduct" and record["transactionHash"] is None

    listed = (await node.status_list(entry)).json()
    url = entry["statusListCredential"]
    assert listed["@context"] == ["https://www.w3.org/ns/credentials/v2"]
    assert listed["type"] == ["VerifiableCredential", "BitstringStatusListCredential"]
    assert listed["id"] == url and listed["issuer"] == node.key.did
    subject = listed["credentialSubject"]
    assert subject["id"] == f"{url}#list" and subject["type"] == "BitstringStatusList"
    assert subject["statusPurpose"] == "revocation"
    bits, on = set_bits_by_hand(subject["encodedList"])
    assert bits >= MIN_LIST_BITS and on == [int(entry["statusListIndex"])]
    assert verify_credential(listed, resolve_did_key).ok
    assert StatusListCredential.from_json(listed).bits().get(int(entry["statusListIndex"]))
    # The other credential shares the list and is not revoked; no suspension bit moved.
    assert kept_entries["revocation"]["statusListCredential"] == url
    assert not await node.bit(kept_entries["revocation"])
    assert not await node.bit(entries["suspension"])


async def test_a_second_revocation_returns_the_first_unchanged(node: Node) -> None:
    credential_id, entries = await node.issue()
    first = (await node.post(credential_id, "revoke", {"reason": 1})).json()
    etag = (await node.status_list(entries["revocation"])).headers["etag"]
    counts = node.counts()
    again = await node.post(credential_id, "revoke", {"reason": 5, "note": "changed my mind"})
    assert again.status_code == 200
    shown = again.json()
    assert shown["created"] is False
    assert (shown["revokedAt"], shown["reason"], shown["note"]) == (first["revokedAt"], 1, "")
    assert node.counts() == counts
    assert (await node.status_list(entries["revocation"])).headers["etag"] == etag


async def test_unknown_foreign_and_unauthorised_revocations_change_nothing(node: Node) -> None:
    credential_id, entries = await node.issue()
    etag = (await node.status_list(entries["revocation"])).headers["etag"]
    counts = node.counts()
    unknown = "urn:uuid:00000000-0000-4000-8000-000000000000"
    _problem(await node.post(unknown, "revoke", {"reason": 0}), 404, "not-found")
    _problem(
        await node.post(credential_id, "revoke", {"reason": 0}, token="other"),
        403,
        "another-issuers-record",
    )
    _problem(
        await node.post(credential_id, "suspend", {}, token="other"), 403, "another-issuers-record"
    )
    _problem(
        await node.post(credential_id, "revoke", {"reason": 0}, token="issue"),
        403,
        "insufficient-scope",
    )
    path = f"/v1/credentials/{credential_id}/revoke"
    _problem(await node.client.post(path, json={"reason": 0}), 401, "unauthenticated")
    assert node.counts() == counts
    assert (await node.status_list(entries["revocation"])).headers["etag"] == etag


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"reason": 6}, "reason"),
        ({"reason": -1}, "reason"),
        ({"reason": "2"}, "reason"),
        ({"reason": 1.5}, "reason"),
        ({"reason": True}, "reason"),
        ({}, "reason"),
        ({"reason": 1, "why": "x"}, "why"),
        ({"reason": 1, "note": 5}, "note"),
        ({"reason": 1, "note": "x" * 1001}, "note"),
        ([1], "(body)"),
    ],
)
async def test_a_bad_body_is_refused_naming_the_field(node: Node, body: Any, path: str) -> None:
    credential_id, _ = await node.issue()
    counts = node.counts()
    problem = _problem(await node.post(credential_id, "revoke", body), 422, "validation-failed")
    assert path in {error["path"] for error in problem["errors"]}, problem
    response = await node.client.post(
        f"/v1/credentials/{credential_id}/revoke",
        content=b"{reason: 1}",
        headers={**node.auth(), "Content-Type": "application/json"},
    )
    _problem(response, 400, "malformed-json")
    assert node.counts() == counts


async def test_a_suspension_sets_the_suspension_bit_until_lifted(node: Node) -> None:
    credential_id, entries = await node.issue()
    _problem(await node.post(credential_id, "unsuspend"), 409, "not-suspended")
    suspended = await node.post(credential_id, "suspend")  # no body at all
    assert suspended.status_code == 200, suspended.text
    assert suspended.json()["suspended"] is True and suspended.json()["changed"] is True
    assert await node.bit(entries["suspension"])
    assert not await node.bit(entries["revocation"])
    repeat = (await node.post(credential_id, "suspend", {"note": "again"})).json()
    assert repeat["changed"] is False and repeat["note"] == ""
    lifted = (await node.post(credential_id, "unsuspend", {"note": "cleared"})).json()
    assert lifted["suspended"] is False and lifted["liftNote"] == "cleared" and lifted["changed"]
    assert not await node.bit(entries["suspension"])
    assert (await node.post(credential_id, "unsuspend")).json()["changed"] is False
    _problem(await node.post(credential_id, "suspend", {"reason": 1}), 422, "validation-failed")


async def test_the_history_is_public_filtered_and_paginated(node: Node) -> None:
    issued = [(await node.issue())[0] for _ in range(3)]
    for reason, credential_id in enumerate(issued):
        await node.post(credential_id, "revoke", {"reason": reason, "note": "private"})
    page = (await node.client.get("/v1/revocations", params={"limit": 2})).json()
    assert [r["credentialId"] for r in page["revocations"]] == issued[:2]
    assert all("note" not in r and r["transactionHash"] is None for r in page["revocations"])
    rest = await node.client.get("/v1/revocations", params={"limit": 2, "after": page["nextAfter"]})
    assert [r["credentialId"] for r in rest.json()["revocations"]] == issued[2:]
    assert rest.json()["nextAfter"] is None
    other = await node.client.get("/v1/revocations", params={"issuer": "other"})
    assert other.json() == {"revocations": [], "nextAfter": None}
    first_time = page["revocations"][0]["revokedAt"]
    until = await node.client.get("/v1/revocations", params={"until": first_time})
    assert until.json()["revocations"] == []
    since = await node.client.get("/v1/revocations", params={"since": first_time})
    assert len(since.json()["revocations"]) == 3
    _problem(
        await node.client.get("/v1/revocations", params={"since": "yesterday"}),
        422,
        "validation-failed",
    )


async def test_an_unchanged_list_is_not_signed_again_and_answers_304(node: Node) -> None:
    credential_id, entries = await node.issue()
    entry = entries["revocation"]
    first = await node.status_list(entry)
    second = await node.status_list(entry)
    assert first.json()["proof"] == second.json()["proof"]  # the cached signature
    etag = first.headers["etag"]
    assert etag.startswith('W/"') and first.headers["cache-control"] == "no-cache"
    path = urlsplit(entry["statusListCredential"]).path
    cached = await node.client.get(path, headers={"If-None-Match": etag})
    assert cached.status_code == 304 and cached.headers["etag"] == etag
    await node.post(credential_id, "revoke", {"reason": 0})
    fresh = await node.client.get(path, headers={"If-None-Match": etag})
    assert fresh.status_code == 200 and fresh.headers["etag"] != etag
    assert await node.bit(entry)


async def test_unknown_lists_and_nodes_without_a_key(node: Node, tmp_path: Path) -> None:
    _problem(await node.client.get("/v1/status-lists/sl_unknown"), 404, "not-found")
    app = create_app(Settings(data_dir=tmp_path), node.engine)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://n") as bare:
        _problem(await bare.get("/v1/status-lists/sl_x"), 503, "issuing-unavailable")


async def test_a_credential_with_both_status_entries_signs_on_the_fast_path(node: Node) -> None:
    """What issuance will send: `credentialStatus` as a list of two entries (VC 2.0 allows a
    set); the fast signer's digest must equal the full path's."""
    credential_id, entries = await node.issue()
    stored = await node.client.get(
        f"/v1/credentials/{credential_id}", params={"format": "vc"}, headers=node.auth("issue")
    )
    unsigned = stored.json()
    unsigned.pop("proof")
    unsigned["id"] = "urn:uuid:5f0c7d1e-2b3a-4c5d-8e9f-0a1b2c3d4e5f"
    assert unsigned.pop("credentialStatus") == [entries["revocation"], entries["suspension"]]
    response = await node.client.post("/v1/credentials", json=unsigned, headers=node.auth("issue"))
    assert response.status_code == 201, response.text
    signed = response.json()
    status = signed["credential"]["credentialStatus"]  # the node assigns fresh slots
    assert [e["statusPurpose"] for e in status] == ["revocation", "suspension"]
    assert status != [entries["revocation"], entries["suspension"]]
    assert verify_credential(signed["credential"], resolve_did_key).ok
    assert signed["digest"] == credential_digest(signed["credential"]).hex()


# -- against independent JavaScript -------------------------------------------------------------


@pytest.fixture(scope="module")
def javascript(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Our contexts as the only ones the JavaScript side may load."""
    if shutil.which("node") is None or not (INTEROP_DIR / "node_modules").is_dir():
        pytest.fail("the JavaScript side is not installed: run `make setup`")
    loader = LocalContextLoader()
    path = tmp_path_factory.mktemp("interop") / "contexts.json"
    path.write_text(json.dumps({url: loader.document(url) for url in sorted(loader.known_urls)}))
    return path


def _node_js(*args: str, document: dict[str, Any]) -> dict[str, Any]:
    completed = subprocess.run(
        ["node", *args],
        input=json.dumps(document),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result: dict[str, Any] = json.loads(completed.stdout)
    return result


async def test_javascript_decodes_the_same_bits_and_verifies_the_list(
    node: Node, javascript: Path
) -> None:
    revoked = []
    for _ in range(3):
        credential_id, entries = await node.issue()
        await node.post(credential_id, "revoke", {"reason": 4})
        revoked.append(int(entries["revocation"]["statusListIndex"]))
    listed = (await node.status_list(entries["revocation"])).json()
    decoded = _node_js(str(INTEROP_DIR / "decode_status_list.mjs"), document=listed)
    assert decoded == {"statusPurpose": "revocation", "bits": MIN_LIST_BITS, "set": sorted(revoked)}
    assert decoded["set"] == set_bits_by_hand(listed["credentialSubject"]["encodedList"])[1]
    verified = _node_js(
        str(INTEROP_DIR / "verify_credential.mjs"), str(javascript), document=listed
    )
    assert verified == {"verified": True}


async def test_the_list_model_reads_what_it_writes_and_refuses_damage(node: Node) -> None:
    _, entries = await node.issue()
    listed = (await node.status_list(entries["revocation"])).json()
    model = StatusListCredential.from_json(listed)
    assert model.to_json() == {k: v for k, v in listed.items() if k != "proof"}
    encoded = listed["credentialSubject"]["encodedList"]
    raw = bytearray(base64.urlsafe_b64decode(encoded[1:] + "=" * (-len(encoded[1:]) % 4)))
    raw[12:40] = bytes(b ^ 0x55 for b in raw[12:40])  # damage the deflate stream
    damaged = base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")
    for subject_change in (
        {"encodedList": "u" + damaged},
        {"encodedList": encoded[1:]},
        {"type": "StatusList2021"},
        {"statusPurpose": "refresh"},
    ):
        broken = copy.deepcopy(listed)
        broken["credentialSubject"].update(subject_change)
        with pytest.raises(StatusListFormatError):
            StatusListCredential.from_json(broken)


async def test_the_openapi_document_names_the_revocation_routes(node: Node) -> None:
    paths = (await node.client.get("/openapi.json")).json()["paths"]
    for path in (
        "/v1/credentials/{credential_id}/revoke",
        "/v1/credentials/{credential_id}/suspend",
        "/v1/revocations",
        "/v1/status-lists/{list_id}",
    ):
        assert path in paths, sorted(paths)
    body = paths["/v1/credentials/{credential_id}/revoke"]["post"]["requestBody"]
    assert body["content"]["application/json"]["schema"]["required"] == ["reason"]
