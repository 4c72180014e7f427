"""Group commit for intake: one writer thread a process commits every waiting request at once.

Each ``POST /v1/digests`` used to be a transaction of its own on a thread of its own; on
SQLite they waited on each other's write lock (and the busy handler's sleeps), one fsync
each. Here a request hands its checked items to the writer and waits. The writer takes
every request waiting (up to ``max_group_digests``), opens one transaction, records
them, commits once, and only then answers them all. Usually every digest is new, and one
insert an issuer stores the whole group (each request numbered as it would be alone);
if any row is refused, that insert is rolled back and each request runs in a SAVEPOINT
of its own (``record_numbered``):

- all or nothing per request: a request that fails (a conflict, an unknown issuer) is
  rolled back to its savepoint and answered with its error; the others are kept;
- durable before the 2xx: nobody is answered before the commit returns;
- requests of different issuers share a transaction; the issuers' counter rows are locked
  first, in sorted order, so two processes' writers take them in the same order;
- if the group fails as a whole (the database, a deadlock with another process), nothing
  of it is kept and each request runs again alone, as it would have without the writer.

The writer keeps one connection of the pool while requests keep coming (given back after
``HOLD_SECONDS`` without one, or after a group fails): no checkout and PostgreSQL pre-ping
a group, and on SQLite a page cache of ``SQLITE_WRITER_CACHE_KIB`` on that connection
only. A list of 10,000 random digests dirties pages all over the digest and credentialId
indexes; in SQLite's default 2 MiB cache they spilled to the WAL in mid-transaction and
were read again (py-spy: pwrite and pread were half the writer's time at 300,000 rows,
and a 32 MiB cache took a list from ~260 to ~190 ms). The pool's other connections keep
the default, so readers do not each grow a cache that large.

The thread starts with the first request and ends after ``idle_seconds`` without one, so
an engine that is no longer used keeps no thread (tests open many).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import weakref
from concurrent.futures import Future
from dataclasses import dataclass

from sqlalchemy import Connection, Engine

from mcledger.node.index.db import PerEngine
from mcledger.node.index.models import utcnow
from mcledger.node.index.oplog import record_operations
from mcledger.node.index.sequence import set_next_seq
from mcledger.node.issuing.issuers import UnknownIssuerError
from mcledger.node.pipeline.submission_rows import insert_if_all_new
from mcledger.node.pipeline.submissions import (
    SubmissionError,
    SubmissionState,
    lock_issuer_counter,
    new_states,
    record_numbered,
    record_submission,
    submitted_operation,
)

log = logging.getLogger("mcledger.intake")

MAX_GROUP_DIGESTS = 50_000  # bounds a group's transaction: five full lists, or thousands of singles
IDLE_SECONDS = 10.0
HOLD_SECONDS = 1.0  # the writer's connection goes back to the pool after this long unused
SQLITE_WRITER_CACHE_KIB = 32 * 1024  # measured at 300,000 rows: 16 MiB was little better than 2


@dataclass(frozen=True)
class _Request:
    issuer_id: str
    wanted: dict[str, str | None]
    actor: str
    answer: Future[list[SubmissionState]]


@dataclass
class WriterCounts:
    """What the writer did since it was made (tests read it)."""

    groups: int = 0  # transactions committed for groups
    requests: int = 0  # requests answered from those groups
    largest_group: int = 0  # the most requests one group held
    alone: int = 0  # requests run again alone after their group failed


class IntakeWriter:
    """The process's group-committing writer for one index (see the module docstring)."""

    def __init__(
        self,
        engine: Engine,
        *,
        max_group_digests: int = MAX_GROUP_DIGESTS,
        idle_seconds: float = IDLE_SECONDS,
    ) -> None:
        # A weak reference: the registry below must not keep a disposed engine alive.
        self._engine = weakref.ref(engine)
        self._max_group_digests = max_group_digests
        self._idle_seconds = idle_seconds
        self._waiting: queue.SimpleQueue[_Request] = queue.SimpleQueue()
        self._lock = threading.Lock()  # guards _thread against the idle exit
        self._thread: threading.Thread | None = None
        self._held: _HeldConnection | None = None  # the writer thread's own
        self.counts = WriterCounts()

    def submit(
        self, issuer_id: str, wanted: dict[str, str | None], actor: str
    ) -> Future[list[SubmissionState]]:
        """Queue one request (``wanted`` from ``unique_items``); the future gets its states
        once they are committed, or its error (nothing of it stored)."""
        request = _Request(issuer_id, wanted, actor, Future())
        with self._lock:
            self._waiting.put(request)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="mcledger-intake-writer", daemon=True
                )
                self._thread.start()
        return request.answer

    def _run(self) -> None:
        try:
            self._serve()
        finally:
            self._release_connection()

    def _serve(self) -> None:
        idle_until = time.monotonic() + self._idle_seconds
        while True:
            wait = idle_until - time.monotonic()
            if self._held is not None:
                wait = min(wait, HOLD_SECONDS)
            try:
                first = self._waiting.get(timeout=max(wait, 0.0))
            except queue.Empty:
                if self._held is not None:
                    self._release_connection()
                    continue
                with self._lock:  # submit() puts under this lock: nothing is left behind
                    if self._waiting.empty():
                        self._thread = None
                        return
                continue
            group = [first]
            size = len(first.wanted)
            while size < self._max_group_digests:
                try:
                    request = self._waiting.get_nowait()
                except queue.Empty:
                    break
                group.append(request)
                size += len(request.wanted)
            # A request whose caller went away before it started is dropped unanswered.
            started = [r for r in group if r.answer.set_running_or_notify_cancel()]
            try:
                self._commit_group(started)
            except Exception as exc:  # pragma: no cover - a bug here must not stop the writer
                log.exception("the intake writer failed")
                self._release_connection()
                for request in started:
                    if not request.answer.done():
                        request.answer.set_exception(exc)
            idle_until = time.monotonic() + self._idle_seconds

    def _connection(self, engine: Engine) -> Connection:
        """The writer's connection, taken from the pool at first use (see the module
        docstring)."""
        if self._held is None:
            self._held = _HeldConnection.take(engine)
        return self._held.conn

    def _release_connection(self) -> None:
        if self._held is not None:
            held, self._held = self._held, None
            held.give_back()

    def _commit_group(self, group: list[_Request]) -> None:
        if not group:
            return
        engine = self._engine()
        if engine is None:  # pragma: no cover - requests hold the engine's node alive
            for request in group:
                request.answer.set_exception(RuntimeError("the index was closed"))
            return
        # Stable: one issuer's requests keep their order (a later one sees an earlier one's
        # digests as already there).
        ordered = sorted(group, key=lambda r: r.issuer_id)
        try:
            conn = self._connection(engine)
            with conn.begin():
                outcomes = _record_group(conn, ordered)
        except Exception as exc:
            log.warning(
                "a group of %d intake requests failed (%s); running each alone", len(group), exc
            )
            self._release_connection()  # it may be broken: the pool checks it before reuse
            for request in ordered:
                self._run_alone(engine, request)
            return
        self.counts.groups += 1
        self.counts.requests += len(ordered)
        self.counts.largest_group = max(self.counts.largest_group, len(ordered))
        for request, outcome in zip(ordered, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                request.answer.set_exception(outcome)
            else:
                request.answer.set_result(outcome)

    def _run_alone(self, engine: Engine, request: _Request) -> None:
        self.counts.alone += 1
        try:
            with engine.begin() as conn:
                states = record_submission(conn, request.issuer_id, request.wanted, request.actor)
        except Exception as exc:
            request.answer.set_exception(exc)
        else:
            request.answer.set_result(states)


@dataclass
class _HeldConnection:
    """A pool connection the writer keeps across groups, with what it changed on it."""

    conn: Connection
    sqlite_cache: int | None  # the cache_size to put back (SQLite), or None

    @classmethod
    def take(cls, engine: Engine) -> _HeldConnection:
        conn = engine.connect()
        if conn.dialect.name != "sqlite":
            return cls(conn, None)
        before = conn.exec_driver_sql("PRAGMA cache_size").scalar_one()
        conn.exec_driver_sql(f"PRAGMA cache_size = -{SQLITE_WRITER_CACHE_KIB}")
        conn.commit()  # end SQLAlchemy's autobegun transaction: each group begins its own
        return cls(conn, int(before))

    def give_back(self) -> None:
        try:
            if self.sqlite_cache is not None and not self.conn.invalidated:
                self.conn.exec_driver_sql(f"PRAGMA cache_size = {self.sqlite_cache}")
        except Exception:  # pragma: no cover - a broken connection is closed all the same
            log.warning("could not reset the intake writer's connection", exc_info=True)
            self.conn.invalidate()
        finally:
            self.conn.close()


def _record_group(
    conn: Connection, ordered: list[_Request]
) -> list[list[SubmissionState] | BaseException]:
    """Every request of the group in the caller's transaction: its states, or its own
    refusal with nothing of it kept. Any other error propagates and fails the group.

    The issuers' counter rows are locked first, in sorted order, and their numbers kept
    here: a request only inserts (and reads back what it must), and each counter and the
    operations log are written once for the whole group. On SQLite that first write is
    also what opens the transaction: Python's sqlite3 module sends BEGIN before a write,
    not before a SAVEPOINT, and a SAVEPOINT outside a transaction would make its RELEASE
    a commit."""
    next_seq: dict[str, int] = {}
    unknown: dict[str, UnknownIssuerError] = {}
    for issuer_id in sorted({r.issuer_id for r in ordered}):
        try:
            next_seq[issuer_id] = lock_issuer_counter(conn, issuer_id)
        except UnknownIssuerError as exc:
            unknown[issuer_id] = exc
    first_seq = dict(next_seq)
    known = [r for r in ordered if r.issuer_id not in unknown]
    results = _insert_all_new(conn, known, next_seq)
    if results is None:
        results = {id(r): _record_alone(conn, r, next_seq) for r in known}
    operations = []
    for request in known:
        created = results[id(request)][1]
        if created:
            operations.append(
                submitted_operation(request.issuer_id, request.actor, created, len(request.wanted))
            )
    for issuer_id, seq in next_seq.items():
        if seq != first_seq[issuer_id]:
            set_next_seq(conn, issuer_id, seq)
    record_operations(conn, operations)
    return [unknown[r.issuer_id] if r.issuer_id in unknown else results[id(r)][0] for r in ordered]


_Result = tuple[list[SubmissionState] | BaseException, int]  # states or refusal, new digests


def _insert_all_new(
    conn: Connection, requests: list[_Request], next_seq: dict[str, int]
) -> dict[int, _Result] | None:
    """The usual group, all of whose digests are new: one insert an issuer, every request
    numbered as it would be alone (its block after the one before, sorted inside), in one
    savepoint; None (nothing kept) if any row was refused, for ``_record_alone`` to sort
    out request by request."""
    now = utcnow()
    by_issuer: dict[str, list[_Request]] = {}
    for request in requests:
        by_issuer.setdefault(request.issuer_id, []).append(request)
    with conn.begin_nested() as savepoint:
        for issuer_id, mine in by_issuer.items():
            items = [item for r in mine for item in sorted(r.wanted.items())]
            if not insert_if_all_new(conn, issuer_id, items, now, next_seq[issuer_id]):
                savepoint.rollback()  # a known digest, a taken id, a digest in two requests
                return None
    for issuer_id, mine in by_issuer.items():
        next_seq[issuer_id] += sum(len(r.wanted) for r in mine)
    return {id(r): (new_states(r.wanted, now), len(r.wanted)) for r in requests}


def _record_alone(conn: Connection, request: _Request, next_seq: dict[str, int]) -> _Result:
    """One request in a savepoint of its own: its states, or its own refusal with the
    savepoint rolled back (any other error propagates and fails the group)."""
    try:
        with conn.begin_nested():
            states, created = record_numbered(
                conn, request.issuer_id, request.wanted, next_seq[request.issuer_id]
            )
    except SubmissionError as exc:
        return exc, 0
    next_seq[request.issuer_id] += created
    return states, created


intake_writer = PerEngine(IntakeWriter)
"""The process's one writer for an engine (every app on that index shares it)."""
