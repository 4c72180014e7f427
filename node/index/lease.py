"""A named lease in the index: one holder at a time across processes and machines.

Works the same on SQLite and PostgreSQL (an upsert that only takes the row
over when it is free or expired), so several node replicas on one database
anchor one at a time while all of them serve reads.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, text

from mcledger.node.errors import NodeError

ANCHORING_LEASE = "anchoring"

_TAKE = text(
    "INSERT INTO lease (name, holder, expires_at) VALUES (:name, :holder, :expires)"
    " ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at"
    " WHERE lease.holder = excluded.holder OR lease.expires_at < :now"
)
_HOLDER = text("SELECT holder FROM lease WHERE name = :name")
_RELEASE = text("DELETE FROM lease WHERE name = :name AND holder = :holder")


class LeaseHeldError(NodeError):
    """Another process holds the lease; try again later."""


def pid_scope() -> str:
    """This host and, on Linux, its process-id namespace: the place where a holder's process
    id names the same process. Containers that share a host name (host networking, a fixed
    `hostname:`) each have their own namespace, where another container's pid means nothing."""
    host = socket.gethostname()
    try:
        namespace = os.readlink("/proc/self/ns/pid")  # "pid:[4026531836]"
    except OSError:
        return host
    return f"{host}/{namespace.removeprefix('pid:[').removesuffix(']')}"


def holder_id() -> str:
    """A name for this process that says where it runs: place, pid, a random tag."""
    return f"{pid_scope()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _dead_local_holder(holder: str) -> bool:
    """A holder in this place whose process is gone (killed, crashed) holds nothing."""
    place, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    if place != pid_scope() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def try_acquire(engine: Engine, name: str, holder: str, ttl: float) -> bool:
    """Take or renew the lease for ``ttl`` seconds; False if someone else holds it.

    A lease whose holder was a process in this place (host and pid namespace) that no
    longer exists is taken over at once; one held elsewhere is waited out until it expires.
    """
    now = time.time()
    with engine.begin() as conn:
        current = conn.execute(_HOLDER, {"name": name}).scalar_one_or_none()
        if current is not None and current != holder and _dead_local_holder(current):
            conn.execute(_RELEASE, {"name": name, "holder": current})
        conn.execute(_TAKE, {"name": name, "holder": holder, "expires": now + ttl, "now": now})
        return conn.execute(_HOLDER, {"name": name}).scalar_one() == holder


def release(engine: Engine, name: str, holder: str) -> None:
    with engine.begin() as conn:
        conn.execute(_RELEASE, {"name": name, "holder": holder})


@contextmanager
def lease(engine: Engine, name: str, holder: str, ttl: float) -> Iterator[None]:
    """Hold the lease for the block, or raise LeaseHeldError at once."""
    if not try_acquire(engine, name, holder, ttl):
        raise LeaseHeldError(f"another node process holds the {name!r} lease")
    try:
        yield
    finally:
        release(engine, name, holder)
