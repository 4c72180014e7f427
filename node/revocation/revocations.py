"""Revoking credentials, and the public revocation history.

A revocation is final and keyed by (issuer, digest), as on the chain: a second
revocation of the same credential changes nothing and returns the first, with
its time and reason (the contract keeps the first time too). The chain fields
stay null until the revocation flush sends it. The status lists read these
rows, so a change shows in the next published list at once. Suspensions, which
may be lifted, are in ``mcledger.node.revocation.suspensions``; it shares the
small helpers and error base class defined here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, insert, select
from sqlalchemy.exc import IntegrityError

from mcledger.anchoring.bundle import format_time
from mcledger.anchoring.ledger import RevocationReason
from mcledger.node.errors import NodeError
from mcledger.node.index.models import revocation_t, submission_t, utcnow
from mcledger.node.index.models_credentials import credential_t
from mcledger.node.index.oplog import record_operation
from mcledger.node.issuing.issuance import CredentialAccessError, UnknownCredentialError

MAX_NOTE_LENGTH = 1000  # the note columns' width

Record = TypeVar("Record")


class RevocationError(NodeError):
    """Base of the revocation and suspension errors (besides unknown / another issuer's)."""


class InvalidRevocationError(RevocationError):
    """A bad reason or note; ``field`` names which."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def reason_name(reason: RevocationReason) -> str:
    """``FRAUD_OR_MISCONDUCT`` -> ``fraud-or-misconduct``."""
    return reason.name.lower().replace("_", "-")


_REASON_ALIASES = {reason_name(r): r for r in RevocationReason} | {
    "error": RevocationReason.ISSUED_IN_ERROR,
    "fraud": RevocationReason.FRAUD_OR_MISCONDUCT,
    "misconduct": RevocationReason.FRAUD_OR_MISCONDUCT,
    "reissued": RevocationReason.SUPERSEDED,
    "withdrawn": RevocationReason.WITHDRAWN_BY_LEARNER,
    "learner-request": RevocationReason.WITHDRAWN_BY_LEARNER,
    "compromise": RevocationReason.KEY_COMPROMISE,
}


def parse_reason(value: int | str) -> RevocationReason:
    """A reason from its number (0–5) or a name such as ``fraud`` or ``issued-in-error``."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidRevocationError("reason", f"must be a whole number 0–5, not {value!r}")
    if isinstance(value, str):
        text = value.strip().lower().replace("_", "-").replace(" ", "-")
        if text.isdigit():
            value = int(text)
        elif text in _REASON_ALIASES:
            return _REASON_ALIASES[text]
        else:
            names = ", ".join(reason_name(r) for r in RevocationReason)
            raise InvalidRevocationError("reason", f"{value!r} is not a reason: 0–5 or {names}")
    try:
        return RevocationReason(value)
    except ValueError:
        raise InvalidRevocationError(
            "reason",
            "must be 0 unspecified, 1 issued in error, 2 fraud or misconduct, 3 superseded, "
            "4 withdrawn at the learner's request or 5 issuer key compromise",
        ) from None


def _check_note(note: str | None) -> str:
    note = note or ""
    if len(note) > MAX_NOTE_LENGTH:
        raise InvalidRevocationError("note", f"at most {MAX_NOTE_LENGTH} characters")
    return note


def _second_chance(attempt: Callable[[], Record]) -> Record:
    """``attempt()``, once more after a unique-constraint race (the loser's transaction
    rolled back; its second pass finds the winner's row). A second failure is real."""
    try:
        return attempt()
    except IntegrityError:
        return attempt()


def _actor(actor_token_id: int | None, actor: str | None) -> str:
    return actor or (f"token:{actor_token_id}" if actor_token_id is not None else "node")


def _target_digest(conn: Connection, issuer_id: str, credential_id: str) -> str:
    """The digest of the issuer's credential: an issued one, or one submitted by digest
    with its credentialId (issuers that sign elsewhere)."""
    row = conn.execute(
        select(credential_t.c.issuer_id, credential_t.c.digest).where(
            credential_t.c.id == credential_id
        )
    ).first()
    if row is None:
        row = conn.execute(
            select(submission_t.c.issuer_id, submission_t.c.digest).where(
                submission_t.c.credential_id == credential_id
            )
        ).first()
    if row is None:
        raise UnknownCredentialError(f"no credential {credential_id}")
    if row.issuer_id != issuer_id:
        raise CredentialAccessError(f"credential {credential_id} belongs to another issuer")
    return str(row.digest)


# -- revocation ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RevocationRecord:
    id: int
    issuer_id: str
    credential_id: str | None
    digest: str
    reason: RevocationReason
    note: str
    revoked_at: datetime
    revoked_by: int | None
    transaction_hash: str | None
    block_number: int | None
    created: bool = False  # this call made it (false: it was already revoked)

    @classmethod
    def from_row(cls, row: Any, *, created: bool = False) -> RevocationRecord:
        return cls(
            row.id,
            row.issuer_id,
            row.credential_id,
            row.digest,
            RevocationReason(row.reason),
            row.note,
            row.revoked_at,
            row.revoked_by,
            row.transaction_hash,
            row.block_number,
            created,
        )

    def to_json(self, *, public: bool = False) -> dict[str, Any]:
        """The record as the API shows it; ``public`` leaves out the issuer's note, its
        author and ``created`` (the note may name the learner)."""
        shown: dict[str, Any] = {
            "id": self.id,
            "issuer": self.issuer_id,
            "credentialId": self.credential_id,
            "digest": self.digest,
            "reason": int(self.reason),
            "reasonName": reason_name(self.reason),
            "revokedAt": format_time(self.revoked_at),
            "transactionHash": self.transaction_hash,
            "blockNumber": self.block_number,
        }
        if not public:
            shown |= {"note": self.note, "revokedBy": self.revoked_by, "created": self.created}
        return shown


def revoke_credential(
    engine: Engine,
    issuer_id: str,
    credential_id: str,
    reason: int | str | RevocationReason,
    note: str | None = "",
    actor_token_id: int | None = None,
    *,
    actor: str | None = None,
) -> RevocationRecord:
    """Revoke the issuer's credential, or return its earlier revocation unchanged.

    Raises UnknownCredentialError, CredentialAccessError (another issuer's) or
    InvalidRevocationError, and then has changed nothing.
    """
    checked_reason, checked_note = parse_reason(reason), _check_note(note)
    # A concurrent revocation of the same digest may win the insert: the second pass reads it.
    return _second_chance(
        lambda: _revoke_once(
            engine, issuer_id, credential_id, checked_reason, checked_note, actor_token_id, actor
        )
    )


def _revoke_once(
    engine: Engine,
    issuer_id: str,
    credential_id: str,
    reason: RevocationReason,
    note: str,
    actor_token_id: int | None,
    actor: str | None,
) -> RevocationRecord:
    with engine.begin() as conn:
        digest = _target_digest(conn, issuer_id, credential_id)
        mine = (revocation_t.c.issuer_id == issuer_id, revocation_t.c.digest == digest)
        earlier = conn.execute(select(revocation_t).where(*mine)).first()
        if earlier is not None:
            return RevocationRecord.from_row(earlier)
        conn.execute(
            insert(revocation_t).values(
                issuer_id=issuer_id,
                digest=digest,
                credential_id=credential_id,
                reason=int(reason),
                note=note,
                revoked_at=utcnow(),
                revoked_by=actor_token_id,
            )
        )
        record_operation(
            conn,
            actor=_actor(actor_token_id, actor),
            action="credential.revoked",
            subject=credential_id,
            details={"digest": digest, "reason": int(reason)},
        )
        return RevocationRecord.from_row(
            conn.execute(select(revocation_t).where(*mine)).one(), created=True
        )


@dataclass(frozen=True)
class RevocationPage:
    items: list[RevocationRecord]
    next_after: int | None  # pass as ``after`` for the next page; None on the last


def _aware(moment: datetime | None) -> datetime | None:
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


def list_revocations(
    engine: Engine,
    issuer: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
    after: int | None = None,
) -> RevocationPage:
    """The revocation history, oldest first: ``since`` <= revokedAt < ``until`` (naive
    times are UTC), after the record ``after``; at most ``limit`` records."""
    query = select(revocation_t).order_by(revocation_t.c.id).limit(limit + 1)
    if issuer is not None:
        query = query.where(revocation_t.c.issuer_id == issuer)
    if since is not None:
        query = query.where(revocation_t.c.revoked_at >= _aware(since))
    if until is not None:
        query = query.where(revocation_t.c.revoked_at < _aware(until))
    if after is not None:
        query = query.where(revocation_t.c.id > after)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    items = [RevocationRecord.from_row(row) for row in rows[:limit]]
    return RevocationPage(items, items[-1].id if len(rows) > limit else None)
