"""An RPC endpoint that wants `Authorization: Bearer …`, as EBSI's does: a small reverse
proxy in front of Anvil answers 401 to any request without the right token.

With MCLEDGER_RPC_TOKEN the node (deploying, funding, anchoring, revoking through
`mcledger anchor`), `mcledger verify`, `mcledger audit` and `mcledger chain status` work
through it, and every request they make carries the token; without it, or with a wrong
one, they fail with an error that names the refusal and never the token."""

from __future__ import annotations

import json
import os
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import insert

from mcledger.anchoring.anvil import LOOPBACK, AnvilProcess, rpc_call, start_anvil
from mcledger.anchoring.chain import ChainClient
from mcledger.anchoring.errors import ChainError
from mcledger.node.index.db import open_index
from mcledger.node.index.models import revocation_t, utcnow
from mcledger.node.index.sequence import insert_submissions
from mcledger.node.pipeline.batches import proof_status
from mcledger.node.runtime.service import open_node
from mcledger.node.settings import load_settings
from mcledger.node.verifier.credential import ChainReader
from tests.node.pipeline.test_crash import _revocations
from tests.test_end_to_end import _cli

TOKEN = "ebsi-" + os.urandom(12).hex()


class BearerProxy(ThreadingHTTPServer):
    """Forwards JSON-RPC POSTs to ``upstream`` when they carry ``Bearer <token>``, else 401;
    keeps the Authorization header of every request it saw."""

    daemon_threads = True

    def __init__(self, upstream: str, token: str) -> None:
        super().__init__((LOOPBACK, 0), _Handler)
        self.upstream, self.token = upstream, token
        self.seen: list[str | None] = []

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: BearerProxy

    def do_POST(self) -> None:  # noqa: N802 (the http.server name)
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        auth = self.headers.get("Authorization")
        self.server.seen.append(auth)
        if auth != f"Bearer {self.server.token}":
            self._answer(401, b'{"error": "unauthorized"}')
            return
        request = urllib.request.Request(
            self.server.upstream, data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as reply:  # noqa: S310 (loopback)
            self._answer(reply.status, reply.read())

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture(scope="module")
def upstream() -> Iterator[AnvilProcess]:
    with start_anvil() as anvil:
        yield anvil


@pytest.fixture
def proxy(upstream: AnvilProcess) -> Iterator[BearerProxy]:
    server = BearerProxy(upstream.rpc_url, TOKEN)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_the_client_sends_the_token_and_explains_a_refusal(proxy: BearerProxy) -> None:
    assert ChainClient(proxy.url, token=TOKEN).chain_id == 31337
    assert ChainReader(proxy.url, token=TOKEN).client.block_number() >= 0
    assert int(rpc_call(proxy.url, "eth_chainId", token=TOKEN), 16) == 31337
    assert proxy.seen and set(proxy.seen) == {f"Bearer {TOKEN}"}

    with pytest.raises(ChainError) as none:
        ChainClient(proxy.url).block_number()
    assert "HTTP 401" in str(none.value) and "MCLEDGER_RPC_TOKEN" in str(none.value)
    wrong = "wrong-" + TOKEN[::-1]
    with pytest.raises(ChainError) as refused:
        ChainClient(proxy.url, token=wrong).block_number()
    assert "HTTP 401" in str(refused.value) and "not accepted" in str(refused.value)
    assert wrong not in str(refused.value) and TOKEN[::-1] not in str(refused.value)
    with pytest.raises(urllib.error.HTTPError) as raw:
        rpc_call(proxy.url, "eth_chainId", token=wrong)
    assert raw.value.code == 401 and wrong not in str(raw.value)


def test_the_token_never_prints_with_the_settings() -> None:
    settings = load_settings(rpc_token=TOKEN)
    assert TOKEN not in repr(settings) and TOKEN not in str(settings.model_dump())
    assert settings.rpc_token is not None and settings.rpc_token.get_secret_value() == TOKEN


def _env(proxy: BearerProxy, tmp_path: Path, token: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCLEDGER_")}
    env |= {
        "MCLEDGER_DATA_DIR": str(tmp_path / "data"),
        "MCLEDGER_RPC_URL": proxy.url,
        "MCLEDGER_DATABASE_URL": f"sqlite:///{tmp_path / 'index.sqlite3'}",
        "MCLEDGER_DEV": "true",
    }
    if token is not None:
        env["MCLEDGER_RPC_TOKEN"] = token
    return env


def test_node_and_cli_work_through_the_endpoint_with_the_token_only(
    proxy: BearerProxy, tmp_path: Path
) -> None:
    env = _env(proxy, tmp_path, TOKEN)
    # The node as `serve --dev` opens it: funds its keys, deploys, registers the issuer.
    settings = {k[9:].lower(): v for k, v in env.items() if k.startswith("MCLEDGER_")}
    open_node(load_settings(**settings)).close()
    engine = open_index(env["MCLEDGER_DATABASE_URL"])
    digest = os.urandom(32).hex()
    with engine.begin() as conn:
        insert_submissions(
            conn, [{"issuer_id": "local", "digest": digest, "submitted_at": utcnow()}]
        )
        conn.execute(insert(revocation_t), _revocations("local", [2]))

    # The CLI anchors and revokes, all through the proxy.
    anchored = _cli(env, "anchor", "--json")
    assert anchored.returncode == 0, anchored.stdout + anchored.stderr
    sent = json.loads(anchored.stdout)
    assert [b["state"] for b in sent["batches"] + sent["revocationBatches"]] == ["confirmed"] * 2
    status = proof_status(engine, digest=digest)
    engine.dispose()
    assert status is not None and status.bundle is not None
    bundle = tmp_path / "bundle.json"
    bundle.write_text(json.dumps(status.bundle.to_json()))
    verified = _cli(env, "verify", str(bundle), "--json")  # MCLEDGER_RPC_URL serves its chain
    assert verified.returncode == 0 and json.loads(verified.stdout)["ok"], verified.stdout
    audited = _cli(env, "audit", "--json")
    assert audited.returncode == 0 and json.loads(audited.stdout)["ok"], audited.stdout
    chain = _cli(env, "chain", "status", "--json")
    assert chain.returncode == 0 and json.loads(chain.stdout)["issuerRegistered"] is True
    assert set(proxy.seen) == {f"Bearer {TOKEN}"}  # every request carried the token
    for done in (anchored, verified, audited, chain):
        assert TOKEN not in done.stdout + done.stderr

    # Without the token the command fails and says why (a wrong token: the first test).
    refused = _cli(_env(proxy, tmp_path, None), "chain", "status", "--json")
    output = refused.stdout + refused.stderr
    assert refused.returncode != 0 and "Traceback" not in output, output
    assert "HTTP 401" in output and "MCLEDGER_RPC_TOKEN" in output, output
