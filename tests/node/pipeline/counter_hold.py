"""Holding an issuer's counter row from another connection, so that intake requests queue
up behind it and the intake writer's next group takes them together."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from sqlalchemy import Engine

from mcledger.node.index.sequence import lock_counter


@contextlib.contextmanager
def holding_counter(engine: Engine, issuer_id: str) -> Iterator[threading.Event]:
    """Hold the issuer's counter row (SQLite: the write lock) until the event is set or
    the block ends."""
    release = threading.Event()
    locked = threading.Event()

    def hold() -> None:
        with engine.begin() as conn:
            lock_counter(conn, issuer_id)
            locked.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert locked.wait(10)
        yield release
    finally:
        release.set()
        holder.join()
