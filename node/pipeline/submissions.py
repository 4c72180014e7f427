"""Taking digests into the index: all of a request or none of it, idempotent per digest.

The rules (docs/formats.md "The HTTP API"):

- a digest is 64 **lower-case** hex characters, the one spelling the proof bundle
  uses; upper case is refused rather than folded, so a digest has one spelling
  everywhere and a client never gets back a value that differs from what it sent;
- a ``credentialId`` is optional; when given it is a URI (``urn:uuid:…`` or a
  URL) of at most 200 characters, and it names one digest in the whole index;
- a digest already in the index for the same issuer is accepted again without
  change (``created=False``) when its ``credentialId`` is left out or is the one
  recorded; a different ``credentialId``, or a digest that another issuer
  submitted, is a conflict, and then nothing of the request is stored;
- repeats of a digest inside one request count once; repeats that disagree on
  the ``credentialId`` are a validation error.

Intake is the hot path (tens of thousands of digests a second), so it uses
Core statements with executemany, one ``INSERT … ON CONFLICT (digest) DO
NOTHING … RETURNING digest`` per chunk to learn which rows are new, and reads
back only the digests that were already there.

New rows are numbered from the issuer's ``next_seq`` (node/index/sequence.py), whose row
the request locks first, so the numbers have no gaps: when some digests turn out to be
there already, the rows just inserted are taken back and the new ones inserted again,
numbered without the holes (a repeated request pays twice; a fresh one once).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from mcledger.node.errors import NodeError
from mcledger.node.index.models import batch_t, submission_t, utcnow
from mcledger.node.index.oplog import record_operation
from mcledger.node.index.sequence import holds_submission, lock_counter, set_next_seq
from mcledger.node.issuing.issuers import UnknownIssuerError

MAX_CREDENTIAL_ID_LENGTH = 200  # the submission.credential_id column
_DIGEST = re.compile(r"[0-9a-f]{64}")
_HEX_ANY_CASE = re.compile(r"[0-9a-fA-F]{64}")
# A URI as RFC 3986 §3 starts it (scheme ":" …), without whitespace or controls.
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:[^\s\x00-\x1f\x7f]+")
_INSERT_CHUNK = 1_000
_READ_CHUNK = 500  # IN-list length: well under SQLite's and psycopg's parameter limits


def digest_problem(value: object) -> str | None:
    """Why ``value`` is not a digest, or None if it is one."""
    if not isinstance(value, str):
        return "expected a string of 64 lower-case hex characters"
    if _DIGEST.fullmatch(value):
        return None
    if _HEX_ANY_CASE.fullmatch(value):
        return "hex must be lower case"
    return f"expected 64 lower-case hex characters, got {len(value)} characters"


def credential_id_problem(value: object) -> str | None:
    """Why ``value`` is not a credential id (a URI of at most 200 characters), or None."""
    if not isinstance(value, str):
        return "expected a string (a URI such as urn:uuid:…)"
    if len(value) > MAX_CREDENTIAL_ID_LENGTH:
        return f"at most {MAX_CREDENTIAL_ID_LENGTH} characters"
    if not _URI.fullmatch(value):
        return "expected a URI such as urn:uuid:…, without spaces"
    return None


@dataclass(frozen=True)
class ItemProblem:
    """One bad field of one item: ``index`` into the submitted list, ``field`` its name."""

    index: int
    field: str
    message: str


@dataclass(frozen=True)
class Conflict:
    """A digest the index holds in a way this request contradicts.

    reason: ``another-issuer``, ``credential-id-differs`` or ``credential-id-taken``.
    """

    digest: str
    reason: str
    detail: str


class SubmissionError(NodeError):
    """Base of the intake errors."""


class InvalidSubmissionError(SubmissionError):
    """Some items are malformed; ``problems`` names each. Nothing was stored."""

    def __init__(self, problems: list[ItemProblem]) -> None:
        self.problems = problems
        first = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(f"item {first.index} {first.field}: {first.message}{more}")


class DigestConflictError(SubmissionError):
    """Some digests contradict the index (see ``conflicts``). Nothing was stored."""

    def __init__(self, conflicts: list[Conflict]) -> None:
        self.conflicts = conflicts
        shown = "; ".join(c.detail for c in conflicts[:5])
        more = f" (and {len(conflicts) - 5} more)" if len(conflicts) > 5 else ""
        super().__init__(f"{shown}{more}; nothing of this request was stored")


@dataclass(frozen=True)
class SubmissionState:
    """A digest as the index holds it after the request."""

    digest: str
    credential_id: str | None
    state: str  # pending, or the batch's state: sealed, submitted, confirmed
    batch_id: int | None
    submitted_at: datetime
    created: bool  # False: it was already in the index


def _unique_items(items: Sequence[tuple[str, str | None]]) -> dict[str, str | None]:
    """The items checked and deduplicated, in first-seen order (digest -> credential id)."""
    problems: list[ItemProblem] = []
    wanted: dict[str, str | None] = {}
    first_index: dict[str, int] = {}
    digest_of_id: dict[str, str] = {}
    for index, (digest, credential_id) in enumerate(items):
        bad = digest_problem(digest)
        if bad is not None:
            problems.append(ItemProblem(index, "digest", bad))
        if credential_id is not None:
            bad_id = credential_id_problem(credential_id)
            if bad_id is not None:
                problems.append(ItemProblem(index, "credentialId", bad_id))
                continue
            other = digest_of_id.setdefault(credential_id, digest)
            if other != digest:
                problems.append(
                    ItemProblem(index, "credentialId", f"also given for digest {other}")
                )
                continue
        if bad is not None:
            continue
        if digest not in wanted:
            wanted[digest] = credential_id
            first_index[digest] = index
        elif credential_id is not None and wanted[digest] not in (None, credential_id):
            problems.append(
                ItemProblem(
                    index,
                    "credentialId",
                    f"item {first_index[digest]} gives this digest another credentialId",
                )
            )
        elif credential_id is not None:
            wanted[digest] = credential_id
    if problems:
        raise InvalidSubmissionError(problems)
    return wanted


def _chunks(values: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _insert_new(conn: Connection) -> Any:
    """INSERT … ON CONFLICT DO NOTHING RETURNING digest, in this dialect."""
    if conn.dialect.name == "postgresql":
        statement: Any = postgresql.insert(submission_t)
    elif conn.dialect.name == "sqlite":
        statement = sqlite.insert(submission_t)
    else:  # pragma: no cover - the index supports these two
        raise NodeError(f"unsupported database dialect {conn.dialect.name!r}")
    # No conflict target: a row is skipped when its digest is known *or* its credentialId
    # already names another digest (both unique); the read-back tells the two apart.
    return statement.on_conflict_do_nothing().returning(submission_t.c.digest)


_EXISTING = select(
    submission_t.c.digest,
    submission_t.c.issuer_id,
    submission_t.c.credential_id,
    submission_t.c.submitted_at,
    batch_t.c.id.label("batch_id"),
    batch_t.c.state,
).select_from(submission_t.outerjoin(batch_t, holds_submission()))


def submit_digests(
    engine: Engine, issuer_id: str, items: Sequence[tuple[str, str | None]], actor: str
) -> list[SubmissionState]:
    """Record the issuer's ``(digest, credentialId or None)`` items, all or none.

    Returns each distinct digest's state in first-seen order. Raises
    InvalidSubmissionError (malformed items), DigestConflictError (contradicts the
    index) or UnknownIssuerError; in each case nothing is stored.
    """
    wanted = _unique_items(items)
    now = utcnow()
    with engine.begin() as conn:
        counter = lock_counter(conn, issuer_id)  # held to the commit: numbers without gaps
        if counter is None:
            raise UnknownIssuerError(f"no issuer {issuer_id!r} in the index")
        # Sorted, so concurrent requests that share digests take their row locks in the
        # same order (PostgreSQL would otherwise abort one of them as a deadlock).
        ordered = sorted(wanted)
        created = _insert_numbered(conn, issuer_id, ordered, wanted, now, counter.next_seq)
        if len(created) < len(ordered):
            # Some were there already: take back this request's rows and number the new
            # ones again without holes. Only this transaction holds numbers past next_seq.
            conn.execute(
                delete(submission_t).where(
                    submission_t.c.issuer_id == issuer_id,
                    submission_t.c.seq >= counter.next_seq,
                )
            )
            fresh = [d for d in ordered if d in created]
            created = _insert_numbered(conn, issuer_id, fresh, wanted, now, counter.next_seq)
            if len(created) < len(fresh):  # pragma: no cover - the counter row serialises
                raise NodeError("digests changed under a locked issuer; nothing was stored")
        set_next_seq(conn, issuer_id, counter.next_seq + len(created))
        existing = [d for d in wanted if d not in created]
        found = {row.digest: row for row in _read_existing(conn, existing)}
        conflicts = _conflicts(issuer_id, wanted, found)
        refused = [d for d in existing if d not in found]  # its credentialId is taken
        conflicts += _taken_credential_ids(conn, wanted, refused)
        if conflicts:
            raise DigestConflictError(conflicts)  # leaving the block rolls back
        if created:
            record_operation(
                conn,
                actor=actor,
                action="digests.submitted",
                subject=f"issuer:{issuer_id}",
                details={"created": len(created), "received": len(wanted)},
            )
    states: list[SubmissionState] = []
    for digest, credential_id in wanted.items():
        if digest in created:
            states.append(SubmissionState(digest, credential_id, "pending", None, now, True))
            continue
        row = found[digest]
        states.append(
            SubmissionState(
                digest,
                row.credential_id,
                row.state if row.batch_id is not None else "pending",
                row.batch_id,
                row.submitted_at,
                False,
            )
        )
    return states


def _insert_numbered(
    conn: Connection,
    issuer_id: str,
    digests: Sequence[str],
    wanted: dict[str, str | None],
    now: datetime,
    first_seq: int,
) -> set[str]:
    """Insert ``digests`` numbered from ``first_seq`` in the given order, skipping those
    the index refuses (known digest, or credentialId taken); returns the ones inserted."""
    rows = [
        {
            "issuer_id": issuer_id,
            "seq": first_seq + i,
            "digest": d,
            "credential_id": wanted[d],
            "submitted_at": now,
        }
        for i, d in enumerate(digests)
    ]
    insert_new = _insert_new(conn)
    created: set[str] = set()
    for chunk in _chunks(rows, _INSERT_CHUNK):
        created.update(conn.execute(insert_new, list(chunk)).scalars())
    return created


def _read_existing(conn: Connection, digests: Sequence[str]) -> Iterator[Any]:
    for chunk in _chunks(digests, _READ_CHUNK):
        yield from conn.execute(_EXISTING.where(submission_t.c.digest.in_(chunk)))


def _conflicts(
    issuer_id: str, wanted: dict[str, str | None], found: dict[str, Any]
) -> list[Conflict]:
    conflicts: list[Conflict] = []
    for digest, row in found.items():
        if row.issuer_id != issuer_id:
            conflicts.append(
                Conflict(digest, "another-issuer", f"digest {digest} belongs to another issuer")
            )
        elif wanted[digest] is not None and wanted[digest] != row.credential_id:
            recorded = row.credential_id or "no credentialId"
            conflicts.append(
                Conflict(
                    digest,
                    "credential-id-differs",
                    f"digest {digest} is recorded with {recorded}, not {wanted[digest]}",
                )
            )
    return conflicts


def _taken_credential_ids(
    conn: Connection, wanted: dict[str, str | None], refused: list[str]
) -> list[Conflict]:
    """Why new digests were not inserted: their credentialId already names another digest."""
    digest_of_id = {wanted[d]: d for d in refused if wanted[d] is not None}
    conflicts: list[Conflict] = [
        Conflict(d, "credential-id-taken", "its credentialId names another digest")
        for d in refused
        if wanted[d] is None
    ]
    for chunk in _chunks(list(digest_of_id), _READ_CHUNK):
        query = select(submission_t.c.credential_id, submission_t.c.digest).where(
            submission_t.c.credential_id.in_(chunk)
        )
        for credential_id, digest in conn.execute(query):
            mine = digest_of_id[credential_id]
            if digest != mine:
                conflicts.append(
                    Conflict(
                        mine,
                        "credential-id-taken",
                        f"credentialId {credential_id} already names digest {digest}",
                    )
                )
    return conflicts
