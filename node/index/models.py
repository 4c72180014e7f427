"""The SQL index: SQLModel tables. Alembic migrations in node/index/migrations create them.

Hashes are stored as 64-char lower-case hex (digests, roots) so that the
index reads the same in SQLite and PostgreSQL and in a SQL shell; tree tiles
are raw bytes because they are read in bulk.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import cast

from sqlalchemy import BigInteger, Column, Index, LargeBinary, Table, UniqueConstraint
from sqlmodel import Field, SQLModel


def _big(nullable: bool = True) -> Column[int]:
    """Chain values (wei, gas, blocks) outgrow a 32-bit INTEGER in PostgreSQL."""
    return Column(BigInteger, nullable=nullable)


def utcnow() -> datetime:
    return datetime.now(UTC)


class BatchState(StrEnum):
    """The anchoring state machine. Every transition is committed before the next side effect.

    sealed     the tree is built and stored; nothing sent yet
    submitted  a transaction is sent (hash and nonce recorded in anchor_attempt)
    confirmed  the receipt has the configured number of confirmations
    """

    SEALED = "sealed"
    SUBMITTED = "submitted"
    CONFIRMED = "confirmed"


class AttemptState(StrEnum):
    PENDING = "pending"  # sent, no receipt yet
    MINED = "mined"  # receipt seen (maybe not yet confirmed)
    REPLACED = "replaced"  # superseded by a higher-fee transaction with the same nonce
    REORGED = "reorged"  # its block left the canonical chain
    FAILED = "failed"  # reverted for a reason other than "already anchored"


class Issuer(SQLModel, table=True):
    __tablename__ = "issuer"

    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(default="", max_length=300)
    chain_address: str = Field(max_length=42, index=True)
    did: str = Field(default="", max_length=500)
    created_at: datetime = Field(default_factory=utcnow)


class ApiToken(SQLModel, table=True):
    """Only the SHA-256 of a token is stored; the token itself is shown once."""

    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    issuer_id: str = Field(foreign_key="issuer.id", index=True, max_length=64)
    token_hash: str = Field(unique=True, max_length=64)
    scopes: str = Field(max_length=100)  # comma-separated: issue,revoke,admin
    label: str = Field(default="", max_length=200)
    created_at: datetime = Field(default_factory=utcnow)
    revoked_at: datetime | None = None


class Batch(SQLModel, table=True):
    __tablename__ = "batch"
    __table_args__ = (Index("ix_batch_issuer_state", "issuer_id", "state"),)

    id: int | None = Field(default=None, primary_key=True)
    issuer_id: str = Field(foreign_key="issuer.id", max_length=64)
    state: str = Field(default=BatchState.SEALED, max_length=16)
    tree_size: int = Field(sa_column=_big(False))
    # NULL only inside the sealing transaction, before the tree is built.
    root: str | None = Field(default=None, unique=True, max_length=64)
    tile_height: int
    sealed_at: datetime = Field(default_factory=utcnow)
    # Where the root goes, fixed when the batch is sealed (node/pipeline/targets.py):
    # "ledger" (the MicroCredentialLedger) or "ebsi-timestamp" (EBSI's Timestamp interface,
    # with the contract, hash algorithm id, the DID in the timestampData and the ledger
    # beside it; NULL for "ledger").
    target: str = Field(
        default="ledger", max_length=16, sa_column_kwargs={"server_default": "ledger"}
    )
    hash_algorithm_id: int | None = Field(default=None, sa_column=_big())
    issuer_did: str | None = Field(default=None, max_length=2048)
    ledger_contract: str | None = Field(default=None, max_length=42)
    # The confirmed anchor (filled when state becomes confirmed; for ebsi-timestamp the
    # contract is set when sealed).
    chain_id: int | None = Field(default=None, sa_column=_big())
    contract: str | None = Field(default=None, max_length=42)
    transaction_hash: str | None = Field(default=None, max_length=66)
    block_number: int | None = Field(default=None, sa_column=_big())
    block_hash: str | None = Field(default=None, max_length=66)
    block_time: datetime | None = None
    confirmations: int | None = None
    confirmed_at: datetime | None = None
    last_error: str | None = Field(default=None, max_length=2000)


class AnchorAttempt(SQLModel, table=True):
    """One transaction sent for a batch; replacements share the nonce."""

    __tablename__ = "anchor_attempt"

    id: int | None = Field(default=None, primary_key=True)
    batch_id: int = Field(foreign_key="batch.id", index=True)
    transaction_hash: str = Field(unique=True, max_length=66)
    sender: str = Field(max_length=42)
    nonce: int = Field(sa_column=_big(False))
    max_fee_per_gas: int = Field(sa_column=_big(False))
    max_priority_fee_per_gas: int = Field(sa_column=_big(False))
    gas: int = Field(sa_column=_big(False))
    state: str = Field(default=AttemptState.PENDING, max_length=16)
    raw: bytes = Field(sa_column=Column(LargeBinary, nullable=False))  # the signed transaction
    head_block: int = Field(sa_column=_big(False))  # chain head when signed: where to scan from
    sent_at: datetime = Field(default_factory=utcnow)
    block_number: int | None = Field(default=None, sa_column=_big())
    block_hash: str | None = Field(default=None, max_length=66)


class TreeTile(SQLModel, table=True):
    """A stored batch tree as fixed-size tiles of hashes (anchoring.tree's format)."""

    __tablename__ = "tree_tile"

    batch_id: int = Field(foreign_key="batch.id", primary_key=True)
    level: int = Field(primary_key=True)
    idx: int = Field(primary_key=True)
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class Submission(SQLModel, table=True):
    """A digest handed to the node; batch_id and leaf_index are set when it is sealed."""

    __tablename__ = "submission"
    __table_args__ = (
        UniqueConstraint("digest", name="uq_submission_digest"),
        Index("ix_submission_pending", "issuer_id", "batch_id", "id"),
        # The rows waiting for a batch (batch_id IS NULL), which the scheduler counts every
        # few seconds, without a scan of the whole table.
        Index("ix_submission_unbatched", "batch_id", "issuer_id"),
        Index("ix_submission_credential", "credential_id", unique=True),  # NULLs allowed
    )

    id: int | None = Field(default=None, primary_key=True)
    issuer_id: str = Field(foreign_key="issuer.id", max_length=64)
    digest: str = Field(max_length=64)
    credential_id: str | None = Field(default=None, max_length=200)
    submitted_at: datetime = Field(default_factory=utcnow)
    batch_id: int | None = Field(default=None, foreign_key="batch.id")
    leaf_index: int | None = None


class Revocation(SQLModel, table=True):
    __tablename__ = "revocation"
    __table_args__ = (
        UniqueConstraint("issuer_id", "digest", name="uq_revocation_digest"),
        Index("ix_revocation_unsent", "batch_id", "issuer_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    issuer_id: str = Field(foreign_key="issuer.id", max_length=64)
    digest: str = Field(max_length=64)
    credential_id: str | None = Field(default=None, max_length=200)
    reason: int
    note: str = Field(default="", max_length=1000)
    revoked_at: datetime = Field(default_factory=utcnow)
    revoked_by: int | None = Field(default=None, foreign_key="api_token.id")
    # The revocation batch that carries it to the chain (NULL: waiting for the next flush),
    # and, once that is confirmed, the transaction whose CredentialRevoked event records it.
    batch_id: int | None = Field(default=None, foreign_key="revocation_batch.id")
    transaction_hash: str | None = Field(default=None, max_length=66)
    block_number: int | None = Field(default=None, sa_column=_big())


class RevocationBatch(SQLModel, table=True):
    """Revocations of one issuer with one reason, sent in one `revoke(digests, reason)`
    transaction; the same states as an anchoring batch (`BatchState`)."""

    __tablename__ = "revocation_batch"
    __table_args__ = (Index("ix_revocation_batch_issuer_state", "issuer_id", "state"),)

    id: int | None = Field(default=None, primary_key=True)
    issuer_id: str = Field(foreign_key="issuer.id", max_length=64)
    reason: int
    state: str = Field(default=BatchState.SEALED, max_length=16)
    size: int
    sealed_at: datetime = Field(default_factory=utcnow)
    chain_id: int | None = Field(default=None, sa_column=_big())
    contract: str | None = Field(default=None, max_length=42)
    transaction_hash: str | None = Field(default=None, max_length=66)
    block_number: int | None = Field(default=None, sa_column=_big())
    block_hash: str | None = Field(default=None, max_length=66)
    block_time: datetime | None = None
    confirmations: int | None = None
    confirmed_at: datetime | None = None
    last_error: str | None = Field(default=None, max_length=2000)


class RevocationAttempt(SQLModel, table=True):
    """One transaction sent for a revocation batch: the columns of `AnchorAttempt`, so the
    one state machine (node/pipeline/txmachine.py) keeps both."""

    __tablename__ = "revocation_attempt"

    id: int | None = Field(default=None, primary_key=True)
    batch_id: int = Field(foreign_key="revocation_batch.id", index=True)
    transaction_hash: str = Field(unique=True, max_length=66)
    sender: str = Field(max_length=42)
    nonce: int = Field(sa_column=_big(False))
    max_fee_per_gas: int = Field(sa_column=_big(False))
    max_priority_fee_per_gas: int = Field(sa_column=_big(False))
    gas: int = Field(sa_column=_big(False))
    state: str = Field(default=AttemptState.PENDING, max_length=16)
    raw: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    head_block: int = Field(sa_column=_big(False))
    sent_at: datetime = Field(default_factory=utcnow)
    block_number: int | None = Field(default=None, sa_column=_big())
    block_hash: str | None = Field(default=None, max_length=66)


class Lease(SQLModel, table=True):
    """A named lock with an expiry: the anchoring lease keeps one anchorer at a time
    across processes on one database (SQLite or PostgreSQL alike)."""

    __tablename__ = "lease"

    name: str = Field(primary_key=True, max_length=64)
    holder: str = Field(max_length=200)
    expires_at: float  # Unix seconds: compares the same way in every SQL dialect


class Operation(SQLModel, table=True):
    """Append-only log of what the node did and who asked."""

    __tablename__ = "operation"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, index=True)
    actor: str = Field(max_length=200)
    action: str = Field(max_length=64)
    subject: str = Field(default="", max_length=200)
    details: str = Field(default="{}")  # JSON


def _table(model: type[SQLModel]) -> Table:
    return cast(Table, model.__table__)  # type: ignore[attr-defined]


# Core tables for queries: typed columns (`submission_t.c.digest`) and no ORM overhead on
# the hot paths (bulk intake, sealing, proofs).
issuer_t = _table(Issuer)
api_token_t = _table(ApiToken)
batch_t = _table(Batch)
anchor_attempt_t = _table(AnchorAttempt)
tree_tile_t = _table(TreeTile)
submission_t = _table(Submission)
revocation_t = _table(Revocation)
revocation_batch_t = _table(RevocationBatch)
revocation_attempt_t = _table(RevocationAttempt)
lease_t = _table(Lease)
operation_t = _table(Operation)
