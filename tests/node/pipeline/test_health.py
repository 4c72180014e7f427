"""When the pipeline counts as stuck (`stalls`), on hand-made states: the edges of the grace
time and of the unconfirmed limit, a batch sealed since the missed run, several issuers.
Reading the state from a real index is tested through `/readyz` and `/metrics`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from apscheduler.triggers.cron import CronTrigger

from mcledger.node.pipeline.health import PipelineState, Unconfirmed, stalls

NIGHTLY = CronTrigger.from_crontab("0 2 * * *", timezone=UTC)
RUN = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)  # a scheduled run
GRACE, LIMIT = 3600.0, 1800.0


def _state(
    now: datetime,
    *,
    pending: dict[str, datetime] | None = None,
    sealed: dict[str, datetime] | None = None,
    unconfirmed: tuple[Unconfirmed, ...] = (),
) -> PipelineState:
    pending = pending or {}
    return PipelineState(
        pending_digests=dict.fromkeys(pending, 5),
        oldest_pending_at=pending,
        last_sealed_at=sealed or {},
        batches={},
        revocations_waiting={},
        last_confirmed_anchor_at=None,
        unconfirmed=unconfirmed,
        read_at=now,
    )


def _check(state: PipelineState) -> dict[str, str]:
    return stalls(state, NIGHTLY, grace=GRACE, unconfirmed_limit=LIMIT)


def test_a_missed_run_fails_after_the_grace_time_only() -> None:
    waiting = {"uni": RUN - timedelta(hours=3)}
    assert _check(_state(RUN + timedelta(seconds=GRACE - 1), pending=waiting))["anchoring"] == "ok"
    late = _check(_state(RUN + timedelta(seconds=GRACE + 60), pending=waiting))["anchoring"]
    assert late == (
        "failed: digests of uni pending since 2026-11-23T23:00:00Z missed the anchoring "
        "scheduled at 2026-11-24T02:00:00Z by 3660 s (grace 3600 s)"
    )


def test_digests_that_came_after_the_last_run_wait_for_the_next() -> None:
    after_run = {"uni": RUN + timedelta(minutes=1)}
    assert _check(_state(RUN + timedelta(hours=20), pending=after_run))["anchoring"] == "ok"


def test_a_batch_sealed_since_the_run_means_the_run_happened() -> None:
    """A capped batch (max_batch_size) leaves older digests pending; that is not a stall."""
    waiting = {"uni": RUN - timedelta(hours=3)}
    sealed = {"uni": RUN + timedelta(seconds=2)}
    assert _check(_state(RUN + timedelta(hours=5), pending=waiting, sealed=sealed)) == {
        "anchoring": "ok",
        "transactions": "ok",
    }
    before = {"uni": RUN - timedelta(hours=1)}  # the last seal was before the run
    assert _check(_state(RUN + timedelta(hours=5), pending=waiting, sealed=before))[
        "anchoring"
    ].startswith("failed: digests of uni")


def test_each_issuer_is_judged_by_its_own_batches() -> None:
    waiting = {"uni": RUN - timedelta(hours=3), "other": RUN - timedelta(hours=3)}
    sealed = {"uni": RUN + timedelta(seconds=2)}  # only uni's run happened
    result = _check(_state(RUN + timedelta(hours=5), pending=waiting, sealed=sealed))["anchoring"]
    assert result.startswith("failed: digests of other") and "of uni" not in result


def test_a_transaction_unconfirmed_past_the_limit_fails() -> None:
    now = RUN + timedelta(hours=1)
    sent = Unconfirmed("revocation", 7, now - timedelta(seconds=LIMIT + 5), broadcast=True)
    fresh = Unconfirmed("anchor", 8, now - timedelta(seconds=LIMIT - 5), broadcast=True)
    never = Unconfirmed("anchor", 9, now - timedelta(seconds=LIMIT + 100), broadcast=False)
    assert _check(_state(now, unconfirmed=(fresh,)))["transactions"] == "ok"
    result = _check(_state(now, unconfirmed=(never, sent, fresh)))["transactions"]
    assert result == (
        "failed: anchor batch 9 unconfirmed 1900 s after sealing, never sent at "
        "2026-11-24T02:28:20Z (limit 1800 s); revocation batch 7 unconfirmed 1805 s after its "
        "first broadcast at 2026-11-24T02:29:55Z (limit 1800 s)"
    )
