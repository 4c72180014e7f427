"""revocation commitments: each revocation batch records what it sends (per-digest revoke,
or a commitment of the issuer's revocation set with its roots, size and time, or status-list
hashes alone), the status lists a batch commits, and the signed lists a node serves

Every revocation batch before this revision was a per-digest `revoke`: it gets kind
"revoke" and NULL in the commitment columns, and is sent and read as before.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def _string(length: int) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def upgrade() -> None:
    # Columns and unique indexes in place: a copy of the table (Alembic's batch default on
    # SQLite) cannot drop the table that revocations and attempts refer to.
    op.add_column(
        "revocation_batch",
        sa.Column("kind", _string(16), nullable=False, server_default="revoke"),
    )
    op.add_column("revocation_batch", sa.Column("previous_root", _string(64), nullable=True))
    op.add_column("revocation_batch", sa.Column("new_root", _string(64), nullable=True))
    op.add_column("revocation_batch", sa.Column("new_size", sa.BigInteger(), nullable=True))
    op.add_column("revocation_batch", sa.Column("declared_at", sa.BigInteger(), nullable=True))
    # An issuer's commitments form one chain (NULLs, per-digest batches, never collide).
    op.create_index(
        "uq_revocation_batch_new_root", "revocation_batch", ["issuer_id", "new_root"], unique=True
    )
    op.create_index(
        "uq_revocation_batch_previous_root",
        "revocation_batch",
        ["issuer_id", "previous_root"],
        unique=True,
    )
    op.create_table(
        "status_list_publication",
        sa.Column("list_id", _string(40), nullable=False),
        sa.Column("version", _string(64), nullable=False),
        sa.Column("bits_hash", _string(64), nullable=False),
        sa.Column("signer", _string(64), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("document_hash", _string(64), nullable=False),
        sa.Column("signed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["list_id"], ["status_list.id"]),
        sa.PrimaryKeyConstraint("list_id"),
    )
    op.create_table(
        "revocation_batch_list",
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("list_id", _string(40), nullable=False),
        sa.Column("list_key", _string(64), nullable=False),
        sa.Column("list_hash", _string(64), nullable=False),
        sa.ForeignKeyConstraint(["batch_id"], ["revocation_batch.id"]),
        sa.ForeignKeyConstraint(["list_id"], ["status_list.id"]),
        sa.PrimaryKeyConstraint("batch_id", "list_id"),
    )


def downgrade() -> None:
    # A commitment cannot be described without these columns: refuse rather than let it
    # pass for a per-digest revoke.
    committed = op.get_bind().execute(
        sa.text("SELECT count(*) FROM revocation_batch WHERE kind <> 'revoke'")
    )
    if committed.scalar_one():
        raise RuntimeError(
            "the index holds revocation commitments; a downgrade below revision 0008 would "
            "lose the roots they committed"
        )
    op.drop_table("revocation_batch_list")
    op.drop_table("status_list_publication")
    op.drop_index("uq_revocation_batch_previous_root", table_name="revocation_batch")
    op.drop_index("uq_revocation_batch_new_root", table_name="revocation_batch")
    # In place (SQLite 3.35+ drops columns), as upgrade added them.
    with op.batch_alter_table("revocation_batch", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("declared_at")
        batch_op.drop_column("new_size")
        batch_op.drop_column("new_root")
        batch_op.drop_column("previous_root")
        batch_op.drop_column("kind")
