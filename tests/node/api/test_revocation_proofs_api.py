"""Chain-only revocation proofs over HTTP, on a real Anvil (a version-2 contract) and a real
index (SQLite and PostgreSQL): `GET /v1/revocation-proofs/{digest}` and the proof bundle's
`revocation` member, each checked against `revocationRootOf` on chain and against the
OpenAPI document the node serves."""

from __future__ import annotations

import json
import os
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

from mcledger.anchoring.bundle import ProofBundle
from mcledger.anchoring.revocation_proof import EMPTY, RevocationProof, verify
from mcledger.node.api import create_app
from mcledger.node.issuing.issuers import ensure_issuer
from mcledger.node.issuing.tokens import create_token
from mcledger.node.pipeline.anchorer import Anchorer
from mcledger.node.pipeline.revocation_flush import RevocationFlusher
from mcledger.node.pipeline.txmachine import AnchoringPolicy
from mcledger.node.settings import Settings
from tests.node.samples import revoke_digests

FAST = AnchoringPolicy(wait_timeout=20, poll_interval=0.05, replace_after=3600)
CHECKS = [status_code_conformance, content_type_conformance, response_schema_conformance]


class Node:
    def __init__(self, client: httpx.AsyncClient, engine: Engine, deployed: Any) -> None:
        self.client, self.engine, self.deployed = client, engine, deployed
        account = lambda _id: deployed.issuer  # noqa: E731
        self.anchorer = Anchorer(engine, deployed.ledger, account, FAST)
        self.flusher = RevocationFlusher(engine, deployed.ledger, account, FAST)
        self.token = create_token(engine, "uni", {"issue"})

    async def submit(self, count: int) -> list[str]:
        return await self.submit_these([os.urandom(32).hex() for _ in range(count)])

    async def submit_these(self, digests: list[str]) -> list[str]:
        reply = await self.client.post(
            "/v1/digests",
            json={"digests": [{"digest": d} for d in digests]},
            headers={"Authorization": f"Bearer {self.token}"},
        )
        assert reply.status_code == 202, reply.text
        return digests

    def revoke(self, digests: list[str], reason: int) -> None:
        revoke_digests(self.engine, "uni", digests, reason)

    async def get(self, path: str, status: int) -> Any:
        """GET ``path``: the status, and the response against the node's OpenAPI document."""
        spec = (await self.client.get("/openapi.json")).json()
        template = (
            "/v1/revocation-proofs/{digest}" if "revocation" in path else "/v1/proofs/{digest}"
        )
        case = schemathesis.openapi.from_dict(spec)[template]["GET"].Case(
            path_parameters={"digest": path.rsplit("/", 1)[1]}
        )
        reply = await self.client.get(path)
        assert reply.status_code == status, reply.text
        case.validate_response(reply, checks=CHECKS)
        return reply.json()


@pytest.fixture
async def node(index_engine: Engine, deployed: Any, tmp_path: Path) -> AsyncIterator[Node]:
    ensure_issuer(index_engine, "uni", chain_address=deployed.issuer.address)
    app = create_app(Settings(data_dir=tmp_path), index_engine)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app), base_url="http://node"
    ) as client:
        yield Node(client, index_engine, deployed)


def _onchain_root(node: Node) -> bytes:
    return node.deployed.ledger.revocation_root_of(node.deployed.issuer.address).root


async def test_proofs_against_the_committed_root(node: Node) -> None:
    digests = await node.submit(6)
    node.anchorer.anchor_pending("uni")

    # Nothing committed yet: the empty set's proof, and bundles exactly as before.
    before = await node.get(f"/v1/revocation-proofs/{digests[0]}", 200)
    assert before["revoked"] is False and before["revocation"]["root"] == EMPTY.hex()
    assert (before["revocation"]["size"], before["revocation"]["transactionHash"]) == (0, None)
    assert before["chainId"] is None and before["committedAt"] is None
    bundle = await node.get(f"/v1/proofs/{digests[0]}", 200)
    assert "revocation" not in bundle

    node.revoke(digests[:2], 2)
    node.revoke(digests[2:3], 4)
    reports = node.flusher.flush_pending("uni")
    assert [r.state for r in reports] == ["confirmed", "confirmed"]
    root = _onchain_root(node)

    revoked = await node.get(f"/v1/revocation-proofs/{digests[1]}", 200)
    assert revoked["revoked"] is True and revoked["reason"] == 2
    assert revoked["issuer"] == node.deployed.issuer.address
    assert revoked["contract"] == node.deployed.ledger.address and revoked["chainId"] == 31337
    member = revoked["revocation"]
    assert (member["root"], member["size"]) == (root.hex(), 3)
    assert member["transactionHash"] == reports[-1].transaction_hash
    verdict = verify(root, bytes.fromhex(digests[1]), RevocationProof.from_json(member["proof"]))
    assert verdict.member and verdict.record is not None and verdict.record.reason == 2
    assert revoked["revokedAt"].endswith("Z")

    kept = await node.get(f"/v1/revocation-proofs/{digests[4]}", 200)
    assert kept["revoked"] is False and kept["reason"] is None and kept["revokedAt"] is None
    proof = RevocationProof.from_json(kept["revocation"]["proof"])
    assert not verify(root, bytes.fromhex(digests[4]), proof).member

    # The proof bundle now carries the member; a strict reader takes it.
    for digest, member_expected in ((digests[2], True), (digests[5], False)):
        data = await node.get(f"/v1/proofs/{digest}", 200)
        bundle = ProofBundle.from_json(data)
        assert bundle.revocation is not None and bundle.revocation.root == root
        assert verify(root, bundle.digest, bundle.revocation.proof).member is member_expected
        assert list(data)[-1] == "revocation"


async def test_unknown_and_malformed_digests(node: Node) -> None:
    unknown = await node.get(f"/v1/revocation-proofs/{'ab' * 32}", 404)
    assert unknown["code"] == "not-found"
    bad = await node.get(f"/v1/revocation-proofs/{'AB' * 32}", 422)
    assert "lower case" in json.dumps(bad)
    # The zero digest may be submitted; no set holds it, and no proof is made of it.
    await node.submit_these(["00" * 32])
    zero = await node.get(f"/v1/revocation-proofs/{'00' * 32}", 422)
    assert "no revocation set holds it" in json.dumps(zero)
