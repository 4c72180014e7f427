"""contract versions: each confirmed batch records the version of the MicroCredentialLedger
its root went to (or sits beside, for ebsi-timestamp), for the bundle's anchor.contractVersion

Batches confirmed before this revision get NULL: their bundles carry no contractVersion and
stay byte for byte as they were (docs/formats.md "The proof bundle").

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("batch", schema=None) as batch_op:
        batch_op.add_column(sa.Column("contract_version", sa.Integer(), nullable=True))


def downgrade() -> None:
    # Nothing else depends on the column: bundles then go back to having no contractVersion.
    # A write first: pysqlite opens its transaction only at one, and a DDL before it would be
    # committed at once, beyond the reach of a later step's refusal (0007's) in the same run.
    op.execute("UPDATE batch SET contract_version = NULL")
    # DROP COLUMN in place (SQLite 3.35+): a copy of the table, Alembic's batch default on
    # SQLite, cannot drop the table that submissions refer to.
    with op.batch_alter_table("batch", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("contract_version")
