"""Digest intake on a real index (SQLite and PostgreSQL): all or nothing, idempotent."""

from __future__ import annotations

import os
import random
import threading
import uuid

import pytest
from sqlalchemy import Engine, func, select

from mcledger.node.index.models import operation_t, submission_t
from mcledger.node.issuing.issuers import UnknownIssuerError, ensure_issuer
from mcledger.node.pipeline.batches import seal_batch
from mcledger.node.pipeline.submissions import (
    DigestConflictError,
    InvalidSubmissionError,
    SubmissionState,
    credential_id_problem,
    digest_problem,
    submit_digests,
)


def digest() -> str:
    return os.urandom(32).hex()


def urn() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


@pytest.fixture
def engine(index_engine: Engine) -> Engine:
    ensure_issuer(index_engine, "uni", chain_address="0x" + "11" * 20)
    ensure_issuer(index_engine, "other", chain_address="0x" + "22" * 20)
    return index_engine


def count(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(submission_t)).scalar_one()


def test_new_digests_are_stored_pending_in_order(engine: Engine) -> None:
    items = [(digest(), urn()), (digest(), None), (digest(), "https://uni.example/c/1")]
    states = submit_digests(engine, "uni", items, actor="token:1")
    assert [(s.digest, s.credential_id) for s in states] == items
    assert all(s.created and s.state == "pending" and s.batch_id is None for s in states)
    assert all(s.submitted_at.tzinfo is not None for s in states)
    with engine.connect() as conn:
        rows = conn.execute(select(submission_t.c.digest, submission_t.c.issuer_id)).all()
        actions = conn.execute(select(operation_t.c.actor, operation_t.c.action)).all()
    assert sorted(rows) == sorted((d, "uni") for d, _ in items)
    assert ("token:1", "digests.submitted") in actions


def test_resubmission_is_idempotent_and_reports_the_stored_record(engine: Engine) -> None:
    first = submit_digests(engine, "uni", [(d := digest(), cid := urn())], actor="t")[0]
    fresh = digest()
    again = submit_digests(engine, "uni", [(d, cid), (d, None), (fresh, None)], actor="t")
    assert [s.created for s in again] == [False, True]  # the repeat counts once
    assert again[0].credential_id == cid and again[0].submitted_at == first.submitted_at
    assert count(engine) == 2


def test_state_follows_the_batch(engine: Engine) -> None:
    d = digest()
    submit_digests(engine, "uni", [(d, None)], actor="t")
    batch = seal_batch(engine, "uni")
    assert batch is not None
    state = submit_digests(engine, "uni", [(d, None)], actor="t")[0]
    assert (state.state, state.batch_id, state.created) == ("sealed", batch.id, False)


def test_another_issuers_digest_is_a_conflict_and_nothing_is_stored(engine: Engine) -> None:
    theirs = digest()
    submit_digests(engine, "other", [(theirs, None)], actor="t")
    with pytest.raises(DigestConflictError, match=theirs) as caught:
        submit_digests(engine, "uni", [(digest(), None), (theirs, None)], actor="t")
    assert [(c.digest, c.reason) for c in caught.value.conflicts] == [(theirs, "another-issuer")]
    assert count(engine) == 1


def test_a_different_credential_id_for_a_stored_digest_is_a_conflict(engine: Engine) -> None:
    d, bare = digest(), digest()
    submit_digests(engine, "uni", [(d, urn()), (bare, None)], actor="t")
    for item in [(d, urn()), (bare, urn())]:
        with pytest.raises(DigestConflictError) as caught:
            submit_digests(engine, "uni", [(digest(), None), item], actor="t")
        assert caught.value.conflicts[0].reason == "credential-id-differs"
    assert count(engine) == 2


def test_a_credential_id_names_one_digest(engine: Engine) -> None:
    cid = urn()
    submit_digests(engine, "uni", [(digest(), cid)], actor="t")
    with pytest.raises(DigestConflictError) as caught:
        submit_digests(engine, "other", [(digest(), cid)], actor="t")
    assert caught.value.conflicts[0].reason == "credential-id-taken"
    with pytest.raises(InvalidSubmissionError, match="also given for digest"):
        submit_digests(engine, "uni", [(digest(), cid2 := urn()), (digest(), cid2)], actor="t")
    assert count(engine) == 1


def test_repeats_in_one_request_must_agree(engine: Engine) -> None:
    d, cid = digest(), urn()
    states = submit_digests(engine, "uni", [(d, None), (d, cid), (d, cid)], actor="t")
    assert [(s.digest, s.credential_id) for s in states] == [(d, cid)]
    with pytest.raises(InvalidSubmissionError) as caught:
        submit_digests(engine, "uni", [(e := digest(), urn()), (e, urn())], actor="t")
    assert [(p.index, p.field) for p in caught.value.problems] == [(1, "credentialId")]
    assert count(engine) == 1


def test_every_bad_item_is_named_and_nothing_is_stored(engine: Engine) -> None:
    good = digest()
    items: list[tuple[str, str | None]] = [
        (good, None),
        ("ab" * 31, None),
        (good.upper(), None),
        ("zz" * 32, "not a uri"),
        (digest(), "urn:" + "x" * 300),
    ]
    with pytest.raises(InvalidSubmissionError) as caught:
        submit_digests(engine, "uni", items, actor="t")
    assert [(p.index, p.field) for p in caught.value.problems] == [
        (1, "digest"),
        (2, "digest"),
        (3, "digest"),
        (3, "credentialId"),
        (4, "credentialId"),
    ]
    assert count(engine) == 0


def test_an_unknown_issuer_is_refused(engine: Engine) -> None:
    with pytest.raises(UnknownIssuerError):
        submit_digests(engine, "nobody", [(digest(), None)], actor="t")
    assert count(engine) == 0


def test_large_requests_span_several_chunks(engine: Engine) -> None:
    items = [(digest(), urn()) for _ in range(2_500)]
    submit_digests(engine, "uni", items[:1_200], actor="t")
    states = submit_digests(engine, "uni", items, actor="t")
    assert [s.created for s in states] == [False] * 1_200 + [True] * 1_300
    assert count(engine) == 2_500
    theirs = digest()
    submit_digests(engine, "other", [(theirs, None)], actor="t")
    with pytest.raises(DigestConflictError):
        submit_digests(
            engine, "uni", [(digest(), None) for _ in range(1_700)] + [(theirs, None)], actor="t"
        )
    assert count(engine) == 2_501


def test_field_rules() -> None:
    assert digest_problem("a" * 64) is None
    assert "lower case" in (digest_problem("A" * 64) or "")
    assert "got 63" in (digest_problem("a" * 63) or "")
    assert digest_problem(5) is not None
    assert credential_id_problem("urn:uuid:5f0c6c1e-8a5b-4d2f-9a57-0e3d1b6f7c21") is None
    assert credential_id_problem("https://example.org/credentials/3732") is None
    for bad in ["", "no-scheme", "urn:has space", "x:" + "y" * 199, 12]:
        assert credential_id_problem(bad) is not None


def test_concurrent_requests_store_each_digest_once(engine: Engine) -> None:
    shared = [(digest(), None) for _ in range(300)]
    requests = [shared + [(digest(), None) for _ in range(200)] for _ in range(4)]
    for items in requests[1:]:  # in other orders too (the intake sorts before it locks)
        random.shuffle(items)
    results: list[list[SubmissionState]] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(requests))

    def run(items: list[tuple[str, str | None]]) -> None:
        barrier.wait()
        try:
            results.append(submit_digests(engine, "uni", items, "t"))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(r,)) for r in requests]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    created = [s.digest for r in results for s in r if s.created]
    assert sorted(created) == sorted({d for items in requests for d, _ in items})
    assert count(engine) == 300 + 4 * 200


def _seqs(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return dict(conn.execute(select(submission_t.c.digest, submission_t.c.seq)).all())


def test_numbers_have_no_gaps_when_part_of_a_request_was_there(engine: Engine) -> None:
    a, b, c, d = sorted(digest() for _ in range(4))
    submit_digests(engine, "uni", [(b, None), (a, None)], actor="t")
    again = submit_digests(engine, "uni", [(d, None), (b, None), (c, None)], actor="t")
    assert [s.created for s in again] == [True, False, True]
    assert _seqs(engine) == {a: 0, b: 1, c: 2, d: 3}  # c and d close up behind b
    theirs = digest()
    submit_digests(engine, "other", [(theirs, None)], actor="t")
    with pytest.raises(DigestConflictError):
        submit_digests(engine, "uni", [(digest(), None), (theirs, None)], actor="t")
    submit_digests(engine, "uni", [(e := digest(), None)], actor="t")
    assert _seqs(engine)[e] == 4  # the refused request took no number
    batch = seal_batch(engine, "uni")
    assert batch is not None and batch.tree_size == 5
