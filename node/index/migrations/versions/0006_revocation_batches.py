"""revocation batches: revocations sent to the chain in batched transactions

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _string(length: int) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def upgrade() -> None:
    op.create_table(
        "revocation_batch",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("issuer_id", _string(64), nullable=False),
        sa.Column("reason", sa.Integer(), nullable=False),
        sa.Column("state", _string(16), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sealed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=True),
        sa.Column("contract", _string(42), nullable=True),
        sa.Column("transaction_hash", _string(66), nullable=True),
        sa.Column("block_number", sa.BigInteger(), nullable=True),
        sa.Column("block_hash", _string(66), nullable=True),
        sa.Column("block_time", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("confirmations", sa.Integer(), nullable=True),
        sa.Column("confirmed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("last_error", _string(2000), nullable=True),
        sa.ForeignKeyConstraint(["issuer_id"], ["issuer.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_revocation_batch_issuer_state", "revocation_batch", ["issuer_id", "state"], unique=False
    )
    op.create_table(
        "revocation_attempt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("transaction_hash", _string(66), nullable=False),
        sa.Column("sender", _string(42), nullable=False),
        sa.Column("nonce", sa.BigInteger(), nullable=False),
        sa.Column("max_fee_per_gas", sa.BigInteger(), nullable=False),
        sa.Column("max_priority_fee_per_gas", sa.BigInteger(), nullable=False),
        sa.Column("gas", sa.BigInteger(), nullable=False),
        sa.Column("state", _string(16), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("head_block", sa.BigInteger(), nullable=False),
        sa.Column("sent_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=True),
        sa.Column("block_hash", _string(66), nullable=True),
        sa.ForeignKeyConstraint(["batch_id"], ["revocation_batch.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("transaction_hash"),
    )
    op.create_index(
        "ix_revocation_attempt_batch_id", "revocation_attempt", ["batch_id"], unique=False
    )
    with op.batch_alter_table("revocation", schema=None) as batch_op:
        batch_op.add_column(sa.Column("batch_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            "fk_revocation_batch_id", "revocation_batch", ["batch_id"], ["id"]
        )
        batch_op.create_index("ix_revocation_unsent", ["batch_id", "issuer_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("revocation", schema=None) as batch_op:
        batch_op.drop_index("ix_revocation_unsent")
        batch_op.drop_constraint("fk_revocation_batch_id", type_="foreignkey")
        batch_op.drop_column("batch_id")
    op.drop_index("ix_revocation_attempt_batch_id", table_name="revocation_attempt")
    op.drop_table("revocation_attempt")
    op.drop_index("ix_revocation_batch_issuer_state", table_name="revocation_batch")
    op.drop_table("revocation_batch")
