"""Fuzzing the running node's HTTP API with schemathesis, shared by the bounded test
(tests/fuzz/test_api_fuzz.py, in `make test`) and the long run
(tests/benchmarks/bench_fuzz.py).

One real `mcledger serve --dev` process (on the session's Anvil, SQLite or PostgreSQL)
is seeded over HTTP with an achievement, credentials (one revoked, one suspended),
bare digests and one anchored batch, and about half the cases have their path
parameters swapped for ones that name those records, so the calls reach past the
lookups, not only into 404s. Schemathesis reads its OpenAPI document from
`/openapi.json` over HTTP and runs its stateless phases (examples, coverage, fuzzing) on
every operation, once for each caller in `CALLERS`: no token, a token the node does not
know, and a valid token of each scope.

Each case is checked three ways: schemathesis's response checks (`CHECKS`: no 5xx;
status code, content type, headers and body as documented; invalid input refused), and
the index: a call answered 4xx, and any call without a valid token, leaves every table's
row count and the operations log as they were (a snapshot before and after the case, in
one query). A 2xx may change the index; those that did are counted, and the bounded
test checks that the snapshot does see writes, so the comparison is not vacuous.

The run is sequential (one worker): a write is then the case's own, never a concurrent
one's. Schemathesis's pytest integration is not used: its `parametrize` reads
`Function._nodeid`, which pytest 9.2 no longer has; its engine (what `st run` drives)
is run here instead.
"""

from __future__ import annotations

import contextlib
import copy
import random
import secrets
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import schemathesis
from schemathesis.engine import Status, events, from_schema
from sqlalchemy import Engine, inspect, text

from mcledger.anchoring.anvil import AnvilProcess, free_loopback_port
from mcledger.node.credentials.annex import EXAMPLE_ACHIEVEMENT, EXAMPLE_AWARD
from mcledger.node.index.db import make_engine
from mcledger.node.issuing.tokens import TOKEN_PREFIX, create_token
from tests.conftest import throwaway_schema
from tests.test_end_to_end import RunningNode, _env

# The order matters: the admin run comes last, so its `POST /v1/batches` seals what the
# issue run left pending (a real anchoring, waited for; see FuzzNode.settle).
CALLERS = ("no-token", "wrong-token", "issue", "revoke", "admin")
UNAUTHORIZED = frozenset({"no-token", "wrong-token"})

# Schemathesis's stateless checks, and ours (index_unchanged_by_refusals, below).
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "missing_required_header",
    "index_unchanged_by_refusals",
)

SETTLE_SECONDS = 30.0  # a sealed batch confirms within one follow-up run (5 s) on Anvil


def fuzz_config(
    *, max_examples: int, seed: int | None, headers: Mapping[str, str]
) -> schemathesis.Config:
    """Schemathesis's settings: the examples, coverage and fuzzing phases, ``max_examples``
    per operation in the fuzzing phase, one worker, ``CHECKS`` only, nothing written to
    disk (no example database, no request cache), ``seed`` for a reproducible run (None:
    random), and the caller's ``headers``."""
    data: dict[str, Any] = {
        "workers": 1,
        # Hypothesis's health checks judge generation (slow, filtered), not the API.
        "suppress-health-check": ["all"],
        "generation": {
            "max-examples": max_examples,
            "database": "none",
            # The caller's Authorization header is ours (CALLERS); none is generated.
            "with-security-parameters": False,
        },
        "phases": {"stateful": {"enabled": False}},
        "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
        "cache": {"enabled": False},
        "headers": dict(headers),
    }
    if seed is not None:
        data["seed"] = seed
    return schemathesis.Config.from_dict(data)


@dataclass
class FuzzStats:
    """What runs sent and got back, per operation and caller."""

    statuses: dict[tuple[str, str], Counter[int]] = field(
        default_factory=lambda: defaultdict(Counter)
    )
    index_checked: int = 0  # cases whose snapshot was compared before and after
    writes_seen: int = 0  # 2xx cases whose snapshot changed
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def cases(self) -> int:
        return sum(sum(counter.values()) for counter in self.statuses.values())

    def by_status(self) -> Counter[int]:
        total: Counter[int] = Counter()
        for counter in self.statuses.values():
            total.update(counter)
        return total

    def table(self) -> str:
        """Cases per operation (all callers), with the status codes seen."""
        per_operation: dict[str, Counter[int]] = defaultdict(Counter)
        for (operation, _caller), counter in self.statuses.items():
            per_operation[operation].update(counter)
        width = max((len(name) for name in per_operation), default=10)
        lines = [f"{'operation':<{width}}  cases  statuses"]
        for name in sorted(per_operation):
            counter = per_operation[name]
            codes = " ".join(f"{code}:{n}" for code, n in sorted(counter.items()))
            lines.append(f"{name:<{width}}  {sum(counter.values()):>5}  {codes}")
        return "\n".join(lines)


# Tables the node's own background jobs write while it is idle: the scheduler's follow-up
# takes and releases the chain lease every 5 s while any digest is pending.
# status_list_publication: the signed status lists a node keeps so that it serves the same
# bytes it commits on chain; a public GET of a list stores the list it signed (a cache).
BACKGROUND_TABLES = frozenset({"alembic_version", "lease", "status_list_publication"})


class IndexSnapshot:
    """Row counts of every table of the index (but BACKGROUND_TABLES) and the operations
    log's last id, read in one query (well under a millisecond on SQLite, one round trip
    on PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.tables = sorted(
            name for name in inspect(engine).get_table_names() if name not in BACKGROUND_TABLES
        )
        assert "operation" in self.tables, self.tables
        counts = ", ".join(f'(SELECT count(*) FROM "{name}")' for name in self.tables)
        self._query = text(f"SELECT {counts}, (SELECT max(id) FROM operation)")

    def take(self) -> dict[str, int | None]:
        with self.engine.connect() as conn:
            row = conn.execute(self._query).one()
        return dict(zip([*self.tables, "operation.last_id"], row, strict=True))


def changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, str]:
    return {k: f"{before[k]} -> {after[k]}" for k in before if before[k] != after[k]}


@dataclass
class FuzzNode:
    """A running, seeded node; `fuzz(caller)` runs schemathesis against it as ``caller``."""

    running: RunningNode
    engine: Engine
    tokens: dict[str, str]
    known: dict[str, list[Any]]  # path parameter name -> values that name real records
    snapshot: IndexSnapshot
    stats: FuzzStats = field(default_factory=FuzzStats)
    caller: str = ""  # the caller of the run in progress
    _choices: random.Random = field(default_factory=random.Random)
    _before: dict[int, dict[str, int | None]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.running.url

    def headers(self, caller: str) -> dict[str, str]:
        token = self.tokens.get(caller)
        return {} if token is None else {"Authorization": f"Bearer {token}"}

    def fuzz(self, caller: str, *, max_examples: int, seed: int | None) -> list[str]:
        """Every operation, as ``caller``: the failures found (each with a curl command
        that reproduces it), an empty list when none."""
        config = fuzz_config(max_examples=max_examples, seed=seed, headers=self.headers(caller))
        schema = schemathesis.openapi.from_url(f"{self.url}/openapi.json", config=config)
        self.caller, _Watched.node = caller, self
        self._choices = random.Random(seed)
        failures: list[str] = []
        started = time.monotonic()
        try:
            for event in from_schema(schema).execute():
                failures += _failures_of(event, caller)
        finally:
            _Watched.node = None
            self._before.clear()
            self.stats.seconds += time.monotonic() - started
        self.stats.failures += failures
        return failures

    def before_call(self, case: Any) -> None:
        """Name seeded records in about half the cases, then take the snapshot."""
        parameters = case.path_parameters
        for name, values in self.known.items():
            if parameters and name in parameters and self._choices.random() < 0.5:
                # In place, before the call: schemathesis then re-reads whether the case is
                # still a negative one (a bad id swapped for a real one no longer is).
                parameters[name] = self._choices.choice(values)
        self._before[id(case)] = self.snapshot.take()

    def check_index(self, case: Any, status: int) -> None:
        """Count the case; fail it if it was refused (4xx) or unauthorized and changed the
        index; after a sealing `POST /v1/batches`, wait until the batch is confirmed."""
        label = case.operation.label
        self.stats.statuses[(label, self.caller)][status] += 1
        before = self._before.pop(id(case), None)
        if before is None:  # a response to a request that bypassed before_call
            raise AssertionError(f"{label}: no snapshot was taken before the call")
        after = self.snapshot.take()
        if 400 <= status < 500 or self.caller in UNAUTHORIZED:
            self.stats.index_checked += 1
            if after != before:
                raise AssertionError(
                    f"{label} as {self.caller} answered {status} but changed the index: "
                    f"{changes(before, after)}"
                )
        elif 200 <= status < 300 and after != before:
            self.stats.writes_seen += 1
            if case.operation.method.upper() == "POST" and case.operation.path == "/v1/batches":
                self.settle()

    def settle(self) -> None:
        """Wait until no batch is unconfirmed and the index is still for a second: a sealed
        batch is confirmed in the background, which must not be taken for a 4xx's write."""
        deadline = time.monotonic() + SETTLE_SECONDS
        last = self.snapshot.take()
        while time.monotonic() < deadline:
            time.sleep(1.0)
            now = self.snapshot.take()
            if now == last and not self._unconfirmed_batches():
                return
            last = now
        raise AssertionError(f"the index did not settle in {SETTLE_SECONDS} s after sealing")

    def _unconfirmed_batches(self) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(text("SELECT count(*) FROM batch WHERE state <> 'confirmed'")).scalar()
                or 0
            )

    def probe_write(self) -> dict[str, str]:
        """Submit one new digest with the issue token; what the snapshot saw change."""
        before = self.snapshot.take()
        digest = secrets.token_hex(32)
        reply = self._post("/v1/digests", {"digests": [{"digest": digest}]}, "issue")
        assert reply.status_code == 202, reply.text
        return changes(before, self.snapshot.take())

    # -- seeding --------------------------------------------------------------------------
    def _post(self, path: str, body: Any, caller: str) -> httpx.Response:
        return httpx.post(f"{self.url}{path}", json=body, headers=self.headers(caller), timeout=60)

    def _created(self, path: str, body: Any, caller: str = "issue") -> dict[str, Any]:
        reply = self._post(path, body, caller)
        assert reply.status_code in (200, 201, 202), f"{path}: {reply.status_code} {reply.text}"
        created: dict[str, Any] = reply.json()
        return created

    def seed(self) -> None:
        """An achievement, three credentials (one revoked, one suspended, one pending),
        two bare digests, and one anchored and confirmed batch."""
        achievement = self._created("/v1/achievements", EXAMPLE_ACHIEVEMENT)["id"]
        award = copy.deepcopy(EXAMPLE_AWARD)
        award.pop("components", None)
        award["achievement"] = achievement
        issued = [self._created("/v1/credentials", award) for _ in range(2)]
        bare = [secrets.token_hex(32) for _ in range(2)]
        self._created(
            "/v1/digests",
            {"digests": [{"digest": d, "credentialId": f"urn:uuid:{d[:32]}"} for d in bare]},
        )
        sealed = self._created("/v1/batches", {}, "admin")
        self.settle()
        issued.append(self._created("/v1/credentials", award))  # stays pending
        credentials = [item["credential"]["id"] for item in issued]
        self._created(f"/v1/credentials/{credentials[0]}/revoke", {"reason": 1}, "revoke")
        self._created(f"/v1/credentials/{credentials[1]}/suspend", {}, "revoke")
        lists = {
            urlsplit(entry["statusListCredential"]).path.rsplit("/", 1)[-1]
            for item in issued
            for entry in _as_list(item["credential"].get("credentialStatus"))
        }
        self.known = {
            "issuer_id": ["local"],
            "achievement_id": [achievement],
            "credential_id": credentials + [f"urn:uuid:{d[:32]}" for d in bare],
            "digest": [item["digest"] for item in issued] + bare,
            "list_id": sorted(lists),
            "batch_id": [batch["batchId"] for batch in sealed["batches"]],
        }


class _Watched:
    """The node whose run is in progress: schemathesis's hooks and checks are global."""

    node: FuzzNode | None = None


@schemathesis.hook
def before_call(_context: Any, case: Any, _kwargs: dict[str, Any]) -> None:
    if _Watched.node is not None:
        _Watched.node.before_call(case)


@schemathesis.check
def index_unchanged_by_refusals(_ctx: Any, response: Any, case: Any) -> bool | None:
    """A 4xx, or any answer to a caller without a valid token, changed nothing."""
    if _Watched.node is not None:
        _Watched.node.check_index(case, response.status_code)
    return None


def _failures_of(event: Any, caller: str) -> list[str]:
    """The failures an engine event reports, one line each with a curl command."""
    if isinstance(event, events.NonFatalError | events.FatalError):
        return [f"{event.label} as {caller}: schemathesis error: {event.info.format()}"]
    if not isinstance(event, events.ScenarioFinished | events.FuzzScenarioFinished):
        return []
    if event.status not in (Status.FAILURE, Status.ERROR):
        return []
    found = []
    for case_id, checks in event.recorder.checks.items():
        for check in checks:
            if check.status == Status.FAILURE and check.failure_info is not None:
                failure = check.failure_info.failure
                found.append(
                    f"{event.recorder.label} as {caller}: {check.name}: {failure.title}"
                    f"\n    {failure.message.strip()}\n    {check.failure_info.code_sample}"
                    f"  (case {case_id})"
                )
    return found or [f"{event.recorder.label} as {caller}: {event.status} without details"]


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def start_fuzz_node(anvil: AnvilProcess, base: Path, database_url: str) -> FuzzNode:
    """A development node for fuzzing: a did:web issuer (so its DID documents are served),
    no scheduled anchoring or revocation flush during the run, tokens of each scope and
    one the node does not know; seeded (see `FuzzNode.seed`)."""
    port = free_loopback_port()
    env = _env(base / "data", anvil.rpc_url, database_url, port)
    env["MCLEDGER_ISSUER_DID"] = f"did:web:127.0.0.1%3A{port}"
    env["MCLEDGER_REVOCATION_INTERVAL"] = "86400"
    env["MCLEDGER_ANCHOR_CRON"] = "0 0 29 2 *"  # not during a run (a leap day at midnight)
    running = RunningNode(env, port, base / "node.log")
    try:
        engine = make_engine(database_url)
        tokens = {
            scope: create_token(engine, "local", {scope}, label=f"fuzz {scope}")
            for scope in ("issue", "revoke", "admin")
        }
        tokens["wrong-token"] = TOKEN_PREFIX + secrets.token_urlsafe(32)
        node = FuzzNode(running, engine, tokens, {}, IndexSnapshot(engine))
        node.seed()
    except BaseException:
        running.stop()
        raise
    return node


def stop_fuzz_node(node: FuzzNode) -> None:
    node.running.stop()
    node.engine.dispose()


DATABASES = ("sqlite", pytest.param("postgres", marks=pytest.mark.postgres))


def serving(request: pytest.FixtureRequest, anvil: AnvilProcess, base: Path) -> Iterator[FuzzNode]:
    """A fixture body: a fuzzing node on the index ``request.param`` names (``sqlite``: a
    file under ``base``; ``postgres``: a throw-away schema), stopped afterwards."""
    with contextlib.ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{base / 'index.sqlite3'}"
        else:
            url = stack.enter_context(throwaway_schema(request.getfixturevalue("postgres_url")))
        node = start_fuzz_node(anvil, base, url)
        stack.callback(stop_fuzz_node, node)
        yield node
