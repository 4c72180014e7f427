"""Moving a test index between Alembic revisions, for the migration tests."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text

from mcledger.node.index.db import MIGRATIONS_DIR


def alembic(engine: Engine, action: str, revision: str) -> None:
    """``command.upgrade`` or ``downgrade`` to ``revision``, in one transaction."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        getattr(command, action)(config, revision)


def revision_of(engine: Engine) -> str:
    with engine.connect() as conn:
        return str(conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one())
