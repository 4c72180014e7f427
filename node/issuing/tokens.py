"""API tokens: created once and shown once, stored only as their SHA-256.

A token is ``mcl_`` + 32 random bytes (URL-safe base64). The index keeps the
SHA-256 hex of the whole token, so a leaked database yields no usable token,
and a lookup by that hash compares nothing secret byte by byte: the timing of
an index lookup tells an attacker about a hash they cannot invert, not about a
token. Successful lookups are cached in-process for a few seconds to spare the
index on every request; revoking a token in this process clears the cache at
once, in another process it takes effect within ``CACHE_SECONDS``.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
import weakref
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Engine, insert, select, update

from mcledger.node.errors import NodeError
from mcledger.node.index.models import api_token_t, issuer_t, utcnow
from mcledger.node.index.oplog import record_operation
from mcledger.node.issuing.issuers import UnknownIssuerError

SCOPES = frozenset({"issue", "revoke", "admin"})
TOKEN_PREFIX = "mcl_"
CACHE_SECONDS = 3.0
_MAX_TOKEN_LENGTH = 200  # ours are 47 characters; refuse absurd input before hashing it


class TokenError(NodeError):
    """Base of the token errors."""


class InvalidScopeError(TokenError):
    """A scope outside issue, revoke and admin, or no scope at all."""


class AuthenticationError(TokenError):
    """The token is missing, unknown or revoked; create one with `mcledger token create`."""


class UnknownTokenError(TokenError):
    """No token with that id."""


@dataclass(frozen=True)
class TokenInfo:
    """Who a valid token speaks for and what it may do."""

    id: int
    issuer_id: str
    scopes: frozenset[str]


def token_hash(token: str) -> str:
    """The SHA-256 hex of the token, as the index stores it."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def parse_scopes(text: str | Iterable[str]) -> set[str]:
    """Scopes from ``"issue,revoke"`` (or an iterable); refuses unknown and empty ones."""
    items = text.split(",") if isinstance(text, str) else list(text)
    scopes = {item.strip() for item in items if item.strip()}
    unknown = sorted(scopes - SCOPES)
    if unknown:
        raise InvalidScopeError(
            f"unknown scope(s) {', '.join(unknown)}; choose among {', '.join(sorted(SCOPES))}"
        )
    if not scopes:
        raise InvalidScopeError(f"give at least one scope among {', '.join(sorted(SCOPES))}")
    return scopes


def create_token(
    engine: Engine, issuer_id: str, scopes: set[str], label: str = "", *, actor: str = "operator"
) -> str:
    """Create a token for the issuer with these scopes and return it; it is not stored."""
    checked = parse_scopes(scopes)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with engine.begin() as conn:
        if conn.execute(select(issuer_t.c.id).where(issuer_t.c.id == issuer_id)).first() is None:
            raise UnknownIssuerError(f"no issuer {issuer_id!r} in the index")
        token_id = conn.execute(
            insert(api_token_t)
            .values(
                issuer_id=issuer_id,
                token_hash=token_hash(token),
                scopes=",".join(sorted(checked)),
                label=label,
                created_at=utcnow(),
            )
            .returning(api_token_t.c.id)
        ).scalar_one()
        record_operation(
            conn,
            actor=actor,
            action="token.created",
            subject=f"token:{token_id}",
            details={"issuer": issuer_id, "scopes": sorted(checked), "label": label},
        )
    return token


def revoke_token(engine: Engine, token_id: int, *, actor: str = "operator") -> None:
    """Refuse the token from now on (at once in this process, within seconds elsewhere)."""
    with engine.begin() as conn:
        done = conn.execute(
            update(api_token_t)
            .where(api_token_t.c.id == token_id, api_token_t.c.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        ).rowcount
        if not done:
            exists = conn.execute(select(api_token_t.c.id).where(api_token_t.c.id == token_id))
            if exists.first() is None:
                raise UnknownTokenError(f"no token with id {token_id}")
            return
        record_operation(
            conn, actor=actor, action="token.revoked", subject=f"token:{token_id}", details={}
        )
    _cache.clear(engine)


class _TokenCache:
    """Recent successful lookups per engine, each valid for ``CACHE_SECONDS``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_engine: weakref.WeakKeyDictionary[Engine, dict[str, tuple[float, TokenInfo]]]
        self._by_engine = weakref.WeakKeyDictionary()

    def get(self, engine: Engine, hashed: str) -> TokenInfo | None:
        with self._lock:
            entry = self._by_engine.get(engine, {}).get(hashed)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, engine: Engine, hashed: str, info: TokenInfo) -> None:
        with self._lock:
            entries = self._by_engine.setdefault(engine, {})
            if len(entries) > 10_000:  # stale entries of many tokens: start afresh
                entries.clear()
            entries[hashed] = (time.monotonic() + CACHE_SECONDS, info)

    def clear(self, engine: Engine) -> None:
        with self._lock:
            self._by_engine.pop(engine, None)


_cache = _TokenCache()


def recently_authenticated(engine: Engine, token: str) -> TokenInfo | None:
    """The token's info if ``authenticate`` accepted it within ``CACHE_SECONDS`` (no
    database read, so an async caller may ask first), else None."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > _MAX_TOKEN_LENGTH:
        return None
    return _cache.get(engine, token_hash(token))


def authenticate(engine: Engine, token: str) -> TokenInfo:
    """The token's issuer and scopes; raises AuthenticationError if unknown or revoked."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > _MAX_TOKEN_LENGTH:
        raise AuthenticationError("not an mcledger API token")
    hashed = token_hash(token)
    cached = _cache.get(engine, hashed)
    if cached is not None:
        return cached
    with engine.connect() as conn:
        row = conn.execute(
            select(
                api_token_t.c.id,
                api_token_t.c.issuer_id,
                api_token_t.c.scopes,
                api_token_t.c.revoked_at,
            ).where(api_token_t.c.token_hash == hashed)
        ).first()
    if row is None:
        raise AuthenticationError("unknown API token")
    if row.revoked_at is not None:
        raise AuthenticationError("this API token has been revoked")
    info = TokenInfo(row.id, row.issuer_id, frozenset(s for s in row.scopes.split(",") if s))
    _cache.put(engine, hashed, info)
    return info
