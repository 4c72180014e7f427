"""Fixtures for the verifier page: a real headless Chromium (Debian's `chromium`, driven
by Playwright; no browser is ever downloaded) and one `mcledger serve --dev` on the
session's Anvil for a whole module."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mcledger.anchoring.anvil import AnvilProcess, free_loopback_port
from tests.test_end_to_end import RunningNode, _env

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium from /usr/bin/chromium; fails (never skips) when it is missing: `make test`
    installs it."""
    if not CHROMIUM.exists() and shutil.which("chromium") is None:
        pytest.fail("Chromium is not installed: run `make test` (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=list(CHROMIUM_FLAGS), headless=True
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser context and page; the page's console errors are collected."""
    context = browser.new_context(locale="en-GB")
    opened = context.new_page()
    opened.errors = []  # type: ignore[attr-defined]
    opened.on("pageerror", lambda error: opened.errors.append(str(error)))
    yield opened
    context.close()


def start_page_node(
    anvil: AnvilProcess, tmp_path_factory: pytest.TempPathFactory, *, did_web: bool = False
) -> RunningNode:
    """A development node on the session's Anvil; revocations reach the chain only when a
    test runs `mcledger anchor` (so the CLI and the page see the same). With ``did_web`` its
    issuer is ``did:web:127.0.0.1%3A<port>``, whose DID document the node itself serves
    (at /.well-known/did.json, over http: a loopback host)."""
    base = tmp_path_factory.mktemp("page-node")
    port = free_loopback_port()
    env = _env(base / "data", anvil.rpc_url, f"sqlite:///{base / 'index.sqlite3'}", port)
    env["MCLEDGER_REVOCATION_INTERVAL"] = "86400"
    if did_web:
        env["MCLEDGER_ISSUER_DID"] = f"did:web:127.0.0.1%3A{port}"
    return RunningNode(env, port, base / "node.log")


@pytest.fixture(scope="module")
def page_node(
    anvil: AnvilProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningNode]:
    """One development node for the module (a did:key issuer)."""
    running = start_page_node(anvil, tmp_path_factory)
    yield running
    running.stop()
