"""The access log: by default only a server error gets a line (every request keeps its
request id and its latency in the metrics); `MCLEDGER_ACCESS_LOG=all` logs every request."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import httpx
import pytest

from mcledger.node.api import create_app
from mcledger.node.index.db import open_index
from mcledger.node.settings import Settings


def _app(tmp_path: Path, **settings: Any) -> Any:
    engine = open_index(f"sqlite:///{tmp_path / 'index.sqlite3'}")
    app = create_app(Settings(data_dir=tmp_path, **settings), engine)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("boom")

    return app


async def _access_lines(app: Any, caplog: pytest.LogCaptureFixture) -> list[str]:
    transport = httpx.ASGITransport(app, raise_app_exceptions=False)
    with caplog.at_level(logging.INFO, logger="mcledger.http"):
        async with httpx.AsyncClient(transport=transport, base_url="http://node") as client:
            ok = await client.get("/healthz", headers={"X-Request-ID": "ok-1"})
            missing = await client.get("/v1/proofs/" + "ab" * 32)
            failed = await client.get("/boom")
    assert ok.headers["X-Request-ID"] == "ok-1" and "X-Request-ID" in failed.headers
    assert (ok.status_code, missing.status_code, failed.status_code) == (200, 404, 500)
    return [r.getMessage() for r in caplog.records if r.name == "mcledger.http"]


async def test_only_server_errors_are_logged_by_default(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    lines = await _access_lines(_app(tmp_path), caplog)
    assert [line.split(" ")[:3] for line in lines] == [["GET", "/boom", "500"]]


async def test_every_request_is_logged_with_access_log_all(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    lines = await _access_lines(_app(tmp_path, access_log="all"), caplog)
    assert [line.split(" ")[:3] for line in lines] == [
        ["GET", "/healthz", "200"],
        ["GET", "/v1/proofs/" + "ab" * 32, "404"],
        ["GET", "/boom", "500"],
    ]
