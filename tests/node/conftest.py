"""Index fixtures for the node's tests: every index test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from mcledger.node.index.db import open_index


@pytest.fixture
def index_engine(database_url: str) -> Iterator[Engine]:
    """A freshly migrated index on each database."""
    engine = open_index(database_url)
    try:
        yield engine
    finally:
        engine.dispose()
