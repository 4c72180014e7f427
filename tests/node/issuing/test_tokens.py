"""API tokens on a real index (SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import Engine, func, select, update

from mcledger.node.index.models import api_token_t, operation_t, utcnow
from mcledger.node.issuing import tokens
from mcledger.node.issuing.issuers import UnknownIssuerError, ensure_issuer
from mcledger.node.issuing.tokens import (
    AuthenticationError,
    InvalidScopeError,
    authenticate,
    create_token,
    parse_scopes,
    revoke_token,
)

ADDRESS = "0x" + "ab" * 20


@pytest.fixture
def engine(index_engine: Engine) -> Engine:
    ensure_issuer(index_engine, "uni", chain_address=ADDRESS)
    return index_engine


def test_a_token_is_shown_once_and_stored_only_as_its_hash(engine: Engine) -> None:
    token = create_token(engine, "uni", {"issue", "revoke"}, label="registrar")
    assert token.startswith("mcl_") and len(token) == 4 + 43
    with engine.connect() as conn:
        row = conn.execute(select(api_token_t)).one()
        ops = conn.execute(select(operation_t.c.action, operation_t.c.details)).all()
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert (row.issuer_id, row.scopes, row.label) == ("uni", "issue,revoke", "registrar")
    assert ("token.created" in [a for a, _ in ops]) and all(token not in d for _, d in ops)
    info = authenticate(engine, token)
    assert (info.id, info.issuer_id, info.scopes) == (row.id, "uni", {"issue", "revoke"})


def test_tokens_are_distinct(engine: Engine) -> None:
    assert create_token(engine, "uni", {"issue"}) != create_token(engine, "uni", {"issue"})


@pytest.mark.parametrize("scopes", [set(), {"issue", "root"}, {"ISSUE"}])
def test_scopes_outside_the_three_are_refused(engine: Engine, scopes: set[str]) -> None:
    with pytest.raises(InvalidScopeError):
        create_token(engine, "uni", scopes)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(api_token_t)).scalar_one() == 0


def test_parse_scopes_reads_the_cli_form() -> None:
    assert parse_scopes("issue, revoke,admin") == {"issue", "revoke", "admin"}
    with pytest.raises(InvalidScopeError, match="unknown scope"):
        parse_scopes("issue,read")
    with pytest.raises(InvalidScopeError, match="at least one"):
        parse_scopes(" , ")


def test_a_token_needs_an_existing_issuer(engine: Engine) -> None:
    with pytest.raises(UnknownIssuerError, match="nobody"):
        create_token(engine, "nobody", {"issue"})


@pytest.mark.parametrize(
    "candidate", ["", "mcl_", "mcl_unknown", "Bearer mcl_x", "x" * 50, "mcl_" + "a" * 500]
)
def test_unknown_tokens_are_refused(engine: Engine, candidate: str) -> None:
    create_token(engine, "uni", {"issue"})
    with pytest.raises(AuthenticationError):
        authenticate(engine, candidate)


def test_a_revoked_token_is_refused_at_once_in_this_process(engine: Engine) -> None:
    token = create_token(engine, "uni", {"issue"})
    info = authenticate(engine, token)  # now cached
    revoke_token(engine, info.id)
    with pytest.raises(AuthenticationError, match="revoked"):
        authenticate(engine, token)
    revoke_token(engine, info.id)  # again: no-op
    with pytest.raises(tokens.UnknownTokenError):
        revoke_token(engine, info.id + 1000)


def test_a_token_revoked_elsewhere_is_refused_once_the_cache_expires(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = create_token(engine, "uni", {"admin"})
    authenticate(engine, token)
    with engine.begin() as conn:  # another process revokes it
        conn.execute(update(api_token_t).values(revoked_at=utcnow()))
    assert authenticate(engine, token).scopes == {"admin"}  # still cached
    now = tokens.time.monotonic()
    monkeypatch.setattr(tokens.time, "monotonic", lambda: now + tokens.CACHE_SECONDS + 1)
    with pytest.raises(AuthenticationError, match="revoked"):
        authenticate(engine, token)
