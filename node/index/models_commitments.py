"""What the index keeps of status-list commitments (migration 0008).

A node that commits revocations (contract version 2) also commits the SHA-256 of each
status list it serves (docs/formats.md "Status lists on the record"). For the hash on chain
to stay the hash of what is served, a list is signed once per content and the signed bytes
are kept (`StatusListPublication`): every process, and every restart, serves the stored
document until a bit changes. `RevocationBatchList` says which list hashes a revocation
batch carries to the chain.
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import Column, Table, Text
from sqlmodel import Field, SQLModel

from mcledger.node.index.models import utcnow


class StatusListPublication(SQLModel, table=True):
    """The signed list credential a node serves for a list, while its bits and signer are
    these: ``bits_hash`` is the SHA-256 of the bitstring, ``signer`` the SHA-256 of what
    signed it (DID, verification method, public key, URL); ``version`` the issuer's
    status version the bits were last derived at (a cheap check that nothing changed);
    ``document_hash`` the list's on-chain hash (SHA-256 of its JCS form)."""

    __tablename__ = "status_list_publication"

    list_id: str = Field(primary_key=True, foreign_key="status_list.id", max_length=40)
    version: str = Field(max_length=64)
    bits_hash: str = Field(max_length=64)
    signer: str = Field(max_length=64)
    document: str = Field(sa_column=Column(Text, nullable=False))
    document_hash: str = Field(max_length=64)
    signed_at: datetime = Field(default_factory=utcnow)


class RevocationBatchList(SQLModel, table=True):
    """A status list whose hash a revocation batch commits: ``list_key`` is its on-chain
    id (SHA-256 of its URL), ``list_hash`` the hash committed (fixed when sealed)."""

    __tablename__ = "revocation_batch_list"

    batch_id: int = Field(primary_key=True, foreign_key="revocation_batch.id")
    list_id: str = Field(primary_key=True, foreign_key="status_list.id", max_length=40)
    list_key: str = Field(max_length=64)
    list_hash: str = Field(max_length=64)


status_list_publication_t = cast(Table, StatusListPublication.__table__)  # type: ignore[attr-defined]
revocation_batch_list_t = cast(Table, RevocationBatchList.__table__)  # type: ignore[attr-defined]
