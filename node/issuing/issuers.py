"""Issuers in the index: the local issuer of development mode, and others an admin adds."""

from __future__ import annotations

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError

from mcledger.node.errors import NodeError
from mcledger.node.index.models import Issuer, issuer_t
from mcledger.node.index.oplog import record_operation


class UnknownIssuerError(NodeError):
    """No issuer with that id; create it first."""


def ensure_issuer(
    engine: Engine, issuer_id: str, *, chain_address: str, did: str = "", name: str = ""
) -> Issuer:
    """Create the issuer if it is missing; an existing one must have the same chain address."""
    try:
        return _ensure_issuer(engine, issuer_id, chain_address, did, name)
    except IntegrityError:  # another process created it between our read and our insert
        return _ensure_issuer(engine, issuer_id, chain_address, did, name)


def _ensure_issuer(
    engine: Engine, issuer_id: str, chain_address: str, did: str, name: str
) -> Issuer:
    with engine.begin() as conn:
        row = conn.execute(select(issuer_t).where(issuer_t.c.id == issuer_id)).first()
        if row is not None:
            if row.chain_address.lower() != chain_address.lower():
                raise NodeError(
                    f"issuer {issuer_id!r} is bound to {row.chain_address}, not {chain_address}"
                )
            return Issuer.model_validate(row._mapping)
        issuer = Issuer(id=issuer_id, chain_address=chain_address, did=did, name=name)
        conn.execute(issuer_t.insert().values(**issuer.model_dump()))
        record_operation(
            conn,
            actor="node",
            action="issuer.created",
            subject=f"issuer:{issuer_id}",
            details={"chainAddress": chain_address, "did": did},
        )
        return issuer


def get_issuer(engine: Engine, issuer_id: str) -> Issuer:
    with engine.connect() as conn:
        row = conn.execute(select(issuer_t).where(issuer_t.c.id == issuer_id)).first()
    if row is None:
        raise UnknownIssuerError(f"no issuer {issuer_id!r} in the index")
    return Issuer.model_validate(row._mapping)
