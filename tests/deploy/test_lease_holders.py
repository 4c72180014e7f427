"""Who may take the chain lease of a dead holder at once, and who must wait for it to expire.

A holder's process id is checked only where it names the same process: the same host *and*
the same process-id namespace. Containers sharing a host name (host networking, a fixed
`hostname:`) have their own namespaces, where another container's pid means nothing; their
leases are waited out like those of other machines.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, insert

from mcledger.node.index.db import open_index
from mcledger.node.index.lease import ANCHORING_LEASE, holder_id, pid_scope, try_acquire
from mcledger.node.index.models import lease_t


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = open_index(database_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def _held_by(engine: Engine, holder: str, seconds_left: float, name: str = ANCHORING_LEASE) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(lease_t).values(name=name, holder=holder, expires_at=time.time() + seconds_left)
        )


def test_a_dead_holder_here_is_taken_over_at_once(engine: Engine, dead_pid: int) -> None:
    _held_by(engine, f"{pid_scope()}:{dead_pid}:0badc0de", seconds_left=600)
    assert try_acquire(engine, ANCHORING_LEASE, holder_id(), ttl=60)


def test_a_dead_holder_elsewhere_is_waited_out(engine: Engine, dead_pid: int) -> None:
    host = pid_scope().split("/")[0]
    places = {
        "another machine": "another-host/4026531836",
        "this host name, another pid namespace": f"{host}/1",
        "this host name, no namespace (an older holder)": host,
    }
    me = holder_id()
    for lease, place in places.items():
        _held_by(engine, f"{place}:{dead_pid}:0badc0de", seconds_left=1.0, name=lease[:64])
        assert not try_acquire(engine, lease[:64], me, ttl=60), f"{lease}: taken before expiry"
    time.sleep(1.1)
    for lease in places:
        assert try_acquire(engine, lease[:64], me, ttl=60), f"{lease}: not taken after expiry"


def test_a_live_holder_here_keeps_its_lease(engine: Engine) -> None:
    holder = holder_id()  # this very process: alive
    assert try_acquire(engine, ANCHORING_LEASE, holder, ttl=60)
    assert not try_acquire(engine, ANCHORING_LEASE, holder_id(), ttl=60)
    assert try_acquire(engine, ANCHORING_LEASE, holder, ttl=60)  # renewing is the holder's
