"""The intake writer's group commit on a real index (SQLite and PostgreSQL): requests that
wait together share one transaction, each all or nothing, answered only once committed."""

from __future__ import annotations

import os
import time
from concurrent.futures import Future

import pytest
from sqlalchemy import Engine, func, select

from mcledger.node.index.models import operation_t, submission_t
from mcledger.node.issuing.issuers import UnknownIssuerError, ensure_issuer
from mcledger.node.pipeline.intake_writer import IntakeWriter
from mcledger.node.pipeline.submissions import (
    DigestConflictError,
    SubmissionState,
    submit_digests,
    unique_items,
)
from tests.node.pipeline.counter_hold import holding_counter


def digest() -> str:
    return os.urandom(32).hex()


@pytest.fixture
def engine(index_engine: Engine) -> Engine:
    ensure_issuer(index_engine, "uni", chain_address="0x" + "11" * 20)
    ensure_issuer(index_engine, "other", chain_address="0x" + "22" * 20)
    return index_engine


@pytest.fixture
def writer(engine: Engine) -> IntakeWriter:
    return IntakeWriter(engine, idle_seconds=0.5)


def stored(engine: Engine) -> dict[str, tuple[str, int]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(submission_t.c.digest, submission_t.c.issuer_id, submission_t.c.seq)
        )
        return {d: (issuer, seq) for d, issuer, seq in rows}


def submit(writer: IntakeWriter, issuer_id: str, *digests: str) -> Future[list[SubmissionState]]:
    return writer.submit(issuer_id, unique_items([(d, None) for d in digests]), "token:1")


def wait_until_queued(writer: IntakeWriter, count: int) -> None:
    deadline = time.monotonic() + 10
    while writer._waiting.qsize() < count:  # the writer is stuck on the held lock
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_a_bad_request_fails_alone_and_the_good_ones_of_its_group_are_kept(
    engine: Engine, writer: IntakeWriter
) -> None:
    theirs = digest()
    submit_digests(engine, "other", [(theirs, None)], actor="t")
    with holding_counter(engine, "uni") as release:
        first = submit(writer, "uni", a := digest())  # taken alone; waits on the lock
        time.sleep(0.1)
        good = submit(writer, "uni", b := digest(), c := digest())
        bad = submit(writer, "uni", d := digest(), theirs)  # another issuer's digest: 403
        unknown = submit(writer, "nobody", digest())
        also_good = submit(writer, "other", e := digest())
        wait_until_queued(writer, 4)
        assert not any(f.done() for f in (first, good, bad, unknown, also_good))
        release.set()

    assert [s.digest for s in first.result(10)] == [a]
    assert [s.created for s in good.result(10)] == [True, True]
    with pytest.raises(DigestConflictError) as refused:
        bad.result(10)
    assert [c.reason for c in refused.value.conflicts] == ["another-issuer"]
    with pytest.raises(UnknownIssuerError):
        unknown.result(10)
    assert also_good.result(10)[0].created
    rows = stored(engine)
    assert d not in rows  # nothing of the bad request
    assert {rows[x][1] for x in (a, b, c)} == {0, 1, 2}  # no hole where it was refused
    assert rows[e] == ("other", 1)  # after theirs
    assert writer.counts.largest_group == 4  # the four that waited shared a transaction
    assert writer.counts.alone == 0
    with engine.connect() as conn:
        logged = conn.execute(
            select(func.count()).where(operation_t.c.action == "digests.submitted")
        ).scalar_one()
    assert logged == 1 + 3  # theirs, then first, good and also_good; never the refused


def test_requests_are_answered_only_once_their_group_is_committed(
    engine: Engine, writer: IntakeWriter
) -> None:
    visible: list[bool] = []

    def check(answer: Future[list[SubmissionState]]) -> None:
        # Runs as the answer is set: another connection must already see the rows.
        wanted = {s.digest for s in answer.result()}
        visible.append(wanted <= stored(engine).keys())

    answers = [submit(writer, "uni", digest(), digest()) for _ in range(20)]
    for answer in answers:
        answer.add_done_callback(check)
    deadline = time.monotonic() + 10
    while len(visible) < len(answers):  # callbacks run just after result() returns
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert visible == [True] * 20
    assert len(stored(engine)) == 40


def test_one_issuers_requests_in_a_group_see_each_other(
    engine: Engine, writer: IntakeWriter
) -> None:
    shared = digest()
    with holding_counter(engine, "uni") as release:
        blocked = submit(writer, "uni", digest())
        time.sleep(0.1)
        one = submit(writer, "uni", shared, digest())
        two = submit(writer, "uni", digest(), shared)
        wait_until_queued(writer, 2)
        release.set()
    blocked.result(10)
    assert [s.created for s in one.result(10)] == [True, True]
    assert {s.digest: s.created for s in two.result(10)}[shared] is False
    assert sorted(seq for _, seq in stored(engine).values()) == list(range(4))


def test_the_thread_ends_when_idle_and_starts_again(engine: Engine) -> None:
    writer = IntakeWriter(engine, idle_seconds=0.05)
    submit(writer, "uni", digest()).result(10)
    deadline = time.monotonic() + 5
    while writer._thread is not None:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert submit(writer, "uni", digest()).result(10)[0].created
    assert len(stored(engine)) == 2
