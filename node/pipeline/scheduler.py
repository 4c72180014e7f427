"""When anchoring and revocation flushes happen: schedules, a queue-size threshold, and on
demand.

APScheduler 3 runs four jobs in a background thread: the cron job seals and
anchors (default nightly `0 2 * * *` in the configured time zone), the
threshold job seals early when the queue is long, the revocation job sends the
waiting revocations (default every 10 minutes), and the follow-up job keeps
driving unfinished anchoring and revocation batches (waiting for
confirmations, riding out an RPC outage) without sealing anything new. One run
at a time in a process; the chain lease keeps one sender across processes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from mcledger.node.errors import NodeError
from mcledger.node.pipeline.anchorer import Anchorer, BatchReport
from mcledger.node.pipeline.batches import pending_count
from mcledger.node.pipeline.revocation_flush import RevocationBatchReport, RevocationFlusher
from mcledger.node.settings import Settings

log = logging.getLogger("mcledger.scheduler")

ANCHOR_JOB = "anchor"
REVOCATION_JOB = "revocations"
THRESHOLD_CHECK_SECONDS = 15
FOLLOW_UP_SECONDS = 5
ANCHOR_NOW_TIMEOUT = 10.0  # an HTTP caller waits at most this for the transaction to go out


class AnchoringBusyError(NodeError):
    """An anchoring run holds this process's anchoring lock; try again shortly."""


class ScheduleError(NodeError):
    """The anchoring schedule in the settings is not valid."""


def cron_trigger(settings: Settings) -> CronTrigger:
    try:
        zone = ZoneInfo(settings.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(f"unknown time zone {settings.timezone!r}") from None
    try:
        return CronTrigger.from_crontab(settings.anchor_cron, timezone=zone)
    except ValueError as exc:
        raise ScheduleError(f"bad anchor_cron {settings.anchor_cron!r}: {exc}") from None


class AnchoringScheduler:
    """Runs the anchorer on schedule; also the `AnchoringControl` the HTTP API uses."""

    def __init__(
        self, anchorer: Anchorer, settings: Settings, flusher: RevocationFlusher | None = None
    ) -> None:
        self.anchorer = anchorer
        self.flusher = flusher
        self.settings = settings
        self.trigger = cron_trigger(settings)
        self.scheduler = BackgroundScheduler(timezone=self.trigger.timezone)
        self._run_lock = threading.Lock()  # one run at a time in this process
        # sealing runs skipped while another run held the lock: the follow-up does them
        self._owed = {"anchoring": False, "revocation flush": False}

    def start(self) -> None:
        self.scheduler.add_job(self.run_scheduled, self.trigger, id=ANCHOR_JOB, coalesce=True)
        self.scheduler.add_job(
            self.run_if_over_threshold, "interval", seconds=THRESHOLD_CHECK_SECONDS, coalesce=True
        )
        if self.flusher is not None:
            self.scheduler.add_job(
                self.flush_revocations,
                "interval",
                seconds=self.settings.revocation_interval,
                id=REVOCATION_JOB,
                coalesce=True,
            )
        self.scheduler.add_job(
            self.follow_up,
            "interval",
            seconds=FOLLOW_UP_SECONDS,
            coalesce=True,
            next_run_time=datetime.now(UTC),
        )
        self.scheduler.start()

    def shutdown(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)

    def next_run_at(self) -> datetime | None:
        job = self.scheduler.get_job(ANCHOR_JOB) if self.scheduler.running else None
        if job is not None and job.next_run_time is not None:
            return job.next_run_time.astimezone(UTC)
        return self.trigger.get_next_fire_time(None, datetime.now(UTC))

    # -- runs ------------------------------------------------------------------------------
    def _each_issuer(
        self, issuers: Callable[[], list[str]], run: Callable[[str], Sequence[Any]], what: str
    ) -> list[Any] | None:
        """``run(issuer)`` for each of ``issuers()``; None (nothing run) while another run
        of this process is going on."""
        if not self._run_lock.acquire(blocking=False):
            return None
        try:
            reports: list[Any] = []
            for issuer in issuers():
                try:
                    reports += run(issuer)
                except NodeError as exc:
                    log.warning("%s for %s did not finish: %s", what, issuer, exc)
            return reports
        finally:
            self._run_lock.release()

    def _sealing(self, kind: str, seal: bool, ran: list[Any] | None) -> list[Any] | None:
        """Note a sealing run (nightly, threshold, scheduled flush) that found another run
        holding the lock as owed: the next follow-up seals it, not a schedule later."""
        if seal:
            self._owed[kind] = ran is None
            if ran is None:
                log.info("%s deferred: another run is in progress", kind)
        return ran

    def _run(self, *, seal: bool, wait: bool) -> list[BatchReport] | None:
        anchorer = self.anchorer
        # A run that seals nothing (the follow-up) takes the chain lease only for issuers
        # with unfinished batches: else it would hold it every few seconds while digests
        # wait, and `mcledger anchor` in another process would find it taken.
        ran = self._each_issuer(
            lambda: anchorer.issuers_with_work(pending=seal),
            lambda issuer: anchorer.anchor_pending(issuer, wait=wait, seal=seal),
            "anchoring",
        )
        return self._sealing("anchoring", seal, ran)

    def _flush(self, *, seal: bool, wait: bool) -> list[RevocationBatchReport] | None:
        flusher = self.flusher
        if flusher is None:
            return []
        ran = self._each_issuer(
            lambda: flusher.issuers_with_work(pending=seal),
            lambda issuer: flusher.flush_pending(issuer, wait=wait, seal=seal),
            "the revocation flush",
        )
        return self._sealing("revocation flush", seal, ran)

    def run_scheduled(self) -> None:
        self._run(seal=True, wait=True)

    def flush_revocations(self) -> None:
        self._flush(seal=True, wait=True)

    def run_if_over_threshold(self) -> None:
        if pending_count(self.anchorer.engine) >= self.settings.batch_threshold:
            self._run(seal=True, wait=True)

    def follow_up(self) -> None:
        self._run(seal=self._owed["anchoring"], wait=True)
        self._flush(seal=self._owed["revocation flush"], wait=True)

    def anchor_now(self, issuer_id: str) -> dict[str, Any]:
        """Seal the issuer's pending digests and send the anchor now (POST /v1/batches);
        confirmation continues in the follow-up job."""
        if not self._run_lock.acquire(timeout=5):
            raise AnchoringBusyError("an anchoring run is in progress; try again shortly")
        try:
            reports = self.anchorer.anchor_pending(
                issuer_id, wait=False, seal=True, timeout=ANCHOR_NOW_TIMEOUT
            )
        finally:
            self._run_lock.release()
        if not reports:
            return {"state": "nothing-pending"}
        return {"batches": [r.to_json() for r in reports]}
