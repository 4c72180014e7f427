"""The running node over HTTP: intake, proofs, and sealing/anchoring, at 10^4 and 10^6.

Two forms:

* ``python tests/benchmarks/bench_node.py [--quick]`` prints a table of figures
  (``--quick``: the 10^4 index only, a smoke run of about a minute);
* ``pytest tests/benchmarks -o python_files='bench_*.py' -m benchmark -s`` (``make
  bench``) runs the full benchmark and prints the same table; it asserts nothing
  about speed (``BENCH_NODE_QUICK=1`` makes it quick).

The node runs as its own process (``python -m mcledger.cli.main serve --dev``) on its own
Anvil, with SQLite in a temporary data directory; the load generator runs in this
process. The machine has 2 cores and is noisy, so the table also gives reference
figures from the same run (``json.dumps`` + ``hashlib`` in this process, and
``GET /healthz`` over HTTP) to compare runs as ratios, and the CPU time that the
server and the load generator each used in every phase, to show which one limited
a figure (a process near 100 % of one core is the limit: the server is one Python
process, the generator one event loop).

The load generator is a small HTTP/1.1 client over asyncio streams with
keep-alive connections; it costs a fraction of what httpx costs per request (the
``healthz`` rows give both), so the figures are the server's rather than the
client's. ``wrk`` is used for the health and proof rates too when it is installed.

Phases, on one node:

1. 10^4 digests in lists of 1,000, sealed and anchored with ``POST /v1/batches``
   (time to the 202, and to ``confirmed``); proofs of random digests from it;
2. intake: lists of 1,000 (``POST /v1/digests``), then single-digest POSTs from a
   few connections;
3. (full run) the index is filled directly with SQLAlchemy Core to 10^6 pending
   digests, sealed and anchored as one batch of 10^6 over HTTP; proofs of random
   digests from it, and the ratio of the two proof rates;
4. ``seal_batch`` alone, in this process, on its own SQLite index of the same size,
   with the time split by SQL statement; and the cost of the scheduler's periodic
   queries (``issuers_with_work``, ``pending_count``) on the big index.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import types
from collections import Counter
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __name__ == "__main__":  # run as a script from anywhere: import the project's packages
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import httpx
import pytest
from sqlalchemy import Engine, event

from mcledger.anchoring.anvil import AnvilProcess, free_loopback_port, start_anvil
from mcledger.node.index.db import open_index
from mcledger.node.index.models import utcnow
from mcledger.node.index.sequence import insert_submissions
from mcledger.node.issuing.issuers import ensure_issuer
from mcledger.node.pipeline.anchorer import Anchorer
from mcledger.node.pipeline.batches import pending_count, proof_status, seal_batch

REPO = Path(__file__).resolve().parents[2]
ISSUER = "local"
BIG = 1_000_000
SMALL = 10_000
LIST_SIZE = 1_000
PROOF_REQUESTS = 10_000
PROOF_CONCURRENCY = 16
SINGLE_CONCURRENCY = 4
INSERT_CHUNK = 20_000
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# -- figures ---------------------------------------------------------------------------------


@dataclass
class Table:
    rows: list[tuple[str, str, str]] = field(default_factory=list)

    def add(self, name: str, value: str, note: str = "") -> None:
        self.rows.append((name, value, note))
        print(f"  {name:<52} {value:>16}  {note}", flush=True)

    def print(self) -> None:
        width = max(len(r[0]) for r in self.rows)
        print("\n" + "=" * 100)
        print(f"{'figure':<{width}} {'value':>16}  note")
        print("-" * 100)
        for name, value, note in self.rows:
            print(f"{name:<{width}} {value:>16}  {note}")
        print("=" * 100, flush=True)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


@dataclass
class Load:
    """What one load phase measured."""

    requests: int
    seconds: float
    latencies: list[float]
    statuses: Counter[int]
    client_cpu: float  # fraction of one core
    server_cpu: float

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def quantile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def cpu_note(self) -> str:
        codes = ",".join(f"{code}x{n}" for code, n in sorted(self.statuses.items()))
        return f"server CPU {self.server_cpu:.0%}, client CPU {self.client_cpu:.0%}; {codes}"


# -- a lean HTTP/1.1 client ------------------------------------------------------------------


class RawConnection:
    """One keep-alive HTTP/1.1 connection over asyncio streams; answers need Content-Length."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str):
        self.reader, self.writer, self.host = reader, writer, host

    @classmethod
    async def open(cls, host: str, port: int) -> RawConnection:
        reader, writer = await asyncio.open_connection(host, port, limit=2**20)
        return cls(reader, writer, f"{host}:{port}")

    async def request(
        self, method: str, path: str, body: bytes | None = None, token: str | None = None
    ) -> tuple[int, bytes]:
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\n"
        if token is not None:
            head += f"Authorization: Bearer {token}\r\n"
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        self.writer.write((head + "\r\n").encode() + (body or b""))
        if body is not None and len(body) > 65536:
            await self.writer.drain()
        header = await self.reader.readuntil(b"\r\n\r\n")
        status = int(header[9:12])
        at = header.lower().find(b"\r\ncontent-length:")
        if at < 0:
            raise RuntimeError(f"answer without Content-Length: {header[:200]!r}")
        end = header.index(b"\r\n", at + 2)
        length = int(header[at + 17 : end])
        return status, await self.reader.readexactly(length)

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()


Request = tuple[str, str, bytes | None]  # method, path, body


async def _drive(
    port: int,
    requests: Sequence[Request],
    concurrency: int,
    token: str | None,
    keep: Callable[[int, bytes], None] | None,
) -> tuple[float, list[float], Counter[int]]:
    connections = [await RawConnection.open("127.0.0.1", port) for _ in range(concurrency)]
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    work = iter(requests)

    async def worker(conn: RawConnection) -> None:
        clock = time.perf_counter
        for method, path, body in work:
            start = clock()
            status, answer = await conn.request(method, path, body, token)
            latencies.append(clock() - start)
            statuses[status] += 1
            if keep is not None:
                keep(status, answer)

    start = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in connections))
    seconds = time.perf_counter() - start
    for conn in connections:
        await conn.close()
    return seconds, latencies, statuses


def run_load(
    node: NodeProcess,
    requests: Sequence[Request],
    concurrency: int,
    *,
    token: str | None = None,
    keep: Callable[[int, bytes], None] | None = None,
) -> Load:
    return measured_load(node, len(requests), _drive(node.port, requests, concurrency, token, keep))


def measured_load(
    node: NodeProcess,
    count: int,
    drive: Coroutine[Any, Any, tuple[float, list[float], Counter[int]]],
) -> Load:
    """Run ``drive`` (it sends ``count`` requests) and say what it measured, with the CPU
    both sides used (the server's: its first process)."""
    # The generator's own garbage collections stopped it for up to ~100 ms at a time (its
    # tasks and answers fill the young generations), which an open loop counts as latency:
    # at 2,000/s, GET /healthz had p99 94 ms with them and 7 ms without. A run is bounded,
    # so collect before it and none during it.
    gc.collect()
    gc.freeze()
    gc.disable()
    server_before, client_before = cpu_seconds(node.pid), time.process_time()
    try:
        seconds, latencies, statuses = asyncio.run(drive)
    finally:
        gc.enable()
        gc.unfreeze()
    return Load(
        count,
        seconds,
        latencies,
        statuses,
        (time.process_time() - client_before) / seconds,
        (cpu_seconds(node.pid) - server_before) / seconds,
    )


def run_httpx_load(node: NodeProcess, path: str, count: int, concurrency: int) -> Load:
    """The same load through httpx.AsyncClient, to show what a heavier client costs."""

    async def drive() -> tuple[float, list[float], Counter[int]]:
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        latencies: list[float] = []
        statuses: Counter[int] = Counter()
        work = iter(range(count))
        async with httpx.AsyncClient(base_url=node.url, limits=limits) as client:

            async def worker() -> None:
                for _ in work:
                    start = time.perf_counter()
                    reply = await client.get(path)
                    latencies.append(time.perf_counter() - start)
                    statuses[reply.status_code] += 1

            start = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            return time.perf_counter() - start, latencies, statuses

    server_before, client_before = cpu_seconds(node.pid), time.process_time()
    seconds, latencies, statuses = asyncio.run(drive())
    return Load(
        count,
        seconds,
        latencies,
        statuses,
        (time.process_time() - client_before) / seconds,
        (cpu_seconds(node.pid) - server_before) / seconds,
    )


def run_wrk(node: NodeProcess, paths: Sequence[str], concurrency: int, seconds: int) -> str | None:
    """Requests/s and latency from wrk over ``paths`` (random order), if wrk is installed."""
    wrk = shutil.which("wrk")
    if wrk is None:
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        listed = ",".join(f'"{p}"' for p in paths[:20_000])
        script.write(
            f"local paths = {{{listed}}}\n"
            "request = function()\n"
            "  return wrk.format('GET', paths[math.random(#paths)])\n"
            "end\n"
        )
    try:
        out = subprocess.run(
            [wrk, "-t2", f"-c{concurrency}", f"-d{seconds}s", "--latency", "-s", script.name]
            + [node.url],
            capture_output=True,
            text=True,
            timeout=seconds + 60,
        ).stdout
    finally:
        os.unlink(script.name)
    lines = [line.split() for line in out.splitlines() if line.strip()]
    found = {words[0]: words[1] for words in lines if len(words) > 1}
    rate, p50, p99 = found.get("Requests/sec:", "?"), found.get("50%", "?"), found.get("99%", "?")
    return f"{rate} req/s, p50 {p50}, p99 {p99}"


# -- the node process ------------------------------------------------------------------------


class NodeProcess:
    """``python -m mcledger.cli.main serve --dev`` on an Anvil of ours, SQLite in ``data_dir``."""

    def __init__(
        self,
        data_dir: Path,
        anvil: AnvilProcess,
        *,
        database_url: str | None = None,
        env: dict[str, str] | None = None,
        args: Sequence[str] = (),
    ) -> None:
        """``database_url``: another index than SQLite in ``data_dir``; ``env``: more
        settings (MCLEDGER_…); ``args``: more options for ``serve``."""
        self.port = free_loopback_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.database_url = database_url or f"sqlite:///{data_dir / 'index.sqlite3'}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("MCLEDGER_")}
        self.env |= {
            "MCLEDGER_DATA_DIR": str(data_dir),
            "MCLEDGER_RPC_URL": anvil.rpc_url,
            "MCLEDGER_DATABASE_URL": self.database_url,
            "MCLEDGER_PORT": str(self.port),
            "MCLEDGER_NODE_URL": self.url,
            # Only the benchmark seals: no early sealing while the index is being filled.
            "MCLEDGER_BATCH_THRESHOLD": str(10**9),
            "PYTHONPATH": str(REPO),
        }
        self.env |= env or {}
        self.log = data_dir.parent / "node.log"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mcledger.cli.main", "serve", "--dev", *args],
            cwd=REPO,
            env=self.env,
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
        )
        self.pid = self.process.pid
        started = time.monotonic()
        while time.monotonic() - started < 120:
            if self.process.poll() is not None:
                raise RuntimeError(f"the node exited at start:\n{self.log.read_text()[-3000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    self.start_seconds = time.monotonic() - started
                    return
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the node did not come up:\n{self.log.read_text()[-3000:]}")

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "mcledger.cli.main", *args],
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0:
            raise RuntimeError(f"mcledger {' '.join(args)} failed: {done.stderr}")
        return done.stdout

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# -- helpers ---------------------------------------------------------------------------------


def make_digests(rng: random.Random, count: int) -> list[str]:
    packed = rng.randbytes(32 * count).hex()
    return [packed[i : i + 64] for i in range(0, len(packed), 64)]


def credential_id(digest: str) -> str:
    d = digest
    return f"urn:uuid:{d[:8]}-{d[8:12]}-{d[12:16]}-{d[16:20]}-{d[20:32]}"


def digests_body(digests: Sequence[str]) -> bytes:
    items = [{"digest": d, "credentialId": credential_id(d)} for d in digests]
    return json.dumps({"digests": items}, separators=(",", ":")).encode()


def fill_index(engine: Engine, digests: Sequence[str]) -> None:
    """Pending submissions of the local issuer, straight into the index in one transaction."""
    now = utcnow()
    with engine.begin() as conn:
        for start in range(0, len(digests), INSERT_CHUNK):
            rows = [
                {
                    "issuer_id": ISSUER,
                    "digest": d,
                    "credential_id": credential_id(d),
                    "submitted_at": now,
                }
                for d in digests[start : start + INSERT_CHUNK]
            ]
            insert_submissions(conn, rows)


def anchor_over_http(node: NodeProcess, token: str, table: Table, label: str) -> None:
    """POST /v1/batches, then poll the batch until confirmed; both times into the table."""
    start = time.perf_counter()
    reply = httpx.post(
        f"{node.url}/v1/batches",
        json={},
        headers={"Authorization": f"Bearer {token}"},
        timeout=1800,
    )
    accepted = time.perf_counter() - start
    if reply.status_code != 202 or "batches" not in reply.json():
        raise RuntimeError(f"POST /v1/batches: {reply.status_code} {reply.text}")
    batch = reply.json()["batches"][-1]
    state = batch["state"]
    while state != "confirmed":
        if time.perf_counter() - start > 1800:
            raise RuntimeError(f"batch {batch['batchId']} not confirmed: {state}")
        time.sleep(0.05)
        state = httpx.get(f"{node.url}/v1/batches/{batch['batchId']}", timeout=60).json()["state"]
    confirmed = time.perf_counter() - start
    table.add(
        f"{label}: POST /v1/batches until 202 (seal+send)",
        f"{accepted:,.2f} s",
        f"batch {batch['batchId']}, treeSize {batch['treeSize']:,}, state {batch['state']}",
    )
    table.add(
        f"{label}: POST /v1/batches until confirmed",
        f"{confirmed:,.2f} s",
        "includes up to 5 s waiting for the scheduler's follow-up job",
    )


def proof_figures(
    node: NodeProcess, table: Table, label: str, anchored: Sequence[str], rng: random.Random
) -> tuple[Load, Load]:
    """Proof rates and latencies: first on the node's tile caches as sealing left them
    (cold), then after one request per stored leaf tile has warmed them."""
    loads = []
    for phase in ("cold", "warm"):
        if phase == "warm":
            # Leaves go in id order, which is about the order of ``anchored``: every 128th
            # digest reads every level-0 tile (256 leaves) at least once.
            touch = [("GET", f"/v1/proofs/{d}", None) for d in anchored[::128]]
            run_load(node, touch, PROOF_CONCURRENCY)
        else:
            warm = [("GET", f"/v1/proofs/{rng.choice(anchored)}", None) for _ in range(500)]
            run_load(node, warm, PROOF_CONCURRENCY)  # connections, imports, first tiles
        sample = [rng.choice(anchored) for _ in range(PROOF_REQUESTS)]
        load = run_load(node, [("GET", f"/v1/proofs/{d}", None) for d in sample], PROOF_CONCURRENCY)
        loads.append(load)
        table.add(
            f"{label}: proofs/s {phase} ({PROOF_CONCURRENCY} conns, {PROOF_REQUESTS:,} req)",
            f"{load.rate:,.0f}",
            load.cpu_note(),
        )
        table.add(
            f"{label}: proof latency {phase} p50 / p99",
            f"{load.quantile(0.5) * 1e3:.1f} / {load.quantile(0.99) * 1e3:.1f} ms",
            f"max {max(load.latencies) * 1e3:.1f} ms",
        )
        wrk = run_wrk(node, [f"/v1/proofs/{d}" for d in sample], PROOF_CONCURRENCY, 10)
        if wrk is not None:
            table.add(f"{label}: proofs {phase} with wrk", "", wrk)
    return loads[0], loads[1]


def in_process_proofs(
    engine: Engine, table: Table, label: str, anchored: Sequence[str], rng: random.Random
) -> None:
    """proof_status + to_json in this process: the lookup without HTTP, FastAPI or uvicorn."""
    sample = [rng.choice(anchored) for _ in range(3_000)]
    for d in sample[:1_000]:  # warm the tile caches of this process
        proof_status(engine, digest=d)
    start = time.perf_counter()
    for d in sample[1_000:]:
        status = proof_status(engine, digest=d)
        assert status is not None and status.bundle is not None
        json.dumps(status.bundle.to_json())
    rate = (len(sample) - 1_000) / (time.perf_counter() - start)
    table.add(f"{label}: proof_status+to_json in process", f"{rate:,.0f} /s", "one thread")


@contextlib.contextmanager
def sql_timer(engine: Engine) -> Iterator[Counter[str]]:
    """Seconds spent in each kind of SQL statement (first words) while the block runs."""
    spent: Counter[str] = Counter()
    starts: list[float] = []

    def before(*_args: Any) -> None:
        starts.append(time.perf_counter())

    def after(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        words = statement.split()
        kind = " ".join(words[:4] if words[0] == "UPDATE" else words[:3])
        spent[kind] += time.perf_counter() - starts.pop()

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    try:
        yield spent
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)


def seal_alone(workdir: Path, size: int, table: Table, rng: random.Random) -> None:
    """seal_batch on an index of its own holding ``size`` pending digests."""
    engine = open_index(f"sqlite:///{workdir / 'seal.sqlite3'}")
    try:
        ensure_issuer(engine, ISSUER, chain_address="0x" + "11" * 20)
        digests = make_digests(rng, size)
        start = time.perf_counter()
        fill_index(engine, digests)
        filled = time.perf_counter() - start
        table.add(
            f"{size:,}: direct Core insert of pending rows",
            f"{size / filled:,.0f} /s",
            f"{filled:.1f} s, one transaction",
        )
        with sql_timer(engine) as spent:
            start = time.perf_counter()
            sealed = seal_batch(engine, ISSUER)
            seconds = time.perf_counter() - start
        assert sealed is not None and sealed.tree_size == size
        table.add(f"{size:,}: seal_batch alone", f"{seconds:,.2f} s", "in this process, SQLite")
        for kind, spent_s in spent.most_common():
            table.add(f"  seal_batch SQL: {kind}", f"{spent_s:,.2f} s")
        python_s = seconds - sum(spent.values())
        table.add("  seal_batch outside SQL (tree, hex, rows)", f"{python_s:,.2f} s")
    finally:
        engine.dispose()


def scheduler_queries(engine: Engine, table: Table, label: str) -> None:
    """The scheduler's periodic queries, timed on the node's index (they run every 5/15 s)."""
    holder = types.SimpleNamespace(engine=engine)
    for name, call in (
        ("Anchorer.issuers_with_work (every 5 s)", lambda: Anchorer.issuers_with_work(holder)),  # type: ignore[arg-type]
        ("pending_count (every 15 s)", lambda: pending_count(engine)),
    ):
        call()
        start = time.perf_counter()
        for _ in range(3):
            call()
        table.add(f"{label}: {name}", f"{(time.perf_counter() - start) / 3 * 1e3:,.1f} ms")


def code_version() -> str:
    """The commit the node ran (with ``+dirty`` when node/, anchoring/ or cli/ differ)."""
    git = ["git", "-C", str(REPO)]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(
        [*git, "status", "--porcelain", "node", "anchoring", "cli"], capture_output=True, text=True
    )
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def server_stack() -> str:
    """What uvicorn picks: uvloop and httptools when installed, else asyncio and h11."""
    found = []
    for module, fallback in (("uvloop", "asyncio"), ("httptools", "h11")):
        try:
            __import__(module)
            found.append(module)
        except ImportError:
            found.append(fallback)
    return f"uvicorn on {' + '.join(found)}, Python {sys.version.split()[0]}"


def reference_figures(node: NodeProcess, table: Table) -> None:
    payload = {"digest": "ab" * 32, "leafIndex": 5, "auditPath": ["cd" * 32] * 20, "x": None}
    count = 100_000
    start = time.perf_counter()
    for i in range(count):
        payload["leafIndex"] = i
        hashlib.sha256(json.dumps(payload).encode()).digest()
    table.add(
        "reference: json.dumps+sha256 of a proof-sized dict",
        f"{count / (time.perf_counter() - start):,.0f} /s",
        "this process, one core",
    )
    healthz: list[Request] = [("GET", "/healthz", None)] * 5_000
    run_load(node, healthz[:1_000], PROOF_CONCURRENCY)
    load = run_load(node, healthz, PROOF_CONCURRENCY)
    table.add(
        f"reference: GET /healthz, lean client, {PROOF_CONCURRENCY} conns",
        f"{load.rate:,.0f} /s",
        load.cpu_note(),
    )
    table.add(
        "reference: GET /healthz latency p50 / p99",
        f"{load.quantile(0.5) * 1e3:.1f} / {load.quantile(0.99) * 1e3:.1f} ms",
    )
    load = run_httpx_load(node, "/healthz", 3_000, PROOF_CONCURRENCY)
    table.add(
        f"reference: GET /healthz, httpx.AsyncClient, {PROOF_CONCURRENCY} conns",
        f"{load.rate:,.0f} /s",
        load.cpu_note(),
    )
    wrk = run_wrk(node, ["/healthz"], PROOF_CONCURRENCY, 5)
    table.add("reference: GET /healthz with wrk", "", wrk or "wrk is not installed")


# -- the benchmark ---------------------------------------------------------------------------


def run(quick: bool = False) -> Table:
    table = Table()
    rng = random.Random(2026)
    lists = 10 if quick else 50
    singles = 500 if quick else 2_000
    print(f"\nnode benchmark ({'quick: 10^4 only' if quick else 'full: 10^4 and 10^6'})")
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-node-")))
        anvil = stack.enter_context(start_anvil())
        node = NodeProcess(tmp / "data", anvil)
        stack.callback(node.stop)
        table.add("node start (serve --dev, own Anvil given)", f"{node.start_seconds:.1f} s")
        table.add("code", code_version(), server_stack())
        token = node.cli("token", "create", "--issuer", ISSUER, "--scope", "issue,revoke,admin")
        token = token.strip()
        reference_figures(node, table)

        # 1. An index of 10^4 anchored digests, and proofs from it.
        small = make_digests(rng, SMALL)
        posts: list[Request] = [
            ("POST", "/v1/digests", digests_body(small[i : i + LIST_SIZE]))
            for i in range(0, SMALL, LIST_SIZE)
        ]
        load = run_load(node, posts, 1, token=token)
        assert load.statuses == Counter({202: len(posts)}), load.statuses
        anchor_over_http(node, token, table, "10^4")
        small_loads = proof_figures(node, table, "10^4", small, rng)
        engine = open_index(node.database_url)
        stack.callback(engine.dispose)
        in_process_proofs(engine, table, "10^4", small, rng)

        # 2. Intake.
        intake = make_digests(rng, lists * LIST_SIZE)
        posts = [
            ("POST", "/v1/digests", digests_body(intake[i : i + LIST_SIZE]))
            for i in range(0, len(intake), LIST_SIZE)
        ]
        for concurrency, part in ((1, posts[: lists // 2]), (2, posts[lists // 2 :])):
            load = run_load(node, part, concurrency, token=token)
            table.add(
                f"POST /v1/digests, lists of 1,000, {concurrency} conn(s)",
                f"{load.rate * LIST_SIZE:,.0f} digests/s",
                f"{len(part)} lists, p50 {load.quantile(0.5) * 1e3:.0f} ms; " + load.cpu_note(),
            )
        one_by_one = make_digests(rng, singles)
        load = run_load(
            node,
            [("POST", "/v1/digests", digests_body([d])) for d in one_by_one],
            SINGLE_CONCURRENCY,
            token=token,
        )
        table.add(
            f"POST /v1/digests, single digests, {SINGLE_CONCURRENCY} conns",
            f"{load.rate:,.0f} req/s",
            f"p50 {load.quantile(0.5) * 1e3:.1f} ms, p99 {load.quantile(0.99) * 1e3:.1f} ms; "
            + load.cpu_note(),
        )
        pending = intake + one_by_one

        if not quick:
            # 3. A batch of 10^6 (the intake's digests and the rest straight into the index).
            rest = make_digests(rng, BIG - len(pending))
            start = time.perf_counter()
            fill_index(engine, rest)
            table.add(
                f"10^6: direct Core insert of {len(rest):,} rows (node running)",
                f"{len(rest) / (time.perf_counter() - start):,.0f} /s",
                f"{time.perf_counter() - start:.1f} s",
            )
            big = pending + rest
            del rest
            anchor_over_http(node, token, table, "10^6")
            big_loads = proof_figures(node, table, "10^6", big, rng)
            in_process_proofs(engine, table, "10^6", big, rng)
            for phase, small_load, big_load in zip(
                ("cold", "warm"), small_loads, big_loads, strict=True
            ):
                table.add(
                    f"proof rate 10^4 / 10^6, {phase} (target <= 1.3)",
                    f"{small_load.rate / big_load.rate:.2f}",
                    f"10^6 target >= 1,000 req/s, p99 < 50 ms: {big_load.rate:,.0f} req/s, "
                    f"p99 {big_load.quantile(0.99) * 1e3:.1f} ms",
                )
            scheduler_queries(engine, table, f"{BIG + SMALL:,} rows")
        else:
            scheduler_queries(engine, table, f"{SMALL + len(pending):,} rows")

        # 4. seal_batch alone.
        seal_alone(tmp, SMALL if quick else BIG, table, rng)
        log_lines = node.log.read_text().splitlines()
        troubles = [line for line in log_lines if " ERROR " in line or " WARNING " in line]
        table.add("node log: ERROR/WARNING lines", str(len(troubles)), f"of {len(log_lines)}")
        for line in troubles[:3]:
            table.add("  ", "", line[:24] + " … " + line[-100:])
    table.print()
    return table


@pytest.mark.benchmark
def test_node_benchmark() -> None:
    run(quick=os.environ.get("BENCH_NODE_QUICK") == "1")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the 10^4 index only")
    run(quick=parser.parse_args().quick)
