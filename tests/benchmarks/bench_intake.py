"""Intake over HTTP (issue 13, target 2): lists of 10,000, and single digests at 500 req/s.

``python tests/benchmarks/bench_intake.py [--quick] [--db sqlite,postgres] [--rate 500]``
prints, for each database, on a node started as its own process (``serve --dev`` on an
Anvil of ours, as tests/benchmarks/bench_node.py starts it; PostgreSQL in a throw-away
schema of MCLEDGER_TEST_POSTGRES_URL):

- ``GET /healthz`` from 16 keep-alive connections: the reference to compare runs by, as
  ratios (the machine is small and shared; absolute figures move with its load);
- single-digest POSTs at a fixed offered rate for ``--seconds`` (open loop: each request
  is sent at its scheduled time on an idle connection, and its latency is counted from
  that time, so a server that falls behind shows it): achieved rate, p50, p99 and max
  (target: 500 req/s with p99 <= 20 ms);
- ``POST /v1/digests`` with lists of 10,000 fresh digests (each with a credentialId),
  from 1 and from 2 connections: digests/s (target >= 50,000). The rate falls as the
  index grows (each list touches leaves all over the digest and credentialId indexes, so
  a commit writes more pages), so the note says how many rows were there before.

Every phase also gives the CPU the server and this load generator used (a process near
100 % of one core is the limit). ``--quick`` is a smoke run of about half a minute a
database. ``pytest tests/benchmarks -o python_files='bench_*.py' -m benchmark -s`` runs
it quick (``BENCH_INTAKE_FULL=1``: the full run); it asserts only that every request
was answered 202.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path

if __name__ == "__main__":  # run as a script from anywhere: import the project's packages
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import pytest

from mcledger.anchoring.anvil import AnvilProcess, start_anvil
from tests.benchmarks.bench_node import (
    ISSUER,
    Load,
    NodeProcess,
    RawConnection,
    Request,
    Table,
    code_version,
    digests_body,
    make_digests,
    measured_load,
    run_load,
    server_stack,
)
from tests.conftest import DEFAULT_TEST_POSTGRES_URL, throwaway_schema

POSTGRES = os.environ.get("MCLEDGER_TEST_POSTGRES_URL", DEFAULT_TEST_POSTGRES_URL)
LIST_SIZE = 10_000
HEALTHZ_CONNECTIONS = 16
OPEN_LOOP_CONNECTIONS = 64  # enough idle connections that a send never waits for one


async def _open_loop(
    port: int, requests: Sequence[Request], rate: float, token: str | None
) -> tuple[float, list[float], Counter[int]]:
    """Send ``requests`` at ``rate`` a second, each at its scheduled time on an idle
    connection; latencies from the scheduled time to the whole answer."""
    idle: asyncio.Queue[RawConnection] = asyncio.Queue()
    for _ in range(OPEN_LOOP_CONNECTIONS):
        idle.put_nowait(await RawConnection.open("127.0.0.1", port))
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.05

    async def send(scheduled: float, request: Request) -> None:
        conn = await idle.get()
        status, _answer = await conn.request(*request, token)
        latencies.append(loop.time() - scheduled)
        statuses[status] += 1
        idle.put_nowait(conn)

    tasks = []
    for i, request in enumerate(requests):
        scheduled = start + i / rate
        delay = scheduled - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(send(scheduled, request)))
    await asyncio.gather(*tasks)
    seconds = loop.time() - start
    while not idle.empty():
        await idle.get_nowait().close()
    return seconds, latencies, statuses


def run_open_loop(
    node: NodeProcess, requests: Sequence[Request], rate: float, token: str | None = None
) -> Load:
    """``_open_loop`` with the CPU both sides used (the server's: its first process)."""
    return measured_load(node, len(requests), _open_loop(node.port, requests, rate, token))


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f}"


def intake_figures(
    node: NodeProcess, token: str, table: Table, label: str, args: argparse.Namespace
) -> None:
    """The three phases on one running node, into ``table``."""
    rng = random.Random(f"bench-intake-{label}")
    healthz: list[Request] = [("GET", "/healthz", None)] * 5_000
    run_load(node, healthz[:1_000], HEALTHZ_CONNECTIONS)  # connections, first imports
    reference = run_load(node, healthz, HEALTHZ_CONNECTIONS)
    table.add(
        f"{label}: reference GET /healthz, {HEALTHZ_CONNECTIONS} conns",
        f"{reference.rate:,.0f} req/s",
        f"p99 {_ms(reference.quantile(0.99))} ms; " + reference.cpu_note(),
    )

    # Single digests first, on a fresh index: right after the lists the database is still
    # busy with what 500,000 rows left behind (SQLite's WAL checkpoints, PostgreSQL's
    # autovacuum), which would measure that rather than intake.
    singles = make_digests(rng, int(args.rate * args.seconds))
    bodies: list[Request] = [("POST", "/v1/digests", digests_body([d])) for d in singles]
    run_open_loop(node, bodies[: int(args.rate)], args.rate, token)  # warm: one second
    load = run_open_loop(node, bodies[int(args.rate) :], args.rate, token)
    assert load.statuses == Counter({202: load.requests}), load.statuses
    table.add(
        f"{label}: single digests offered at {args.rate:,.0f} req/s, open loop",
        f"{load.rate:,.0f} req/s",
        f"{load.requests:,} requests in {load.seconds:.1f} s; " + load.cpu_note(),
    )
    table.add(
        f"{label}: single digests p50 / p99 / max (target p99 <= 20 ms)",
        f"{_ms(load.quantile(0.5))} / {_ms(load.quantile(0.99))} / {_ms(max(load.latencies))}",
        "ms from the scheduled send time",
    )

    warm = [("POST", "/v1/digests", digests_body(make_digests(rng, LIST_SIZE)))]
    assert run_load(node, warm, 1, token=token).statuses == Counter({202: 1})
    rows = len(singles) + LIST_SIZE
    for connections in (1, 2):
        digests = make_digests(rng, args.lists * LIST_SIZE)
        posts: list[Request] = [
            ("POST", "/v1/digests", digests_body(digests[i : i + LIST_SIZE]))
            for i in range(0, len(digests), LIST_SIZE)
        ]
        load = run_load(node, posts, connections, token=token)
        assert load.statuses == Counter({202: len(posts)}), load.statuses
        rate = load.rate * LIST_SIZE
        table.add(
            f"{label}: lists of 10,000, {connections} conn(s) (target >= 50,000)",
            f"{rate:,.0f} digests/s",
            f"{len(posts)} lists onto {rows:,} rows, p50 {_ms(load.quantile(0.5))} ms, "
            f"{rate / reference.rate:.1f} x healthz; " + load.cpu_note(),
        )
        rows += len(digests)


@contextlib.contextmanager
def database(kind: str, workdir: Path) -> Iterator[str | None]:
    """None (SQLite in the node's data directory) or a throw-away PostgreSQL schema's URL."""
    if kind == "sqlite":
        yield None
        return
    with throwaway_schema(POSTGRES) as url:
        yield url


def run_node(kind: str, anvil: AnvilProcess, table: Table, args: argparse.Namespace) -> None:
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=f"bench-intake-{kind}")))
        url = stack.enter_context(database(kind, tmp))
        extra = ["--workers", str(args.workers)] if args.workers > 1 else []
        env = dict(pair.split("=", 1) for pair in args.env)
        node = NodeProcess(tmp / "data", anvil, database_url=url, env=env, args=extra)
        stack.callback(node.stop)
        token = node.cli("token", "create", "--issuer", ISSUER, "--scope", "issue").strip()
        intake_figures(node, token, table, kind, args)
        lines = node.log.read_text().splitlines()
        troubles = [line for line in lines if " ERROR " in line or " WARNING " in line]
        table.add(f"{kind}: node log ERROR/WARNING lines", str(len(troubles)), f"of {len(lines)}")
        for line in troubles[:3]:
            table.add("  ", "", line[:24] + " … " + line[-100:])


def run(args: argparse.Namespace) -> Table:
    table = Table()
    kinds = args.db.split(",")
    print(f"\nintake benchmark ({'quick' if args.quick else 'full'}: {', '.join(kinds)})")
    table.add("code", code_version(), server_stack())
    with start_anvil() as anvil:
        for kind in kinds:
            run_node(kind, anvil, table, args)
    table.print()
    return table


def options(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--db", default="sqlite,postgres", help="sqlite, postgres or both")
    parser.add_argument("--rate", type=float, default=500.0, help="single POSTs offered a second")
    parser.add_argument("--seconds", type=float, default=None, help="single-POST phase length")
    parser.add_argument("--lists", type=int, default=None, help="lists of 10,000 a phase")
    parser.add_argument("--workers", type=int, default=1, help="serve --workers N, if it has it")
    parser.add_argument(
        "--env", action="append", default=[], help="MCLEDGER_X=value for the node (repeat)"
    )
    args = parser.parse_args(argv)
    if args.seconds is None:
        args.seconds = 4.0 if args.quick else 11.0  # the first second warms up
    if args.lists is None:
        args.lists = 4 if args.quick else 24
    return args


@pytest.mark.benchmark
def test_intake_benchmark() -> None:
    run(options([] if os.environ.get("BENCH_INTAKE_FULL") == "1" else ["--quick"]))


if __name__ == "__main__":
    run(options())
