"""Suspending credentials and lifting suspensions.

A suspension is the index's alone (the contract has no suspensions) and may be
lifted; a credential has at most one open suspension, and suspending it again
returns that one unchanged. The status lists read these rows, so a change shows
in the next published list at once. Revocations, which are final, are in
``mcledger.node.revocation.revocations``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update

from mcledger.anchoring.bundle import format_time
from mcledger.node.index.models import utcnow
from mcledger.node.index.models_status import suspension_t
from mcledger.node.index.oplog import record_operation
from mcledger.node.revocation.revocations import (
    RevocationError,
    _actor,
    _check_note,
    _second_chance,
    _target_digest,
)


class NotSuspendedError(RevocationError):
    """A suspension was to be lifted where there is none."""


def _time(moment: datetime | None) -> str | None:
    return format_time(moment) if moment is not None else None


@dataclass(frozen=True)
class SuspensionRecord:
    id: int
    issuer_id: str
    credential_id: str
    digest: str
    note: str
    suspended_at: datetime
    lifted_at: datetime | None
    lift_note: str
    changed: bool = False  # this call suspended or lifted it

    @classmethod
    def from_row(cls, row: Any, *, changed: bool = False) -> SuspensionRecord:
        return cls(
            row.id,
            row.issuer_id,
            row.credential_id,
            row.digest,
            row.note,
            row.suspended_at,
            row.lifted_at,
            row.lift_note,
            changed,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "credentialId": self.credential_id,
            "digest": self.digest,
            "suspended": self.lifted_at is None,
            "suspendedAt": format_time(self.suspended_at),
            "note": self.note,
            "liftedAt": _time(self.lifted_at),
            "liftNote": self.lift_note,
            "changed": self.changed,
        }


def _latest_suspension(conn: Connection, issuer_id: str, credential_id: str) -> Any:
    return conn.execute(
        select(suspension_t)
        .where(suspension_t.c.issuer_id == issuer_id, suspension_t.c.credential_id == credential_id)
        .order_by(suspension_t.c.id.desc())
        .limit(1)
    ).first()


def suspend_credential(
    engine: Engine,
    issuer_id: str,
    credential_id: str,
    note: str | None = "",
    actor_token_id: int | None = None,
    *,
    actor: str | None = None,
) -> SuspensionRecord:
    """Suspend the issuer's credential, or return its open suspension unchanged."""
    checked_note = _check_note(note)
    # One open suspension per credential (a partial unique index): a concurrent one may win.
    return _second_chance(
        lambda: _suspend_once(engine, issuer_id, credential_id, checked_note, actor_token_id, actor)
    )


def _suspend_once(
    engine: Engine,
    issuer_id: str,
    credential_id: str,
    note: str,
    actor_token_id: int | None,
    actor: str | None,
) -> SuspensionRecord:
    with engine.begin() as conn:
        digest = _target_digest(conn, issuer_id, credential_id)
        latest = _latest_suspension(conn, issuer_id, credential_id)
        if latest is not None and latest.lifted_at is None:
            return SuspensionRecord.from_row(latest)
        conn.execute(
            insert(suspension_t).values(
                issuer_id=issuer_id,
                credential_id=credential_id,
                digest=digest,
                note=note,
                suspended_at=utcnow(),
                suspended_by=actor_token_id,
                lift_note="",
            )
        )
        record_operation(
            conn,
            actor=_actor(actor_token_id, actor),
            action="credential.suspended",
            subject=credential_id,
            details={"digest": digest},
        )
        latest = _latest_suspension(conn, issuer_id, credential_id)
        return SuspensionRecord.from_row(latest, changed=True)


def lift_suspension(
    engine: Engine,
    issuer_id: str,
    credential_id: str,
    note: str | None = "",
    actor_token_id: int | None = None,
    *,
    actor: str | None = None,
) -> SuspensionRecord:
    """Lift the credential's open suspension; with none open, return the last lifted one
    unchanged, and raise NotSuspendedError if it was never suspended."""
    checked_note = _check_note(note)
    with engine.begin() as conn:
        _target_digest(conn, issuer_id, credential_id)
        latest = _latest_suspension(conn, issuer_id, credential_id)
        if latest is None:
            raise NotSuspendedError(f"credential {credential_id} is not suspended")
        if latest.lifted_at is not None:
            return SuspensionRecord.from_row(latest)
        lifted = conn.execute(
            update(suspension_t)
            .where(suspension_t.c.id == latest.id, suspension_t.c.lifted_at.is_(None))
            .values(lifted_at=utcnow(), lifted_by=actor_token_id, lift_note=checked_note)
        )
        if lifted.rowcount == 1:
            record_operation(
                conn,
                actor=_actor(actor_token_id, actor),
                action="credential.suspension-lifted",
                subject=credential_id,
                details={"digest": latest.digest},
            )
        latest = _latest_suspension(conn, issuer_id, credential_id)
        return SuspensionRecord.from_row(latest, changed=lifted.rowcount == 1)
