"""The verifier page as the node serves it (in process, over SQLite): `/verify` with a
strict Content-Security-Policy and no inline script, its public configuration, its
files; CORS on the node's public reads and nowhere else; the settings and the export
command refuse an RPC URL that would publish a secret, and write nothing then."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from mcledger.cli.main import build_app
from mcledger.node.api import create_app
from mcledger.node.credentials.annex import EXAMPLE_ACHIEVEMENT, EXAMPLE_AWARD
from mcledger.node.credentials.multikey import Ed25519SigningKey
from mcledger.node.index.db import open_index
from mcledger.node.issuing.catalogue import create_achievement
from mcledger.node.issuing.issuance import CredentialIssuer, ensure_signing_identity
from mcledger.node.issuing.issuers import ensure_issuer
from mcledger.node.issuing.tokens import create_token
from mcledger.node.settings import ConfigurationError, Settings
from mcledger.node.verifier.page import ASSETS, CONTENT_SECURITY_POLICY
from tests.verifier_page.pagedriver import assert_same_checks, detail_differences

RPC_URLS = {11155111: "https://rpc.sepolia.example/", 31337: "http://127.0.0.1:8545"}
CONFIG_BLOCK = re.compile(r'<script type="application/json" id="mcledger-config">(.*?)</script>')


class Node:
    def __init__(self, client: httpx.AsyncClient, token: str, achievement: str) -> None:
        self.client, self.token, self.achievement = client, token, achievement

    async def issue(self) -> dict[str, object]:
        award = {k: v for k, v in EXAMPLE_AWARD.items() if k != "components"}
        reply = await self.client.post(
            "/v1/credentials",
            json={**award, "achievement": self.achievement},
            headers={"Authorization": f"Bearer {self.token}"},
        )
        assert reply.status_code == 201, reply.text
        body: dict[str, object] = reply.json()
        return body


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    engine = open_index(f"sqlite:///{tmp_path / 'index.sqlite3'}")
    key = Ed25519SigningKey.generate()
    ensure_issuer(engine, "uni", chain_address="0x" + "1a" * 20, did=key.did)
    ensure_signing_identity(engine, "uni", key.did, dev=True)
    achievement = create_achievement(engine, "uni", EXAMPLE_ACHIEVEMENT)
    token = create_token(engine, "uni", {"issue", "revoke"})
    settings = Settings(data_dir=tmp_path, verifier_rpc_urls=RPC_URLS, node_url="http://node")
    issuer = CredentialIssuer(engine, "uni", key, base_url="http://node")
    app = create_app(settings, engine, credentials=issuer)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app), base_url="http://node"
    ) as client:
        yield Node(client, token, achievement.id)
    engine.dispose()


async def test_verify_serves_the_page_with_a_strict_policy_and_its_config(node: Node) -> None:
    moved = await node.client.get("/verify?url=https%3A%2F%2Fnode%2Fx")
    assert moved.status_code == 307
    assert moved.headers["location"] == "verify/?url=https%3A%2F%2Fnode%2Fx"
    assert (await node.client.get("/verify", follow_redirects=True)).url.path == "/verify/"

    page = await node.client.get("/verify/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert policy == CONTENT_SECURITY_POLICY
    assert "script-src 'self';" in policy and "unsafe" not in policy
    assert (
        "frame-ancestors 'none'" in policy and page.headers["x-content-type-options"] == "nosniff"
    )
    # No inline script: every <script> loads a file of the page or is an inert data block.
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page.text, re.DOTALL)
    assert scripts and all(
        ('src="verifier.js"' in attrs and not body) or 'type="application/json"' in attrs
        for attrs, body in scripts
    ), scripts
    assert not re.search(r'(src|href)="(https?:)?//', page.text), "nothing from another origin"
    [block] = CONFIG_BLOCK.findall(page.text)
    config = json.loads(block)
    assert config["rpcUrls"] == {str(chain): url for chain, url in RPC_URLS.items()}

    public = await node.client.get("/verify/config.json")
    assert public.json() == config and public.headers["access-control-allow-origin"] == "*"

    for name, media_type in ASSETS.items():
        asset = await node.client.get(f"/verify/{name}")
        assert asset.status_code == 200 and asset.headers["content-type"].startswith(media_type)
        assert asset.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert (await node.client.get("/verify/index.php")).status_code == 404


async def test_public_reads_answer_any_origin_and_nothing_else_does(node: Node) -> None:
    issued = await node.issue()
    credential = issued["credential"]
    assert isinstance(credential, dict)
    link = str(issued["learnerLink"]).removeprefix("http://node")
    list_url = str(credential["credentialStatus"][0]["statusListCredential"])
    origin = {"Origin": "null"}  # what a page opened from file:// sends
    public = (
        list_url.removeprefix("http://node"),
        "/v1/revocations",
        "/contexts/v1",
        "/.well-known/did.json",  # a 404 problem here (did:key issuer): readable all the same
        link,
        f"/v1/proofs/{issued['digest']}",
        "/verify/config.json",
    )
    for path in public:
        reply = await node.client.get(path, headers=origin)
        assert reply.status_code in (200, 202, 404), (path, reply.text)
        assert reply.headers.get("access-control-allow-origin") == "*", path
        assert "access-control-allow-credentials" not in reply.headers, path
    private = (
        ("GET", "/v1/batches"),
        ("GET", "/v1/achievements"),
        ("POST", "/v1/credentials"),
        ("POST", f"/v1/credentials/{credential['id']}/revoke"),
        ("GET", "/verify/"),
    )
    for method, path in private:
        reply = await node.client.request(method, path, headers=origin)
        assert "access-control-allow-origin" not in reply.headers, (method, path)


def test_an_rpc_url_with_a_secret_is_refused_without_repeating_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as refused:
        Settings(data_dir=tmp_path, verifier_rpc_urls={1: "https://user:hunter2@rpc.example/"})
    assert "chain 1" in str(refused.value) and "hunter2" not in str(refused.value)
    with pytest.raises(ConfigurationError, match="not an http"):
        Settings(data_dir=tmp_path, verifier_rpc_urls={1: "file:///etc/passwd"})

    out = tmp_path / "page"
    for bad in ("31337=https://user:hunter2@rpc.example/", "https://rpc.example/", "x=http://a"):
        done = CliRunner().invoke(
            build_app("verifier"), ["verifier", "export", str(out), "--rpc", bad]
        )
        assert done.exit_code == 2, done.output
        assert "hunter2" not in done.output and "error" in done.output
        assert not out.exists()


def test_export_writes_the_page_with_its_config(tmp_path: Path) -> None:
    out = tmp_path / "site" / "verify"
    done = CliRunner().invoke(
        build_app("verifier"),
        ["verifier", "export", str(out), "--rpc", "5=https://goerli.example/rpc"],
    )
    assert done.exit_code == 0, done.output
    assert sorted(p.name for p in out.iterdir()) == sorted(["index.html", "config.json", *ASSETS])
    config = json.loads((out / "config.json").read_text())
    assert config == {"rpcUrls": {"5": "https://goerli.example/rpc"}}
    [block] = CONFIG_BLOCK.findall((out / "index.html").read_text())
    assert json.loads(block) == config


def test_the_comparison_with_the_cli_catches_any_difference() -> None:
    """The matrix's comparison fails on a verdict, an order, a missing component or a
    detail that differ (so a page that agreed by accident could not pass)."""
    check = {"name": "credential.signature", "passed": True, "detail": "ok", "outcome": "passed"}
    other = {"name": "credential.issuer", "passed": True, "detail": "ok", "outcome": "passed"}
    cli = {"id": "urn:x", "ok": True, "checks": [check, other], "components": []}
    shown = {"id": "urn:x", "checks": [check, other], "components": []}
    assert_same_checks(shown, cli)
    assert detail_differences(shown, cli) == []
    for changed in (
        {**shown, "checks": [{**check, "passed": False}, other]},
        {**shown, "checks": [other, check]},
        {**shown, "components": [shown]},
        {**shown, "id": "urn:y"},
    ):
        with pytest.raises(AssertionError):
            assert_same_checks(changed, cli)
    worded = {**shown, "checks": [{**check, "detail": "fine"}, other]}
    assert detail_differences(worded, cli) == ["credential.signature: page 'fine', cli 'ok'"]
