"""The soak (issue 13, item 5): ten minutes of mixed traffic on one running node.

    python tests/benchmarks/bench_soak.py [--minutes 10] [--db postgres|sqlite]
                                          [--workers N] [--scale 1.0]

One real node (``mcledger serve --dev`` on its own Anvil, PostgreSQL in a throwaway
schema or SQLite) takes, from a bounded open-loop load generator in this process
(asyncio, loopback only, stops by itself), at the same time:

=====================================  ==========
route                                  offered/s
=====================================  ==========
``POST /v1/digests``, one digest        40
``POST /v1/digests``, lists of 100      2
``POST /v1/credentials``                8
``POST /v1/credentials/{id}/revoke``    1
``GET /v1/proofs/{digest}``             150
``GET /v1/revocation-proofs/{digest}``  10
``GET /v1/status-lists/{id}``           20
``GET /healthz``                        5
=====================================  ==========

(times ``--scale``). The anchoring cron fires every few minutes and the revocation flush
runs on its interval inside the soak. Requests are sent on schedule, whatever the node's
pace; a latency is measured from the time the request was due, so a node that falls
behind shows it (no coordinated omission).

Printed: p50/p99/max and errors per route; the node's RSS (its processes together)
sampled every 5 s, flat or not within ±10 % after the warm-up (the first quarter); and,
after the load stops and ``mcledger anchor`` brings the chain up to date, the loss
check: the tree sizes of the issuer's ``RootAnchored`` events on the chain add up to every
digest the node accepted (lists, single digests and issued credentials), each of a sample
has a proof whose root the chain holds, and the issuer's committed revocation set has
one entry for each revocation the node accepted. Exit 1 when any of these fails.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import json
import os
import random
import sys
import tempfile
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

if __name__ == "__main__":  # run as a script from anywhere: import the project's packages
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx
import pytest
from bench_node import NodeProcess, RawConnection, Table, digests_body, make_digests
from web3 import Web3

from mcledger.anchoring.anvil import start_anvil
from mcledger.node.credentials.annex import EXAMPLE_ACHIEVEMENT, EXAMPLE_AWARD

POSTGRES = os.environ.get("MCLEDGER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
CONNECTIONS = 1024  # at most this many requests in flight
IDLE_REOPEN = 3.0  # seconds: uvicorn closes keep-alive connections idle for 5 s
WARM_UP_DIGESTS = 20_000
WARM_UP_CREDENTIALS = 200
SAMPLE_PROOFS = 1_000
RSS_EVERY = 5.0
RSS_TOLERANCE = 0.10


# -- the load ------------------------------------------------------------------------------


@dataclass
class Route:
    """One kind of request at ``rate`` a second; ``make`` gives (method, path, body) or
    None when it has nothing to send yet; ``expect`` is the status that counts as success;
    ``done`` sees each successful answer."""

    name: str
    rate: float
    make: Callable[[], tuple[str, str, bytes | None] | None]
    expect: int
    done: Callable[[bytes], None] | None = None
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int | str] = field(default_factory=Counter)
    skipped: int = 0

    @property
    def errors(self) -> int:
        return sum(n for code, n in self.statuses.items() if code != self.expect)

    def quantile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


class Pool:
    """Keep-alive connections to the node, as many as the requests in flight (up to
    ``limit``): a request never waits for a connection behind slow ones, so a latency is
    the node's. A connection idle too long is opened again."""

    def __init__(self, port: int, limit: int) -> None:
        self.port, self.limit = port, limit
        self.idle: list[tuple[RawConnection, float]] = []
        self.opened = 0
        self.slots = asyncio.Semaphore(limit)

    async def request(self, method: str, path: str, body: bytes | None, token: str) -> Any:
        async with self.slots:
            conn = None
            while self.idle and conn is None:
                conn, last = self.idle.pop()
                if time.monotonic() - last > IDLE_REOPEN:
                    await conn.close()
                    conn = None
            if conn is None:
                conn = await RawConnection.open("127.0.0.1", self.port)
                self.opened += 1
            try:
                answer = await conn.request(method, path, body, token)
            except BaseException:
                await conn.close()
                raise
            self.idle.append((conn, time.monotonic()))
            return answer


async def drive(routes: list[Route], port: int, token: str, seconds: float) -> int:
    """Send every route's requests on schedule for ``seconds``; the connections opened."""
    pool = Pool(port, CONNECTIONS)
    tasks: set[asyncio.Task[None]] = set()
    loop = asyncio.get_running_loop()
    start = loop.time()

    async def one(route: Route, due: float, request: tuple[str, str, bytes | None]) -> None:
        method, path, body = request
        try:
            status, answer = await pool.request(method, path, body, token)
        except (OSError, asyncio.IncompleteReadError, RuntimeError) as exc:
            route.statuses[type(exc).__name__] += 1
            return
        route.latencies.append(loop.time() - due)
        if status == route.expect and route.done is not None:
            try:
                route.done(answer)
            except (ValueError, KeyError, TypeError) as exc:  # an answer not as documented
                route.statuses[f"bad answer ({type(exc).__name__})"] += 1
                return
        route.statuses[status] += 1

    async def schedule(route: Route) -> None:
        due = start + random.random() / route.rate
        while due < start + seconds:
            await asyncio.sleep(max(0.0, due - loop.time()))
            request = route.make()
            if request is None:
                route.skipped += 1
            else:
                task = asyncio.create_task(one(route, due, request))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            due += 1 / route.rate

    await asyncio.gather(*(schedule(r) for r in routes))
    while tasks:
        await asyncio.gather(*list(tasks))
    return pool.opened


# -- the node's memory ---------------------------------------------------------------------


def process_tree(pid: int) -> list[int]:
    """``pid`` and every process below it (the node's workers, if any; Anvil is ours)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def rss_bytes(pid: int) -> int:
    total = 0
    for member in process_tree(pid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
    return total


async def sample_rss(pid: int, seconds: float, samples: list[tuple[float, int]]) -> None:
    start = time.monotonic()
    while (elapsed := time.monotonic() - start) <= seconds:
        samples.append((elapsed, rss_bytes(pid)))
        await asyncio.sleep(RSS_EVERY)


# -- the soak ------------------------------------------------------------------------------


@dataclass
class Accepted:
    """What the node said it took: digests (lists, singles, credentials) and revocations."""

    digests: set[str] = field(default_factory=set)
    credentials: deque[str] = field(default_factory=deque)  # ids not yet revoked
    revoked: set[str] = field(default_factory=set)
    status_lists: set[str] = field(default_factory=set)
    credential_digests: list[str] = field(default_factory=list)


def credential_done(accepted: Accepted) -> Callable[[bytes], None]:
    def done(answer: bytes) -> None:
        issued = json.loads(answer)
        accepted.digests.add(issued["digest"])
        accepted.credential_digests.append(issued["digest"])
        credential = issued["credential"]
        accepted.credentials.append(credential["id"])
        statuses = credential.get("credentialStatus", [])
        for status in statuses if isinstance(statuses, list) else [statuses]:
            accepted.status_lists.add(urlsplit(status["statusListCredential"]).path)

    return done


def intake_done(accepted: Accepted) -> Callable[[bytes], None]:
    def done(answer: bytes) -> None:
        accepted.digests.update(r["digest"] for r in json.loads(answer)["digests"])

    return done


def routes_for(
    accepted: Accepted, proof_digests: list[str], award: bytes, scale: float, rng: random.Random
) -> list[Route]:
    def fresh() -> str:
        return rng.randbytes(32).hex()

    def one_digest() -> tuple[str, str, bytes | None]:
        return ("POST", "/v1/digests", digests_body([fresh()]))

    def list_of_100() -> tuple[str, str, bytes | None]:
        return ("POST", "/v1/digests", digests_body([fresh() for _ in range(100)]))

    def revoke() -> tuple[str, str, bytes | None] | None:
        if not accepted.credentials:
            return None
        credential = accepted.credentials.popleft()
        return ("POST", f"/v1/credentials/{credential}/revoke", b'{"reason": 1}')

    def revoke_done(answer: bytes) -> None:
        accepted.revoked.add(json.loads(answer)["credentialId"])

    lists = sorted(accepted.status_lists)
    return [
        Route("POST /v1/digests (1)", 40 * scale, one_digest, 202, intake_done(accepted)),
        Route("POST /v1/digests (100)", 2 * scale, list_of_100, 202, intake_done(accepted)),
        Route(
            "POST /v1/credentials",
            8 * scale,
            lambda: ("POST", "/v1/credentials", award),
            201,
            credential_done(accepted),
        ),
        Route("POST /v1/credentials/{id}/revoke", 1 * scale, revoke, 200, revoke_done),
        Route(
            "GET /v1/proofs/{digest}",
            150 * scale,
            lambda: ("GET", f"/v1/proofs/{rng.choice(proof_digests)}", None),
            200,
        ),
        Route(
            "GET /v1/revocation-proofs/{digest}",
            10 * scale,
            lambda: (
                "GET",
                f"/v1/revocation-proofs/{rng.choice(accepted.credential_digests)}",
                None,
            ),
            200,
        ),
        Route(
            "GET /v1/status-lists/{id}",
            20 * scale,
            lambda: ("GET", rng.choice(lists), None),
            200,
        ),
        Route("GET /healthz", 5 * scale, lambda: ("GET", "/healthz", None), 200),
    ]


def warm_up(node: NodeProcess, token: str, accepted: Accepted, rng: random.Random) -> bytes:
    """Anchored digests for the proof route, credentials to revoke; the award's body."""
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=node.url, headers=headers, timeout=120) as client:
        warm = make_digests(rng, WARM_UP_DIGESTS)
        for start in range(0, len(warm), 5_000):
            reply = client.post(
                "/v1/digests",
                content=digests_body(warm[start : start + 5_000]),
                headers={"Content-Type": "application/json"},
            )
            reply.raise_for_status()
        accepted.digests.update(warm)
        created = client.post("/v1/achievements", json=EXAMPLE_ACHIEVEMENT)
        created.raise_for_status()
        award = copy.deepcopy(EXAMPLE_AWARD)
        award.pop("components")
        award["achievement"] = created.json()["id"]
        body = json.dumps(award).encode()
        done = credential_done(accepted)
        for _ in range(WARM_UP_CREDENTIALS):
            reply = client.post(
                "/v1/credentials", content=body, headers={"Content-Type": "application/json"}
            )
            reply.raise_for_status()
            done(reply.content)
        node.cli("anchor")
    return body


@dataclass
class ChainCount:
    anchored: int
    roots: set[str]
    revocations: int


def count_on_chain(node: NodeProcess, rpc_url: str, issuer: str) -> ChainCount:
    """The issuer's anchored tree sizes from ``RootAnchored`` events, read with web3 alone,
    and the size of its committed revocation set (``revocationRootOf``)."""
    deployment = json.loads(
        (Path(node.env["MCLEDGER_DATA_DIR"]) / "chain/deployment.json").read_text()
    )
    w3 = Web3(Web3.HTTPProvider(rpc_url))
    topic = Web3.keccak(text="RootAnchored(bytes32,address,uint64)")
    issuer_topic = "0x" + issuer.lower()[2:].rjust(64, "0")
    logs = w3.eth.get_logs(
        {
            "address": Web3.to_checksum_address(deployment["contract"]),
            "fromBlock": 0,
            "toBlock": "latest",
            "topics": [topic, None, issuer_topic],
        }
    )
    sizes = [int.from_bytes(bytes(log["data"])[-32:], "big") for log in logs]
    roots = {bytes(log["topics"][1]).hex() for log in logs}
    selector = Web3.keccak(text="revocationRootOf(address)")[:4]
    out = w3.eth.call(
        {
            "to": Web3.to_checksum_address(deployment["contract"]),
            "data": "0x" + selector.hex().removeprefix("0x") + issuer_topic[2:],
        }
    )
    return ChainCount(sum(sizes), roots, int.from_bytes(bytes(out)[32:64], "big"))


def soak(minutes: float, db: str, workers: int, scale: float, table: Table) -> bool:
    from tests.conftest import throwaway_schema

    rng = random.Random(13)
    anvil = start_anvil()
    seconds = minutes * 60
    cron = max(1, round(minutes / 3.5)) if minutes >= 2 else 1
    env = {
        "MCLEDGER_ANCHOR_CRON": f"*/{cron} * * * *",
        "MCLEDGER_REVOCATION_INTERVAL": str(max(20.0, seconds / 2.5)),
    }
    args = ("--workers", str(workers)) if workers > 1 else ()
    with contextlib.ExitStack() as stack:
        stack.callback(anvil.stop)
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-soak-")))
        url = None if db == "sqlite" else stack.enter_context(throwaway_schema(POSTGRES))
        node = NodeProcess(tmp / "data", anvil, database_url=url, env=env, args=args)
        stack.callback(node.stop)
        token = node.cli(
            "token", "create", "--issuer", "local", "--scope", "issue,revoke,admin"
        ).strip()
        accepted = Accepted()
        award = warm_up(node, token, accepted, rng)
        proof_digests = sorted(accepted.digests)
        issuer = httpx.get(f"{node.url}/v1/issuers/local", timeout=30).json()
        address = issuer["chainAddress"]
        routes = routes_for(accepted, proof_digests, award, scale, rng)
        samples: list[tuple[float, int]] = []
        print(f"soak: {minutes:g} min on {db}, {workers} worker(s), cron */{cron}", flush=True)
        started = time.monotonic()

        async def run() -> int:
            opened, _ = await asyncio.gather(
                drive(routes, node.port, token, seconds), sample_rss(node.pid, seconds, samples)
            )
            return int(opened)

        opened = asyncio.run(run())
        took = time.monotonic() - started
        node.cli("anchor")  # the rest: pending digests sealed and anchored, revocations sent
        count = count_on_chain(node, anvil.rpc_url, address)
        sampled = rng.sample(sorted(accepted.digests), min(SAMPLE_PROOFS, len(accepted.digests)))
        bad_proofs = 0
        with httpx.Client(base_url=node.url, timeout=30) as client:
            for digest in sampled:
                reply = client.get(f"/v1/proofs/{digest}")
                if reply.status_code != 200 or reply.json()["root"] not in count.roots:
                    bad_proofs += 1
    table.add("connections the load generator opened", f"{opened:,}", "one per request in flight")
    return report(table, routes, samples, took, accepted, count, bad_proofs, len(sampled))


def report(
    table: Table,
    routes: list[Route],
    samples: list[tuple[float, int]],
    took: float,
    accepted: Accepted,
    count: ChainCount,
    bad_proofs: int,
    sampled: int,
) -> bool:
    errors = 0
    for route in routes:
        errors += route.errors
        codes = ",".join(f"{c}x{n}" for c, n in sorted(route.statuses.items(), key=str))
        table.add(
            route.name,
            f"{len(route.latencies) / took:,.1f}/s",
            f"p50 {route.quantile(0.5) * 1000:.1f} ms, p99 {route.quantile(0.99) * 1000:.1f} ms,"
            f" max {route.quantile(1.0) * 1000:.0f} ms; {codes}"
            + (f"; {route.skipped} not sent (nothing to revoke)" if route.skipped else ""),
        )
    table.add("errors (any answer but the route's success, or none)", f"{errors}")
    warm = [rss for at, rss in samples if at >= took / 4]
    flat = True
    if warm:
        base = warm[0]
        worst = max(abs(r - base) / base for r in warm)
        flat = worst <= RSS_TOLERANCE
        table.add(
            "node RSS after warm-up: first / min / max / last",
            f"{base / 2**20:,.0f} MiB",
            f"{min(warm) / 2**20:,.0f} / {max(warm) / 2**20:,.0f} / {warm[-1] / 2**20:,.0f} MiB;"
            f" worst {worst:+.1%} from the first ({'flat' if flat else 'NOT flat'} within ±10 %)",
        )
    lost = len(accepted.digests) - count.anchored
    table.add(
        "digests accepted / anchored on chain (RootAnchored)",
        f"{len(accepted.digests):,}",
        f"{count.anchored:,} anchored; lost {lost:,}",
    )
    table.add("sampled proofs whose root the chain holds", f"{sampled - bad_proofs:,}/{sampled:,}")
    table.add(
        "revocations accepted / committed (revocationRootOf size)",
        f"{len(accepted.revoked):,}",
        f"{count.revocations:,} committed",
    )
    return (
        errors == 0
        and flat
        and lost == 0
        and bad_proofs == 0
        and count.revocations == len(accepted.revoked)
    )


@pytest.mark.benchmark
def test_soak() -> None:
    """``make bench``: a two-minute soak on PostgreSQL (``BENCH_SOAK_MINUTES`` for more)."""
    table = Table()
    minutes = float(os.environ.get("BENCH_SOAK_MINUTES", "2"))
    ok = soak(minutes, "postgres", 2, 1.0, table)
    table.print()
    assert ok, "the soak lost work, failed requests or grew"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--db", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument("--workers", type=int, default=1, help="serve --workers N (N > 1)")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every rate")
    options = parser.parse_args()
    table = Table()
    ok = soak(options.minutes, options.db, options.workers, options.scale, table)
    table.print()
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
