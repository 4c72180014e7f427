"""an index for the digests that wait for a batch

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_submission_unbatched",
        "submission",
        ["batch_id", "issuer_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_submission_unbatched", table_name="submission")
