"""The revocation set in memory (anchoring.revocation_set): build, flush, prove, verify at 10^6.

Prints, for a set of 1,000,000 revocations (random digests, as SHA-256 digests are):

* the time to build it from scratch, and to compute the new root after a flush of 1,000 and
  of 10,000 more (the node's revocation flush);
* the proof of a revoked and of a non-revoked digest: depth, siblings, size of its compact
  JSON and of its information (the bytes a binary form would need), and the time to make and
  to verify it (median of many);
* the memory the process holds (peak RSS) with the set built.

Two forms: ``python tests/benchmarks/bench_revocation_set.py`` and
``pytest tests/benchmarks/bench_revocation_set.py -m benchmark -s``.
"""

from __future__ import annotations

import resource
import secrets
import statistics
import sys
import time
from pathlib import Path

if __name__ == "__main__":  # run as a script from anywhere: import the project's packages
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import pytest

from mcledger.anchoring.revocation_proof import RevocationProof, RevocationRecord, verify
from mcledger.anchoring.revocation_set import RevocationSet

SIZE = 1_000_000
FLUSHES = (1_000, 10_000)
SAMPLES = 200


def _line(name: str, value: str, note: str = "") -> None:
    print(f"  {name:<46}{value:>14}  {note}".rstrip())


def _information_bytes(proof: RevocationProof) -> int:
    """What a binary form would carry: depth (2 bytes), the bitmap, the siblings, and the
    end entry (digest, reason, time: 41 bytes) when there is one."""
    return 2 + len(proof.bitmap) + 32 * len(proof.siblings) + (41 if proof.leaf else 0)


def run() -> None:
    print(f"\nrevocation set: {SIZE:,} random digests")
    base = [secrets.token_bytes(32) for _ in range(SIZE)]
    record = RevocationRecord(2, int(time.time()))
    began = time.perf_counter()
    revoked = RevocationSet()
    revoked.insert_many(base, record)
    _line(f"build {SIZE:,} from scratch", f"{time.perf_counter() - began:.2f} s")
    for count in FLUSHES:
        flush = [secrets.token_bytes(32) for _ in range(count)]
        began = time.perf_counter()
        added = revoked.insert_many(flush, RevocationRecord(1, int(time.time())))
        took = time.perf_counter() - began
        assert added == count
        _line(
            f"new root after a flush of {count:,}",
            f"{took * 1000:.0f} ms",
            f"size {len(revoked):,}",
        )
    root = revoked.root
    cases = (
        ("revoked", base[:SAMPLES]),
        ("not revoked", [secrets.token_bytes(32) for _ in range(SAMPLES)]),
    )
    for name, digests in cases:
        proofs, made = [], []
        for digest in digests:
            began = time.perf_counter()
            proofs.append(revoked.prove(digest))
            made.append(time.perf_counter() - began)
        checked = []
        for digest, proof in zip(digests, proofs, strict=True):
            began = time.perf_counter()
            verdict = verify(root, digest, proof)
            checked.append(time.perf_counter() - began)
            assert verdict.member == (name == "revoked")
        json_sizes = [len(p.dumps()) for p in proofs]
        info = [_information_bytes(p) for p in proofs]
        depths, siblings = [p.depth for p in proofs], [len(p.siblings) for p in proofs]
        _line(
            f"proof, {name}: depth / siblings (median)",
            f"{statistics.median(depths):.0f} / {statistics.median(siblings):.0f}",
            f"depth {min(depths)}-{max(depths)}",
        )
        _line(
            f"proof, {name}: compact JSON (median, max)",
            f"{statistics.median(json_sizes):,.0f} B",
            f"max {max(json_sizes):,} B; information {statistics.median(info):,.0f} B",
        )
        _line(
            f"proof, {name}: make / verify (median)",
            f"{statistics.median(made) * 1e6:.0f} / {statistics.median(checked) * 1e6:.0f} µs",
            f"{SAMPLES} digests",
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    _line("peak memory of the process (RSS)", f"{peak:,.0f} MiB", f"{len(revoked):,} digests held")


@pytest.mark.benchmark
def test_revocation_set() -> None:
    run()


if __name__ == "__main__":
    run()
