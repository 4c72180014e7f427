"""Log lines: JSON with the request id of the request being served (the one the response
sends in X-Request-ID), exceptions as a field, and no secret in any line, text or JSON."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from mcledger.node.api import create_app
from mcledger.node.index.db import open_index
from mcledger.node.logs import Redactor, formatter_for, secrets_of
from mcledger.node.settings import Settings

RPC_KEY = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
SECRET_SETTINGS = Settings(
    key_password=SecretStr("correct horse battery staple"),
    rpc_url=f"https://rpc.example.net/v3/{RPC_KEY}",
    database_url="postgresql://ledger:db-pass-9f2@db.internal/mcledger",
)
SECRETS = ("correct horse battery staple", RPC_KEY, "db-pass-9f2")
API_TOKEN = "mcl_" + "Zm9vYmFy" * 5
Lines = Callable[[], list[dict[str, Any]]]


@pytest.fixture
def json_lines() -> Iterator[Lines]:
    """The lines logged so far, formatted as `MCLEDGER_LOG_FORMAT=json` does, parsed."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(formatter_for("json", Redactor(secrets_of(SECRET_SETTINGS))))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Any]:
    engine = open_index(f"sqlite:///{tmp_path / 'index.sqlite3'}")
    app = create_app(Settings(data_dir=tmp_path, access_log="all"), engine)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError(f"boom, the caller sent {API_TOKEN}")

    yield app
    engine.dispose()


async def test_served_requests_log_json_lines_with_their_request_id(
    app: Any, json_lines: Lines
) -> None:
    transport = httpx.ASGITransport(app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://node") as client:
        given = await client.get("/healthz", headers={"X-Request-ID": "client-7:a.b_c"})
        made = await client.get("/healthz", headers={"X-Request-ID": "not sane " + "x" * 200})
        failed = await client.get("/boom", headers={"Authorization": f"Bearer {API_TOKEN}"})
    logging.getLogger("mcledger.test").info("outside any request")

    assert given.headers["X-Request-ID"] == "client-7:a.b_c"  # a sane id is kept
    generated = made.headers["X-Request-ID"]
    assert len(generated) == 32 and int(generated, 16) >= 0  # a bad one is replaced
    assert failed.status_code == 500 and failed.json()["code"] == "internal-error"
    failed_id = failed.headers["X-Request-ID"]  # a 500 carries its id too
    assert len({given.headers["X-Request-ID"], generated, failed_id}) == 3

    lines = json_lines()
    by_id: dict[str | None, list[dict[str, Any]]] = {}
    for line in lines:
        assert {"time", "level", "logger", "message"} <= line.keys()
        assert line["time"].endswith("Z")
        by_id.setdefault(line.get("requestId"), []).append(line)
    [access] = by_id["client-7:a.b_c"]
    assert access["logger"] == "mcledger.http" and access["level"] == "INFO"
    assert (access["method"], access["route"], access["status"]) == ("GET", "/healthz", 200)
    assert access["message"].startswith("GET /healthz 200 ")
    assert [line["status"] for line in by_id[generated]] == [200]
    error, failed_access = by_id[failed_id]  # the traceback, then the access line
    assert error["level"] == "ERROR" and error["logger"] == "mcledger.api"
    assert "Traceback" in error["exception"] and "RuntimeError: boom" in error["exception"]
    assert (failed_access["route"], failed_access["status"]) == ("/boom", 500)
    ours = [line["message"] for line in by_id[None] if line["logger"].startswith("mcledger")]
    assert ours == ["outside any request"]  # (the rest: httpx, the client's own lines)
    assert API_TOKEN not in json.dumps(lines) and "***" in error["exception"]


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_no_secret_reaches_a_line(log_format: str) -> None:
    formatter = formatter_for(log_format, Redactor(secrets_of(SECRET_SETTINGS)))
    try:  # what a transport error on a hosted RPC endpoint says: the key is in the path
        raise ConnectionError(f"Max retries exceeded with url: /v3/{RPC_KEY} (refused)")
    except ConnectionError as exc:
        record = logging.LogRecord(
            "mcledger.scheduler",
            logging.WARNING,
            __file__,
            1,
            "anchoring failed on %s with %s; Authorization: Bearer %s; password %s, db %s",
            (SECRET_SETTINGS.rpc_url, API_TOKEN, "opaque-bearer", *SECRETS[::2]),
            (type(exc), exc, exc.__traceback__),
        )
    line = formatter.format(record)
    for secret in (*SECRETS, API_TOKEN, "opaque-bearer"):
        assert secret not in line
    assert "https://rpc.example.net/***" in line and "Max retries" in line
    if log_format == "json":
        parsed = json.loads(line)
        assert parsed["level"] == "WARNING" and "requestId" not in parsed
        assert "ConnectionError" in parsed["exception"]


def test_the_check_is_not_vacuous() -> None:
    """Without the settings' secrets, the same line would carry them."""
    record = logging.LogRecord(
        "x", logging.INFO, __file__, 1, "%s", (SECRET_SETTINGS.rpc_url,), None
    )
    assert RPC_KEY in formatter_for("json", Redactor()).format(record)
    assert secrets_of(Settings()) == []
