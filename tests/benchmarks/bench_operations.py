"""What a Prometheus scrape and a readiness probe cost the index, with a full queue.

* ``python tests/benchmarks/bench_operations.py [--pending N]`` prints the figures;
* ``make bench`` runs it too (benchmarks print figures and assert nothing).

Fills an index (SQLite, and PostgreSQL when it answers at MCLEDGER_TEST_POSTGRES_URL
or the default test URL) with 300,000 sealed digests, N pending ones (default
100,000: the default batch threshold, the longest the queue gets between runs) of 3
issuers, 30 confirmed batches and 1,000 waiting revocations, then times
`read_pipeline_state` with the pending counts (the gauges) and without (`/readyz`),
and the whole `/metrics` body.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

if __name__ == "__main__":  # run as a script from anywhere: import the project's packages
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import pytest
from sqlalchemy import Engine, insert, update

from mcledger.node.index.db import open_index
from mcledger.node.index.models import batch_t, issuer_t, revocation_t, utcnow
from mcledger.node.index.sequence import insert_submissions
from mcledger.node.issuing.issuers import ensure_issuer
from mcledger.node.metrics import PipelineCollector, render
from mcledger.node.pipeline.health import read_pipeline_state
from mcledger.node.settings import load_settings

ISSUERS = ("uni", "academy", "school")
REPEATS = 20


def _digests(count: int, **row: object) -> list[dict[str, object]]:
    return [
        {"issuer_id": ISSUERS[i % 3], "digest": os.urandom(32).hex(), **row} for i in range(count)
    ]


def fill(engine: Engine, pending: int, sealed: int) -> None:
    """30 confirmed batches; ``sealed`` digests in the first, then ``pending`` newer ones
    (lower ids are the older digests, as in a node's index); 1,000 waiting revocations."""
    now = utcnow()
    for issuer in ISSUERS:
        ensure_issuer(engine, issuer, chain_address="0x" + "1a" * 20)
    with engine.begin() as conn:
        conn.execute(
            insert(batch_t),
            [
                {
                    "issuer_id": "uni",
                    "state": "confirmed",
                    "tree_size": 1000,
                    "root": os.urandom(32).hex(),
                    "tile_height": 8,
                    "first_seq": d * 1000,
                    "sealed_at": now - timedelta(days=30 - d),
                    "confirmed_at": now - timedelta(days=30 - d),
                }
                for d in range(30)
            ],
        )
        for start in range(0, sealed, 10_000):
            insert_submissions(conn, _digests(min(10_000, sealed - start)))
        conn.execute(update(issuer_t).values(sealed_seq=issuer_t.c.next_seq))
        for start in range(0, pending, 10_000):
            insert_submissions(conn, _digests(min(10_000, pending - start)))
        conn.execute(
            insert(revocation_t),
            [
                {"issuer_id": "uni", "digest": os.urandom(32).hex(), "reason": 1}
                for _ in range(1_000)
            ],
        )


def timed(action, repeats: int = REPEATS) -> tuple[float, float]:
    """(median, best) milliseconds of ``repeats`` runs."""
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        runs.append((time.perf_counter() - start) * 1000)
    return statistics.median(runs), min(runs)


def measure(name: str, url: str, pending: int, sealed: int) -> None:
    engine = open_index(url)
    try:
        fill(engine, pending, sealed)
        if engine.dialect.name == "postgresql":
            with engine.connect() as conn:  # what autovacuum does soon after a bulk load
                conn.exec_driver_sql("ANALYZE")
                conn.commit()
        state = timed(lambda: read_pipeline_state(engine))
        ready = timed(lambda: read_pipeline_state(engine, count_pending=False))
        collector = PipelineCollector(lambda: read_pipeline_state(engine))
        body = timed(lambda: render(collector, None))
        size = len(render(collector, None)[0])
        print(
            f"{name:<9} {pending:>7,} pending, {sealed:,} sealed: state {state[0]:.1f} ms "
            f"(best {state[1]:.1f}), /readyz's {ready[0]:.1f} ms (best {ready[1]:.1f}), "
            f"/metrics body {body[0]:.1f} ms (best {body[1]:.1f}), {size:,} B"
        )
    finally:
        engine.dispose()


def _postgres_schema(base: str):
    import psycopg

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    try:
        with psycopg.connect(base, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
    except psycopg.Error:
        return None, None
    return schema, f"{base}?options=-csearch_path%3D{schema}"


def run(pending: int, sealed: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        measure("sqlite", f"sqlite:///{Path(tmp) / 'index.sqlite3'}", pending, sealed)
    base = load_settings().test_postgres_url or "postgresql://postgres@127.0.0.1:5432/test"
    schema, url = _postgres_schema(base)
    if url is None:
        print("postgres   not reachable: skipped")
        return
    import psycopg

    try:
        measure("postgres", url, pending, sealed)
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.mark.benchmark
def test_operations_benchmark() -> None:
    run(100_000, 300_000)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pending", type=int, default=100_000)
    parser.add_argument("--sealed", type=int, default=300_000)
    args = parser.parse_args()
    run(args.pending, args.sealed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
