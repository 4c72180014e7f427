"""One in-process HTTP node for the API tests: issuer ``uni`` (an Ed25519 signing key and
the example achievement) and issuer ``other``, with tokens by name, served through
httpx's ASGI transport. The test modules subclass `ApiNode` with their own requests."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import httpx
from sqlalchemy import Engine

from mcledger.node.api import create_app
from mcledger.node.credentials.annex import EXAMPLE_ACHIEVEMENT, EXAMPLE_AWARD
from mcledger.node.credentials.multikey import Ed25519SigningKey
from mcledger.node.issuing.catalogue import create_achievement
from mcledger.node.issuing.issuance import CredentialIssuer, ensure_signing_identity
from mcledger.node.issuing.issuers import ensure_issuer
from mcledger.node.issuing.tokens import create_token
from mcledger.node.settings import Settings

TokenSpec = Mapping[str, tuple[str, set[str]]]  # token name -> (issuer id, scopes)


@dataclass
class ApiNode:
    client: httpx.AsyncClient
    engine: Engine
    key: Ed25519SigningKey
    achievement: str
    tokens: dict[str, str]

    default_token: ClassVar[str] = "issue"

    def auth(self, name: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[name or self.default_token]}"}

    def award(self, **changes: Any) -> dict[str, Any]:
        """The example award of this node's achievement, without components."""
        award = copy.deepcopy(EXAMPLE_AWARD)
        award["achievement"] = self.achievement
        award.pop("components")
        award.update(changes)
        return award


Node = TypeVar("Node", bound=ApiNode)


def open_api_node(
    engine: Engine, tmp_path: Path, tokens: TokenSpec, kind: type[Node], store_bodies: bool = True
) -> Node:
    """A node of class ``kind``; the caller closes its client (``async with node.client``)."""
    key = Ed25519SigningKey.generate()
    ensure_issuer(engine, "uni", chain_address="0x" + "1a" * 20, did=key.did)
    ensure_issuer(engine, "other", chain_address="0x" + "2b" * 20)
    ensure_signing_identity(engine, "uni", key.did, dev=True)
    achievement = create_achievement(engine, "uni", EXAMPLE_ACHIEVEMENT)
    made = {name: create_token(engine, issuer, scopes) for name, (issuer, scopes) in tokens.items()}
    issuer = CredentialIssuer(engine, "uni", key, store_bodies=store_bodies)
    app = create_app(Settings(data_dir=tmp_path), engine, credentials=issuer)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://node")
    return kind(client, engine, key, achievement.id, made)
