"""Issuing credentials: bulk from a CSV (the `mcledger issue` code path) and over HTTP.

Two forms:

* ``python tests/benchmarks/bench_issue.py [--rows N] [--workers 1,2] [--tmp DIR] [--quick]``
  prints a table;
* ``pytest tests/benchmarks -o python_files='bench_*.py' -m benchmark -s`` (``make bench``)
  runs it and prints the same table (``BENCH_ISSUE_QUICK=1``: a smoke run). It asserts
  nothing about speed.

What it measures, on one Anvil, SQLite under a temporary data directory (``--tmp``):

1. **references** from the same run, to compare runs as ratios on these noisy 2-core
   machines: ``bench_credentials``' fast path on one core (validate + build + sign + digest,
   warm cache: the pure rate bulk issuance is built on), the full path's
   ``credential_digest`` (one pyld canonicalization), ``json.dumps`` + SHA-256 of the same
   credential, and how fast the output directory's filesystem creates small files (one
   file a credential: on some disks this alone bounds the bulk rate).
2. **bulk**: 10,000 learners from a CSV through ``cli.issue`` (``read_learners`` →
   ``issue_rows``, as ``mcledger issue`` runs them, without the progress bar) with 1 worker
   (signing in this process) and with 2 worker processes (``--workers 2``; the time counts
   their start and stop), then the full path (pyld for every credential, one process, on
   fewer rows). The parent's time is split into CSV reading + validation, catalogue reads
   and status-list reservations (``prepare_awards``), signing (in this process) or waiting
   for the workers, storage (``store_rows``: one transaction a chunk of 100) and writing
   the files; the workers' CPU time is given per credential. Target (issue 13, item 4):
   >= 1,800 credentials/s with both cores (Blockcerts cert-issuer: 229/s).
3. **HTTP**: a few hundred ``POST /v1/credentials`` to a running ``mcledger serve --dev``,
   one connection and four, with the server's CPU.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import csv
import hashlib
import importlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

if __name__ == "__main__":  # run as a script from anywhere: import the project's packages
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx
import pytest
from bench_credentials import SEED, fast_path
from bench_credentials import awards as sample_awards
from bench_node import REPO, NodeProcess, Table, run_load

from mcledger.anchoring.anvil import start_anvil
from mcledger.cli.issue import BadRow, LearnerRow, issue_rows, read_learners
from mcledger.node.credentials.annex import EXAMPLE_ACHIEVEMENT, EXAMPLE_AWARD
from mcledger.node.credentials.dataintegrity import credential_digest
from mcledger.node.credentials.fastpath import ShapeCache
from mcledger.node.credentials.fastpath import sign_and_digest as fast_sign_and_digest
from mcledger.node.credentials.multikey import Ed25519SigningKey
from mcledger.node.issuing.award_batches import SignAndDigest
from mcledger.node.issuing.bulk import available_cpus
from mcledger.node.issuing.catalogue import create_achievement
from mcledger.node.issuing.issuance import full_sign_and_digest
from mcledger.node.issuing.signing_workers import BatchSigner, SigningInProcess, SigningWorkers
from mcledger.node.runtime.service import Node, open_node
from mcledger.node.settings import Settings, load_settings

ROWS = 10_000
WORKERS = (1, 2)
FULL_PATH_ROWS = 1_000
HTTP_REQUESTS = 300
REFERENCE_CREDENTIALS = 1_000
TARGET = 1_800.0  # credentials/s with both cores (issue 13, item 4)
CERT_ISSUER = 229.0  # Blockcerts cert-issuer, as issue 13 quotes it

T = TypeVar("T")


@dataclass
class Split:
    """Seconds spent in each part of the bulk path."""

    parts: dict[str, float] = field(default_factory=dict)

    def timed(self, name: str, fn: Callable[..., T]) -> Callable[..., T]:
        self.parts.setdefault(name, 0.0)

        def run(*args: Any, **kwargs: Any) -> T:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.parts[name] += time.perf_counter() - start

        return run

    def timed_rows(self, rows: Iterator[LearnerRow | BadRow]) -> Iterator[LearnerRow | BadRow]:
        self.parts.setdefault("csv + validation", 0.0)
        while True:
            start = time.perf_counter()
            row = next(rows, None)
            self.parts["csv + validation"] += time.perf_counter() - start
            if row is None:
                return
            yield row


def write_learners(path: Path, rows: int) -> None:
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["name", "identifier", "id", "awardedOn", "place", "grade"])
        for i in range(rows):
            writer.writerow(
                [
                    f"Learner Nr. {i}",
                    f"LU-2026-{i:06d}",
                    "",
                    f"2026-{1 + i % 12:02d}-{1 + i % 28:02d}",
                    ("Rīga", "Tartu", "Kaunas")[i % 3],
                    f"{i % 10}/10" if i % 4 else "",
                ]
            )


@contextlib.contextmanager
def cli_main_module() -> Iterator[None]:
    """Spawned workers re-import the parent's ``__main__``: under ``mcledger`` that is the
    light ``mcledger.cli.main``; run as a script, this benchmark would make each worker
    import all of it (web3, the HTTP client, ...: 2 s of CPU a worker). Start them as the
    CLI's are started."""
    main = sys.modules["__main__"]
    sys.modules["__main__"] = importlib.import_module("mcledger.cli.main")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


@dataclass
class BulkRun:
    label: str
    workers: int
    issued: int
    seconds: float  # the whole run, the workers' start and stop included
    started_seconds: float  # once the workers had started
    worker_cpu: float  # seconds of CPU the worker processes used
    parent_cpu: float  # seconds of CPU this process used (its threads included)
    split: Split


def bulk(
    node: Node,
    achievement: str,
    learners: Path,
    out: Path,
    rows: int,
    *,
    workers: int = 1,
    signer: SignAndDigest = fast_sign_and_digest,
) -> BulkRun:
    """Issue the first ``rows`` learners through the CLI's path with ``workers``."""
    split = Split()
    issuer = copy.copy(node.credentials)  # the node's issuer (its key, DID), another signer
    issuer.sign_and_digest = signer
    prepare = split.timed("catalogue + status slots (prepare)", issuer.prepare_awards)
    issuer.prepare_awards = prepare  # type: ignore[method-assign]
    store = split.timed("storage (a transaction a chunk)", issuer.store_rows)
    issuer.store_rows = store  # type: ignore[method-assign]
    out.mkdir()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = time.process_time()
    start = time.perf_counter()
    signing: BatchSigner
    if workers > 1:
        with cli_main_module():
            signing = SigningWorkers(issuer.key, workers, sign_and_digest=signer)
    else:
        signing = SigningInProcess(issuer.key, signer)
    waiting = "signing (build + sign + digest + JSON)" if workers == 1 else "waiting for workers"
    signing.next_result = split.timed(waiting, signing.next_result)  # type: ignore[method-assign]
    started = time.perf_counter()
    try:
        with learners.open(newline="", encoding="utf-8") as file:
            source = read_learners(file, achievement)
            limited = (row for _, row in zip(range(rows), source, strict=False))
            summary = issue_rows(
                issuer,
                split.timed_rows(limited),
                out,
                "http://node.example",
                show_progress=False,
                signer=signing,
            )
        ended = time.perf_counter()
    finally:
        signing.close()
    stopped = time.perf_counter()
    parent_cpu = time.process_time() - cpu
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    worker_cpu = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
    label = "1 worker (this process)" if workers == 1 else f"{workers} workers"
    seconds, started_seconds = stopped - start, ended - started
    return BulkRun(
        label, workers, summary.issued, seconds, started_seconds, worker_cpu, parent_cpu, split
    )


def report_bulk(table: Table, run: BulkRun, reference: float | None = None) -> float:
    """The run's rate (its whole time), and where the parent's time and the workers' went."""
    rate = run.issued / run.seconds
    note = f"{run.issued:,} in {run.seconds:.1f} s"
    if reference:
        note += f"; {rate / reference:.2f}x the 1-core reference"
    table.add(f"bulk, {run.label}: credentials/s", f"{rate:,.0f}", note)
    if run.seconds - run.started_seconds > 0.01:
        table.add(
            "  once the workers had started",
            f"{run.issued / run.started_seconds:,.0f}/s",
            f"their start and stop: {run.seconds - run.started_seconds:.1f} s",
        )
    parts = dict(run.split.parts)
    parts["files + learner links (the rest)"] = run.started_seconds - sum(parts.values())
    for name, spent in parts.items():
        table.add(
            f"  {name}",
            f"{spent / run.issued * 1000:.3f} ms",
            f"{spent / run.started_seconds:.0%} of the parent's time",
        )
    cpu = (run.parent_cpu + run.worker_cpu) / run.issued
    table.add(
        "  CPU a credential, all processes",
        f"{cpu * 1000:.3f} ms",
        f"this process {run.parent_cpu / run.issued * 1000:.3f} ms + the workers'"
        f" {run.worker_cpu / run.issued * 1000:.3f} ms (their start included)",
    )
    cores = 1 if run.workers == 1 else available_cpus()  # one process uses one core
    table.add(
        f"  at that CPU cost, {cores} idle core{'s' if cores > 1 else ''}",
        f"{cores / cpu:,.0f}/s",
        "what the machine would allow with nothing else running (derived, not measured)",
    )
    return rate


def cli_issue(
    table: Table, settings: Settings, achievement: str, learners: Path, out: Path, workers: int
) -> float:
    """``mcledger issue --workers N`` as an operator runs it: a process of its own, timed
    from its start to its exit (Python's start, opening the node and counting the rows
    included); the CPU time of it and its workers."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCLEDGER_")}
    env |= {
        "MCLEDGER_DATA_DIR": str(settings.data_dir),
        "MCLEDGER_RPC_URL": str(settings.rpc_url),
        "MCLEDGER_DEV": "true",
        "PYTHONPATH": str(REPO),
    }
    command = [sys.executable, "-m", "mcledger.cli.main", "issue", "--achievement", achievement]
    command += ["--learners", str(learners), "--out", str(out), "--workers", str(workers)]
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"mcledger issue failed: {done.stderr[-2000:]}")
    issued = len(list(out.glob("*.json")))
    cpu = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
    rate = issued / seconds
    table.add(
        f"mcledger issue --workers {workers}: credentials/s",
        f"{rate:,.0f}",
        f"{issued:,} in {seconds:.1f} s, start to exit; CPU {cpu / issued * 1000:.2f} ms each",
    )
    return rate


def file_creation_rate(directory: Path, count: int = 2_000) -> float:
    """Small files (4 KiB, as a credential) created a second in ``directory``."""
    directory.mkdir()
    text = "x" * 4096
    start = time.perf_counter()
    for number in range(count):
        (directory / f"{number:08d}-0000-4000-8000-000000000000.json").write_text(text)
    return count / (time.perf_counter() - start)


def fast_path_reference(table: Table) -> float:
    """bench_credentials' fast path on one core, warm: validate + build + sign + digest."""
    key = Ed25519SigningKey.from_seed(SEED)
    items = sample_awards(REFERENCE_CREDENTIALS)
    cache = ShapeCache()
    fast_path(key, items[:50], cache)  # its templates made
    start = time.perf_counter()
    fast_path(key, items, cache)
    rate = len(items) / (time.perf_counter() - start)
    table.add(
        "reference: fast path, 1 core (bench_credentials)",
        f"{rate:,.0f}/s",
        "validate + build + sign + digest, warm cache",
    )
    return rate


def reference(table: Table, node: Node, achievement: str) -> None:
    award = copy.deepcopy(EXAMPLE_AWARD)
    award.pop("components")
    award["achievement"] = achievement
    credential = node.credentials.issue_award(award, actor="bench").credential
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < 2.0:
        credential_digest(credential)
        count += 1
    rate = count / (time.perf_counter() - start)
    table.add("reference: credential_digest (pyld, full)", f"{rate:,.0f}/s", "one canonicalization")
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < 1.0:
        hashlib.sha256(json.dumps(credential, sort_keys=True).encode()).digest()
        count += 1
    rate = count / (time.perf_counter() - start)
    table.add("reference: json.dumps + sha256", f"{rate:,.0f}/s", "the same credential")


def over_http(table: Table, tmp: Path, anvil: Any, requests: int) -> None:
    server = NodeProcess(tmp / "http-node", anvil)
    try:
        token = server.cli("token", "create", "--issuer", "local", "--scope", "issue").strip()
        created = httpx.post(
            f"{server.url}/v1/achievements",
            json=EXAMPLE_ACHIEVEMENT,
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        created.raise_for_status()
        award = copy.deepcopy(EXAMPLE_AWARD)
        award.pop("components")
        award["achievement"] = created.json()["id"]
        body = json.dumps(award).encode()
        for concurrency in (1, 4):
            load = run_load(
                server, [("POST", "/v1/credentials", body)] * requests, concurrency, token=token
            )
            table.add(
                f"POST /v1/credentials, {concurrency} connection(s)",
                f"{load.rate:,.0f}/s",
                f"p50 {load.quantile(0.5) * 1000:.0f} ms; {load.cpu_note()}",
            )
    finally:
        server.stop()


def run(
    rows: int = ROWS,
    full_rows: int = FULL_PATH_ROWS,
    http: int = HTTP_REQUESTS,
    workers: tuple[int, ...] = WORKERS,
    tmp_root: str | None = None,
) -> Table:
    table = Table()
    anvil = start_anvil()
    with tempfile.TemporaryDirectory(prefix="bench-issue-", dir=tmp_root) as name:
        tmp = Path(name)
        settings = load_settings(
            data_dir=tmp / "data", rpc_url=anvil.rpc_url, dev=True, database_url=None
        )
        node = open_node(settings)
        try:
            achievement = create_achievement(node.engine, "local", EXAMPLE_ACHIEVEMENT).id
            learners = tmp / "learners.csv"
            write_learners(learners, rows)
            one_core = fast_path_reference(table)
            reference(table, node, achievement)
            files = file_creation_rate(tmp / "files")
            table.add("reference: files created", f"{files:,.0f}/s", f"4 KiB each, in {tmp}")
            for count in workers:
                run_ = bulk(node, achievement, learners, tmp / f"out-{count}", rows, workers=count)
                rate = report_bulk(table, run_, one_core)
                if count > 1:
                    verdict = "met" if rate >= TARGET else "NOT met"
                    note = f"{verdict} (cert-issuer: {CERT_ISSUER:.0f}/s)"
                    table.add("  target", f"{TARGET:,.0f}/s", note)
            for count in workers:  # as an operator runs it: opening the node included
                cli_issue(table, settings, achievement, learners, tmp / f"cli-{count}", count)
            full = bulk(
                node, achievement, learners, tmp / "full", full_rows, signer=full_sign_and_digest
            )
            full.label = "full path, 1 worker"
            report_bulk(table, full)
        finally:
            node.close()
        if http:
            over_http(table, tmp, anvil, http)
    anvil.stop()
    table.print()
    return table


@pytest.mark.benchmark
def test_issue_benchmark() -> None:
    if os.environ.get("BENCH_ISSUE_QUICK") == "1":
        run(rows=500, full_rows=100, http=50)
    else:
        run()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=ROWS, help="learners in the CSV")
    parser.add_argument("--full-rows", type=int, default=FULL_PATH_ROWS)
    parser.add_argument("--http", type=int, default=HTTP_REQUESTS, help="POST /v1/credentials")
    parser.add_argument(
        "--workers", default=",".join(map(str, WORKERS)), help="worker counts to run, e.g. 1,2"
    )
    parser.add_argument("--tmp", help="where the data directory and the output go")
    parser.add_argument("--quick", action="store_true", help="a smoke run")
    args = parser.parse_args()
    counts = tuple(int(n) for n in args.workers.split(","))
    if args.quick:
        run(rows=500, full_rows=100, http=50, workers=counts, tmp_root=args.tmp)
    else:
        run(args.rows, args.full_rows, args.http, counts, args.tmp)
