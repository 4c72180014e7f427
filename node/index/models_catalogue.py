"""The offering catalogue and the issuer's public profile: SQLModel tables (migration 0002).

Kept apart from node.index.models so the catalogue can grow without touching the
anchoring tables; node/index/migrations/env.py imports this module too, so that
SQLModel.metadata holds every table.
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import Index, Table
from sqlmodel import Field, SQLModel

from mcledger.node.index.models import utcnow


class Achievement(SQLModel, table=True):
    """One version of an offering (principle 3: an update is a new version; awards keep
    the version they were made with). ``body`` is the validated description as JSON."""

    __tablename__ = "achievement"
    __table_args__ = (Index("ix_achievement_issuer", "issuer_id", "id"),)

    id: str = Field(primary_key=True, max_length=64)
    version: int = Field(primary_key=True)
    issuer_id: str = Field(foreign_key="issuer.id", max_length=64)
    body: str
    created_at: datetime = Field(default_factory=utcnow)


class IssuerProfileRow(SQLModel, table=True):
    """The awarding body's legal identity and quality assurance (Annex I, principles 1 and 9),
    one row per issuer; the DID itself stays on the issuer row."""

    __tablename__ = "issuer_profile"

    issuer_id: str = Field(primary_key=True, foreign_key="issuer.id", max_length=64)
    legal_name: str | None = Field(default=None, max_length=300)
    legal_identifier: str | None = Field(default=None, max_length=300)
    country: str | None = Field(default=None, max_length=2)  # ISO 3166-1 alpha-2
    region: str | None = Field(default=None, max_length=300)
    qa_register: str | None = Field(default=None, max_length=300)  # DEQAR, EQAVET, …
    qa_identifier: str | None = Field(default=None, max_length=300)
    did_method: str | None = Field(default=None, max_length=32)  # key, web, ebsi, …
    signing_key_ref: str | None = Field(default=None, max_length=500)  # never the key itself
    updated_at: datetime = Field(default_factory=utcnow)


def _table(model: type[SQLModel]) -> Table:
    return cast(Table, model.__table__)  # type: ignore[attr-defined]


achievement_t = _table(Achievement)
issuer_profile_t = _table(IssuerProfileRow)
