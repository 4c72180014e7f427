"""submissions numbered per issuer: a batch is a seq range, sealing writes no submission row

Each submission gets ``seq``, its place in its issuer's order (batches first, in batch
order and leaf order, then the pending ones by id); each batch gets ``first_seq`` (its
leaf i is the issuer's seq first_seq + i); each issuer gets ``next_seq`` and
``sealed_seq``. ``submission.batch_id`` and ``leaf_index`` go, with their two indexes;
the digests become their 32 bytes; the level-0 tiles go (a proof recomputes one from its
2**tile_height digests). The upgrade checks that every existing batch is such a range
(its rows' leaf indexes are seq - first_seq) and refuses, changing nothing, if one is not.
The downgrade writes back batch_id, leaf_index, hex digests and the level-0 tiles.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

from mcledger.anchoring.tiles import TileLayout
from mcledger.anchoring.tree import build_levels_packed

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# Batches first (by batch, then leaf), then the pending rows, each issuer apart.
_NUMBERED = (
    "SELECT id, row_number() OVER (PARTITION BY issuer_id ORDER BY"
    " CASE WHEN batch_id IS NULL THEN 1 ELSE 0 END, batch_id, leaf_index, id) - 1 AS n"
    " FROM submission"
)


def _counter(name: str) -> sa.Column:
    return sa.Column(name, sa.BigInteger(), nullable=False, server_default="0")


def upgrade() -> None:
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    _check_ranges(bind)
    op.add_column("issuer", _counter("next_seq"))
    op.add_column("issuer", _counter("sealed_seq"))
    op.add_column("batch", sa.Column("first_seq", sa.BigInteger(), nullable=True))
    op.add_column("submission", sa.Column("seq", sa.BigInteger(), nullable=True))
    op.execute(
        f"UPDATE submission SET seq = r.n FROM ({_NUMBERED}) AS r WHERE submission.id = r.id"
    )
    op.execute(
        "UPDATE batch SET first_seq = (SELECT min(s.seq) FROM submission s"
        " WHERE s.batch_id = batch.id)"
    )
    op.execute(
        "UPDATE issuer SET next_seq = coalesce((SELECT max(s.seq) + 1 FROM submission s"
        " WHERE s.issuer_id = issuer.id), 0), sealed_seq = coalesce((SELECT"
        " max(b.first_seq + b.tree_size) FROM batch b WHERE b.issuer_id = issuer.id), 0)"
    )
    op.execute("DELETE FROM tree_tile WHERE level = 0")
    if sqlite:
        _sqlite_new_submission_table(bind)
    else:
        op.drop_index("ix_submission_pending", table_name="submission")
        op.drop_index("ix_submission_unbatched", table_name="submission")
        op.drop_column("submission", "leaf_index")
        op.drop_column("submission", "batch_id")
        op.alter_column("submission", "seq", nullable=False)
        op.execute(
            "ALTER TABLE submission ALTER COLUMN digest TYPE bytea USING decode(digest, 'hex')"
        )
        op.create_unique_constraint("uq_submission_seq", "submission", ["issuer_id", "seq"])
    with op.batch_alter_table("batch", schema=None, recreate="never") as batch_op:
        if not sqlite:  # SQLite cannot add NOT NULL in place; the model still requires it
            batch_op.alter_column("first_seq", nullable=False)
    op.create_index("uq_batch_first_seq", "batch", ["issuer_id", "first_seq"], unique=True)


def _check_ranges(bind: sa.Connection) -> None:
    """Every batch must be a contiguous range of its issuer's numbers in leaf order: checked
    before anything changes (SQLite runs DDL outside the transaction that would undo it)."""
    broken = (
        bind.execute(
            sa.text(
                "WITH r AS (SELECT s.id, s.issuer_id, s.batch_id, s.leaf_index, n.n"
                f" FROM submission s JOIN ({_NUMBERED}) AS n ON n.id = s.id),"
                " f AS (SELECT batch_id, min(n) AS first FROM r WHERE batch_id IS NOT NULL"
                " GROUP BY batch_id),"
                " ok AS (SELECT r.batch_id, count(*) AS good FROM r JOIN f"
                " ON f.batch_id = r.batch_id WHERE r.n - f.first = r.leaf_index"
                " GROUP BY r.batch_id)"
                " SELECT b.id FROM batch b LEFT JOIN ok ON ok.batch_id = b.id"
                " WHERE coalesce(ok.good, 0) <> b.tree_size OR EXISTS (SELECT 1 FROM"
                " submission s WHERE s.batch_id = b.id AND s.issuer_id <> b.issuer_id)"
                " ORDER BY b.id LIMIT 5"
            )
        )
        .scalars()
        .all()
    )
    if broken:
        raise RuntimeError(
            f"batches {broken} are not contiguous ranges of their issuer's digests in leaf "
            "order (or miss digests); the index was changed by hand: nothing was migrated"
        )


def _sqlite_new_submission_table(bind: sa.Connection) -> None:
    """SQLite cannot drop a foreign-key column or change a type in place: copy the table
    (nothing refers to it), decoding the hex with a function of this connection."""
    bind.connection.driver_connection.create_function(  # type: ignore[union-attr]
        "mcl_unhex", 1, bytes.fromhex, deterministic=True
    )
    op.create_table(
        "submission_0009",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("issuer_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("digest", sa.LargeBinary(length=32), nullable=False),
        sa.Column("credential_id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("submitted_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["issuer_id"], ["issuer.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("digest", name="uq_submission_digest"),
        sa.UniqueConstraint("issuer_id", "seq", name="uq_submission_seq"),
    )
    op.execute(
        "INSERT INTO submission_0009 (id, issuer_id, seq, digest, credential_id, submitted_at)"
        " SELECT id, issuer_id, seq, mcl_unhex(digest), credential_id, submitted_at"
        " FROM submission ORDER BY id"
    )
    op.drop_table("submission")
    op.rename_table("submission_0009", "submission")
    op.create_index("ix_submission_credential", "submission", ["credential_id"], unique=True)


def downgrade() -> None:
    bind = op.get_bind()
    _write_leaf_tiles(bind)
    op.drop_index("uq_batch_first_seq", table_name="batch")
    if bind.dialect.name == "sqlite":
        _sqlite_old_submission_table()
    else:
        op.add_column("submission", sa.Column("batch_id", sa.Integer(), nullable=True))
        op.add_column("submission", sa.Column("leaf_index", sa.Integer(), nullable=True))
        op.create_foreign_key(None, "submission", "batch", ["batch_id"], ["id"])
        op.execute(
            "UPDATE submission SET batch_id = b.id, leaf_index = submission.seq - b.first_seq"
            f" FROM batch b WHERE {_IN_BATCH}"
        )
        op.execute(
            "ALTER TABLE submission ALTER COLUMN digest TYPE varchar(64)"
            " USING encode(digest, 'hex')"
        )
        op.drop_constraint("uq_submission_seq", "submission", type_="unique")
        op.drop_column("submission", "seq")
    op.create_index("ix_submission_pending", "submission", ["issuer_id", "batch_id", "id"])
    op.create_index("ix_submission_unbatched", "submission", ["batch_id", "issuer_id"])
    with op.batch_alter_table("batch", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("first_seq")
    with op.batch_alter_table("issuer", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("sealed_seq")
        batch_op.drop_column("next_seq")


_IN_BATCH = (
    "b.issuer_id = submission.issuer_id AND submission.seq >= b.first_seq"
    " AND submission.seq < b.first_seq + b.tree_size"
)


def _sqlite_old_submission_table() -> None:
    op.create_table(
        "submission_0007",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("issuer_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("digest", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("credential_id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("submitted_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=True),
        sa.Column("leaf_index", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["batch_id"], ["batch.id"]),
        sa.ForeignKeyConstraint(["issuer_id"], ["issuer.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("digest", name="uq_submission_digest"),
    )
    op.execute(
        "INSERT INTO submission_0007 (id, issuer_id, digest, credential_id, submitted_at,"
        " batch_id, leaf_index) SELECT submission.id, submission.issuer_id,"
        " lower(hex(submission.digest)), submission.credential_id, submission.submitted_at,"
        f" b.id, submission.seq - b.first_seq FROM submission LEFT JOIN batch b ON {_IN_BATCH}"
        " ORDER BY submission.id"
    )
    op.drop_table("submission")
    op.rename_table("submission_0007", "submission")
    op.create_index("ix_submission_credential", "submission", ["credential_id"], unique=True)


def _write_leaf_tiles(bind: sa.Connection) -> None:
    """Recompute and store each batch's level-0 tiles, which revision 0007 reads."""
    batches = bind.execute(
        sa.text("SELECT id, issuer_id, first_seq, tree_size, tile_height FROM batch")
    ).all()
    for batch_id, issuer_id, first_seq, size, height in batches:
        digests = b"".join(
            bytes(d)
            for (d,) in bind.execute(
                sa.text(
                    "SELECT digest FROM submission WHERE issuer_id = :i AND seq >= :lo"
                    " AND seq < :hi ORDER BY seq"
                ),
                {"i": issuer_id, "lo": first_seq, "hi": first_seq + size},
            )
        )
        levels = tuple(build_levels_packed(digests))
        layout = TileLayout(size, height)
        bind.execute(
            sa.text("INSERT INTO tree_tile (batch_id, level, idx, data) VALUES (:b, 0, :k, :d)"),
            [
                {"b": batch_id, "k": k, "d": layout.tile_from_levels(levels, 0, k)}
                for k in range(layout.tiles_at(0))
            ],
        )
