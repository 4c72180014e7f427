"""The long fuzzing run (issue 13, item 6): the bounded test's checks (tests/fuzz/) with many
more examples, a random seed, on SQLite and on PostgreSQL.

    make bench                     # with the other benchmarks
    pytest tests/benchmarks/bench_fuzz.py -o python_files='bench_*.py' -m benchmark -s

``BENCH_FUZZ_EXAMPLES`` sets the examples per operation and caller in the fuzzing
phase (default 300), ``BENCH_FUZZ_SEED`` a seed to replay a run (default: random,
printed). Prints, per database: cases per operation with the statuses seen, the cases
whose index snapshot was compared, the 2xx that wrote, and every failure with a curl
command that reproduces it; then fails if there was any.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator

import pytest

from mcledger.anchoring.anvil import AnvilProcess
from tests.fuzz.fuzzing import CALLERS, DATABASES, FuzzNode, serving

EXAMPLES = int(os.environ.get("BENCH_FUZZ_EXAMPLES", "300"))
SEED = int(os.environ.get("BENCH_FUZZ_SEED") or random.randrange(2**32))

pytestmark = [pytest.mark.benchmark, pytest.mark.chain]


@pytest.fixture(scope="module", params=DATABASES)
def fuzz_node(
    request: pytest.FixtureRequest, anvil: AnvilProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FuzzNode]:
    yield from serving(request, anvil, tmp_path_factory.mktemp(f"bench-fuzz-{request.param}"))


def test_fuzz_long(fuzz_node: FuzzNode, request: pytest.FixtureRequest) -> None:
    database = request.node.callspec.params["fuzz_node"]
    print(f"\n== fuzzing on {database}: {EXAMPLES} examples, seed {SEED} ==")
    for caller in CALLERS:
        found = fuzz_node.fuzz(caller, max_examples=EXAMPLES, seed=SEED)
        print(f"{caller:>12}: {len(found)} failures")
    stats = fuzz_node.stats
    statuses = sorted(stats.by_status().items())
    print(f"{stats.cases()} cases in {stats.seconds:.1f} s ({stats.cases() / stats.seconds:.0f}/s)")
    print(f"statuses {statuses}")
    print(f"index compared on {stats.index_checked} cases; {stats.writes_seen} 2xx wrote")
    print(stats.table())
    for failure in stats.failures:
        print(failure)
    assert not stats.failures, f"{len(stats.failures)} failures (seed {SEED})"
