"""the offering catalogue (versioned achievements) and the issuer's public profile

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _text(length: int | None = None) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def upgrade() -> None:
    op.create_table(
        "achievement",
        sa.Column("id", _text(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("issuer_id", _text(64), nullable=False),
        sa.Column("body", _text(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["issuer_id"], ["issuer.id"]),
        sa.PrimaryKeyConstraint("id", "version"),
    )
    op.create_index("ix_achievement_issuer", "achievement", ["issuer_id", "id"])
    op.create_table(
        "issuer_profile",
        sa.Column("issuer_id", _text(64), nullable=False),
        sa.Column("legal_name", _text(300), nullable=True),
        sa.Column("legal_identifier", _text(300), nullable=True),
        sa.Column("country", _text(2), nullable=True),
        sa.Column("region", _text(300), nullable=True),
        sa.Column("qa_register", _text(300), nullable=True),
        sa.Column("qa_identifier", _text(300), nullable=True),
        sa.Column("did_method", _text(32), nullable=True),
        sa.Column("signing_key_ref", _text(500), nullable=True),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["issuer_id"], ["issuer.id"]),
        sa.PrimaryKeyConstraint("issuer_id"),
    )


def downgrade() -> None:
    op.drop_table("issuer_profile")
    op.drop_index("ix_achievement_issuer", table_name="achievement")
    op.drop_table("achievement")
