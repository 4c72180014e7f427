"""Bitstring status lists: reserving slots for credentials (publishing the signed
lists is ``status_publish``'s).

W3C Bitstring Status List v1.0. Every credential gets a slot per purpose
(revocation, suspension) at a uniformly random free index of its issuer's
newest list, so a position says nothing about issuing order (section 6.1,
herd privacy). Slots are reserved before the credential is signed, because its
`credentialStatus` names them.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from mcledger.node.credentials.statuslist import (
    ENTRY_TYPE,
    MIN_LIST_BITS,
    StatusPurpose,
)
from mcledger.node.errors import NodeError
from mcledger.node.index.models import utcnow
from mcledger.node.index.models_credentials import credential_t
from mcledger.node.index.models_status import status_entry_t, status_list_t

# Random probes for free indexes: at least 32 a round, rounds before the list is read whole.
_PROBES, _ROUNDS = 32, 2
_RANDOM = random.SystemRandom()


class StatusListsError(NodeError):
    """Base of the status list errors."""


class UnknownStatusListError(StatusListsError):
    """No status list with that id in the index."""


class StatusListUnavailableError(StatusListsError):
    """The list is another issuer's: this node does not hold the key that signs it."""


def status_list_url(base_url: str, list_id: str) -> str:
    """Where the node publishes a list (`GET /v1/status-lists/{id}`)."""
    return f"{base_url.rstrip('/')}/v1/status-lists/{list_id}"


# -- reserving slots -------------------------------------------------------------------------


@dataclass(frozen=True)
class StatusSlot:
    purpose: StatusPurpose
    list_id: str
    index: int

    def entry(self, base_url: str) -> dict[str, str]:
        """The credential's `credentialStatus` entry for this slot (section 2.1)."""
        url = status_list_url(base_url, self.list_id)
        return {
            "id": f"{url}#{self.index}",
            "type": ENTRY_TYPE,
            "statusPurpose": str(self.purpose),
            "statusListIndex": str(self.index),
            "statusListCredential": url,
        }


@dataclass(frozen=True)
class StatusSlots:
    credential_id: str
    slots: tuple[StatusSlot, ...]

    def entries(self, base_url: str) -> list[dict[str, str]]:
        """The `credentialStatus` value: a list, one entry per purpose (VC 2.0 allows a set)."""
        return [slot.entry(base_url) for slot in self.slots]


def reserve(
    bind: Engine | Connection,
    issuer_id: str,
    credential_id: str,
    *,
    purposes: Iterable[StatusPurpose] = tuple(StatusPurpose),
    size: int = MIN_LIST_BITS,
) -> StatusSlots:
    """A slot per purpose for ``credential_id``: the ones it holds already, else new ones."""
    return reserve_many(bind, issuer_id, [credential_id], purposes=purposes, size=size)[0]


def reserve_many(
    bind: Engine | Connection,
    issuer_id: str,
    credential_ids: Sequence[str],
    *,
    purposes: Iterable[StatusPurpose] = tuple(StatusPurpose),
    size: int = MIN_LIST_BITS,
) -> list[StatusSlots]:
    """Slots for many credentials (bulk issuance), in the order of ``credential_ids``.

    On a Connection it joins the caller's transaction; on an Engine it commits at once
    (a slot whose credential is never issued leaves one bit unused, or is freed by
    release_status_entries). Concurrent reservations never share a slot: (list, index)
    is unique and a taken index is skipped by INSERT … ON CONFLICT DO NOTHING, which
    aborts nothing, and drawn again.
    """
    if isinstance(bind, Engine):
        with bind.begin() as conn:
            return reserve_many(conn, issuer_id, credential_ids, purposes=purposes, size=size)
    held: dict[tuple[str, str], StatusSlot] = {}
    for chunk in _chunks(list(dict.fromkeys(credential_ids))):
        for row in bind.execute(
            select(status_entry_t).where(
                status_entry_t.c.credential_id.in_(chunk),
                status_entry_t.c.issuer_id == issuer_id,
            )
        ):
            held[row.credential_id, row.purpose] = StatusSlot(
                StatusPurpose(row.purpose), row.list_id, row.idx
            )
    purposes = tuple(purposes)
    for purpose in purposes:
        missing = [c for c in dict.fromkeys(credential_ids) if (c, purpose) not in held]
        if missing:
            claims = _Claims(bind, issuer_id, purpose)
            held |= {(c, purpose): slot for c, slot in claims.claim(missing, size).items()}
    return [StatusSlots(c, tuple(held[c, purpose] for purpose in purposes)) for c in credential_ids]


def release_status_entries(bind: Engine | Connection, credential_ids: Iterable[str]) -> None:
    """Free the slots of credentials that were never issued (signing failed); the slots of
    stored credentials are published and stay theirs."""
    if isinstance(bind, Engine):
        with bind.begin() as conn:
            return release_status_entries(conn, credential_ids)
    for chunk in _chunks(list(credential_ids)):
        stored = select(credential_t.c.id).where(credential_t.c.id.in_(chunk))
        bind.execute(
            delete(status_entry_t).where(
                status_entry_t.c.credential_id.in_(chunk),
                status_entry_t.c.credential_id.not_in(stored),
            )
        )


_CHUNK = 1000  # bound parameters a statement: far below SQLite's and PostgreSQL's limits


def _chunks(values: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def _insert_ignoring_conflict(conn: Connection, table: Any, on: list[str]) -> Any:
    """INSERT … ON CONFLICT (on) DO NOTHING in this dialect: a conflict skips the row
    rather than raising an error that would abort a PostgreSQL transaction."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table).on_conflict_do_nothing(index_elements=on)


@dataclass
class _Claims:
    """Taking random free indexes of the issuer's newest list for one purpose, opening the
    next list when it is full."""

    conn: Connection
    issuer_id: str
    purpose: StatusPurpose

    def claim(self, credential_ids: list[str], size: int) -> dict[str, StatusSlot]:
        slots: dict[str, StatusSlot] = {}
        newest = self.conn.execute(
            select(status_list_t.c.id, status_list_t.c.seq, status_list_t.c.size)
            .where(
                status_list_t.c.issuer_id == self.issuer_id,
                status_list_t.c.purpose == self.purpose,
            )
            .order_by(status_list_t.c.seq.desc())
            .limit(1)
        ).first()
        list_id, seq, list_size = newest if newest else self._open(1, size)
        pending = credential_ids
        while pending:
            free = self._free_indexes(list_id, list_size, len(pending))
            if not free:
                list_id, seq, list_size = self._open(seq + 1, size)
                continue
            now = utcnow()
            rows = [
                {
                    "credential_id": credential_id,
                    "purpose": self.purpose,
                    "issuer_id": self.issuer_id,
                    "list_id": list_id,
                    "idx": index,
                    "reserved_at": now,
                }
                for credential_id, index in zip(pending, free, strict=False)
            ]
            statement = _insert_ignoring_conflict(self.conn, status_entry_t, ["list_id", "idx"])
            taken = self.conn.execute(
                statement.returning(status_entry_t.c.credential_id, status_entry_t.c.idx), rows
            )
            for credential_id, index in taken:
                slots[credential_id] = StatusSlot(self.purpose, list_id, index)
            pending = [c for c in pending if c not in slots]  # lost a race: draw again
        return slots

    def _free_indexes(self, list_id: str, size: int, wanted: int) -> list[int]:
        """Up to ``wanted`` distinct random indexes not taken now; [] when the list is full.

        Random probes find them in one query while the list is mostly free; a big batch,
        or a list found mostly taken, reads the list's taken indexes once instead.
        """
        column = status_entry_t.c.idx
        if wanted * 8 < size:
            for _ in range(_ROUNDS):
                probes: set[int] = set()
                while len(probes) < min(2 * wanted + _PROBES, size // 4):
                    probes.add(secrets.randbelow(size))
                free = set(probes)
                for chunk in _chunks(list(probes)):
                    free.difference_update(
                        self.conn.execute(
                            select(column).where(
                                status_entry_t.c.list_id == list_id, column.in_(chunk)
                            )
                        ).scalars()
                    )
                if len(free) >= wanted or len(free) * 4 >= len(probes):
                    # A set's order follows the values: sample, do not slice.
                    return _RANDOM.sample(sorted(free), min(wanted, len(free)))
        taken = set(
            self.conn.execute(select(column).where(status_entry_t.c.list_id == list_id)).scalars()
        )
        left = [index for index in range(size) if index not in taken]
        return _RANDOM.sample(left, min(wanted, len(left)))

    def _open(self, seq: int, size: int) -> tuple[str, int, int]:
        """The issuer's list number ``seq`` for the purpose, created unless another process
        already did."""
        table = status_list_t
        self.conn.execute(
            _insert_ignoring_conflict(self.conn, table, ["issuer_id", "purpose", "seq"]).values(
                id=f"sl_{secrets.token_hex(16)}",
                issuer_id=self.issuer_id,
                purpose=self.purpose,
                seq=seq,
                size=size,
                created_at=utcnow(),
            )
        )
        row = self.conn.execute(
            select(table.c.id, table.c.seq, table.c.size).where(
                table.c.issuer_id == self.issuer_id,
                table.c.purpose == self.purpose,
                table.c.seq == seq,
            )
        ).one()
        return row.id, row.seq, row.size
