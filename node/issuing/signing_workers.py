"""Signing award batches in worker processes, so bulk issuance uses every core while the
parent keeps the index (it reserves, stores and reports, in order: :mod:`node.issuing.bulk`).

The issuer's key reaches a worker only as its 32-byte seed, sent over the worker's own pipe
after the worker has started: never in argv or the environment, never in a file or a log
line, never in a reply. Workers are spawned, not forked: a fork would copy the parent's
database connections, its threads' locks and its whole memory. A worker ignores Ctrl-C
(the parent stops it) and sends an error back as the same exception when it survives
pickling without its traceback, else as a :class:`SigningWorkerError` naming its type.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import pickle
import queue
import signal
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.context import SpawnProcess
from typing import Any, Protocol

from mcledger.node.credentials.fastpath import sign_and_digest as fast_sign_and_digest
from mcledger.node.credentials.multikey import Ed25519SigningKey
from mcledger.node.errors import NodeError
from mcledger.node.issuing.award_batches import (
    AwardBatch,
    SignAndDigest,
    SignedText,
    sign_batch,
    signed_texts,
)

SEED_BYTES = 32
_STOP_SECONDS = 10.0


class SigningWorkerError(NodeError):
    """A signing worker stopped, or failed with an error that cannot be sent back as it is."""


class BatchSigner(Protocol):
    """Signs submitted batches; :meth:`next_result` answers them in submission order."""

    @property
    def depth(self) -> int:
        """How many batches to keep submitted ahead of the one being stored."""
        ...

    def submit(self, batch: AwardBatch) -> None: ...

    def next_result(self) -> list[SignedText]: ...

    def cancel(self) -> None:
        """Forget every batch not yet answered (their results are dropped)."""
        ...

    def close(self, *, abort: bool = False) -> None: ...


class SigningInProcess:
    """A :class:`BatchSigner` that signs in this process, when a result is asked for."""

    depth = 1

    def __init__(self, key: Ed25519SigningKey, sign_and_digest: SignAndDigest) -> None:
        self.key = key
        self.sign_and_digest = sign_and_digest
        self._batches: deque[AwardBatch] = deque()

    def submit(self, batch: AwardBatch) -> None:
        self._batches.append(batch)

    def next_result(self) -> list[SignedText]:
        return signed_texts(sign_batch(self._batches.popleft(), self.key, self.sign_and_digest))

    def cancel(self) -> None:
        self._batches.clear()

    def close(self, *, abort: bool = False) -> None:
        self._batches.clear()


@dataclass
class _Worker:
    process: SpawnProcess
    conn: Connection
    reader: threading.Thread
    in_flight: int = 0


class SigningWorkers:
    """``count`` spawned processes signing with ``key`` (a :class:`BatchSigner`).

    ``sign_and_digest`` must be a module-level function (it is sent by name). Use as a
    context manager, or call :meth:`close`.
    """

    def __init__(
        self,
        key: Ed25519SigningKey,
        count: int,
        *,
        sign_and_digest: SignAndDigest = fast_sign_and_digest,
    ) -> None:
        if count < 1:
            raise ValueError(f"signing workers: at least 1, not {count}")
        self._replies: queue.Queue[tuple[int, bytes | None]] = queue.Queue()
        self._workers: list[_Worker] = []
        self._order: deque[tuple[int, int]] = deque()  # (job, worker) in submission order
        self._answered: dict[int, tuple[bool, Any]] = {}
        self._cancelled: set[int] = set()
        self._jobs = 0
        context = multiprocessing.get_context("spawn")
        try:
            for index in range(count):
                self._workers.append(self._start(context, index, key, sign_and_digest))
        except BaseException:
            self.close(abort=True)
            raise

    def _start(
        self,
        context: multiprocessing.context.SpawnContext,
        index: int,
        key: Ed25519SigningKey,
        sign_and_digest: SignAndDigest,
    ) -> _Worker:
        ours, theirs = context.Pipe(duplex=True)
        process = context.Process(
            target=_serve,
            args=(theirs, sign_and_digest),
            name=f"mcledger-signer-{index + 1}",
            daemon=True,
        )
        process.start()
        theirs.close()
        ours.send_bytes(key.secret_seed())
        reader = threading.Thread(
            target=_read_replies, args=(index, ours, self._replies.put), daemon=True
        )
        reader.start()
        return _Worker(process, ours, reader)

    @property
    def depth(self) -> int:
        return 2 * len(self._workers)

    @property
    def pids(self) -> list[int]:
        """The workers' process ids."""
        return [worker.process.pid for worker in self._workers if worker.process.pid]

    def submit(self, batch: AwardBatch) -> None:
        """Send ``batch`` to the worker with the fewest batches in hand."""
        index = min(range(len(self._workers)), key=lambda i: self._workers[i].in_flight)
        worker = self._workers[index]
        job, self._jobs = self._jobs, self._jobs + 1
        try:
            worker.conn.send((job, batch))
        except OSError:
            raise self._stopped(index) from None
        worker.in_flight += 1
        self._order.append((job, index))

    def next_result(self) -> list[SignedText]:
        """The signed credentials of the oldest batch not yet answered; its worker's error,
        or SigningWorkerError if a worker stopped."""
        if not self._order:
            raise SigningWorkerError("no batch was submitted")
        job, _ = self._order[0]
        while job not in self._answered:
            index, payload = self._replies.get()
            if payload is None:
                raise self._stopped(index)
            answered, ok, value = pickle.loads(payload)
            self._workers[index].in_flight -= 1
            if answered in self._cancelled:
                self._cancelled.discard(answered)
            else:
                self._answered[answered] = (ok, value)
        self._order.popleft()
        ok, value = self._answered.pop(job)
        if not ok:
            raise value
        result: list[SignedText] = value
        return result

    def cancel(self) -> None:
        """Forget every batch not yet answered: their replies are dropped as they come."""
        self._cancelled.update(job for job, _ in self._order if job not in self._answered)
        self._answered.clear()
        self._order.clear()

    def _stopped(self, index: int) -> SigningWorkerError:
        process = self._workers[index].process
        process.join(_STOP_SECONDS)
        code = process.exitcode
        how = (
            f"killed by signal {signal.Signals(-code).name}"
            if code is not None and code < 0
            else f"exit code {code}"
        )
        return SigningWorkerError(f"signing worker {index + 1} (pid {process.pid}) stopped: {how}")

    def close(self, *, abort: bool = False) -> None:
        """Stop the workers: at once with ``abort``, else after the batches they hold."""
        for worker in self._workers:
            if abort:
                worker.process.terminate()
            else:
                with contextlib.suppress(OSError):  # already gone
                    worker.conn.send(None)
        for worker in self._workers:
            worker.process.join(_STOP_SECONDS)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.reader.join(_STOP_SECONDS)
            worker.conn.close()
            worker.process.close()
        self._workers.clear()

    def __enter__(self) -> SigningWorkers:
        return self

    def __exit__(self, kind: object, value: object, traceback: object) -> None:
        self.close(abort=kind is not None)


def _read_replies(
    index: int, conn: Connection, put: Callable[[tuple[int, bytes | None]], None]
) -> None:
    """A parent thread per worker: takes its replies off the pipe as they come, so a worker
    never waits for the parent to read (None: the worker is gone)."""
    try:
        while True:
            put((index, conn.recv_bytes()))
    except (EOFError, OSError):
        put((index, None))


# -- in the worker ------------------------------------------------------------------------


def _serve(conn: Connection, sign_and_digest: SignAndDigest) -> None:
    """A worker's life: take the key, then sign each batch sent until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's: it stops us
    key = _receive_key(conn)
    while True:
        try:
            message = conn.recv()
        except EOFError:  # the parent is gone
            return
        if message is None:
            return
        job, batch = message
        reply: tuple[int, bool, Any]
        try:
            reply = (job, True, signed_texts(sign_batch(batch, key, sign_and_digest)))
        except Exception as exc:
            reply = (job, False, _portable(exc))
        try:
            conn.send(reply)
        except OSError:  # the parent is gone
            return


def _receive_key(conn: Connection) -> Ed25519SigningKey:
    seed = bytearray(SEED_BYTES)
    try:
        size = conn.recv_bytes_into(seed)
    except multiprocessing.BufferTooShort:  # its args hold the message: it must not travel
        size = -1
    try:
        if size != SEED_BYTES:
            raise SystemExit("mcledger signing worker: expected a 32-byte Ed25519 seed")
        return Ed25519SigningKey.from_seed(seed)  # no immutable copy of the seed is made
    finally:
        seed[:] = bytes(SEED_BYTES)


def _portable(exc: Exception) -> Exception:
    """``exc`` if it comes through pickling as itself (its traceback, cause and context do
    not travel), else a SigningWorkerError with its type and message."""
    try:
        copy = pickle.loads(pickle.dumps(exc))
        if type(copy) is type(exc) and str(copy) == str(exc):
            return exc
    except Exception:  # an exception whose constructor does not take its args back
        pass
    return SigningWorkerError(f"{type(exc).__name__} in a signing worker: {exc}")
