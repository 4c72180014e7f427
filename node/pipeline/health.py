"""The pipeline's state as the index holds it, and whether it is stuck.

`read_pipeline_state` runs a handful of small queries (the digests waiting are the
issuers' counters; batch tables hold a row a day, revocation batches a few) and
serves both `/metrics` (gauges computed at scrape time, right with several node
processes on one database) and `/readyz`.

`stalls` says what is stuck, from that state alone:

- **anchoring overdue**: an issuer's oldest pending digest was already waiting at a
  scheduled anchoring run (the first cron fire time after it arrived), that run is
  more than the grace time past, and no batch of that issuer was sealed since then;
- **transaction unconfirmed**: an anchoring or revocation batch not confirmed more
  than the limit after its first broadcast (or, never broadcast, after its sealing).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import Connection, Engine, Table, and_, func, select

from mcledger.node.index.models import (
    BatchState,
    anchor_attempt_t,
    batch_t,
    issuer_t,
    revocation_attempt_t,
    revocation_batch_t,
    revocation_t,
    submission_t,
    utcnow,
)

ANCHORING = "anchoring"
TRANSACTIONS = "transactions"
OK = "ok"


@dataclass(frozen=True)
class Unconfirmed:
    """A batch whose transaction is not confirmed, and since when it has been waiting."""

    kind: str  # "anchor", "revocation"
    batch_id: int
    since: datetime
    broadcast: bool  # False: sealed, never sent


@dataclass(frozen=True)
class PipelineState:
    pending_digests: dict[str, int]  # issuer -> digests not yet sealed
    oldest_pending_at: dict[str, datetime]  # issuer -> when its oldest pending digest came
    last_sealed_at: dict[str, datetime]  # issuer -> its newest anchoring batch's sealing
    batches: dict[tuple[str, str], int]  # (kind, state) -> batches
    revocations_waiting: dict[str, int]  # issuer -> revocations not yet sent to the chain
    last_confirmed_anchor_at: datetime | None
    unconfirmed: tuple[Unconfirmed, ...]
    read_at: datetime = field(default_factory=utcnow)


def _utc(value: datetime) -> datetime:
    """Index times are UTC; SQLite returns them without a zone."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _unconfirmed(conn: Connection, kind: str, jobs: Table, attempts: Table) -> list[Unconfirmed]:
    """The jobs not confirmed and their first broadcast (attempts found by batch id, so the
    cost follows the few unfinished jobs, not the table's history)."""
    rows = conn.execute(
        select(jobs.c.id, jobs.c.sealed_at, func.min(attempts.c.sent_at).label("first_sent"))
        .outerjoin(attempts, attempts.c.batch_id == jobs.c.id)
        .where(jobs.c.state.in_([BatchState.SEALED, BatchState.SUBMITTED]))
        .group_by(jobs.c.id, jobs.c.sealed_at)
    ).all()
    return [
        Unconfirmed(kind, row.id, _utc(row.first_sent or row.sealed_at), row.first_sent is not None)
        for row in rows
    ]


def _oldest_pending(conn: Connection, issuers: list[str]) -> dict[str, datetime]:
    """When each issuer's oldest pending digest came: the row numbered ``sealed_seq``, one
    probe of uq_submission_seq an issuer (none when nothing is pending)."""
    s, i = submission_t, issuer_t
    rows = conn.execute(
        select(s.c.issuer_id, s.c.submitted_at)
        .join(i, and_(i.c.id == s.c.issuer_id, s.c.seq == i.c.sealed_seq))
        .where(i.c.id.in_(issuers))
    ).all()
    return {issuer: _utc(at) for issuer, at in rows}


def read_pipeline_state(engine: Engine, *, count_pending: bool = True) -> PipelineState:
    """The pipeline's state from the index, in one connection: index probes and the issuers'
    counters only. Without ``count_pending`` (what `/readyz` needs) ``pending_digests`` is
    empty and every issuer's oldest pending digest is looked up."""
    b, r, rb = batch_t, revocation_t, revocation_batch_t
    with engine.connect() as conn:
        pending: dict[str, int] = {}
        if count_pending:
            pending = {
                issuer: int(n)
                for issuer, n in conn.execute(
                    select(issuer_t.c.id, issuer_t.c.next_seq - issuer_t.c.sealed_seq).where(
                        issuer_t.c.next_seq > issuer_t.c.sealed_seq
                    )
                )
            }
        issuers = list(pending) if count_pending else list(conn.scalars(select(issuer_t.c.id)))
        oldest = _oldest_pending(conn, issuers)
        sealed = conn.execute(
            select(b.c.issuer_id, func.max(b.c.sealed_at)).group_by(b.c.issuer_id)
        ).all()
        batches = {
            ("anchor", state): n
            for state, n in conn.execute(select(b.c.state, func.count()).group_by(b.c.state))
        }
        batches |= {
            ("revocation", state): n
            for state, n in conn.execute(select(rb.c.state, func.count()).group_by(rb.c.state))
        }
        waiting: dict[str, int] = dict(
            conn.execute(
                select(r.c.issuer_id, func.count())
                .where(r.c.batch_id.is_(None))
                .group_by(r.c.issuer_id)
            ).all()
        )
        for issuer, size in conn.execute(
            select(rb.c.issuer_id, func.sum(rb.c.size))
            .where(rb.c.state == BatchState.SEALED)
            .group_by(rb.c.issuer_id)
        ):
            waiting[issuer] = waiting.get(issuer, 0) + int(size)
        last_confirmed = conn.execute(
            select(func.max(b.c.confirmed_at)).where(b.c.state == BatchState.CONFIRMED)
        ).scalar_one()
        unconfirmed = _unconfirmed(conn, "anchor", b, anchor_attempt_t)
        unconfirmed += _unconfirmed(conn, "revocation", rb, revocation_attempt_t)
    return PipelineState(
        pending_digests=pending,
        oldest_pending_at=oldest,
        last_sealed_at={issuer: _utc(at) for issuer, at in sealed if at is not None},
        batches=batches,
        revocations_waiting=waiting,
        last_confirmed_anchor_at=_utc(last_confirmed) if last_confirmed else None,
        unconfirmed=tuple(sorted(unconfirmed, key=lambda u: u.since)),
    )


def stalls(
    state: PipelineState, trigger: CronTrigger, *, grace: float, unconfirmed_limit: float
) -> dict[str, str]:
    """``{"anchoring": …, "transactions": …}``: "ok", or "failed: " and why."""
    now = state.read_at
    overdue = []
    for issuer, oldest in sorted(state.oldest_pending_at.items()):
        due = trigger.get_next_fire_time(None, oldest)
        if due is None:
            continue
        late = (now - due).total_seconds()
        sealed = state.last_sealed_at.get(issuer)
        if late > grace and (sealed is None or sealed < due):
            overdue.append(
                f"digests of {issuer} pending since "
                f"{_stamp(oldest)} missed the anchoring scheduled at {_stamp(due)} "
                f"by {late:.0f} s (grace {grace:.0f} s)"
            )
    stuck = [
        f"{u.kind} batch {u.batch_id} unconfirmed {(now - u.since).total_seconds():.0f} s after "
        f"{'its first broadcast' if u.broadcast else 'sealing, never sent'} at {_stamp(u.since)} "
        f"(limit {unconfirmed_limit:.0f} s)"
        for u in state.unconfirmed
        if now - u.since > timedelta(seconds=unconfirmed_limit)
    ]
    return {
        ANCHORING: "failed: " + "; ".join(overdue) if overdue else OK,
        TRANSACTIONS: "failed: " + "; ".join(stuck) if stuck else OK,
    }


def _stamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
