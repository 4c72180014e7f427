"""The node's HTTP API fuzzed with schemathesis, bounded for `make test` (issue 13, item 6).

A real `mcledger serve --dev` on the session's Anvil (see tests/fuzz/fuzzing.py), once on
SQLite and once on PostgreSQL, its OpenAPI read over HTTP, every operation called by
each caller (no token, a wrong token, a token of scope issue, revoke, admin): no 5xx,
every response as documented, and no 4xx or unauthorized call changes the index. The
seed is fixed, so a failure here reproduces; the long run with random seeds is
tests/benchmarks/bench_fuzz.py. About 4,200 cases a database, 80 s for the whole module
on 2 cores.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mcledger.anchoring.anvil import AnvilProcess
from tests.fuzz.fuzzing import CALLERS, DATABASES, FuzzNode, serving

MAX_EXAMPLES = 10  # per operation and caller in the fuzzing phase (plus examples, coverage)
SEED = 20261113

pytestmark = pytest.mark.chain


@pytest.fixture(scope="module", params=DATABASES)
def fuzz_node(
    request: pytest.FixtureRequest, anvil: AnvilProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FuzzNode]:
    yield from serving(request, anvil, tmp_path_factory.mktemp(f"fuzz-{request.param}"))


@pytest.mark.parametrize("caller", CALLERS)
def test_every_operation_as_each_caller(caller: str, fuzz_node: FuzzNode) -> None:
    failures = fuzz_node.fuzz(caller, max_examples=MAX_EXAMPLES, seed=SEED)
    assert not failures, "\n".join(failures)


def test_the_index_check_saw_refusals_and_writes(fuzz_node: FuzzNode) -> None:
    """The comparison is live: many 4xx and unauthorized cases were compared, fuzzed 2xx
    writes changed the snapshot, and so does one more digest sent now."""
    stats = fuzz_node.stats
    statuses = stats.by_status()
    print(f"\n{stats.cases()} cases in {stats.seconds:.1f} s; statuses {sorted(statuses.items())}")
    print(stats.table())
    assert stats.cases() > 500 and not [code for code in statuses if code >= 500]
    assert stats.index_checked > 100 and statuses[401] > 0 and statuses[403] > 0
    assert stats.writes_seen > 0
    assert {"submission", "operation", "operation.last_id"} <= set(fuzz_node.probe_write())
