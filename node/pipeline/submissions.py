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

Intake is the hot path (tens of thousands of digests a second): a list is checked in
bulk first (one item at a time only when something is wrong, to name every bad item),
inserted in one statement with ``ON CONFLICT DO NOTHING`` (node/pipeline/submission_rows.py),
and only the digests that were already there are read back.

``record_submission`` does one request's work in a transaction the caller owns, so the
intake writer (node/pipeline/intake_writer.py) can commit many requests at once, each in a
savepoint of its own.

New rows are numbered from the issuer's ``next_seq`` (node/index/sequence.py), whose row
the request locks first, so the numbers have no gaps: when some digests turn out to be
there already, the rows just inserted are taken back and the new ones inserted again,
numbered without the holes (a repeated request pays twice; a fresh one once).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, Engine, delete

from mcledger.node.errors import NodeError
from mcledger.node.index.models import submission_t, utcnow
from mcledger.node.index.oplog import record_operation
from mcledger.node.index.sequence import lock_counter, set_next_seq
from mcledger.node.issuing.issuers import UnknownIssuerError
from mcledger.node.pipeline.submission_rows import digests_naming, insert_numbered, read_existing

MAX_CREDENTIAL_ID_LENGTH = 200  # the submission.credential_id column
_DIGEST = re.compile(r"[0-9a-f]{64}")
_HEX_ANY_CASE = re.compile(r"[0-9a-fA-F]{64}")
# A URI as RFC 3986 §3 starts it (scheme ":" …), without whitespace or controls.
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:[^\s\x00-\x1f\x7f]+")


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


class SubmissionState(NamedTuple):
    """A digest as the index holds it after the request. (A named tuple, not a frozen
    dataclass: a list of 10,000 is made per request, in half the time.)"""

    digest: str
    credential_id: str | None
    state: str  # pending, or the batch's state: sealed, submitted, confirmed
    batch_id: int | None
    submitted_at: datetime
    created: bool  # False: it was already in the index


def _valid_in_bulk(digests: Sequence[Any], credential_ids: Sequence[Any]) -> bool:
    """Whether every digest and credential id is well formed, checked a whole list at a
    time (a few C passes over the joined digests); False means: look at them one by one."""
    try:
        joined = "".join(digests)
    except TypeError:  # not all strings
        return False
    if set(map(len, digests)) != {64} or not joined.isascii() or joined != joined.lower():
        return False
    try:
        packed = bytes.fromhex(joined)
    except ValueError:
        return False
    if len(packed) * 2 != len(joined):  # fromhex skips whitespace; a digest has none
        return False
    return all(credential_id_problem(c) is None for c in credential_ids if c is not None)


def unique_items(items: Sequence[tuple[str, str | None]]) -> dict[str, str | None]:
    """The items checked and deduplicated, in first-seen order (digest -> credential id);
    raises InvalidSubmissionError naming every bad item."""
    digests = [d for d, _ in items]
    credential_ids = [c for _, c in items]
    if _valid_in_bulk(digests, credential_ids):
        wanted = dict(zip(digests, credential_ids, strict=True))
        named = [c for c in credential_ids if c is not None]
        if len(wanted) == len(items) and len(set(named)) == len(named):
            return wanted  # the usual list: no repeats, so none of the rules below apply
    return _unique_items_one_by_one(items)


def _unique_items_one_by_one(items: Sequence[tuple[str, str | None]]) -> dict[str, str | None]:
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


def submit_digests(
    engine: Engine, issuer_id: str, items: Sequence[tuple[str, str | None]], actor: str
) -> list[SubmissionState]:
    """Record the issuer's ``(digest, credentialId or None)`` items, all or none, in a
    transaction of their own.

    Returns each distinct digest's state in first-seen order. Raises
    InvalidSubmissionError (malformed items), DigestConflictError (contradicts the
    index) or UnknownIssuerError; in each case nothing is stored.
    """
    wanted = unique_items(items)
    with engine.begin() as conn:
        return record_submission(conn, issuer_id, wanted, actor)


def record_submission(
    conn: Connection, issuer_id: str, wanted: dict[str, str | None], actor: str
) -> list[SubmissionState]:
    """Record ``wanted`` (from ``unique_items``) in the caller's transaction and return each
    digest's state. On an error the caller must roll back (a transaction or a savepoint):
    rows may have been written before a conflict was found."""
    first_seq = lock_issuer_counter(conn, issuer_id)
    states, created = record_numbered(conn, issuer_id, wanted, first_seq)
    set_next_seq(conn, issuer_id, first_seq + created)
    if created:
        record_operation(conn, **submitted_operation(issuer_id, actor, created, len(wanted)))
    return states


def lock_issuer_counter(conn: Connection, issuer_id: str) -> int:
    """Lock the issuer's counter row to the end of the transaction (numbers without gaps)
    and return its ``next_seq``; UnknownIssuerError if there is no such issuer."""
    counter = lock_counter(conn, issuer_id)
    if counter is None:
        raise UnknownIssuerError(f"no issuer {issuer_id!r} in the index")
    return counter.next_seq


def submitted_operation(issuer_id: str, actor: str, created: int, received: int) -> dict[str, Any]:
    """The operations-log entry of a request that stored ``created`` new digests."""
    return {
        "actor": actor,
        "action": "digests.submitted",
        "subject": f"issuer:{issuer_id}",
        "details": {"created": created, "received": received},
    }


def new_states(wanted: dict[str, str | None], now: datetime) -> list[SubmissionState]:
    """The states of ``wanted`` when all of it was new, stored at ``now``."""
    return [SubmissionState(d, c, "pending", None, now, True) for d, c in wanted.items()]


def record_numbered(
    conn: Connection, issuer_id: str, wanted: dict[str, str | None], first_seq: int
) -> tuple[list[SubmissionState], int]:
    """Insert the new digests of ``wanted`` numbered from ``first_seq``, check the known
    ones, and return every digest's state and how many were new. The caller holds the
    issuer's counter row and moves ``next_seq`` past the new ones; on DigestConflictError
    it rolls back what this wrote."""
    now = utcnow()
    # Sorted, so concurrent requests that share digests take their row locks in the
    # same order (PostgreSQL would otherwise abort one of them as a deadlock).
    ordered = sorted(wanted.items())
    created = insert_numbered(conn, issuer_id, ordered, now, first_seq)
    if len(created) == len(wanted):
        return new_states(wanted, now), len(created)
    # Some were there already: take back this request's rows and number the new ones
    # again without holes. Only this transaction holds numbers from first_seq on.
    conn.execute(
        delete(submission_t).where(
            submission_t.c.issuer_id == issuer_id, submission_t.c.seq >= first_seq
        )
    )
    fresh = [(d, c) for d, c in ordered if d in created]
    created = insert_numbered(conn, issuer_id, fresh, now, first_seq)
    if len(created) < len(fresh):  # pragma: no cover - the counter row serialises
        raise NodeError("digests changed under a locked issuer; nothing was stored")
    existing = [d for d in wanted if d not in created]
    found = {row.digest: row for row in read_existing(conn, existing)}
    conflicts = _conflicts(issuer_id, wanted, found)
    refused = [d for d in existing if d not in found]  # its credentialId is taken
    conflicts += _taken_credential_ids(conn, wanted, refused)
    if conflicts:
        raise DigestConflictError(conflicts)
    states = []
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
    return states, len(created)


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
    digest_of_id = {c: d for d in refused if (c := wanted[d]) is not None}
    conflicts: list[Conflict] = [
        Conflict(d, "credential-id-taken", "its credentialId names another digest")
        for d in refused
        if wanted[d] is None
    ]
    for credential_id, digest in digests_naming(conn, list(digest_of_id)):
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
