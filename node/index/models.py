"""The SQL index: SQLModel tables. Alembic migrations in node/index/migrations create them.

Hashes are 64-char lower-case hex (roots, revoked digests) so that the index reads
the same in SQLite and PostgreSQL and in a SQL shell; tree tiles are raw bytes
because they are read in bulk. The one table that grows by millions a night,
``submission``, keeps its digests as their 32 bytes (`HexDigest`: 76 bytes less a
credential in SQLite, row and index), and Python still sees hex.

A submission's place is its issuer's sequence number ``seq`` (given at intake from the
issuer's ``next_seq``); a batch is the range ``[first_seq, first_seq + tree_size)`` of
its issuer and a digest's leaf index is ``seq - first_seq``, so sealing writes no
submission row (node/index/sequence.py, docs/architecture.md "The flow").
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import BigInteger, Column, Dialect, Index, LargeBinary, Table, UniqueConstraint
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


def _big(nullable: bool = True) -> Column[int]:
    """Chain values (wei, gas, blocks) outgrow a 32-bit INTEGER in PostgreSQL."""
    return Column(BigInteger, nullable=nullable)


def _counter() -> Column[int]:
    return Column(BigInteger, nullable=False, server_default="0")


class HexDigest(TypeDecorator[str]):
    """A SHA-256 digest stored as its 32 bytes, handed to and from Python as 64 lower-case
    hex characters. Anything else is refused before it reaches the database."""

    impl = LargeBinary(32)
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> bytes | None:
        if value is None:
            return None
        if not isinstance(value, str) or len(value) != 64:
            raise ValueError(f"a digest is 64 hex characters, got {value!r:.80}")
        return bytes.fromhex(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else bytes(value).hex()


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
    # The issuer's submission counter: the next seq to give, and the first not yet in a
    # batch. Intake and sealing both update this row first, so they take turns on it.
    next_seq: int = Field(default=0, sa_column=_counter())
    sealed_seq: int = Field(default=0, sa_column=_counter())


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
    __table_args__ = (
        Index("ix_batch_issuer_state", "issuer_id", "state"),
        # The batch holding a seq: the last of its issuer starting at or before it.
        Index("uq_batch_first_seq", "issuer_id", "first_seq", unique=True),
    )

    id: int | None = Field(default=None, primary_key=True)
    issuer_id: str = Field(foreign_key="issuer.id", max_length=64)
    # Its digests: the issuer's submissions with first_seq <= seq < first_seq + tree_size.
    first_seq: int = Field(sa_column=_big(False))
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
    # What `version()` of the MicroCredentialLedger the root went to (or, ebsi-timestamp, the
    # one beside it) returned, read when confirmed; NULL before revision 0010, or unknown.
    contract_version: int | None = None


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
    """A stored batch tree as fixed-size tiles of hashes (anchoring.tree's format), from
    tile level 1 up: a level-0 tile is recomputed from the batch's digests when a proof
    needs it (its 2**tile_height consecutive seqs), which saves 64 bytes a digest."""

    __tablename__ = "tree_tile"

    batch_id: int = Field(foreign_key="batch.id", primary_key=True)
    level: int = Field(primary_key=True)
    idx: int = Field(primary_key=True)
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class Submission(SQLModel, table=True):
    """A digest handed to the node, numbered ``seq`` in its issuer's order (pending while
    ``seq >= issuer.sealed_seq``). Written once: sealing does not touch it."""

    __tablename__ = "submission"
    __table_args__ = (
        UniqueConstraint("digest", name="uq_submission_digest"),
        # A batch's digests, a level-0 tile's, the oldest pending: ranges of this index.
        UniqueConstraint("issuer_id", "seq", name="uq_submission_seq"),
        Index("ix_submission_credential", "credential_id", unique=True),  # NULLs allowed
    )

    id: int | None = Field(default=None, primary_key=True)
    issuer_id: str = Field(foreign_key="issuer.id", max_length=64)
    seq: int = Field(sa_column=_big(False))
    digest: str = Field(sa_column=Column(HexDigest, nullable=False))
    credential_id: str | None = Field(default=None, max_length=200)
    submitted_at: datetime = Field(default_factory=utcnow)


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


class RevocationKind(StrEnum):
    """What a revocation batch sends (fixed when it is sealed, docs/formats.md "The
    contract"): ``revoke`` per-digest `revoke(digests, reason)` (a version-1 contract);
    ``commit`` `commitRevocations`, the issuer's revocation set moving from
    ``previous_root`` to ``new_root`` (version 2); ``status-lists`` `commitStatusLists`
    alone (version 2: lists changed with no revocation waiting, size 0)."""

    REVOKE = "revoke"
    COMMIT = "commit"
    STATUS_LISTS = "status-lists"


class RevocationBatch(SQLModel, table=True):
    """Revocations of one issuer with one reason, sent in one transaction (`RevocationKind`
    says which call); the same states as an anchoring batch (`BatchState`)."""

    __tablename__ = "revocation_batch"
    __table_args__ = (
        Index("ix_revocation_batch_issuer_state", "issuer_id", "state"),
        # An issuer's commitments form one chain: a root is reached and built on once.
        Index("uq_revocation_batch_new_root", "issuer_id", "new_root", unique=True),
        Index("uq_revocation_batch_previous_root", "issuer_id", "previous_root", unique=True),
    )

    id: int | None = Field(default=None, primary_key=True)
    issuer_id: str = Field(foreign_key="issuer.id", max_length=64)
    reason: int
    state: str = Field(default=BatchState.SEALED, max_length=16)
    size: int
    sealed_at: datetime = Field(default_factory=utcnow)
    kind: str = Field(
        default=RevocationKind.REVOKE, max_length=16, sa_column_kwargs={"server_default": "revoke"}
    )
    # `commit` only, fixed when sealed (a resumed batch sends the same): the set's root
    # before and after this batch's digests, its size after, and the revokedAt it declares
    # (seconds; every leaf of the batch records it).
    previous_root: str | None = Field(default=None, max_length=64)
    new_root: str | None = Field(default=None, max_length=64)
    new_size: int | None = Field(default=None, sa_column=_big())
    declared_at: int | None = Field(default=None, sa_column=_big())
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
