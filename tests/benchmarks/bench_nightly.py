"""The nightly batch: N pending digests of one issuer sealed, stored as tiles, anchored,
confirmed and proved, on SQLite and PostgreSQL, at 10^5 and 10^6 (and 10^7 with ``--big``
or ``BENCH_NIGHTLY_BIG=1``); and the index's bytes per anchored credential.

    python tests/benchmarks/bench_nightly.py [--big] [--db sqlite,postgres] [--profile]
    pytest tests/benchmarks/bench_nightly.py -o python_files='bench_*.py' -m benchmark -s

Each size gets a fresh index (a SQLite file in a temporary directory, or a schema of its
own in the test PostgreSQL, dropped afterwards) and a fresh ledger on one local Anvil.
The index is filled by the fastest path, not through intake (that is another benchmark):
``executemany`` on SQLite's own driver, ``COPY … FROM STDIN`` on PostgreSQL, every digest
with a ``urn:uuid`` credential id. Then, timed one by one:

* **seal**: ``seal_batch`` with its stages (``stages=``: claim the range, read the
  digests, build the tree, write the tiles, commit);
* **anchor**: ``Anchorer.anchor_pending(seal=False)``: send, then wait for the receipt
  and its confirmation (Anvil mines at once);
* **first proof**: ``proof_status`` of a random digest in a fresh process state (no tile
  cached), then the in-process rate of 2,000 more, each checked against the root.

References from the same run: SHA-256 over the N digests with ``hashlib`` (one call each)
and the Merkle engine alone (``MerkleTree.from_digests``) on the same N. Bytes per
anchored credential: SQLite's file (after a WAL checkpoint) / N, with the share of each
table and index (``dbstat``); PostgreSQL's ``pg_total_relation_size`` of the index's
tables / N, with each table and index.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import hashlib
import io
import os
import pstats
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from inspect import signature as inspect_signature
from pathlib import Path
from typing import Any

if __name__ == "__main__":  # run as a script from anywhere: import the project's packages
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import pytest
from sqlalchemy import Engine, event, inspect

from mcledger.anchoring.anvil import AnvilProcess, start_anvil
from mcledger.anchoring.merkle import verify_inclusion
from mcledger.anchoring.tree import MerkleTree
from mcledger.node.pipeline import batches, proof_reads
from mcledger.node.runtime.service import open_node
from mcledger.node.settings import load_settings
from tests.conftest import throwaway_schema

ISSUER = "local"  # the dev node's issuer
POSTGRES = os.environ.get("MCLEDGER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
FILL_CHUNK = 100_000
PROOFS = 2_000


@dataclass
class Run:
    """What one (database, size) run measured: seconds by stage, bytes by relation."""

    db: str
    size: int
    seconds: dict[str, float] = field(default_factory=dict)
    bytes_by_relation: dict[str, int] = field(default_factory=dict)
    total_bytes: int = 0
    proof_rate: float = 0.0


# -- filling the index -------------------------------------------------------------------------


def digests_for(size: int, seed: int) -> bytes:
    rng = random.Random(seed)  # in parts: randbytes takes at most 2**31 bits at a time
    return b"".join(rng.randbytes(32 * min(1 << 20, size - i)) for i in range(0, size, 1 << 20))


def _credential_id(digest: bytes) -> str:
    return f"urn:uuid:{uuid.UUID(bytes=digest[:16])}"


def _has_column(engine: Engine, table: str, column: str) -> bool:
    return column in {c["name"] for c in inspect(engine).get_columns(table)}


def _binary_digests(engine: Engine) -> bool:
    """Whether submission.digest holds 32 bytes (else 64 hex characters)."""
    column = {c["name"]: c for c in inspect(engine).get_columns("submission")}["digest"]
    return "BLOB" in str(column["type"]).upper() or "BYTEA" in str(column["type"]).upper()


def fill(engine: Engine, packed: bytes) -> float:
    """N pending submissions of ISSUER, in one transaction by the driver's bulk path."""
    size = len(packed) // 32
    sequenced = _has_column(engine, "submission", "seq")
    binary = _binary_digests(engine)
    now = datetime.now(UTC)
    start = time.perf_counter()
    raw = engine.raw_connection()
    try:
        base = 0
        if sequenced:
            cursor = raw.cursor()
            cursor.execute("SELECT next_seq FROM issuer WHERE id = 'local'")
            base = int(cursor.fetchone()[0])
        if engine.dialect.name == "sqlite":
            _fill_sqlite(raw, packed, size, sequenced, binary, now, base)
        else:
            _fill_postgres(raw, packed, size, sequenced, binary, now, base)
        if sequenced:
            raw.cursor().execute(
                f"UPDATE issuer SET next_seq = next_seq + {size} WHERE id = 'local'"
            )
        raw.commit()
    finally:
        raw.close()
    return time.perf_counter() - start


def _fill_sqlite(
    raw: Any, packed: bytes, size: int, sequenced: bool, binary: bool, now: datetime, base: int
) -> None:
    cursor = raw.cursor()
    cursor.execute("PRAGMA cache_size = -4000000")  # 4 GB: the unique indexes take random keys
    stamp = now.replace(tzinfo=None).isoformat(sep=" ")
    columns = "issuer_id, digest, credential_id, submitted_at" + (", seq" if sequenced else "")
    marks = ", ".join("?" * (5 if sequenced else 4))

    def rows() -> Iterator[tuple[Any, ...]]:
        for i in range(size):
            d = packed[32 * i : 32 * i + 32]
            row = (ISSUER, d if binary else d.hex(), _credential_id(d), stamp)
            yield (*row, base + i) if sequenced else row

    cursor.executemany(f"INSERT INTO submission ({columns}) VALUES ({marks})", rows())


def _fill_postgres(
    raw: Any, packed: bytes, size: int, sequenced: bool, binary: bool, now: datetime, base: int
) -> None:
    cursor = raw.driver_connection.cursor()
    stamp = now.isoformat()
    columns = "issuer_id, digest, credential_id, submitted_at" + (", seq" if sequenced else "")
    with cursor.copy(f"COPY submission ({columns}) FROM STDIN") as copy:
        for start in range(0, size, FILL_CHUNK):
            lines = []
            for i in range(start, min(size, start + FILL_CHUNK)):
                d = packed[32 * i : 32 * i + 32]
                digest = "\\\\x" + d.hex() if binary else d.hex()
                line = f"{ISSUER}\t{digest}\t{_credential_id(d)}\t{stamp}"
                lines.append(f"{line}\t{base + i}\n" if sequenced else line + "\n")
            copy.write("".join(lines))
    cursor.execute("ANALYZE")


# -- sizes ---------------------------------------------------------------------------------------


def sqlite_bytes(engine: Engine, run: Run) -> None:
    path = engine.url.database
    assert path is not None
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        try:
            rows = conn.exec_driver_sql(
                "SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC"
            ).all()
        except Exception:  # a SQLite built without the dbstat table
            rows = []
    run.bytes_by_relation = {str(name): int(n) for name, n in rows}
    run.total_bytes = sum(os.path.getsize(p) for p in (path, path + "-wal") if os.path.exists(p))


def postgres_bytes(engine: Engine, run: Run) -> None:
    with engine.connect() as conn:
        conn.exec_driver_sql("CHECKPOINT")
        tables = conn.exec_driver_sql(
            "SELECT c.oid, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = current_schema() AND c.relkind = 'r'"
        ).all()
        run.total_bytes = sum(
            conn.exec_driver_sql(f"SELECT pg_total_relation_size({oid})").scalar_one()
            for oid, _ in tables
        )
        rows = conn.exec_driver_sql(
            "SELECT c.relname, pg_relation_size(c.oid) + coalesce(pg_relation_size("
            " nullif(c.reltoastrelid, 0)), 0) FROM pg_class c JOIN pg_namespace n"
            " ON n.oid = c.relnamespace WHERE n.nspname = current_schema()"
            " AND c.relkind IN ('r', 'i') ORDER BY 2 DESC"
        ).all()
    run.bytes_by_relation = {str(name): int(n) for name, n in rows}


@contextlib.contextmanager
def fresh_index(db: str, workdir: Path) -> Iterator[str]:
    """A SQLite file in ``workdir``, or a schema of its own in the test PostgreSQL."""
    if db == "sqlite":
        yield f"sqlite:///{workdir / 'index.sqlite3'}"
        return
    with throwaway_schema(POSTGRES) as url:
        yield url


# -- one run --------------------------------------------------------------------------------------


def _seal(engine: Engine, stages: dict[str, float]) -> batches.SealedBatch | None:
    """seal_batch, with its stages when this version of it reports them (else the time of
    each kind of SQL statement, and the rest)."""
    if "stages" in inspect_signature(batches.seal_batch).parameters:
        return batches.seal_batch(engine, ISSUER, stages=stages)  # type: ignore[call-arg]
    spent: dict[str, float] = {}
    starts: list[float] = []

    def before(*_args: Any) -> None:
        starts.append(time.perf_counter())

    def after(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        kind = "sql " + " ".join(statement.split()[:4])
        spent[kind] = spent.get(kind, 0.0) + time.perf_counter() - starts.pop()

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    start = time.perf_counter()
    try:
        sealed = batches.seal_batch(engine, ISSUER)
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)
    stages.update(spent)
    stages["outside SQL (tree, hex, rows)"] = time.perf_counter() - start - sum(spent.values())
    return sealed


def run_one(db: str, size: int, anvil: AnvilProcess, *, profile: bool) -> Run:
    run = Run(db, size)
    packed = digests_for(size, seed=size)
    with (
        tempfile.TemporaryDirectory(prefix="bench-nightly-") as tmp,
        fresh_index(db, Path(tmp)) as url,
    ):
        settings = load_settings(
            data_dir=Path(tmp) / "data", rpc_url=anvil.rpc_url, database_url=url, dev=True
        )
        node = open_node(settings)
        try:
            engine = node.engine
            run.seconds["fill (not in the target)"] = fill(engine, packed)
            proof_reads.clear_caches()
            stages: dict[str, float] = {}
            profiler = cProfile.Profile() if profile else None
            start = time.perf_counter()
            if profiler:
                profiler.enable()
            sealed = _seal(engine, stages)
            if profiler:
                profiler.disable()
            run.seconds["seal"] = time.perf_counter() - start
            assert sealed is not None and sealed.tree_size == size, sealed
            for name, seconds in stages.items():
                run.seconds[f"  seal: {name}"] = seconds
            start = time.perf_counter()
            reports = node.anchorer.anchor_pending(ISSUER, seal=False, wait=True)
            run.seconds["anchor (send + confirm)"] = time.perf_counter() - start
            assert [r.state for r in reports] == ["confirmed"], reports
            rng = random.Random(7)
            index = rng.randrange(size)
            digest = packed[32 * index : 32 * index + 32]
            start = time.perf_counter()
            status = batches.proof_status(engine, digest=digest.hex())
            run.seconds["first proof"] = time.perf_counter() - start
            assert status is not None and status.bundle is not None
            assert status.bundle.proof.leaf_index == index
            verify_inclusion(digest, status.bundle.proof, root=sealed.root, tree_size=size)
            run.seconds["total: seal + anchor + first proof"] = (
                run.seconds["seal"]
                + run.seconds["anchor (send + confirm)"]
                + run.seconds["first proof"]
            )
            run.proof_rate = proof_rate(engine, packed, size, sealed.root, rng)
            if engine.dialect.name == "sqlite":
                sqlite_bytes(engine, run)
            else:
                postgres_bytes(engine, run)
        finally:
            node.close()
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(25)
        print(f"\ncProfile of seal_batch, {db}, {size:,} digests (cumulative):")
        print(out.getvalue())
    return run


def proof_rate(engine: Engine, packed: bytes, size: int, root: bytes, rng: random.Random) -> float:
    """Proofs of random digests in this process, each checked against the root."""
    picks = [rng.randrange(size) for _ in range(PROOFS)]
    start = time.perf_counter()
    for i in picks:
        status = batches.proof_status(engine, digest=packed[32 * i : 32 * i + 32].hex())
        assert status is not None and status.bundle is not None
        proof = status.bundle.proof
        assert proof.leaf_index == i and proof.root == root
    seconds = time.perf_counter() - start
    for i in picks[:50]:
        status = batches.proof_status(engine, digest=packed[32 * i : 32 * i + 32].hex())
        assert status is not None and status.bundle is not None
        verify_inclusion(packed[32 * i : 32 * i + 32], status.bundle.proof, root=root)
    return PROOFS / seconds


def references(size: int) -> dict[str, float]:
    packed = digests_for(size, seed=size)
    sha256 = hashlib.sha256
    start = time.perf_counter()
    for i in range(0, len(packed), 32):
        sha256(b"\0" + packed[i : i + 32]).digest()
    hashed = time.perf_counter() - start
    start = time.perf_counter()
    MerkleTree.from_digests(packed)
    return {
        "reference: hashlib SHA-256 of each leaf": hashed,
        "reference: Merkle engine alone (from_digests)": time.perf_counter() - start,
    }


# -- the table ------------------------------------------------------------------------------------


def print_figures(runs: list[Run], refs: dict[int, dict[str, float]]) -> None:
    sizes = sorted({r.size for r in runs})
    for db in sorted({r.db for r in runs}):
        mine = {r.size: r for r in runs if r.db == db}
        names: list[str] = []
        for size in sizes:
            for name in mine[size].seconds if size in mine else ():
                if name not in names:
                    names.append(name)
        head = "".join(f"{f'N = {s:,}':>16}" for s in sizes)
        print(f"\n{db}: seconds by stage{' ' * 27}{head}   growth per 10x (last step)")
        for name in [*names, *refs[sizes[0]]]:
            values = [
                (mine[s].seconds.get(name) if s in mine else None)
                if not name.startswith("reference")
                else refs[s][name]
                for s in sizes
            ]
            cells = "".join(f"{v:>16.3f}" if v is not None else f"{'-':>16}" for v in values)
            known = [v for v in values if v]
            growth = f"{known[-1] / known[-2]:.1f}x" if len(known) > 1 else ""
            print(f"  {name:<44}{cells}   {growth}")
        rates = "".join(
            f"{mine[s].proof_rate:>16,.0f}" if s in mine else f"{'-':>16}" for s in sizes
        )
        print(f"  {'proofs/s in process (checked), after the first':<44}{rates}")
        per = "".join(
            f"{mine[s].total_bytes / s:>16,.0f}" if s in mine else f"{'-':>16}" for s in sizes
        )
        print(f"  {'bytes per anchored credential':<44}{per}")
        for size in sizes[-2:]:
            if size not in mine:
                continue
            parts = sorted(mine[size].bytes_by_relation.items(), key=lambda kv: -kv[1])[:8]
            shown = ", ".join(f"{name} {n / size:,.0f}" for name, n in parts if n / size >= 0.5)
            print(f"    at {size:,}, bytes/credential by relation: {shown}")


def main(big: bool, dbs: list[str], profile: bool, sizes: list[int] | None = None) -> None:
    sizes = sizes or [10**5, 10**6] + ([10**7] if big else [])
    runs: list[Run] = []
    refs = {size: references(size) for size in sizes}
    with start_anvil() as anvil:
        for db in dbs:
            for size in sizes:
                print(f"{db} at {size:,} ...", flush=True)
                runs.append(run_one(db, size, anvil, profile=profile and size == 10**6))
                print_figures(runs, refs)


@pytest.mark.benchmark
def test_nightly_benchmark() -> None:
    main(os.environ.get("BENCH_NIGHTLY_BIG") == "1", ["sqlite", "postgres"], profile=False)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--big", action="store_true", help="also 10^7 (several minutes)")
    parser.add_argument("--db", default="sqlite,postgres", help="sqlite, postgres or both")
    parser.add_argument("--profile", action="store_true", help="cProfile the seal at 10^6")
    parser.add_argument("--sizes", default="", help="instead: these sizes, e.g. 100000,1000000")
    args = parser.parse_args()
    big = args.big or os.environ.get("BENCH_NIGHTLY_BIG") == "1"
    sizes = [int(s) for s in args.sizes.split(",") if s]
    main(big, args.db.split(","), args.profile, sizes)
