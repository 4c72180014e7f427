"""Opening the SQL index: SQLite under the data directory by default, PostgreSQL by URL.

The schema belongs to Alembic (node/index/migrations); `open_index` migrates to the
newest revision before anything else touches the database.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any, Generic, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url

from mcledger.node.errors import NodeError

T = TypeVar("T")

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_FILE = "index.sqlite3"


class DatabaseError(NodeError):
    """The index cannot be opened or migrated."""


def default_database_url(data_dir: Path) -> str:
    return f"sqlite:///{data_dir / SQLITE_FILE}"


def _sqlalchemy_url(url: str) -> str:
    """Accept plain `postgresql://` URLs and use psycopg 3 for them."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


# A commit that leaves the WAL longer than this many pages (80 MiB of 4 KiB) copies it into
# the database file (SQLite's default: 1,000). A list of 10,000 random digests dirties pages
# all over the digest and credentialId indexes, about 35 MB at 255,000 rows, and the next
# lists dirty mostly the same ones: copied every few lists rather than after each, lists
# went from about 33,000 to 44,000 digests/s from 2 connections onto 255,000 rows, and
# from about 52,000 to 72,000 from one (tests/benchmarks/bench_intake.py). A larger value
# gained nothing more, and single digests' p99 grew with the longer copies.
SQLITE_WAL_CHECKPOINT_PAGES = 20_000


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers work while the anchorer writes; FULL fsyncs every commit so a
    # crash never loses an acknowledged digest.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute(f"PRAGMA wal_autocheckpoint={SQLITE_WAL_CHECKPOINT_PAGES}")
    cursor.close()


def make_engine(url: str) -> Engine:
    """An engine for the index URL, with SQLite tuned for durability."""
    full_url = _sqlalchemy_url(url)
    if full_url.startswith("sqlite"):
        path = make_url(full_url).database
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # A pool as large as the concurrency the server sees: opening a SQLite connection
        # (and its pragmas) per request was measurable in the proof benchmark.
        engine = create_engine(
            full_url,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=20,
            max_overflow=20,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(full_url, pool_pre_ping=True, pool_size=10, max_overflow=10)


# Any constant both processes agree on: the advisory lock that serialises migrations.
_MIGRATION_LOCK = 0x6D636C6564676572  # "mcledger"


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision (idempotent). On PostgreSQL several
    processes starting at once on an empty database take turns (a transaction-scoped
    advisory lock), so the second finds the schema made instead of racing to make it."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    try:
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK}
                )
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except Exception as exc:
        raise DatabaseError(f"cannot migrate the index at {engine.url!r}: {exc}") from exc


def open_index(url: str) -> Engine:
    engine = make_engine(url)
    migrate(engine)
    return engine


class PerEngine(Generic[T]):
    """One ``make(engine)`` a process for each engine, made at first use and dropped with the
    engine: what every app and job on one index shares (its intake writer, its revocation
    sets)."""

    def __init__(self, make: Callable[[Engine], T]) -> None:
        self._make = make
        self._made: weakref.WeakKeyDictionary[Engine, T] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def __call__(self, engine: Engine) -> T:
        with self._lock:
            found = self._made.get(engine)
            if found is None:
                found = self._made[engine] = self._make(engine)
            return found
