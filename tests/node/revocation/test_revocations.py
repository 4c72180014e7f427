"""Revocations, suspensions, status list slots and `mcledger revoke` on the index
(SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import secrets
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import typer
from sqlalchemy import Engine, func, insert, select, update
from typer.testing import CliRunner

from mcledger.cli.revoke import revoke_command
from mcledger.node.credentials.statuslist import MIN_LIST_BITS, StatusPurpose
from mcledger.node.index.models import operation_t, revocation_t
from mcledger.node.index.models_credentials import credential_t
from mcledger.node.index.models_status import status_entry_t, status_list_t, suspension_t
from mcledger.node.index.sequence import insert_submissions
from mcledger.node.issuing.issuance import CredentialAccessError, UnknownCredentialError
from mcledger.node.issuing.issuers import ensure_issuer
from mcledger.node.issuing.status_lists import release_status_entries, reserve, reserve_many
from mcledger.node.issuing.status_publish import set_indexes
from mcledger.node.pipeline.submissions import submit_digests
from mcledger.node.revocation.revocations import (
    InvalidRevocationError,
    RevocationReason,
    list_revocations,
    parse_reason,
    revoke_credential,
)
from mcledger.node.revocation.suspensions import (
    NotSuspendedError,
    lift_suspension,
    suspend_credential,
)

BASE_URL = "https://node.example"


def store_credential(engine: Engine, issuer_id: str) -> str:
    """A credential in the index with its status slots, as issuance leaves one (the rows
    only: these tests are about the index, not the signature)."""
    credential_id, digest = f"urn:uuid:{uuid.uuid4()}", secrets.token_hex(32)
    slots = reserve(engine, issuer_id, credential_id)
    body = {"id": credential_id, "credentialStatus": slots.entries(BASE_URL)}
    with engine.begin() as conn:
        insert_submissions(
            conn, [{"issuer_id": issuer_id, "digest": digest, "credential_id": credential_id}]
        )
        conn.execute(
            insert(credential_t).values(
                id=credential_id, issuer_id=issuer_id, digest=digest, body=json.dumps(body)
            )
        )
    return credential_id


@dataclass
class Index:
    engine: Engine

    def issue(self, issuer_id: str = "uni") -> str:
        return store_credential(self.engine, issuer_id)

    def counts(self) -> tuple[int, ...]:
        with self.engine.connect() as conn:
            return tuple(
                conn.execute(select(func.count()).select_from(table)).scalar_one()
                for table in (revocation_t, suspension_t, operation_t)
            )

    def bits(self, credential_id: str, purpose: StatusPurpose) -> tuple[int, list[int]]:
        with self.engine.connect() as conn:
            entry = conn.execute(
                select(status_entry_t).where(
                    status_entry_t.c.credential_id == credential_id,
                    status_entry_t.c.purpose == purpose,
                )
            ).one()
            return entry.idx, set_indexes(conn, entry.list_id)


@pytest.fixture
def index(index_engine: Engine) -> Iterator[Index]:
    for number, issuer_id in enumerate(("uni", "other", "local")):
        ensure_issuer(index_engine, issuer_id, chain_address=f"0x{number + 1:040x}")
    yield Index(index_engine)


# -- revocation ------------------------------------------------------------------------------


def test_a_revocation_is_recorded_logged_and_sets_the_bit(index: Index) -> None:
    credential_id = index.issue()
    before = index.counts()
    record = revoke_credential(index.engine, "uni", credential_id, 2, "copied the exam")
    assert record.created and record.reason is RevocationReason.FRAUD_OR_MISCONDUCT
    assert record.credential_id == credential_id and record.note == "copied the exam"
    assert record.transaction_hash is None and record.block_number is None
    assert index.counts() == (before[0] + 1, before[1], before[2] + 1)
    with index.engine.connect() as conn:
        logged = conn.execute(select(operation_t).order_by(operation_t.c.id.desc())).first()
    assert logged is not None and logged.action == "credential.revoked"
    assert logged.subject == credential_id and logged.actor == "node"
    index_, revoked = index.bits(credential_id, StatusPurpose.REVOCATION)
    assert revoked == [index_]
    assert index.bits(credential_id, StatusPurpose.SUSPENSION)[1] == []


def test_a_second_revocation_keeps_the_first(index: Index) -> None:
    credential_id = index.issue()
    first = revoke_credential(index.engine, "uni", credential_id, 1, "typo in the name")
    counts = index.counts()
    again = revoke_credential(index.engine, "uni", credential_id, "fraud", "second thoughts")
    assert not again.created
    assert (again.id, again.revoked_at, again.reason, again.note) == (
        first.id,
        first.revoked_at,
        RevocationReason.ISSUED_IN_ERROR,
        "typo in the name",
    )
    assert index.counts() == counts  # nothing written, not even the log


def test_unknown_or_another_issuers_credential_is_refused_and_nothing_changes(
    index: Index,
) -> None:
    theirs = index.issue("other")
    counts = index.counts()
    with pytest.raises(UnknownCredentialError):
        revoke_credential(index.engine, "uni", "urn:uuid:00000000-0000-4000-8000-000000000000", 0)
    with pytest.raises(CredentialAccessError):
        revoke_credential(index.engine, "uni", theirs, 0)
    with pytest.raises(CredentialAccessError):
        suspend_credential(index.engine, "uni", theirs)
    with pytest.raises(CredentialAccessError):
        lift_suspension(index.engine, "uni", theirs)
    assert index.counts() == counts
    assert index.bits(theirs, StatusPurpose.REVOCATION)[1] == []


@pytest.mark.parametrize("reason", [-1, 6, True, "nonsense", "7", 2.0])
def test_a_bad_reason_is_refused_and_nothing_changes(index: Index, reason: object) -> None:
    credential_id = index.issue()
    counts = index.counts()
    with pytest.raises(InvalidRevocationError) as refused:
        revoke_credential(index.engine, "uni", credential_id, reason)  # type: ignore[arg-type]
    assert refused.value.field == "reason"
    with pytest.raises(InvalidRevocationError):
        revoke_credential(index.engine, "uni", credential_id, 0, "x" * 1001)
    assert index.counts() == counts


def test_reasons_by_number_or_name() -> None:
    assert parse_reason(0) is RevocationReason.UNSPECIFIED
    assert parse_reason("5") is RevocationReason.KEY_COMPROMISE
    assert parse_reason("fraud") is RevocationReason.FRAUD_OR_MISCONDUCT
    assert parse_reason("Issued in error") is RevocationReason.ISSUED_IN_ERROR
    assert parse_reason("withdrawn_by_learner") is RevocationReason.WITHDRAWN_BY_LEARNER
    assert parse_reason("superseded") is RevocationReason.SUPERSEDED


def test_a_credential_submitted_as_a_digest_can_be_revoked(index: Index) -> None:
    digest, credential_id = secrets.token_hex(32), f"urn:uuid:{uuid.uuid4()}"
    submit_digests(index.engine, "uni", [(digest, credential_id)], actor="test")
    record = revoke_credential(index.engine, "uni", credential_id, 3)
    assert record.created and record.digest == digest
    with pytest.raises(CredentialAccessError):
        revoke_credential(index.engine, "other", credential_id, 3)


def test_concurrent_revocations_of_one_credential_make_one_record(index: Index) -> None:
    credential_id = index.issue()
    with ThreadPoolExecutor(6) as pool:
        records = list(
            pool.map(lambda r: revoke_credential(index.engine, "uni", credential_id, r), range(6))
        )
    assert sum(record.created for record in records) == 1
    assert len({(record.id, record.reason, record.revoked_at) for record in records}) == 1


# -- suspension ------------------------------------------------------------------------------


def test_a_suspension_sets_the_bit_until_it_is_lifted(index: Index) -> None:
    credential_id = index.issue()
    with pytest.raises(NotSuspendedError):
        lift_suspension(index.engine, "uni", credential_id)
    suspended = suspend_credential(index.engine, "uni", credential_id, "under review")
    assert suspended.changed and suspended.lifted_at is None
    slot, on = index.bits(credential_id, StatusPurpose.SUSPENSION)
    assert on == [slot]
    assert index.bits(credential_id, StatusPurpose.REVOCATION)[1] == []
    repeat = suspend_credential(index.engine, "uni", credential_id, "again")
    assert not repeat.changed and repeat.id == suspended.id and repeat.note == "under review"
    lifted = lift_suspension(index.engine, "uni", credential_id, "cleared")
    assert lifted.changed and lifted.lifted_at is not None and lifted.lift_note == "cleared"
    assert index.bits(credential_id, StatusPurpose.SUSPENSION)[1] == []
    assert not lift_suspension(index.engine, "uni", credential_id).changed
    second = suspend_credential(index.engine, "uni", credential_id)
    assert second.changed and second.id != suspended.id
    assert index.bits(credential_id, StatusPurpose.SUSPENSION)[1] == [slot]
    with index.engine.connect() as conn:
        actions = conn.execute(
            select(operation_t.c.action).where(operation_t.c.subject == credential_id)
        ).scalars()
        assert [a for a in actions if a.startswith("credential.suspen")] == [
            "credential.suspended",
            "credential.suspension-lifted",
            "credential.suspended",
        ]


# -- the public history ------------------------------------------------------------------------


def test_the_history_filters_by_issuer_and_time_and_pages(index: Index) -> None:
    ours = [index.issue() for _ in range(5)]
    theirs = index.issue("other")
    for credential_id in ours:
        revoke_credential(index.engine, "uni", credential_id, 1, "private note")
    revoke_credential(index.engine, "other", theirs, 4)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with index.engine.begin() as conn:  # spread the times: one a day
        for day, credential_id in enumerate([*ours, theirs]):
            conn.execute(
                update(revocation_t)
                .where(revocation_t.c.credential_id == credential_id)
                .values(revoked_at=start + timedelta(days=day))
            )
    everything = list_revocations(index.engine)
    assert [r.credential_id for r in everything.items] == [*ours, theirs]
    assert everything.next_after is None
    assert [r.credential_id for r in list_revocations(index.engine, issuer="other").items] == [
        theirs
    ]
    window = list_revocations(
        index.engine,
        since=start + timedelta(days=1),
        until=(start + timedelta(days=3)).replace(tzinfo=None),  # naive: UTC
    )
    assert [r.credential_id for r in window.items] == ours[1:3]
    pages, after = [], None
    while True:
        page = list_revocations(index.engine, issuer="uni", limit=2, after=after)
        pages.append([r.credential_id for r in page.items])
        if page.next_after is None:
            break
        after = page.next_after
    assert pages == [ours[0:2], ours[2:4], ours[4:5]]
    public = everything.items[0].to_json(public=True)
    assert "note" not in public and public["transactionHash"] is None
    assert public["reasonName"] == "issued-in-error" and public["revokedAt"].endswith("Z")


# -- status list slots ---------------------------------------------------------------------------


def test_slots_are_random_distinct_and_in_lists_of_at_least_131072_bits(index: Index) -> None:
    issued = [index.issue() for _ in range(40)]
    with index.engine.connect() as conn:
        lists = conn.execute(select(status_list_t)).all()
        by_credential = {
            (row.credential_id, row.purpose): row
            for row in conn.execute(select(status_entry_t)).all()
        }
    assert {(row.issuer_id, row.purpose) for row in lists} == {
        ("uni", "revocation"),
        ("uni", "suspension"),
    }
    assert all(row.size >= MIN_LIST_BITS and row.id.startswith("sl_") for row in lists)
    for purpose in StatusPurpose:
        indexes = [by_credential[(c, purpose)].idx for c in issued]
        assert len(set(indexes)) == len(indexes)
        # Not in issuing order: 40 random draws are sorted with probability 1/40!.
        assert indexes != sorted(indexes) and indexes != sorted(indexes, reverse=True)
        assert max(indexes) - min(indexes) > MIN_LIST_BITS // 4  # spread over the list
    revocation = [by_credential[(c, "revocation")].idx for c in issued]
    suspension = [by_credential[(c, "suspension")].idx for c in issued]
    assert revocation != suspension  # independent draws per purpose


def test_reserving_again_returns_the_same_slots(index: Index) -> None:
    credential_id = f"urn:uuid:{uuid.uuid4()}"
    first = reserve(index.engine, "uni", credential_id)
    assert reserve(index.engine, "uni", credential_id) == first
    entries = first.entries(BASE_URL + "/")
    assert [e["statusPurpose"] for e in entries] == ["revocation", "suspension"]
    for entry, slot in zip(entries, first.slots, strict=True):
        url = f"{BASE_URL}/v1/status-lists/{slot.list_id}"
        assert entry == {
            "id": f"{url}#{slot.index}",
            "type": "BitstringStatusListEntry",
            "statusPurpose": str(slot.purpose),
            "statusListIndex": str(slot.index),
            "statusListCredential": url,
        }


def test_bulk_reservation_keeps_order_and_earlier_slots(index: Index) -> None:
    ids = [f"urn:uuid:{uuid.uuid4()}" for _ in range(2000)]
    earlier = reserve(index.engine, "uni", ids[7])
    bulk = reserve_many(index.engine, "uni", ids)
    assert [slots.credential_id for slots in bulk] == ids
    assert bulk[7] == earlier
    for position, purpose in enumerate(StatusPurpose):
        indexes = [slots.slots[position].index for slots in bulk]
        assert all(slots.slots[position].purpose is purpose for slots in bulk)
        assert len(set(indexes)) == len(ids) and indexes != sorted(indexes)


def test_slots_of_a_credential_never_stored_can_be_released(index: Index) -> None:
    abandoned = f"urn:uuid:{uuid.uuid4()}"
    reserve(index.engine, "uni", abandoned)
    issued = index.issue()
    release_status_entries(index.engine, [abandoned, issued])  # the issued one's are kept
    with index.engine.connect() as conn:
        held = conn.execute(select(status_entry_t.c.credential_id)).scalars().all()
    assert sorted(held) == [issued, issued]


def test_a_full_list_is_followed_by_a_new_one(index: Index) -> None:
    first = reserve(index.engine, "uni", "urn:x:first", purposes=[StatusPurpose.REVOCATION])
    list_id, taken = first.slots[0].list_id, first.slots[0].index
    free = (taken + 1) % MIN_LIST_BITS
    fill = [i for i in range(MIN_LIST_BITS) if i not in (taken, free)]
    now = datetime.now(UTC)
    with index.engine.begin() as conn:
        for start in range(0, len(fill), 20_000):
            conn.execute(
                insert(status_entry_t),
                [
                    {
                        "credential_id": f"urn:x:{i}",
                        "purpose": "revocation",
                        "issuer_id": "uni",
                        "list_id": list_id,
                        "idx": i,
                        "reserved_at": now,
                    }
                    for i in fill[start : start + 20_000]
                ],
            )
    last = reserve(index.engine, "uni", "urn:x:last", purposes=[StatusPurpose.REVOCATION])
    assert (last.slots[0].list_id, last.slots[0].index) == (list_id, free)
    after = reserve(index.engine, "uni", "urn:x:after", purposes=[StatusPurpose.REVOCATION])
    assert after.slots[0].list_id != list_id
    with index.engine.connect() as conn:
        seqs = conn.execute(
            select(status_list_t.c.id, status_list_t.c.seq).where(
                status_list_t.c.purpose == "revocation"
            )
        ).all()
    assert sorted(seq for _, seq in seqs) == [1, 2]
    assert dict(seqs)[after.slots[0].list_id] == 2


def test_concurrent_reservations_never_share_a_slot(index: Index) -> None:
    def reserve_many(worker: int) -> list[tuple[str, int]]:
        slots = []
        for n in range(15):
            reserved = reserve(index.engine, "uni", f"urn:x:{worker}:{n}")
            slots += [(slot.list_id, slot.index) for slot in reserved.slots]
        return slots

    with ThreadPoolExecutor(6) as pool:
        everything = [slot for slots in pool.map(reserve_many, range(6)) for slot in slots]
    assert len(everything) == 6 * 15 * 2 == len(set(everything))
    with index.engine.connect() as conn:  # one list per purpose, however the race went
        assert conn.execute(select(func.count()).select_from(status_list_t)).scalar_one() == 2


# -- mcledger revoke -------------------------------------------------------------------------------

runner = CliRunner()


def _cli() -> typer.Typer:
    app = typer.Typer()
    app.command()(revoke_command)
    return app


def test_the_cli_revokes_the_local_issuers_credential(
    index: Index, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MCLEDGER_DATABASE_URL", database_url)
    ours, theirs = index.issue("local"), index.issue("uni")
    args = ["--data-dir", str(tmp_path)]
    result = runner.invoke(_cli(), [ours, "--reason", "fraud", "--note", "ghost-written", *args])
    assert result.exit_code == 0, result.output
    assert "revoked" in result.stdout and "2 fraud-or-misconduct" in result.stdout
    again = runner.invoke(_cli(), [ours, "--reason", "0", "--json", *args])
    assert again.exit_code == 0, again.output
    shown = json.loads(again.stdout)
    assert shown["created"] is False and shown["reason"] == 2 and shown["note"] == "ghost-written"
    counts = index.counts()
    for refused in (
        [theirs, "--reason", "1"],
        ["urn:uuid:unknown", "--reason", "1"],
        [ours, "--reason", "9"],
    ):
        outcome = runner.invoke(_cli(), [*refused, *args])
        assert outcome.exit_code == 1, outcome.output
        assert "refused" in outcome.stderr
    assert index.counts() == counts


def test_the_bits_of_a_busy_list_are_read_at_once_on_a_fresh_index(index: Index) -> None:
    """A new index has no planner statistics; a join on the issuer once made PostgreSQL
    pair every entry with every revocation (minutes for 1,000 revocations)."""
    ids = [f"urn:uuid:{uuid.uuid4()}" for _ in range(3000)]
    slots = reserve_many(index.engine, "uni", ids, purposes=[StatusPurpose.REVOCATION])
    digests = [secrets.token_hex(32) for _ in ids]
    now = datetime.now(UTC)
    with index.engine.begin() as conn:
        conn.execute(
            insert(credential_t),
            [{"id": c, "issuer_id": "uni", "digest": d} for c, d in zip(ids, digests, strict=True)],
        )
        conn.execute(
            insert(revocation_t),
            [
                {
                    "issuer_id": "uni",
                    "digest": d,
                    "credential_id": c,
                    "reason": 1,
                    "revoked_at": now,
                }
                for c, d in zip(ids[:1000], digests[:1000], strict=True)
            ],
        )
    started = time.perf_counter()
    with index.engine.connect() as conn:
        if conn.dialect.name == "postgresql":  # fail, rather than hang, on a bad plan
            conn.exec_driver_sql("SET statement_timeout = 5000")
        on = set_indexes(conn, slots[0].slots[0].list_id)
    assert time.perf_counter() - started < 2
    assert on == sorted(s.slots[0].index for s in slots[:1000])
