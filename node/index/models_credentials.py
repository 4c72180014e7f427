"""Issued credentials in the index (migration 0003).

The body is optional (MCLEDGER_STORE_CREDENTIALS) and erasable; the digest and
the link to the submission row (hence to the batch and its proof) always stay,
so the learner's own copy keeps verifying after erasure (GDPR, principle 7).
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import Column, Table, Text
from sqlmodel import Field, SQLModel

from mcledger.node.index.models import utcnow


class CredentialRecord(SQLModel, table=True):
    __tablename__ = "credential"

    id: str = Field(primary_key=True, max_length=200)  # urn:uuid:…
    issuer_id: str = Field(foreign_key="issuer.id", index=True, max_length=64)
    achievement_id: str | None = Field(default=None, max_length=64)
    achievement_version: int | None = None
    digest: str = Field(unique=True, max_length=64)
    body: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    learner_key_hash: str | None = Field(default=None, max_length=64)  # SHA-256 of the link key
    issued_at: datetime = Field(default_factory=utcnow)
    erased_at: datetime | None = None


credential_t = cast(Table, CredentialRecord.__table__)  # type: ignore[attr-defined]
