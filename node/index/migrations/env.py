"""Alembic environment: runs on the connection that node.index.db.migrate hands over."""

from alembic import context
from sqlmodel import SQLModel

import mcledger.node.index.models  # noqa: F401  (registers the tables on SQLModel.metadata)
import mcledger.node.index.models_catalogue  # noqa: F401
import mcledger.node.index.models_commitments  # noqa: F401
import mcledger.node.index.models_credentials  # noqa: F401
import mcledger.node.index.models_status  # noqa: F401

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
