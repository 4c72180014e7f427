"""anchor targets: each batch records where its root goes (the ledger or EBSI's Timestamp
interface), fixed when it is sealed

Every batch before this revision was sealed for the MicroCredentialLedger: it gets target
"ledger" and NULL in the timestamp columns, so its proof bundle stays byte for byte.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _string(length: int) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def upgrade() -> None:
    with op.batch_alter_table("batch", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("target", _string(16), nullable=False, server_default="ledger")
        )
        batch_op.add_column(sa.Column("hash_algorithm_id", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("issuer_did", _string(2048), nullable=True))
        batch_op.add_column(sa.Column("ledger_contract", _string(42), nullable=True))


def downgrade() -> None:
    # A batch sealed for another target than the ledger cannot be described without these
    # columns: refuse rather than let it pass for a ledger anchor.
    timestamped = op.get_bind().execute(
        sa.text("SELECT count(*) FROM batch WHERE target <> 'ledger'")
    )
    if timestamped.scalar_one():
        raise RuntimeError(
            "the index holds batches sealed for another target than the ledger; "
            "a downgrade below revision 0007 would lose where they were anchored"
        )
    # ALTER TABLE … DROP COLUMN (SQLite 3.35+) in place: a copy of the table, Alembic's
    # batch default on SQLite, cannot drop the table that submissions refer to.
    with op.batch_alter_table("batch", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("ledger_contract")
        batch_op.drop_column("issuer_did")
        batch_op.drop_column("hash_algorithm_id")
        batch_op.drop_column("target")
