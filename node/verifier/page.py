"""The verifier page's files, as the node serves them at ``/verify/`` and as
``mcledger verifier export`` writes them for any static host.

The page is built from ``verifier-page/`` (npm, esbuild) into ``node/verifier/web/`` and
committed there, so the package carries it without npm. Its configuration (chain id →
RPC URL, the node's next anchoring time) travels inside ``index.html`` as a JSON data
block, which the Content-Security-Policy allows because it never runs: the same files
then work from a node, from a web server and from ``file://``.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mcledger.node.errors import NodeError
from mcledger.node.settings import public_url_problem

PAGE_DIR = Path(__file__).resolve().parent / "web"
INDEX = "index.html"
CONFIG = "config.json"
ASSETS = {"verifier.js": "text/javascript", "verifier.css": "text/css"}
"""The page's static files beside ``index.html``, with their media types."""

# What the page may do: its own script and style only, no inline script, no framing; it
# fetches status lists, DID documents and the chain's RPC wherever they are (http/https).
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src http: https:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_CONFIG_BLOCK = re.compile(
    r'(<script type="application/json" id="mcledger-config">)(.*?)(</script>)', re.DOTALL
)
_CHAIN_ID = re.compile(r"[1-9][0-9]{0,18}")


class VerifierPageError(NodeError):
    """The verifier page cannot be written or configured as asked; the message says why."""


def page_config(
    rpc_urls: Mapping[int, str], next_anchoring_at: str | None = None
) -> dict[str, Any]:
    """The page's public configuration: the RPC URL of each chain id, and when the node
    next anchors (shown for a credential that is not anchored yet)."""
    config: dict[str, Any] = {"rpcUrls": {str(chain): url for chain, url in rpc_urls.items()}}
    if next_anchoring_at is not None:
        config["nextAnchoringAt"] = next_anchoring_at
    return config


def parse_rpc_option(text: str) -> tuple[int, str]:
    """``CHAIN_ID=URL`` as given to ``--rpc``; VerifierPageError saying what is wrong."""
    chain, found, url = text.partition("=")
    usage = "--rpc takes CHAIN_ID=URL (e.g. 31337=http://127.0.0.1:8545)"
    if not found:
        raise VerifierPageError(usage)
    if not _CHAIN_ID.fullmatch(chain.strip()):
        raise VerifierPageError(f"{usage}: the part before = is not a chain id")
    problem = public_url_problem(url.strip())
    if problem is not None:  # the message leaves the URL out: it may hold a secret
        raise VerifierPageError(f"--rpc {chain.strip()}=…: {problem}")
    return int(chain), url.strip()


def _json_for_html(value: Any) -> str:
    # Inside <script> only "</" could end the block; escaping <, > and & (and the two line
    # separators JSON allows but JavaScript once did not) keeps any value inert.
    text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    for char, escaped in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, escaped)
    return text


def render_index(config: Mapping[str, Any]) -> bytes:
    """``index.html`` with ``config`` in its JSON data block."""
    try:
        template = _read(INDEX).decode("utf-8")
    except OSError as exc:
        raise VerifierPageError(f"the verifier page's {INDEX} is unreadable: {exc}") from None
    rendered, count = _CONFIG_BLOCK.subn(
        lambda m: m.group(1) + _json_for_html(config) + m.group(3), template, count=1
    )
    if count != 1:
        raise VerifierPageError(f"{PAGE_DIR / INDEX} has no configuration block: reinstall")
    return rendered.encode("utf-8")


def asset_bytes(name: str) -> bytes:
    """One of the page's static files (``ASSETS``)."""
    if name not in ASSETS:
        raise VerifierPageError(f"the verifier page has no file {name!r}")
    try:
        return _read(name)
    except OSError as exc:
        raise VerifierPageError(f"the verifier page's {name} is unreadable: {exc}") from None


@functools.cache
def _read(name: str) -> bytes:
    # The package's files do not change while it runs: read each once.
    return (PAGE_DIR / name).read_bytes()


def export_page(directory: Path, config: Mapping[str, Any]) -> list[Path]:
    """Write the page (``index.html``, its assets, ``config.json``) into ``directory``;
    the files written. Everything is read before anything is written."""
    files = {
        INDEX: render_index(config),
        **{name: asset_bytes(name) for name in ASSETS},
        CONFIG: (json.dumps(config, indent=2, sort_keys=True) + "\n").encode("utf-8"),
    }
    if directory.exists() and not directory.is_dir():
        raise VerifierPageError(f"{directory} exists and is not a directory")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        written = []
        for name, data in files.items():
            target = directory / name
            temporary = directory / f".{name}.tmp"
            temporary.write_bytes(data)
            os.replace(temporary, target)
            written.append(target)
    except OSError as exc:
        raise VerifierPageError(f"cannot write the page into {directory}: {exc}") from None
    return written
