"""`POST /v1/digests` through the app while requests share a group commit (SQLite and
PostgreSQL): each answer is the one it would get alone, and a refused request stores
nothing while the others of its group are kept."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, select

from mcledger.node.api import create_app
from mcledger.node.index.models import submission_t
from mcledger.node.issuing.issuers import ensure_issuer
from mcledger.node.issuing.tokens import create_token
from mcledger.node.pipeline.intake_writer import intake_writer
from mcledger.node.settings import Settings
from tests.node.pipeline.counter_hold import holding_counter


def item(digest: str | None = None, credential_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"digest": digest or os.urandom(32).hex()}
    if credential_id is not None:
        body["credentialId"] = credential_id
    return body


async def test_a_conflict_in_a_group_is_refused_alone(index_engine: Engine, tmp_path: Path) -> None:
    ensure_issuer(index_engine, "uni", chain_address="0x" + "1a" * 20)
    ensure_issuer(index_engine, "other", chain_address="0x" + "2b" * 20)
    auth = {
        name: {"Authorization": f"Bearer {create_token(index_engine, name, {'issue'})}"}
        for name in ("uni", "other")
    }
    app = create_app(Settings(data_dir=tmp_path), index_engine)
    theirs, recorded = item(), item(credential_id="urn:uuid:00000000-0000-4000-8000-000000000001")
    bodies: list[tuple[str, list[dict[str, Any]]]] = [
        ("uni", [item(), item(credential_id="urn:uuid:00000000-0000-4000-8000-000000000002")]),
        ("uni", [item(), theirs]),  # 403: another issuer's digest
        ("other", [item()]),
        (
            "uni",
            [item(), item(recorded["digest"], "urn:uuid:00000000-0000-4000-8000-000000000003")],
        ),
        ("uni", [item() for _ in range(500)]),  # parsed in the thread pool
    ]
    writer = intake_writer(index_engine)
    transport = httpx.ASGITransport(app)
    async with httpx.AsyncClient(transport=transport, base_url="http://node") as client:

        async def post(issuer: str, items: list[dict[str, Any]]) -> httpx.Response:
            return await client.post("/v1/digests", json={"digests": items}, headers=auth[issuer])

        assert (await post("other", [theirs])).status_code == 202
        assert (await post("uni", [recorded])).status_code == 202
        with holding_counter(index_engine, "uni") as release:  # the requests queue up
            first = asyncio.create_task(post("uni", [item()]))
            await asyncio.sleep(0.2)  # the writer takes it alone and waits on the lock
            sent = [asyncio.create_task(post(issuer, items)) for issuer, items in bodies]
            while writer._waiting.qsize() < len(bodies):
                await asyncio.sleep(0.01)
            assert not first.done() and not any(task.done() for task in sent)
            release.set()
        answers = [await first] + [await task for task in sent]

    assert [a.status_code for a in answers] == [202, 202, 403, 202, 409, 202]
    assert answers[2].json()["code"] == "another-issuers-record"
    assert answers[4].json()["conflicts"][0]["reason"] == "credential-id-differs"
    assert len(answers[5].json()["digests"]) == 500
    assert writer.counts.largest_group == len(bodies)  # they shared one transaction
    with index_engine.connect() as conn:
        stored = set(conn.execute(select(submission_t.c.digest)).scalars())
    for (_issuer, items), answer in zip(bodies, answers[1:], strict=True):
        digests = {i["digest"] for i in items} - {theirs["digest"], recorded["digest"]}
        if answer.status_code == 202:
            assert digests <= stored
        else:
            assert not digests & stored  # nothing of a refused request
    assert len(stored) == 2 + 1 + 2 + 1 + 500
