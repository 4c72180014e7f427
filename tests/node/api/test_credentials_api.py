"""Issuing micro-credentials over HTTP, the learner's copy, erasure (SQLite and PostgreSQL)."""

from __future__ import annotations

import copy
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from api_node import ApiNode, open_api_node
from sqlalchemy import Engine, func, select
from test_api import confirm

from mcledger.anchoring.merkle import verify_inclusion
from mcledger.node.api import create_app
from mcledger.node.credentials.annex import EXAMPLE_ACHIEVEMENT, EXAMPLE_AWARD
from mcledger.node.credentials.dataintegrity import (
    ANCHOR_PROPERTY,
    credential_digest,
    verify_credential,
)
from mcledger.node.credentials.multikey import Ed25519SigningKey, resolve_did_key
from mcledger.node.index.models import submission_t
from mcledger.node.index.models_credentials import credential_t
from mcledger.node.issuing.catalogue import create_achievement
from mcledger.node.issuing.issuance import CredentialIssuer, ensure_signing_identity
from mcledger.node.issuing.issuers import ensure_issuer
from mcledger.node.issuing.tokens import create_token
from mcledger.node.pipeline.batches import seal_batch
from mcledger.node.settings import Settings

MANDATORY_AWARD_FIELDS = ["achievement", "learner", "awardedOn", "place"]
MANDATORY_LEARNER_FIELDS = ["name", "identifier"]


class Node(ApiNode):
    async def issue(self, body: Any, token: str = "issue") -> httpx.Response:
        return await self.client.post("/v1/credentials", json=body, headers=self.auth(token))

    def stored(self) -> tuple[int, int]:
        with self.engine.connect() as conn:
            credentials = conn.execute(select(func.count()).select_from(credential_t)).scalar_one()
            digests = conn.execute(select(func.count()).select_from(submission_t)).scalar_one()
        return credentials, digests


TOKENS = {
    "issue": ("uni", {"issue"}),
    "admin": ("uni", {"admin"}),
    "other": ("other", {"issue", "admin"}),
}


async def _node(engine: Engine, tmp_path: Path, store_bodies: bool = True) -> Node:
    return open_api_node(engine, tmp_path, TOKENS, Node, store_bodies)


@pytest.fixture
async def node(index_engine: Engine, tmp_path: Path) -> AsyncIterator[Node]:
    built = await _node(index_engine, tmp_path)
    async with built.client:
        yield built


def _problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code, body
    return body


async def test_an_award_becomes_a_signed_credential_queued_for_anchoring(node: Node) -> None:
    response = await node.issue(node.award())
    assert response.status_code == 201, response.text
    body = response.json()
    credential = body["credential"]
    assert credential["id"].startswith("urn:uuid:")
    assert credential["issuer"]["id"] == node.key.did
    assert credential["proof"]["cryptosuite"] == "eddsa-rdfc-2022"
    assert verify_credential(credential, resolve_did_key).ok
    assert body["digest"] == credential_digest(credential).hex()
    pending = await node.client.get(f"/v1/proofs/{body['digest']}")
    assert pending.status_code == 202 and pending.json()["state"] == "pending"
    assert node.stored() == (1, 1)


@pytest.mark.parametrize("field", MANDATORY_AWARD_FIELDS)
async def test_a_missing_mandatory_award_field_is_named_and_nothing_stored(
    node: Node, field: str
) -> None:
    award = node.award()
    del award[field]
    problem = _problem(await node.issue(award), 422, "validation-failed")
    assert field in {error["path"] for error in problem["errors"]}
    assert node.stored() == (0, 0)


@pytest.mark.parametrize("field", MANDATORY_LEARNER_FIELDS)
async def test_a_missing_learner_element_is_named(node: Node, field: str) -> None:
    award = node.award()
    del award["learner"][field]
    problem = _problem(await node.issue(award), 422, "validation-failed")
    assert f"learner.{field}" in {error["path"] for error in problem["errors"]}
    assert node.stored() == (0, 0)


async def test_every_bad_field_is_listed_at_once(node: Node) -> None:
    award = node.award(awardedOn="yesterday", place="", surprise=1)
    del award["learner"]["name"]
    problem = _problem(await node.issue(award), 422, "validation-failed")
    paths = {error["path"] for error in problem["errors"]}
    assert {"awardedOn", "place", "surprise", "learner.name"} <= paths


async def test_an_unknown_context_is_refused_without_network(
    node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    unsigned = (await node.issue(node.award())).json()["credential"]
    unsigned.pop("proof")
    unsigned.pop("credentialStatus")  # the node assigns status slots
    unsigned.pop("id")
    unsigned["@context"] = [*unsigned["@context"], "https://example.org/contexts/evil.jsonld"]

    def no_network(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("the node tried to open a network connection")

    monkeypatch.setattr(socket, "create_connection", no_network)
    problem = _problem(await node.issue(unsigned), 422, "validation-failed")
    assert any(e["path"].startswith("@context") for e in problem["errors"]), problem
    assert node.stored() == (1, 1)  # only the first credential


async def test_a_full_unsigned_credential_is_signed_if_it_names_this_issuer(node: Node) -> None:
    unsigned = (await node.issue(node.award())).json()["credential"]
    unsigned.pop("proof")
    unsigned.pop("credentialStatus")  # the node assigns status slots
    unsigned["id"] = "urn:uuid:0b7f4a0e-6d7c-4d8e-9f2a-3c4b5d6e7f80"
    response = await node.issue(unsigned)
    assert response.status_code == 201, response.text
    assert verify_credential(response.json()["credential"], resolve_did_key).ok
    unsigned["id"] = "urn:uuid:1b7f4a0e-6d7c-4d8e-9f2a-3c4b5d6e7f81"
    unsigned["issuer"] = {**unsigned["issuer"], "id": Ed25519SigningKey.generate().did}
    problem = _problem(await node.issue(unsigned), 422, "validation-failed")
    assert "issuer.id" in {e["path"] for e in problem["errors"]}


async def test_a_changed_field_fails_the_signature(node: Node) -> None:
    credential = (await node.issue(node.award())).json()["credential"]
    for path in (("credentialSubject", "name"), ("name",), ("validFrom",)):
        tampered = copy.deepcopy(credential)
        target = tampered
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = (
            target[path[-1]] + "x" if path[-1] != "validFrom" else "2020-01-01T00:00:00Z"
        )
        assert not verify_credential(tampered, resolve_did_key).ok, path


async def test_writes_need_the_issue_scope_and_this_issuer(node: Node) -> None:
    _problem(await node.client.post("/v1/credentials", json=node.award()), 401, "unauthenticated")
    _problem(await node.issue(node.award(), token="admin"), 403, "insufficient-scope")
    _problem(await node.issue(node.award(), token="other"), 403, "another-issuers-record")
    assert node.stored() == (0, 0)


async def test_the_learner_link_gives_the_copy_with_its_proof_once_anchored(node: Node) -> None:
    body = (await node.issue(node.award())).json()
    link = urlsplit(body["learnerLink"])
    path = f"{link.path}?{link.query}"
    copy_now = await node.client.get(path)
    assert copy_now.status_code == 200 and ANCHOR_PROPERTY not in copy_now.json()
    assert copy_now.json() == body["credential"]
    _problem(await node.client.get(link.path + "?key=wrong"), 401, "unauthenticated")
    _problem(
        await node.client.get(link.path, headers=node.auth("other")), 403, "another-issuers-record"
    )
    assert (await node.client.get(link.path, headers=node.auth("issue"))).status_code == 200

    batch = seal_batch(node.engine, "uni")
    assert batch is not None
    confirm(node.engine, batch.id)
    anchored = (await node.client.get(path)).json()
    bundle = anchored.pop(ANCHOR_PROPERTY)
    assert anchored == body["credential"]
    assert bundle["digest"] == body["digest"] and bundle["credentialId"] == anchored["id"]
    proof = bundle_proof(bundle)
    verify_inclusion(bytes.fromhex(body["digest"]), proof, root=batch.root, tree_size=1)
    bare = (await node.client.get(path + "&format=vc")).json()
    assert bare == body["credential"]


def bundle_proof(bundle: dict[str, Any]):
    from mcledger.anchoring.merkle import InclusionProof

    return InclusionProof.from_json(
        {k: bundle[k] for k in ("leafIndex", "treeSize", "auditPath", "root")}
    )


async def test_erasure_keeps_digest_and_proof(node: Node) -> None:
    body = (await node.issue(node.award())).json()
    credential_id = body["credential"]["id"]
    batch = seal_batch(node.engine, "uni")
    assert batch is not None
    confirm(node.engine, batch.id)
    _problem(
        await node.client.post(
            f"/v1/credentials/{credential_id}/erase", headers=node.auth("issue")
        ),
        403,
        "insufficient-scope",
    )
    _problem(
        await node.client.post(
            f"/v1/credentials/{credential_id}/erase", headers=node.auth("other")
        ),
        403,
        "another-issuers-record",
    )
    erased = await node.client.post(
        f"/v1/credentials/{credential_id}/erase", headers=node.auth("admin")
    )
    assert erased.status_code == 200, erased.text
    _problem(
        await node.client.get(f"/v1/credentials/{credential_id}", headers=node.auth("issue")),
        410,
        "credential-not-stored",
    )
    with node.engine.connect() as conn:
        row = conn.execute(select(credential_t).where(credential_t.c.id == credential_id)).one()
    assert row.body is None and row.learner_key_hash is None and row.digest == body["digest"]
    proof = await node.client.get(f"/v1/proofs/{body['digest']}")
    assert proof.status_code == 200
    # The learner's own copy still verifies: signature and inclusion are unchanged.
    assert verify_credential(body["credential"], resolve_did_key).ok
    verify_inclusion(
        bytes.fromhex(body["digest"]), bundle_proof(proof.json()), root=batch.root, tree_size=1
    )


async def test_without_stored_bodies_only_digest_and_metadata_are_kept(
    index_engine: Engine, tmp_path: Path
) -> None:
    node = await _node(index_engine, tmp_path, store_bodies=False)
    async with node.client:
        body = (await node.issue(node.award())).json()
        with node.engine.connect() as conn:
            row = conn.execute(select(credential_t)).one()
        assert row.body is None and row.digest == body["digest"]
        response = await node.client.get(
            f"/v1/credentials/{body['credential']['id']}", headers=node.auth("issue")
        )
        _problem(response, 410, "credential-not-stored")


async def test_a_did_web_issuer_signs_with_its_did_document_key(
    index_engine: Engine, tmp_path: Path
) -> None:
    from mcledger.node.issuing.issuance import did_document

    key = Ed25519SigningKey.generate()
    did = "did:web:credentials.uni.example.lv"
    ensure_issuer(index_engine, "uni", chain_address="0x" + "1a" * 20, did=did)
    ensure_signing_identity(index_engine, "uni", did, dev=True)
    achievement = create_achievement(index_engine, "uni", EXAMPLE_ACHIEVEMENT)
    issuer = CredentialIssuer(index_engine, "uni", key, did=did)
    app = create_app(Settings(data_dir=tmp_path), index_engine, credentials=issuer)
    token = create_token(index_engine, "uni", {"issue"})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://n") as client:
        award = copy.deepcopy(EXAMPLE_AWARD) | {"achievement": achievement.id}
        award.pop("components")
        response = await client.post(
            "/v1/credentials", json=award, headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 201, response.text
        credential = response.json()["credential"]
        document = (await client.get("/.well-known/did.json")).json()
        assert document == (await client.get("/v1/issuers/uni/did.json")).json()
    assert credential["issuer"]["id"] == did and document == did_document(did, key)
    method = credential["proof"]["verificationMethod"]
    assert method == f"{did}#key-1" and document["assertionMethod"] == [method]
    # A verifier that resolved the DID document checks the signature with its key.
    keys = {m["id"]: m["publicKeyMultibase"] for m in document["verificationMethod"]}
    from mcledger.node.credentials.multikey import public_key_from_multibase

    assert verify_credential(credential, lambda vm: public_key_from_multibase(keys[vm])).ok


async def test_a_relative_credential_id_is_refused(node: Node) -> None:
    unsigned = (await node.issue(node.award())).json()["credential"]
    unsigned.pop("proof")
    unsigned.pop("credentialStatus")  # the node assigns status slots
    unsigned["id"] = "cred-1"
    problem = _problem(await node.issue(unsigned), 422, "validation-failed")
    assert "id" in {e["path"] for e in problem["errors"]}


async def test_a_submitted_credential_status_is_refused(node: Node) -> None:
    unsigned = (await node.issue(node.award())).json()["credential"]
    unsigned.pop("proof")
    unsigned["id"] = "urn:uuid:2b7f4a0e-6d7c-4d8e-9f2a-3c4b5d6e7f82"
    problem = _problem(await node.issue(unsigned), 422, "validation-failed")
    assert "credentialStatus" in {e["path"] for e in problem["errors"]}
