"""Publishing status lists: the bits of a list derived from the index's revocation and
suspension rows, signed as a BitstringStatusListCredential, and cached until a change of
its issuer's revocations or suspensions may have flipped a bit.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cachetools import LRUCache
from sqlalchemy import Connection, Engine, and_, func, select

from mcledger.anchoring.bundle import format_time
from mcledger.node.credentials.dataintegrity import sign_credential
from mcledger.node.credentials.multikey import Ed25519SigningKey
from mcledger.node.credentials.statuslist import (
    Bitstring,
    StatusListCredential,
    StatusPurpose,
)
from mcledger.node.index.models import revocation_t
from mcledger.node.index.models_credentials import credential_t
from mcledger.node.index.models_status import status_entry_t, status_list_t, suspension_t
from mcledger.node.issuing.status_lists import (
    StatusListUnavailableError,
    UnknownStatusListError,
    status_list_url,
)


def set_indexes(conn: Connection, list_id: str) -> list[int]:
    """The indexes of the list whose bit is 1, derived from the revocation or suspension rows.

    The joins go through unique keys only (digest, credential id) and the issuer is a
    constant: joined on the issuer, a planner without statistics (a new index) may pair
    every entry with every revocation.
    """
    listed = conn.execute(
        select(status_list_t.c.issuer_id, status_list_t.c.purpose).where(
            status_list_t.c.id == list_id
        )
    ).one()
    entry = status_entry_t.c
    if listed.purpose == StatusPurpose.REVOCATION:
        # Through the credential's digest: revocations are keyed (issuer, digest), as on chain.
        source = revocation_t.join(credential_t, credential_t.c.digest == revocation_t.c.digest)
        source = source.join(status_entry_t, entry.credential_id == credential_t.c.id)
        mine = and_(
            revocation_t.c.issuer_id == listed.issuer_id,
            credential_t.c.issuer_id == listed.issuer_id,
        )
    else:
        source = suspension_t.join(
            status_entry_t, entry.credential_id == suspension_t.c.credential_id
        )
        mine = and_(
            suspension_t.c.issuer_id == listed.issuer_id, suspension_t.c.lifted_at.is_(None)
        )
    query = (
        select(entry.idx)
        .select_from(source)
        .where(mine, entry.list_id == list_id, entry.purpose == listed.purpose)
    )
    return sorted(set(conn.execute(query).scalars()))


def _version(conn: Connection, issuer_id: str, purpose: StatusPurpose) -> str:
    """A value that changes whenever a bit of the issuer's lists for ``purpose`` may have:
    revocations are only ever added (final, never deleted), so their newest id; a
    suspension adds a row and a lift fills ``lifted_at``, so the newest id and the lifts.
    Two small aggregates, where deriving the bits reads every entry of the list."""
    if purpose is StatusPurpose.REVOCATION:
        newest = conn.execute(
            select(func.max(revocation_t.c.id)).where(revocation_t.c.issuer_id == issuer_id)
        ).scalar()
        return f"r{newest or 0}"
    newest, lifted = conn.execute(
        select(func.max(suspension_t.c.id), func.count(suspension_t.c.lifted_at)).where(
            suspension_t.c.issuer_id == issuer_id
        )
    ).one()
    return f"s{newest or 0}.{lifted}"


@dataclass(frozen=True)
class PublishedStatusList:
    credential: dict[str, Any]
    version: str  # changes whenever a bit may have (a weak ETag)


class SignedListCache:
    """Signed lists by (list, content, signer): a thread-safe LRU."""

    def __init__(self, maxsize: int = 256) -> None:
        self._cache: LRUCache[tuple[str, ...], dict[str, Any]] = LRUCache(maxsize=maxsize)
        self._lock = threading.Lock()

    def get_or_sign(
        self, key: tuple[str, ...], sign: Callable[[], dict[str, Any]]
    ) -> dict[str, Any]:
        with self._lock:
            signed = self._cache.get(key)
        if signed is None:  # two threads may both sign on a miss; either result is right
            signed = sign()
            with self._lock:
                self._cache[key] = signed
        return copy.deepcopy(signed)


_DEFAULT_CACHE = SignedListCache()


def publish_status_list(
    engine: Engine,
    list_id: str,
    key: Ed25519SigningKey,
    did: str,
    verification_method: str,
    base_url: str,
    *,
    issuer_id: str | None = None,
    cache: SignedListCache | None = None,
) -> PublishedStatusList:
    """The list as a signed BitstringStatusListCredential, its bits as of now.

    ``issuer_id``: the issuer ``key`` signs for; another issuer's list is refused.
    """
    with engine.connect() as conn:
        row = conn.execute(select(status_list_t).where(status_list_t.c.id == list_id)).first()
        if row is None:
            raise UnknownStatusListError(f"no status list {list_id}")
        if issuer_id is not None and row.issuer_id != issuer_id:
            raise StatusListUnavailableError(
                f"status list {list_id} is issuer {row.issuer_id!r}'s; this node signs only "
                f"for {issuer_id!r}"
            )
        purpose = StatusPurpose(row.purpose)
        # Read before the bits: a list signed on a miss is then never older than its key.
        version = _version(conn, row.issuer_id, purpose)
    url = status_list_url(base_url, list_id)

    def sign() -> dict[str, Any]:
        with engine.connect() as conn:
            indexes = set_indexes(conn, list_id)
        bits = Bitstring(row.size)
        bits.set_many(indexes)
        now = datetime.now(UTC).replace(microsecond=0)
        unsigned = StatusListCredential(url, did, purpose, format_time(now), bits.encode())
        return sign_credential(unsigned.to_json(), key, verification_method, now)

    signer = (did, verification_method, key.public_key_multibase)
    signed = (cache or _DEFAULT_CACHE).get_or_sign((list_id, version, url, *signer), sign)
    return PublishedStatusList(signed, version)
