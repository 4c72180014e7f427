"""status lists, credential status slots, suspensions

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _string(length: int) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def upgrade() -> None:
    op.create_table(
        "status_list",
        sa.Column("id", _string(40), nullable=False),
        sa.Column("issuer_id", _string(64), nullable=False),
        sa.Column("purpose", _string(16), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["issuer_id"], ["issuer.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("issuer_id", "purpose", "seq", name="uq_status_list_seq"),
    )
    op.create_table(
        "status_entry",
        sa.Column("credential_id", _string(200), nullable=False),
        sa.Column("purpose", _string(16), nullable=False),
        sa.Column("issuer_id", _string(64), nullable=False),
        sa.Column("list_id", _string(40), nullable=False),
        sa.Column("idx", sa.Integer(), nullable=False),
        sa.Column("reserved_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["issuer_id"], ["issuer.id"]),
        sa.ForeignKeyConstraint(["list_id"], ["status_list.id"]),
        sa.PrimaryKeyConstraint("credential_id", "purpose"),
        sa.UniqueConstraint("list_id", "idx", name="uq_status_entry_slot"),
    )
    op.create_table(
        "suspension",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("issuer_id", _string(64), nullable=False),
        sa.Column("credential_id", _string(200), nullable=False),
        sa.Column("digest", _string(64), nullable=False),
        sa.Column("note", _string(1000), nullable=False),
        sa.Column("suspended_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("suspended_by", sa.Integer(), nullable=True),
        sa.Column("lifted_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("lifted_by", sa.Integer(), nullable=True),
        sa.Column("lift_note", _string(1000), nullable=False),
        sa.ForeignKeyConstraint(["issuer_id"], ["issuer.id"]),
        sa.ForeignKeyConstraint(["suspended_by"], ["api_token.id"]),
        sa.ForeignKeyConstraint(["lifted_by"], ["api_token.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("suspension", schema=None) as batch_op:
        batch_op.create_index(
            "ix_suspension_credential", ["issuer_id", "credential_id"], unique=False
        )
        batch_op.create_index(
            "uq_suspension_open",
            ["issuer_id", "credential_id"],
            unique=True,
            sqlite_where=sa.text("lifted_at IS NULL"),
            postgresql_where=sa.text("lifted_at IS NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("suspension", schema=None) as batch_op:
        batch_op.drop_index("uq_suspension_open")
        batch_op.drop_index("ix_suspension_credential")
    op.drop_table("suspension")
    op.drop_table("status_entry")
    op.drop_table("status_list")
