"""The scheduler's runs on a real Anvil and index: a scheduled revocation flush, or a
scheduled or threshold anchoring, that finds another run going on is not lost; the
follow-up job does it as soon as the lock is free."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, func, select

from mcledger.node.index.models import batch_t
from mcledger.node.issuing.issuers import ensure_issuer
from mcledger.node.pipeline.anchorer import Anchorer
from mcledger.node.pipeline.revocation_flush import RevocationFlusher, pending_revocations
from mcledger.node.pipeline.scheduler import AnchoringScheduler
from mcledger.node.pipeline.txmachine import AnchoringPolicy
from mcledger.node.settings import load_settings
from tests.node.samples import insert_revocations

FAST = AnchoringPolicy(wait_timeout=20, poll_interval=0.05, replace_after=3600)


def test_a_deferred_revocation_flush_is_done_by_the_next_follow_up(
    index_engine: Engine, deployed, tmp_path: Path
) -> None:
    ensure_issuer(index_engine, "uni", chain_address=deployed.issuer.address)
    account = lambda _id: deployed.issuer  # noqa: E731
    scheduler = AnchoringScheduler(
        Anchorer(index_engine, deployed.ledger, account, FAST),
        load_settings(data_dir=tmp_path),
        RevocationFlusher(index_engine, deployed.ledger, account, FAST),
    )
    insert_revocations(index_engine, "uni", 3)

    with scheduler._run_lock:  # an anchoring run is going on
        scheduler.flush_revocations()
    assert pending_revocations(index_engine) == 3  # nothing sealed: deferred, not dropped

    scheduler.follow_up()
    assert pending_revocations(index_engine) == 0
    assert scheduler.flusher is not None
    assert scheduler.flusher.unfinished("uni") == []  # sent and confirmed
    insert_revocations(index_engine, "uni", 1)
    scheduler.follow_up()  # nothing owed any more: the follow-up seals nothing new
    assert pending_revocations(index_engine) == 1


def test_a_deferred_anchoring_is_done_by_the_next_follow_up(
    index_engine: Engine, deployed, tmp_path: Path
) -> None:
    from mcledger.node.pipeline.submissions import submit_digests

    ensure_issuer(index_engine, "uni", chain_address=deployed.issuer.address)
    account = lambda _id: deployed.issuer  # noqa: E731
    settings = load_settings(data_dir=tmp_path, batch_threshold=2)
    scheduler = AnchoringScheduler(Anchorer(index_engine, deployed.ledger, account, FAST), settings)
    submit_digests(index_engine, "uni", [(f"{i:064x}", None) for i in (1, 2, 3)], "test")

    def batches() -> int:
        with index_engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(batch_t)).scalar_one()

    with scheduler._run_lock:  # the follow-up job is driving a batch
        scheduler.run_if_over_threshold()
        scheduler.run_scheduled()
    assert batches() == 0  # nothing sealed: deferred, not dropped

    scheduler.follow_up()
    assert batches() == 1
    assert scheduler.anchorer.unfinished("uni") == []  # sealed, sent and confirmed
    submit_digests(index_engine, "uni", [(f"{4:064x}", None)], "test")
    scheduler.follow_up()  # nothing owed any more: the follow-up seals nothing new
    assert batches() == 1
