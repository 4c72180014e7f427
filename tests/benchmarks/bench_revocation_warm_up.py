"""The first revocation proof of a new process, with and without the warm-up that the API
starts as serving begins (`CommittedSets.warm_up`), on a real SQLite index.

The index holds one issuer's revocations as confirmed commitments (written straight into
the index, their roots computed with the revocation set, 10,000 a commitment as the flush
makes them; no chain: building the set reads only the index). Prints, each from a new
`CommittedSets` (a new process's):

* the reference: the first proof without a warm-up (it builds the set);
* the warm-up itself (its thread, start to finish);
* the first proof after the warm-up finished;
* a proof asked for as the warm-up starts: it waits for the one copy being built.

``python tests/benchmarks/bench_revocation_warm_up.py`` (``BENCH_REVOCATIONS``, default
100,000).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

if __name__ == "__main__":  # run as a script from anywhere: import the project's packages
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sqlalchemy import Engine, insert, select

from mcledger.anchoring.revocation_proof import RevocationRecord
from mcledger.anchoring.revocation_set import RevocationSet
from mcledger.node.index.db import open_index
from mcledger.node.index.models import (
    BatchState,
    RevocationKind,
    revocation_batch_t,
    revocation_t,
    utcnow,
)
from mcledger.node.issuing.issuers import ensure_issuer
from mcledger.node.pipeline.revocation_sets import CommittedSets

SIZE = int(os.environ.get("BENCH_REVOCATIONS", 100_000))
PER_COMMITMENT = 10_000
AT = 1_767_225_600


def _line(name: str, seconds: float, note: str = "") -> None:
    print(f"  {name:<56}{seconds * 1000:>10.1f} ms  {note}".rstrip())


def _commit(engine: Engine, size: int) -> bytes:
    """``size`` random revocations as confirmed commitments; one of their digests."""
    revocations = RevocationSet()
    record = RevocationRecord(2, AT)
    digests = [os.urandom(32) for _ in range(size)]
    with engine.begin() as conn:
        for start in range(0, size, PER_COMMITMENT):
            part = digests[start : start + PER_COMMITMENT]
            previous = revocations.root.hex()
            revocations.insert_many(part, record)
            batch_id = conn.execute(
                insert(revocation_batch_t)
                .values(
                    issuer_id="bench",
                    reason=2,
                    state=BatchState.CONFIRMED,
                    size=len(part),
                    kind=RevocationKind.COMMIT,
                    previous_root=previous,
                    new_root=revocations.root.hex(),
                    new_size=revocations.size,
                    declared_at=AT,
                    sealed_at=utcnow(),
                )
                .returning(revocation_batch_t.c.id)
            ).scalar_one()
            conn.execute(
                insert(revocation_t),
                [
                    {
                        "issuer_id": "bench",
                        "digest": d.hex(),
                        "reason": 2,
                        "note": "",
                        "revoked_at": utcnow(),
                        "batch_id": batch_id,
                    }
                    for d in part
                ],
            )
    return digests[0]


def _first_proof(sets: CommittedSets, digest: bytes) -> float:
    began = time.perf_counter()
    proof, _ = sets.prove("bench", digest)
    assert proof.leaf is not None and proof.leaf.digest == digest
    return time.perf_counter() - began


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        engine = open_index(f"sqlite:///{Path(folder) / 'index.sqlite3'}")
        ensure_issuer(engine, "bench", chain_address="0x" + "ab" * 20)
        digest = _commit(engine, SIZE)
        with engine.connect() as conn:
            batches = conn.execute(select(revocation_batch_t.c.id)).all()
        print(f"{SIZE:,} revocations in {len(batches)} confirmed commitments, SQLite")

        reference = _first_proof(CommittedSets(engine), digest)
        _line("first proof, no warm-up (reference: it builds the set)", reference)

        warmed = CommittedSets(engine)
        began = time.perf_counter()
        warmed.warm_up().join()
        _line("the warm-up thread, start to end", time.perf_counter() - began)
        after = _first_proof(warmed, digest)
        _line("first proof after the warm-up", after, f"{reference / after:,.0f}x faster")

        racing = CommittedSets(engine)
        thread = racing.warm_up()
        during = _first_proof(racing, digest)  # waits on the issuer's lock for the build
        thread.join()
        _line("a proof asked as the warm-up starts (waits for it)", during)
        engine.dispose()


if __name__ == "__main__":
    main()
