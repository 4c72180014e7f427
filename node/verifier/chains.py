"""Which RPC endpoint to read a proof bundle's chain through, found from its chain id.

A proof bundle names its chain by EIP-155 chain id, so a verifier should not have to
copy an RPC URL out of a file by hand. :class:`ChainEndpoints` looks the URL up, first
match wins:

1. the URL given explicitly (``mcledger verify --rpc``), for every bundle: a bundle on
   another chain then fails ``chain.id``, which says so;
2. the chains file (``MCLEDGER_CHAINS_FILE``), a TOML or JSON map of chain id (a
   decimal string) to an http(s) RPC URL, e.g. ``"11155111" = "https://…"``;
3. the node's own settings: ``MCLEDGER_RPC_URL`` when the chain id is
   ``MCLEDGER_CHAIN_ID``, or, with no chain id configured, when the endpoint answers
   ``eth_chainId`` with it (``MCLEDGER_RPC_TOKEN`` goes to that endpoint, and only to it);
4. the development chain the data directory's node runs (``chain/endpoint.json``),
   when it answers with the chain id.

Nothing matches: :class:`UnknownChainError` names the chain id, what was tried and how
to configure it. A credential's stack may anchor on several chains:
:class:`MultiChainReader` reads each bundle through the endpoint of its own chain id.
This module imports no server code; the settings object and the way to find the
development chain (which the node's runtime owns) are passed in.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from mcledger.anchoring.bundle import ProofBundle
from mcledger.anchoring.chain import ChainClient
from mcledger.anchoring.errors import AnchoringError
from mcledger.anchoring.ledger import LedgerContract
from mcledger.node.errors import NodeError
from mcledger.node.settings import Settings
from mcledger.node.verifier.credential import ChainReader
from mcledger.node.verifier.report import VerificationReport

PROBE_TIMEOUT = 5.0  # seconds for an endpoint to say its chain id
HOW_TO_CONFIGURE = (
    "pass --rpc URL, add the chain to the chains file (MCLEDGER_CHAINS_FILE: a TOML or "
    'JSON map of chain id to RPC URL, e.g. "{chain_id}" = "https://…"), or set '
    "MCLEDGER_RPC_URL to an endpoint of that chain"
)


class ChainLookupError(NodeError):
    """No RPC endpoint can be chosen for a bundle's chain: a configuration problem."""


class ChainsFileError(ChainLookupError):
    """The chains file (MCLEDGER_CHAINS_FILE) cannot be read or is not a map of chain id
    to http(s) RPC URL; the message names the file and the bad entry."""


class UnknownChainError(ChainLookupError):
    """No configured endpoint serves the chain id; the message says what was tried."""


def load_chains_file(path: Path) -> dict[int, str]:
    """The chains file's map of chain id to RPC URL: TOML, or JSON when the name ends in
    ``.json``. Bad entries are named by chain id; their URLs (which may carry an API key
    in the path) are never repeated in the error."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise ChainsFileError(f"cannot read the chains file {path}: {reason}") from None
    is_json = path.suffix.lower() == ".json"
    try:
        document: Any = json.loads(text) if is_json else tomllib.loads(text)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and TOMLDecodeError
        kind = "JSON" if is_json else "TOML (name it *.json for JSON)"
        raise ChainsFileError(f"the chains file {path} is not {kind}: {exc}") from None
    if not isinstance(document, dict):
        raise ChainsFileError(
            f"the chains file {path} must be a map of chain id to RPC URL, "
            f"not a JSON {type(document).__name__}"
        )
    chains: dict[int, str] = {}
    for key, url in document.items():
        if not (isinstance(key, str) and key.isascii() and key.isdigit() and int(key) > 0):
            raise ChainsFileError(
                f"the chains file {path}: {key!r} is not a chain id (a positive decimal number)"
            )
        if int(key) in chains:
            raise ChainsFileError(f"the chains file {path}: chain id {int(key)} is listed twice")
        if not _is_http_url(url):
            raise ChainsFileError(
                f"the chains file {path}: the entry for chain id {key} is not an http(s) URL"
            )
        chains[int(key)] = url
    return chains


def _is_http_url(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)


class ChainEndpoints:
    """Chain id → RPC URL, in the order of this module's docstring; each answer (and each
    endpoint's chain id, asked once) is kept for the next bundle on the same chain."""

    def __init__(
        self,
        *,
        rpc: str | None = None,
        chains: Mapping[int, str] | None = None,
        chains_file: Path | None = None,
        node_rpc_url: str | None = None,
        node_chain_id: int | None = None,
        node_rpc_token: str | None = None,
        dev_endpoint: Callable[[], str | None] = lambda: None,
        dev_data_dir: Path | None = None,
    ) -> None:
        self.rpc = rpc
        self.chains = dict(chains or {})
        self.chains_file = chains_file
        self.node_rpc_url = node_rpc_url
        self.node_chain_id = node_chain_id
        self._node_rpc_token = node_rpc_token
        self._dev_endpoint = dev_endpoint
        self.dev_data_dir = dev_data_dir
        self._found: dict[int, str] = {}
        self._answers: dict[str, int | str] = {}  # URL -> its chain id, or why it gave none

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        rpc: str | None = None,
        dev_endpoint: Callable[[], str | None] = lambda: None,
    ) -> ChainEndpoints:
        """The lookup a verifier configured by ``settings`` uses; ``rpc`` (``--rpc``) wins
        over everything and leaves the chains file unread. ``dev_endpoint`` gives the URL
        of the development chain the settings' data directory runs, if any."""
        if rpc:
            return cls(rpc=rpc)
        file, token = settings.chains_file, settings.rpc_token
        return cls(
            chains=load_chains_file(file) if file is not None else None,
            chains_file=file,
            node_rpc_url=settings.rpc_url,
            node_chain_id=settings.chain_id,
            node_rpc_token=token.get_secret_value() if token is not None else None,
            dev_endpoint=dev_endpoint,
            dev_data_dir=settings.data_dir,
        )

    def rpc_url(self, chain_id: int) -> str:
        """The RPC URL to read chain ``chain_id`` through; UnknownChainError if none."""
        if self.rpc:
            return self.rpc
        if chain_id not in self._found:
            self._found[chain_id] = self._look_up(chain_id)
        return self._found[chain_id]

    def token_for(self, url: str) -> str | None:
        """The bearer token to send to ``url``: the node's, to the node's endpoint alone."""
        return self._node_rpc_token if self.node_rpc_url and url == self.node_rpc_url else None

    def _look_up(self, chain_id: int) -> str:
        tried: list[str] = []
        if chain_id in self.chains:
            return self.chains[chain_id]
        if self.chains_file is not None:
            listed = ", ".join(map(str, sorted(self.chains))) or "none"
            tried.append(f"the chains file {self.chains_file} lists chain ids {listed}")
        if self.node_rpc_url:
            if self.node_chain_id is not None:
                if self.node_chain_id == chain_id:
                    return self.node_rpc_url
                tried.append(f"MCLEDGER_RPC_URL is chain {self.node_chain_id} (MCLEDGER_CHAIN_ID)")
            elif self._answers_as(self.node_rpc_url, chain_id, "MCLEDGER_RPC_URL", tried):
                return self.node_rpc_url
        dev_url = self._dev_endpoint()
        if dev_url is not None:
            if self._answers_as(dev_url, chain_id, "the development chain", tried):
                return dev_url
        elif self.dev_data_dir is not None:
            tried.append(f"no development chain runs for {self.dev_data_dir}")
        raise UnknownChainError(
            f"no RPC URL for chain id {chain_id}: "
            + HOW_TO_CONFIGURE.format(chain_id=chain_id)
            + (f" (tried: {'; '.join(tried)})" if tried else "")
        )

    def _answers_as(self, url: str, chain_id: int, name: str, tried: list[str]) -> bool:
        if url not in self._answers:
            try:
                client = ChainClient(url, request_timeout=PROBE_TIMEOUT, token=self.token_for(url))
                self._answers[url] = client.chain_id
            except Exception as exc:  # the RPC and web3 raise many unrelated types
                cause = exc.__cause__ if isinstance(exc, AnchoringError) else exc
                self._answers[url] = f"did not answer eth_chainId ({type(cause).__name__})"
        answer = self._answers[url]
        if answer == chain_id:
            return True
        tried.append(f"{name} is chain {answer}" if isinstance(answer, int) else f"{name} {answer}")
        return False


class MultiChainReader:
    """A :class:`~mcledger.node.verifier.credential.ChainReads` for documents whose bundles
    may sit on different chains: each bundle is read through the endpoint of its own chain
    id, looked up when a bundle first names it; :meth:`on_chain` reaches one chain.
    """

    def __init__(self, endpoints: ChainEndpoints) -> None:
        self.endpoints = endpoints
        self._readers: dict[str, ChainReader] = {}

    def on_chain(self, chain_id: int) -> ChainReader:
        """The reader for chain ``chain_id`` (one a URL, shared by chain ids that map to it)."""
        url = self.endpoints.rpc_url(chain_id)
        if url not in self._readers:
            self._readers[url] = ChainReader(url, token=self.endpoints.token_for(url))
        return self._readers[url]

    def verify_bundle(self, bundle: ProofBundle) -> VerificationReport:
        return self.on_chain(bundle.anchor.chain_id).verify_bundle(bundle)

    def registered_did(self, bundle: ProofBundle) -> str | None:
        return self.on_chain(bundle.anchor.chain_id).registered_did(bundle)

    def revocation_ledger(self, bundle: ProofBundle) -> LedgerContract | None:
        return self.on_chain(bundle.anchor.chain_id).revocation_ledger(bundle)
