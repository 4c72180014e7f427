"""`mcledger serve --workers N`: N HTTP worker processes on one address.

The supervising process (the one `serve` started in) prepares the node as one process
would (the development chain, the contract, the local issuer), runs the anchoring scheduler
(the only one: cron, threshold, revocation flush, follow-up), opens the listening sockets,
and starts the workers with uvicorn's multi-process supervisor. Each worker is a fresh
interpreter (multiprocessing's spawn: nothing of the parent's index or chain connections
crosses into it) that opens its own index engine and chain client and serves the socket it
inherited.

One listening socket a worker, all bound to the address with SO_REUSEPORT, rather than one
socket they all accept on: on one shared socket the first worker to wake takes every
connection waiting, so a client that opens its keep-alive connections at once (a reverse
proxy, a load test) may find 30 of 32 on one worker and the other core idle. With a socket
each, the kernel spreads connections over the workers by their addresses and ports. The
parent binds and listens on them before any worker starts (so a port in use fails at once,
and a connection made while a worker starts or is replaced waits in its socket's queue).

A worker answers `POST /v1/batches` itself, under the chain lease as any node process does;
the scheduler in the supervisor confirms what it sent. A worker that dies after it started
is logged ("Child process [pid] died") and replaced; one that cannot start (its index or
chain does not open) stops the node, which exits 1. Ctrl-C or SIGTERM stops every worker,
then the scheduler.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import gc
import logging
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

# Light at import: a worker process imports this module before it answers the supervisor's
# first health check; the node's heavy parts are imported in `worker_app`.
if TYPE_CHECKING:
    from mcledger.node.runtime.service import Node
    from mcledger.node.settings import Settings

# How long a worker may leave the supervisor's health check unanswered before it is killed
# and replaced (uvicorn's default, 5 s, is less than a worker takes to start on a busy host).
HEALTH_CHECK_SECONDS = 30

log = logging.getLogger("mcledger.serve")
# The supervisor's process id, for its workers (`end_with_supervisor`).
SUPERVISOR_PID_VARIABLE = "_MCLEDGER_SUPERVISOR_PID"  # not a setting (no MCLEDGER_ prefix)
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def serve_with_workers(settings: Settings, node: Node, workers: int) -> int:
    """Serve the API from ``workers`` processes until stopped; the exit status (1 when a
    worker could not start). ``node`` is the supervisor's, already open: the workers reach
    the chain it uses."""
    from uvicorn import Config

    # The development chain this process started (or found) is the workers' chain too.
    worker_settings = settings.model_copy(update={"rpc_url": node.chain.client.rpc_url})
    config = Config(
        functools.partial(worker_app, worker_settings),
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=workers,
        log_level="info",
        access_log=False,  # the app logs requests itself (node.api.observe)
        log_config=None,  # uvicorn's loggers go through configure_logging's handler
        timeout_worker_healthcheck=HEALTH_CHECK_SECONDS,
    )
    try:
        sockets = listening_sockets(settings.host, settings.port, workers, config.backlog)
    except OSError as exc:
        log.error("cannot listen on %s port %d: %s", settings.host, settings.port, exc)
        return 1
    supervisor = _workers_supervisor(config, sockets)
    os.environ[SUPERVISOR_PID_VARIABLE] = str(os.getpid())  # the workers' (spawned) copy
    try:
        supervisor.run()
    finally:
        for listening in sockets:
            listening.close()
    return 1 if supervisor.failed else 0


def listening_sockets(host: str, port: int, count: int, backlog: int) -> list[socket.socket]:
    """``count`` sockets listening on (host, port) with SO_REUSEPORT; OSError when anything
    listens there already (even with SO_REUSEPORT: another node must not share our port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as probe:  # without SO_REUSEPORT: fails on any listener
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))
        port = probe.getsockname()[1]  # port 0: the one the system picked
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            listening = socket.socket(family)
            sockets.append(listening)
            listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            listening.bind((host, port))
            listening.listen(backlog)
            listening.set_inheritable(True)
    except OSError:
        for listening in sockets:
            listening.close()
        raise
    return sockets


def _workers_supervisor(config: Any, sockets: list[socket.socket]) -> Any:
    """uvicorn's multi-process supervisor (signals, health checks, stopping), with worker
    ``i`` serving ``sockets[i]`` alone, also after it was replaced."""
    from uvicorn.config import STARTUP_FAILURE
    from uvicorn.supervisors.multiprocess import Multiprocess, Process

    class Workers(Multiprocess):
        failed = False

        def start_worker(self, index: int) -> Process:
            process = Process(self.config, [self.sockets[index]])
            process.start()
            return process

        def init_processes(self) -> None:
            self.processes = [self.start_worker(i) for i in range(len(self.sockets))]

        def keep_subprocess_alive(self) -> None:
            for index, process in enumerate(self.processes):
                if self.should_exit.is_set():
                    return
                if process.is_alive(timeout=self.config.timeout_worker_healthcheck):
                    continue
                process.kill()  # hung (no answer to the health check), or dead already
                process.join()
                if process.exitcode == STARTUP_FAILURE:
                    log.error("worker process %s could not start: the node stops", process.pid)
                    self.failed = True
                    self.should_exit.set()
                    return
                log.warning(
                    "worker process %s stopped (exit status %s): starting another",
                    process.pid,
                    process.exitcode,
                )
                self.processes[index] = self.start_worker(index)

        def restart_all(self) -> None:  # SIGHUP: each in turn, on its own socket
            for index, old in enumerate(self.processes):
                if self.should_exit.is_set():
                    return
                self.processes[index] = self.start_worker(index)
                old.terminate()
                old.join()

        def handle_ttin(self) -> None:  # one socket a worker: the count is fixed
            log.info("SIGTTIN ignored: serve --workers sets the number of workers")

        def handle_ttou(self) -> None:
            log.info("SIGTTOU ignored: serve --workers sets the number of workers")

    return Workers(config, sockets=sockets)


def worker_app(settings: Settings) -> Any:
    """The app one worker serves (uvicorn calls this in the worker process): its own index
    engine and chain client, closed when the worker stops. A worker that cannot open them
    exits with uvicorn's start-up failure status, so the supervisor stops rather than
    starting it again and again."""
    from uvicorn.config import STARTUP_FAILURE

    from mcledger.node.logs import configure_logging
    from mcledger.node.pipeline.scheduler import AnchoringScheduler
    from mcledger.node.runtime.service import open_node

    configure_logging(settings)
    end_with_supervisor()
    # uvicorn's own access lines stay off, as in one process (`access_log=False` silenced
    # that logger before configure_logging made it propagate again).
    logging.getLogger("uvicorn.access").propagate = False
    try:
        node = open_node(settings, prepare=False)
    except Exception:
        log.exception("a worker process could not open the node")
        sys.exit(STARTUP_FAILURE)
    # Never started: it answers `POST /v1/batches` and the next run time; the supervisor's
    # scheduler is the one that runs on schedule.
    app = node_app(settings, node, AnchoringScheduler(node.anchorer, settings, node.flusher))

    serving = app.router.lifespan_context  # the app's own start and stop, kept

    @contextlib.asynccontextmanager
    async def lifespan(served: Any) -> AsyncIterator[None]:
        try:
            async with serving(served):
                yield
        finally:
            node.close()

    app.router.lifespan_context = lifespan
    return app


def end_with_supervisor() -> None:
    """On Linux, have this worker sent SIGTERM (uvicorn's orderly stop) when the supervisor
    ends, however it ends: a supervisor killed with SIGKILL, or lost to the OOM killer,
    left its workers serving the port with no one to stop them. A supervisor already gone
    before this ran leaves the worker another parent: it stops at once."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        log.warning(
            "this worker will outlive a killed supervisor (prctl: errno %d)", ctypes.get_errno()
        )
        return
    supervisor = os.environ.get(SUPERVISOR_PID_VARIABLE)
    if supervisor is not None and os.getppid() != int(supervisor):
        log.error("the supervisor (process %s) ended before this worker started", supervisor)
        sys.exit(0)


def node_app(settings: Settings, node: Node, anchoring: Any) -> Any:
    """The HTTP API over an open node, with ``anchoring`` (`AnchoringControl`) behind
    `POST /v1/batches` and the next run time."""
    from mcledger.node.api import create_app

    app = create_app(
        settings,
        node.engine,
        anchoring=anchoring,
        chain_ready=node.chain.client.is_reachable,
        credentials=node.credentials,
    )
    # What start-up made (modules, schemas, the app) lives as long as the process: kept out
    # of the collector's way, a full collection under load walks only what requests made
    # (a pass over everything took 130 ms, a p99 spike in the intake benchmark).
    gc.collect()
    gc.freeze()
    return app
