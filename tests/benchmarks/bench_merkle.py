"""The Merkle engine's speed against the design's targets, beside a plain hashlib loop.

Two forms:

* ``python tests/benchmarks/bench_merkle.py`` prints the figures and exits 1 if a
  target is missed;
* ``pytest tests/benchmarks -o python_files='bench_*.py' -m benchmark -s`` (``make
  bench``) prints the same figures and asserts nothing (benchmarks print figures).

Builds trees of 10^4, 10^5 and 10^6 leaves on the C path and the pure path, times
a plain ``sha256(d).digest()`` loop over the same 2n-1 hashes, stores the 10^6
tree in the single-file tile store, and proves and verifies 10,000 random leaves
from it. Targets (2-core machine): build 10^6 >= 1.2 M leaves/s and >= 0.4 of the
plain loop's speed; >= 50,000 proofs/s from the stored tree; >= 100,000 verifies/s.
"""

from __future__ import annotations

import random
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from hashlib import sha256
from pathlib import Path

if __name__ == "__main__":  # run as a script from anywhere: import the project's packages
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import pytest

from mcledger.anchoring import merkle
from mcledger.anchoring.merkle import InclusionProof, verify_inclusion
from mcledger.anchoring.tiles import FileTileStore
from mcledger.anchoring.tree import MerkleTree, StoredTree, save_tree

SIZES = (10_000, 100_000, 1_000_000)
PROOFS = 10_000
REPEATS = 3  # timed figures are the best of this many runs


def best_time(action: Callable[[], object], repeats: int) -> float:
    """The fastest of ``repeats`` runs, in seconds (the least disturbed by other work)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - start)
    return best


def plain_loop(data: list[bytes], hashes: int) -> None:
    """``hashes`` calls of sha256(d).digest() over 32-byte values: what Python can at best do."""
    for d in data:
        sha256(d).digest()
    for d in data[: hashes - len(data)]:
        sha256(d).digest()


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def run() -> list[tuple[str, float, float | None]]:
    """Print the figures; return (name, measured, target) for each figure with a target."""
    rng = random.Random(2026)
    checks: list[tuple[str, float, float | None]] = []
    leaves = [rng.randbytes(32) for _ in range(max(SIZES))]
    paths = [("C", True)] if merkle.HAVE_C_ACCELERATOR else []
    print(f"\nC accelerator: {'built' if merkle.HAVE_C_ACCELERATOR else 'MISSING'}")
    print(f"{'leaves':>9} {'path':>5} {'build s':>8} {'leaves/s':>11} {'plain s':>8} {'ratio':>6}")
    for n in SIZES:
        data = leaves[:n]
        repeats = 5 if n < 1_000_000 else 2
        plain = best_time(lambda data=data, n=n: plain_loop(data, 2 * n - 1), repeats)
        for name, accelerate in [*paths, ("pure", False)]:
            build = best_time(
                lambda data=data, a=accelerate: MerkleTree.from_leaves(data, accelerate=a),
                repeats,
            )
            ratio = plain / build  # >1: faster than the plain loop over the same hashes
            print(f"{n:>9} {name:>5} {build:>8.3f} {n / build:>11,.0f} {plain:>8.3f} {ratio:>6.2f}")
            if n == 1_000_000:
                best = name == ("C" if paths else "pure")
                checks.append((f"build 10^6 {name}, leaves/s", n / build, 1.2e6 if best else None))
                checks.append((f"build 10^6 {name} / plain loop", ratio, 0.4 if best else None))

    tree = MerkleTree.from_leaves(leaves)
    indexes = [rng.randrange(len(leaves)) for _ in range(PROOFS)]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tree.tiles"
        start = time.perf_counter()
        with FileTileStore.create(path) as writer:
            save_tree(writer, tree)
        stored_s = time.perf_counter() - start
        size_mib = path.stat().st_size / 2**20
        print(f"\nstored 10^6 tree: {size_mib:.1f} MiB written in {stored_s:.3f} s")
        with FileTileStore.open(path) as store:

            def prove_all() -> list[InclusionProof]:
                stored = StoredTree(store)  # fresh: each run starts with a cold tile cache
                return [stored.inclusion_proof(i) for i in indexes]

            proofs = prove_all()
            prove_s = best_time(prove_all, REPEATS)
    checks.append(("proofs/s from the stored 10^6 tree", PROOFS / prove_s, 50_000))
    assert all(p == tree.inclusion_proof(i) for i, p in zip(indexes[:100], proofs, strict=False))

    pairs = [(leaves[i], p) for i, p in zip(indexes, proofs, strict=True)]
    for name, accelerate in [*paths, ("pure", False)]:

        def verify_all(accelerate: bool = accelerate) -> None:
            for leaf, proof in pairs:
                verify_inclusion(leaf, proof, accelerate=accelerate)

        rate = PROOFS / best_time(verify_all, REPEATS)
        best = name == ("C" if paths else "pure")
        checks.append((f"verifies/s ({name})", rate, 100_000 if best else None))

    print(f"peak RSS: {peak_rss_mib():.0f} MiB\n")
    for name, value, target in checks:
        verdict = "" if target is None else ("  ok" if value >= target else "  MISSED")
        goal = "" if target is None else f"  (target >= {target:,.1f})"
        print(f"{name:<40} {value:>12,.2f}{goal}{verdict}")
    return checks


@pytest.mark.benchmark
def test_merkle_benchmark() -> None:
    run()


if __name__ == "__main__":
    missed = [name for name, value, target in run() if target is not None and value < target]
    sys.exit(1 if missed else 0)
