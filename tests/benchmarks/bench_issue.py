"""Issuing credentials: bulk from a CSV (the `mcledger issue` code path) and over HTTP.

Two forms:

* ``python tests/benchmarks/bench_issue.py [--rows N] [--quick]`` prints a table;
* ``pytest tests/benchmarks -o python_files='bench_*.py' -m benchmark -s`` (``make bench``)
  runs it and prints the same table (``BENCH_ISSUE_QUICK=1``: a smoke run). It asserts
  nothing about speed.

What it measures, on one Anvil, SQLite under a temporary data directory:

1. **bulk**: 10,000 learners from a CSV through ``cli.issue`` (``read_learners`` →
   ``issue_rows`` with the node's issuer, as ``mcledger issue`` runs them, without the
   progress bar), once with the fast signer (``node.credentials.fastpath``: JSON-LD
   expanded once per shape) and once with the full path (pyld for every credential, on
   fewer rows). The time is split into CSV reading + validation, canonicalization +
   signing + digest (the ``sign_and_digest`` callable), storage (``CredentialIssuer.store``:
   one transaction a chunk of 100), the rest of ``issue_awards`` (catalogue reads, building
   the credential), and writing the files. Target: ≥ 300 credentials/s with the fast signer.
2. **HTTP**: a few hundred ``POST /v1/credentials`` to a running ``mcledger serve --dev``,
   one connection and four, with the server's CPU.
3. **reference** figures from the same run, to compare runs as ratios on these noisy
   2-core machines: the full path's ``credential_digest`` (one pyld canonicalization) and
   ``json.dumps`` + SHA-256 of the same credential, per second.
"""

from __future__ import annotations

import argparse
import copy
import csv
import hashlib
import json
import os
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
from bench_node import NodeProcess, Table, run_load

from mcledger.anchoring.anvil import start_anvil
from mcledger.cli.issue import BadRow, LearnerRow, issue_rows, read_learners
from mcledger.node.credentials.annex import EXAMPLE_ACHIEVEMENT, EXAMPLE_AWARD
from mcledger.node.credentials.dataintegrity import credential_digest
from mcledger.node.credentials.fastpath import sign_and_digest as fast_sign_and_digest
from mcledger.node.issuing.catalogue import create_achievement
from mcledger.node.issuing.issuance import SignAndDigest, full_sign_and_digest
from mcledger.node.runtime.service import Node, open_node
from mcledger.node.settings import load_settings

ROWS = 10_000
FULL_PATH_ROWS = 1_000
HTTP_REQUESTS = 300
TARGET = 300.0

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


def bulk(
    node: Node, achievement: str, learners: Path, out: Path, signer: SignAndDigest, rows: int
) -> tuple[float, int, Split]:
    """Issue the first ``rows`` learners through the CLI's path; (seconds, issued, split)."""
    split = Split()
    issuer = copy.copy(node.credentials)  # the node's issuer (its key, DID), another signer
    issuer.sign_and_digest = signer
    issuer.sign_and_digest = split.timed("canonicalize + sign + digest", issuer.sign_and_digest)
    issuer.store_many = split.timed("storage (a transaction a chunk)", issuer.store_many)  # type: ignore[method-assign]
    awards = split.timed("issue_awards, all of it", issuer.issue_awards)
    issuer.issue_awards = awards  # type: ignore[method-assign]
    out.mkdir()
    with learners.open(newline="", encoding="utf-8") as file:
        source = read_learners(file, achievement)
        limited = (row for _, row in zip(range(rows), source, strict=False))
        start = time.perf_counter()
        summary = issue_rows(
            issuer, split.timed_rows(limited), out, "http://node.example", show_progress=False
        )
        seconds = time.perf_counter() - start
    return seconds, summary.issued, split


def report_bulk(table: Table, label: str, seconds: float, issued: int, split: Split) -> float:
    rate = issued / seconds
    table.add(f"bulk {label}: credentials/s", f"{rate:,.0f}", f"{issued:,} in {seconds:.1f} s")
    parts = dict(split.parts)
    whole = parts.pop("issue_awards, all of it")
    sign = parts["canonicalize + sign + digest"]
    store = parts["storage (a transaction a chunk)"]
    parts["catalogue reads + build (rest of issue_awards)"] = whole - sign - store
    parts["files + learner links (rest of the loop)"] = seconds - whole - parts["csv + validation"]
    for name, spent in parts.items():
        table.add(
            f"  {name}",
            f"{spent / issued * 1000:.2f} ms",
            f"{spent / seconds:.0%} of the time",
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


def run(rows: int = ROWS, full_rows: int = FULL_PATH_ROWS, http: int = HTTP_REQUESTS) -> Table:
    table = Table()
    anvil = start_anvil()
    with tempfile.TemporaryDirectory(prefix="bench-issue-") as name:
        tmp = Path(name)
        settings = load_settings(
            data_dir=tmp / "data", rpc_url=anvil.rpc_url, dev=True, database_url=None
        )
        node = open_node(settings)
        try:
            achievement = create_achievement(node.engine, "local", EXAMPLE_ACHIEVEMENT).id
            learners = tmp / "learners.csv"
            write_learners(learners, rows)
            reference(table, node, achievement)
            fast = bulk(node, achievement, learners, tmp / "fast", fast_sign_and_digest, rows)
            rate = report_bulk(table, "fast signer", *fast)
            table.add("  target", f"{TARGET:,.0f}/s", "met" if rate >= TARGET else "NOT met")
            full = bulk(node, achievement, learners, tmp / "full", full_sign_and_digest, full_rows)
            report_bulk(table, "full path", *full)
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
    parser.add_argument("--quick", action="store_true", help="a smoke run")
    args = parser.parse_args()
    if args.quick:
        run(rows=500, full_rows=100, http=50)
    else:
        run(args.rows, args.full_rows, args.http)
