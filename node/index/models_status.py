"""Status lists and suspensions in the index (migration 0005).

A credential holds one slot (list, index) per status purpose. Which bits are
set is never stored: revocation bits follow from the `revocation` rows and
suspension bits from the `suspension` rows that are not lifted, so the index
has one source of truth and the published list cannot drift from it.
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import Index, Table, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from mcledger.node.index.models import utcnow


class StatusList(SQLModel, table=True):
    """One published bitstring of an issuer for one purpose; new credentials go to the
    issuer's newest list (highest ``seq``) for that purpose until it is full."""

    __tablename__ = "status_list"
    __table_args__ = (
        # Two processes that both find the newest list full open the next one only once.
        UniqueConstraint("issuer_id", "purpose", "seq", name="uq_status_list_seq"),
    )

    id: str = Field(primary_key=True, max_length=40)  # sl_<32 hex>: says nothing about order
    issuer_id: str = Field(foreign_key="issuer.id", max_length=64)
    purpose: str = Field(max_length=16)
    seq: int
    size: int  # bits
    created_at: datetime = Field(default_factory=utcnow)


class StatusEntry(SQLModel, table=True):
    """A credential's slot in a list. Reserved before the credential is signed (its
    `credentialStatus` names the slot), so there is no foreign key to `credential`."""

    __tablename__ = "status_entry"
    __table_args__ = (UniqueConstraint("list_id", "idx", name="uq_status_entry_slot"),)

    credential_id: str = Field(primary_key=True, max_length=200)
    purpose: str = Field(primary_key=True, max_length=16)
    issuer_id: str = Field(foreign_key="issuer.id", max_length=64)
    list_id: str = Field(foreign_key="status_list.id", max_length=40)
    idx: int
    reserved_at: datetime = Field(default_factory=utcnow)


class Suspension(SQLModel, table=True):
    """A suspension and, once lifted, when and by whom; at most one open per credential."""

    __tablename__ = "suspension"
    __table_args__ = (
        Index("ix_suspension_credential", "issuer_id", "credential_id"),
        Index(
            "uq_suspension_open",
            "issuer_id",
            "credential_id",
            unique=True,
            sqlite_where=text("lifted_at IS NULL"),
            postgresql_where=text("lifted_at IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    issuer_id: str = Field(foreign_key="issuer.id", max_length=64)
    credential_id: str = Field(max_length=200)
    digest: str = Field(max_length=64)
    note: str = Field(default="", max_length=1000)
    suspended_at: datetime = Field(default_factory=utcnow)
    suspended_by: int | None = Field(default=None, foreign_key="api_token.id")
    lifted_at: datetime | None = None
    lifted_by: int | None = Field(default=None, foreign_key="api_token.id")
    lift_note: str = Field(default="", max_length=1000)


status_list_t = cast(Table, StatusList.__table__)  # type: ignore[attr-defined]
status_entry_t = cast(Table, StatusEntry.__table__)  # type: ignore[attr-defined]
suspension_t = cast(Table, Suspension.__table__)  # type: ignore[attr-defined]
