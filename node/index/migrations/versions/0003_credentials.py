"""issued credentials

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "credential",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("issuer_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("achievement_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("achievement_version", sa.Integer(), nullable=True),
        sa.Column("digest", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("learner_key_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("issued_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("erased_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["issuer_id"], ["issuer.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("digest"),
    )
    with op.batch_alter_table("credential", schema=None) as batch_op:
        batch_op.create_index("ix_credential_issuer_id", ["issuer_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("credential", schema=None) as batch_op:
        batch_op.drop_index("ix_credential_issuer_id")
    op.drop_table("credential")
